"""Inference: loading a trained adapter on its base and generating from it."""

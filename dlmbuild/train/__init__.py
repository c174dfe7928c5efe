"""Training data and training: tokenizer, rows, packing, the training loop."""

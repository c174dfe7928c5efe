"""dlm: a local-first build system for document-trained language models."""

__version__ = "0.1.0"

"""The ``dlm`` command line: one module per command, registered in ``app.py``."""

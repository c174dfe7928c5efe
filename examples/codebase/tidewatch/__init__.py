"""tidewatch: the next high and low tide at Harrowgate Quay."""

__version__ = "0.3.1"
HARBOUR = "Harrowgate Quay"

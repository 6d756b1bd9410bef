"""The `checkpoint` command line and the demo that runs the whole flow on one machine."""

__version__ = "0.1.0"

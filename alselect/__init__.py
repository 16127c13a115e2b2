"""alselect: decide which samples to label next."""

__version__ = "0.1.0"

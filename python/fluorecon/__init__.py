"""fluorecon: deep-learning fluorescence image reconstruction for Fiji/ImageJ."""

__version__ = "0.1.0"

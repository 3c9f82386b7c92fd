"""custodes: an evidence vault for body-worn-camera video."""

__version__ = "0.1.0"

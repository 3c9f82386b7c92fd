"""custodes.web."""

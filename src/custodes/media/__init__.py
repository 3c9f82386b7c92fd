"""custodes.media."""

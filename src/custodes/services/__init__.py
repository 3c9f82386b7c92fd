"""custodes.services."""

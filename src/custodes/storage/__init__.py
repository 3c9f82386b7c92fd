"""custodes.storage."""

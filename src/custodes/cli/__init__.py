"""custodes.cli."""

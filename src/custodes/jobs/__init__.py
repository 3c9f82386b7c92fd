"""custodes.jobs."""

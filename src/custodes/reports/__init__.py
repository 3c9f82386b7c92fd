"""Reports people can hand on: HTML and PDF."""

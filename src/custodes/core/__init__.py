"""The domain core: pure functions and values, no I/O (standard library and numpy only)."""

"""Files on disk: atomic writes, safe relative paths, reading images."""

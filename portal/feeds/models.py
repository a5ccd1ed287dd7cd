"""Models of the feeds feature."""

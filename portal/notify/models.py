"""Models of the notify feature."""

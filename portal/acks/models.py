"""Models of the acks feature."""

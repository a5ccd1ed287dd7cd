"""Models of the mailbox feature."""

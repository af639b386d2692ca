"""faceaudit.scan."""

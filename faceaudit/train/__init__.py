"""faceaudit.train."""

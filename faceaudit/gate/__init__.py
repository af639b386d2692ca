"""faceaudit.gate."""

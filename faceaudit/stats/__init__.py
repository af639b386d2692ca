"""faceaudit.stats."""

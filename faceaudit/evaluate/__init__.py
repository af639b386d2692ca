"""faceaudit.evaluate."""

"""faceaudit.corpus."""

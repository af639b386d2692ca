"""faceaudit.report."""

"""faceaudit.models."""

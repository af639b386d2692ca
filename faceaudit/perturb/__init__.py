"""faceaudit.perturb."""

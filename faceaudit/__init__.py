"""faceaudit: fairness and robustness audits for face-understanding multimodal LLMs."""

import os as _os

__version__ = "0.1.0"

# Nothing leaves the machine unless a backend that sends data is configured (DESIGN.md,
# Privacy). albumentations asks pypi.org for its latest version when it is first imported;
# set here, at the package's import, so the Python API and notebooks are as offline as the
# CLI (which also sets it). A user who exported the variable keeps their value.
_os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

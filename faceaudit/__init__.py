"""faceaudit: fairness and robustness audits for face-understanding multimodal LLMs."""

__version__ = "0.1.0"

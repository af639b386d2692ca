"""Prompt sensitivity: the same item asked in other wordings and option orders, per group."""

from faceaudit.sensitivity.config import SensitivityConfig

__all__ = ["SensitivityConfig"]

"""Perturbation tests: lighting, occlusion and capture quality, and whether robustness is fair.

``registry`` holds the perturbations (built-ins in ``builtin``; users add their own with
``register_perturbation``), ``geometry`` where a face sits in its image, ``analysis`` the
paired, image-clustered statistics, and ``stage`` the streaming stage ``faceaudit run`` and
``faceaudit perturb`` call.
"""

from faceaudit.perturb.geometry import FaceGeometry
from faceaudit.perturb.registry import (
    Perturbation,
    get_perturbation,
    register_perturbation,
    registered,
    unregister_perturbation,
)

__all__ = [
    "FaceGeometry",
    "Perturbation",
    "get_perturbation",
    "register_perturbation",
    "registered",
    "unregister_perturbation",
]

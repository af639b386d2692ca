"""Crafted audit.json documents for the gate and report tests.

Every number is chosen by the test that asks for it, so each verdict can be
checked against a hand computation. Built through AuditResult.model_validate, so
a fixture that drifts from the schema fails loudly instead of testing nothing.
"""

from __future__ import annotations

import copy
from typing import Any

from faceaudit.schema import AuditResult

E = tuple[float, float, float, int]  # value, lower, upper, n


def estimate(value: float, lower: float, upper: float, n: int, method: str = "wilson") -> dict:
    return {"value": value, "lower": lower, "upper": upper, "n": n, "method": method}


def group(name: str, accuracy: E, *, attribute: str = "race", invalid: E | None = None,
          small: bool = False) -> dict[str, Any]:
    n = accuracy[3]
    invalid = invalid or (0.0, 0.0, 0.02, n)
    return {
        "attributes": [attribute],
        "labels": [name],
        "name": f"{attribute}={name}",
        "n_items": n,
        "n_images": n,
        "metrics": {"accuracy": estimate(*accuracy), "invalid_rate": estimate(*invalid)},
        "recall": {},
        "confusion": {"labels": ["a", "b"], "predicted_labels": ["a", "b", "<invalid>"],
                      "counts": [[1, 0, 0], [0, 1, 0]]},
        "small_group": small,
    }


def disparity(kind: str, est: E, *, metric: str = "accuracy", attribute: str = "race",
              group_name: str | None = None, p: float = 0.5, attributes: list[str] | None = None,
              reference: str | None = None) -> dict[str, Any]:
    """A disparity row; ``p`` is its unadjusted two-sided p-value, stored in the estimate too."""
    attributes = attributes or [attribute]
    null = 1.0 if kind == "error_ratio" else 0.0
    return {
        "metric": metric,
        "attributes": attributes,
        "order": len(attributes),
        "intersection": len(attributes) > 1,
        "kind": kind,
        "group": group_name,
        "reference_group": reference,
        "worst_group": None,
        "best_group": None,
        "estimate": {**estimate(*est, method="newcombe"), "null_value": null, "p_value": p},
        "test": "chi-square-homogeneity",
        "p_value": p,
        "p_adjusted": min(1.0, p * 2),
        "significant": p * 2 < 0.05,
        "correction": "holm",
    }


def task(name: str, groups: list[dict], disparities: list[dict], overall: E = (0.8, 0.77, 0.83, 600)) -> dict:
    return {
        "task": name,
        "n_items": overall[3],
        "n_images": overall[3],
        "labels": ["a", "b"],
        "ordinal": False,
        "clustered": False,
        "overall": {"accuracy": estimate(*overall)},
        "groups": groups,
        "disparities": disparities,
        "n_comparisons": len(disparities),
    }


def evaluation(tasks: list[dict]) -> dict[str, Any]:
    return {
        "model": "tiny-internvl+lora",
        "mode": "likelihood",
        "n_items": sum(t["n_items"] for t in tasks),
        "n_images": sum(t["n_images"] for t in tasks),
        "predictions_sha256": "ab" * 32,
        "sensitive_attributes": ["race"],
        "n_boot": 2000,
        "confidence": 0.95,
        "correction": "holm",
        "correction_name": "Holm (family-wise error rate)",
        "min_group_n": 30,
        "seed": 0,
        "tasks": tasks,
        "method_notes": ["Wilson intervals for accuracy; bootstrap for disparities."],
    }


BASE: dict[str, Any] = {
    "schema_version": "2",
    "run": {
        "run_id": "20250101T000000Z",
        "started_at": "2025-01-01T00:00:00Z",
        "finished_at": "2025-01-01T00:05:00Z",
        "faceaudit_version": "0.1.0",
        "python_version": "3.11.2",
        "platform": "Linux-x86_64",
        "library_versions": {"torch": "2.13.0", "transformers": "5.24.0"},
        "seed": 7,
        "config": {"name": "test"},
        "stages_run": ["dataset", "evaluate"],
        "timings_s": {"evaluate": 12.5},
        "command": "faceaudit run",
    },
    "provenance": {
        "config_sha256": "c" * 64,
        "dataset_manifest_sha256": "d" * 64,
        "base_model": "tiny-internvl",
        "adapter_sha256": "a" * 64,
    },
    "dataset": {
        "name": "synthetic-faces",
        "kind": "synthetic",
        "root": "runs/x/data",
        "fingerprint": "f" * 16,
        "manifest_sha256": "d" * 64,
        "n_records": 600,
        "sensitive_attributes": ["race"],
        "task_attributes": ["gender"],
        "counts": {"race": {"A": 300, "B": 300}},
        "splits": {"eval": 600},
    },
    "warnings": [],
}


def audit(*, tasks: list[dict] | None = None, drop: tuple[str, ...] = (), **sections: Any) -> AuditResult:
    """An AuditResult; ``tasks=None`` with 'evaluation' in ``drop`` leaves the section out."""
    data = copy.deepcopy(BASE)
    if tasks is not None:
        data["evaluation"] = evaluation(tasks)
    data.update(sections)
    for name in drop:
        data.pop(name, None)
    return AuditResult.model_validate(data)


def fair_task(name: str = "gender", a: E = (0.90, 0.86, 0.93, 300), b: E = (0.88, 0.84, 0.91, 300),
              diff: E = (0.02, -0.03, 0.07, 300), ratio: E = (1.1, 0.8, 1.2, 300),
              vs_rest: E = (-0.02, -0.07, 0.03, 300)) -> dict:
    return task(
        name,
        [group("A", a), group("B", b)],
        [disparity("difference", diff), disparity("error_ratio", ratio, group_name="race=B", reference="race=A"),
         disparity("group_vs_rest", vs_rest, group_name="race=B")],
    )

"""A model card for one weights bundle: what it is for, what it learnt from, how well it does.

Everything is read from the bundle's ``manifest.json`` (and, when given, the
``evaluation.json`` written beside the bundles by the same training run);
nothing is typed in by hand, so the card cannot drift from the weights it
describes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["INTENDED_USE", "NOT_INTENDED_FOR", "model_card", "synthetic_statement"]

INTENDED_USE = (
    "Research on the prognosis of lower-limb motor recovery after ischaemic stroke: "
    "the probability that the lower-limb Fugl-Meyer score three months after the stroke "
    "is above 17 of 34, from EEG-EMG and resting-state fMRI recorded in the first two weeks. "
    "For method development, teaching and demonstration."
)
NOT_INTENDED_FOR = (
    "Diagnosis, treatment or discharge decisions about a patient; any use as a medical device."
)

_METRICS = ("roc_auc", "accuracy", "recall", "precision", "f1", "specificity", "brier")
_GROUPS = (
    ("image", "table1", "fMRI"),
    ("signal", "table2", "EEG-EMG"),
    ("fusion", "table3", "fusion"),
)


def synthetic_statement(manifest: Mapping[str, Any]) -> str:
    """One sentence on what the bundle was trained on, synthetic data said plainly."""
    data = manifest.get("data") or {}
    n = data.get("n_patients")
    count = f"{n} " if isinstance(n, int) else ""
    if data.get("synthetic"):
        return (
            f"Trained on synthetic data: a simulated cohort of {count}patients, not real "
            "patients. Its predictions say nothing about real patients."
        )
    description = data.get("description") or "a cohort not described in the manifest"
    return f"Trained on {description} ({count}patients)."


def model_card(
    manifest: Mapping[str, Any], evaluation: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Describe a weights bundle from its manifest (and its training run's evaluation).

    Parameters
    ----------
    manifest : mapping
        The bundle's ``manifest.json`` (``FusionPredictor.manifest``).
    evaluation : mapping or None
        The ``evaluation.json`` of the training run that wrote the bundle.
        Used only when its data fingerprint equals the manifest's (same
        cohort); it adds the cross-validated Bayes ceiling and the patient
        counts. The metrics themselves are the manifest's.

    Returns
    -------
    dict
        JSON-ready: ``model_id``, ``display_name``, ``version``, ``created``,
        ``task``, ``intended_use``, ``not_intended_for``, ``weights_sha256``,
        ``manifest_sha256``, ``architecture``, ``fusion``, ``training_data``
        (with ``synthetic`` and a plain ``statement``), ``metrics``
        (``evaluated_on``, ``n_patients``, ``rows``: one per model group with
        ``{metric: {"estimate", "low", "high"}}`` and ``cv_auc``,
        ``bayes_ceiling_auc``, ``fma``) and ``limitations`` (sentences).
    """
    if not isinstance(manifest, Mapping) or "model_id" not in manifest:
        raise ValueError("The manifest lacks model_id; give the bundle's manifest.json.")
    data = manifest.get("data") or {}
    split = data.get("split") or {}
    parts = manifest.get("parts") or {}
    image = parts.get("image") or {}
    signal = parts.get("signal") or {}
    fusion = manifest.get("fusion") or {}
    same_run = (
        evaluation is not None
        and evaluation.get("fingerprint_sha256") is not None
        and evaluation.get("fingerprint_sha256") == data.get("fingerprint_sha256")
    )
    metrics = _metrics(manifest, evaluation if same_run else None)
    card = {
        "model_id": manifest["model_id"],
        "display_name": manifest.get("display_name", manifest["model_id"]),
        "version": manifest.get("version"),
        "created": manifest.get("created"),
        "task": manifest.get("task"),
        "intended_use": INTENDED_USE,
        "not_intended_for": NOT_INTENDED_FOR,
        "weights_sha256": manifest.get("sha256"),
        "manifest_sha256": manifest.get("manifest_sha256"),
        "architecture": {
            "image": image.get("architecture") or image.get("model"),
            "image_members": image.get("n_members"),
            "imagenet_pretrained": bool(image.get("imagenet_pretrained")),
            "signal": "LSTM 128/64/32 + linear head",
            "signal_members": signal.get("n_members"),
            "signal_input": signal.get("kwargs"),
        },
        "fusion": {"weight": fusion.get("weight"), "threshold": fusion.get("threshold")},
        "training_data": {
            "description": data.get("description"),
            "synthetic": bool(data.get("synthetic")),
            "statement": synthetic_statement(manifest),
            "n_patients": data.get("n_patients"),
            "n_development": len(split.get("development") or []),
            "n_test": len(split.get("test") or []),
            "n_folds": split.get("n_folds"),
            "fingerprint_sha256": data.get("fingerprint_sha256"),
        },
        "metrics": metrics,
    }
    card["limitations"] = _limitations(card)
    return card


def _metrics(manifest: Mapping[str, Any], evaluation: Mapping[str, Any] | None) -> dict[str, Any]:
    recorded = manifest.get("metrics") or {}
    tables = recorded.get("tables") or {}
    display = str(manifest.get("display_name", ""))
    wanted = {"image": display.removesuffix("_LSTM"), "signal": "LSTM", "fusion": display}
    rows = []
    for group, key, label in _GROUPS:
        table = tables.get(key) or {}
        for entry in table.get("evaluations") or []:
            if str(entry.get("name", "")).lower() != wanted[group].lower():
                continue
            rows.append(
                {
                    "group": group,
                    "label": label,
                    "name": entry["name"],
                    "n": entry.get("n"),
                    "n_positive": entry.get("n_positive"),
                    "threshold": entry.get("threshold"),
                    "cv_auc": entry.get("cv_auc"),
                    "ceiling_auc": table.get("ceiling_auc"),
                    **{m: entry["metrics"][m] for m in _METRICS if m in entry.get("metrics", {})},
                }
            )
    ci = (tables.get("settings") or {}).get("ci")
    out = {
        "evaluated_on": recorded.get("evaluated_on"),
        "n_patients": max((r["n"] or 0 for r in rows), default=None),
        "ci": ci,
        "rows": rows,
        "bayes_ceiling_auc": recorded.get("bayes_ceiling_auc"),
        "bayes_ceiling_auc_cv": None,
        "fma": recorded.get("fma"),
    }
    if evaluation is not None:
        out["bayes_ceiling_auc_cv"] = evaluation.get("bayes_ceiling_auc_cv")
        out["n_development"] = evaluation.get("n_dev_patients")
    return out


def _row(card: Mapping[str, Any], group: str) -> Mapping[str, Any] | None:
    return next((r for r in card["metrics"]["rows"] if r["group"] == group), None)


def _limitations(card: Mapping[str, Any]) -> list[str]:
    """Plain sentences, each derived from the manifest's own numbers."""
    out: list[str] = []
    data = card["training_data"]
    if data["synthetic"]:
        out.append(
            "Trained and evaluated on a synthetic cohort: how it performs on real patients "
            "is unknown."
        )
    if not card["architecture"]["imagenet_pretrained"]:
        out.append(
            "The image models started from random weights (no ImageNet pre-training), "
            "unlike the paper."
        )
    fused = _row(card, "fusion")
    if fused and fused.get("n"):
        out.append(
            f"The held-out test set has {fused['n']} patients, so every metric's interval is wide."
        )
    signal = _row(card, "signal")
    weight = card["fusion"]["weight"]
    cv = signal.get("cv_auc") if signal else None
    if cv is not None and not math.isnan(cv) and cv < 0.6 and weight is not None:
        out.append(
            f"The EEG-EMG model barely learnt (cross-validated AUC {cv:.2f}); its fusion "
            f"weight is {weight:.2f}, so the fMRI model decides almost alone."
        )
    out.append(
        "The interval around a probability is the disagreement between the ensemble's "
        "members (models trained on different patients); the outcome's own randomness is "
        "what the probability expresses."
    )
    out.append(
        "Grad-CAM shows which image regions moved the image model's score, not where a lesion is."
    )
    return out

"""A model card for one weights bundle: what it is for, what it learnt from, how well it does.

Everything is read from the bundle's ``manifest.json`` (and, when given, the
``evaluation.json`` written beside the bundles by the same training run);
nothing is typed in by hand, so the card cannot drift from the weights it
describes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rehab_core.storage import BundleManifest

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


def _typed(manifest: BundleManifest | Mapping[str, Any]) -> BundleManifest:
    """A :class:`~rehab_core.storage.BundleManifest`; a dict (``manifest.json``) is read first."""
    from rehab_core.storage import BundleManifest

    if isinstance(manifest, BundleManifest):
        return manifest
    if not isinstance(manifest, Mapping):
        raise TypeError(f"manifest must be a BundleManifest, got {type(manifest).__name__}.")
    return BundleManifest.from_dict(manifest)


def synthetic_statement(manifest: BundleManifest | Mapping[str, Any]) -> str:
    """One sentence on what the bundle was trained on, synthetic data said plainly."""
    data = _typed(manifest).data
    if data.synthetic:
        return (
            f"Trained on synthetic data: a simulated cohort of {data.n_patients} patients, not "
            "real patients. Its predictions say nothing about real patients."
        )
    return f"Trained on {data.description} ({data.n_patients} patients)."


def model_card(
    manifest: BundleManifest | Mapping[str, Any], evaluation: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Describe a weights bundle from its manifest (and its training run's evaluation).

    Parameters
    ----------
    manifest : BundleManifest or mapping
        The bundle's manifest (``FusionPredictor.manifest``), or its
        ``manifest.json`` as a dict (validated, schema 1 converted).
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
        (with ``trained_on``, ``synthetic`` and a plain ``statement``), ``metrics``
        (``evaluated_on``, ``n_patients``, ``rows``: one per model group with
        ``{metric: {"estimate", "low", "high"}}`` and ``cv_auc``,
        ``bayes_ceiling_auc``, ``fma``) and ``limitations`` (sentences).
    """
    manifest = _typed(manifest)
    data, image, signal = manifest.data, manifest.parts.image, manifest.parts.signal
    same_run = (
        evaluation is not None
        and evaluation.get("fingerprint_sha256") is not None
        and evaluation.get("fingerprint_sha256") == data.fingerprint_sha256
    )
    metrics = _metrics(manifest, evaluation if same_run else None)
    card = {
        "model_id": manifest.model_id,
        "display_name": manifest.display_name,
        "version": manifest.version,
        "created": manifest.created,
        "task": manifest.task,
        "intended_use": INTENDED_USE,
        "not_intended_for": NOT_INTENDED_FOR,
        "weights_sha256": manifest.sha256,
        "manifest_sha256": manifest.manifest_sha256,
        "architecture": {
            "image": image.architecture,
            "image_members": image.n_members,
            "imagenet_pretrained": image.imagenet_pretrained,
            "signal": "LSTM 128/64/32 + linear head",
            "signal_members": signal.n_members,
            "signal_input": signal.kwargs,
        },
        "fusion": {
            "weight": manifest.fusion.get("weight"),
            "threshold": manifest.fusion.get("threshold"),
        },
        "training_data": {
            "description": data.description,
            "trained_on": data.trained_on,
            "synthetic": data.synthetic,
            "statement": synthetic_statement(manifest),
            "n_patients": data.n_patients,
            "n_development": len(data.split.development),
            "n_test": len(data.split.test),
            "n_folds": data.split.n_folds,
            "fingerprint_sha256": data.fingerprint_sha256,
        },
        "metrics": metrics,
    }
    card["limitations"] = _limitations(card)
    return card


def _metrics(manifest: BundleManifest, evaluation: Mapping[str, Any] | None) -> dict[str, Any]:
    recorded = manifest.metrics
    tables = recorded.tables if recorded is not None else {}
    display = manifest.display_name
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
                    "ceiling_auc": _ceiling(entry, table),
                    **{m: entry["metrics"][m] for m in _METRICS if m in entry.get("metrics", {})},
                }
            )
    ci = (tables.get("settings") or {}).get("ci")
    out = {
        "evaluated_on": recorded.evaluated_on if recorded is not None else None,
        "n_patients": max((r["n"] or 0 for r in rows), default=None),
        "ci": ci,
        "rows": rows,
        "bayes_ceiling_auc": recorded.bayes_ceiling_auc if recorded is not None else None,
        "bayes_ceiling_auc_cv": None,
        "fma": recorded.fma if recorded is not None else None,
    }
    if evaluation is not None:
        out["bayes_ceiling_auc_cv"] = evaluation.get("bayes_ceiling_auc_cv")
        out["n_development"] = evaluation.get("n_dev_patients")
    return out


def _ceiling(entry: Mapping[str, Any], table: Mapping[str, Any]) -> float | None:
    """A row's own ceiling (what that row sees), else the table's one (older tables)."""
    own = ((entry.get("ceiling") or {}).get("ceiling_auc") or {}).get("estimate")
    return own if own is not None else table.get("ceiling_auc")


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
    if fused and fused.get("n") and data["n_test"]:
        out.append(
            f"The held-out test set has {fused['n']} patients, so every metric's interval is wide."
        )
    elif fused and fused.get("n"):
        out.append(
            f"There is no held-out test set: every figure is out of fold ({data['n_folds']}-fold "
            f"cross-validation) on the {fused['n']} development patients; intervals are wide."
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
        "The interval around a probability is the disagreement of the ensemble's members, "
        "not the outcome's chance."
    )
    out.append(
        "Grad-CAM shows which image regions moved the image model's score, not where a lesion is."
    )
    return out

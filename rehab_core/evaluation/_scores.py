"""Per-patient scores of an evaluation, and the synthetic cohort's Bayes-optimal reference.

The inputs of ROC and calibration curves (:func:`scored_patients`), and what
a synthetic cohort's generator says the best possible model would score
(:func:`bayes_probabilities`, :func:`bayes_ceiling_auc`); ``truth`` is the
cohort's ``ground_truth.tsv`` by participant id (empty for real data).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from rehab_core.evaluation._metrics import roc_auc

__all__ = ["bayes_ceiling_auc", "bayes_probabilities", "scored_patients"]


def scored_patients(result: Any, patients: Any) -> dict[str, Any]:
    """One table row's held-out scores per patient, JSON-ready (the input of ROC curves).

    Parameters
    ----------
    result : ModelResult
        The row (``name``, ``group``, ``y_true``, ``p_good``).
    patients : sequence of str
        The patient of each score, in the same order.
    """
    patients = [str(p) for p in patients]
    if len(patients) != len(result.y_true):
        raise ValueError(
            f"{len(patients)} patients for {len(result.y_true)} scores of {result.name}."
        )
    return {
        "name": result.name,
        "group": result.group,
        "patients": patients,
        "y_true": [int(v) for v in result.y_true],
        "p_good": [float(v) for v in result.p_good],
    }


def bayes_probabilities(
    truth: Mapping[str, Mapping[str, Any]], patients: Any
) -> dict[str, float] | None:
    """The synthetic generator's Bayes-optimal P(good) of these patients; None without truth."""
    out = {
        str(p): float(truth[str(p)]["p_good_bayes"])
        for p in sorted({str(p) for p in patients})
        if "p_good_bayes" in truth.get(str(p), {})
    }
    return out or None


def _float_or_nan(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def bayes_ceiling_auc(truth: Mapping[str, Mapping[str, Any]], ids: Any, y: Any) -> float | None:
    """AUC of the generator's Bayes-optimal probability on the same patients (synthetic only).

    ``None`` without ground truth, without patients, or when the AUC is not
    defined (the patients with a probability hold one outcome only): a
    ceiling a table can leave out rather than a NaN it would print.
    """
    if not truth or not len(ids):
        return None
    p = np.asarray([_float_or_nan(truth.get(str(i), {}).get("p_good_bayes")) for i in ids])
    ok = ~np.isnan(p)
    auc = roc_auc(np.asarray(y)[ok], p[ok]) if ok.any() else float("nan")
    return None if np.isnan(auc) else auc

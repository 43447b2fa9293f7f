"""Summaries over repeated patient-level cross-validation and over external cohorts (seeds).

One split of 100 patients gives a test AUC that moves by several hundredths
with the split; one external cohort can mislead as much (issue 13: 0.82 on
seed 1, 0.73 on seed 2).  Development figures therefore come from repeated
patient-level cross-validation (:func:`repeated_cv_summary`) and external
figures from several unseen cohorts (:func:`seed_summary`), each reported as a
mean with its spread.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rehab_core.evaluation._checks import as_binary_labels, as_probabilities, check_same_length
from rehab_core.evaluation._metrics import (
    _auc_rows,
    _check_bootstrap,
    _percentile_interval,
    _resample_weights,
)

__all__ = ["repeated_cv_rows", "repeated_cv_summary", "seed_summary"]


def _repeat_arrays(
    repeats: Sequence[Mapping[str, Any]],
) -> tuple[list[str], np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Patients of all repeats, their labels, and each repeat's (patient index, score) arrays."""
    if isinstance(repeats, Mapping) or len(repeats) == 0:
        raise ValueError("repeats must be a non-empty list with one record per repeat.")
    with_ids = ["patients" in r for r in repeats]
    if any(with_ids) and not all(with_ids):
        raise ValueError("Give patients for every repeat or for none.")
    labels: dict[str, bool] = {}
    per_repeat: list[tuple[list[str], np.ndarray, np.ndarray]] = []
    for k, record in enumerate(repeats):
        missing = [key for key in ("y_true", "p_good") if key not in record]
        if missing:
            raise ValueError(f"Repeat {k} lacks {', '.join(missing)}.")
        y = as_binary_labels(record["y_true"], f"y_true of repeat {k}")
        p = as_probabilities(record["p_good"], f"p_good of repeat {k}", allow_nan=True)
        check_same_length(y_true=y, p_good=p)
        if all(with_ids):
            ids = [str(i) for i in record["patients"]]
            if len(ids) != y.size or len(set(ids)) != len(ids):
                raise ValueError(
                    f"Repeat {k} must list each of its {y.size} patients once, "
                    f"got {len(ids)} ids ({len(set(ids))} distinct)."
                )
        else:
            ids = [str(i) for i in range(y.size)]
            if y.size != len(repeats[0]["y_true"]):
                raise ValueError(
                    "Without patients every repeat must score the same patients in the same "
                    f"order, but repeat {k} has {y.size} and repeat 0 has "
                    f"{len(repeats[0]['y_true'])}."
                )
        for patient, label in zip(ids, y, strict=True):
            if labels.setdefault(patient, bool(label)) != bool(label):
                raise ValueError(f"Patient {patient} has a different outcome in repeat {k}.")
        ok = ~np.isnan(p)  # a patient a repeat did not score (e.g. no EEG-EMG)
        per_repeat.append(([i for i, keep in zip(ids, ok, strict=True) if keep], y[ok], p[ok]))
    patients = list(labels)  # first-seen order: without ids, the order given
    position = {p: i for i, p in enumerate(patients)}
    y_all = np.array([labels[p] for p in patients])
    index = [np.array([position[i] for i in ids], dtype=np.intp) for ids, _, _ in per_repeat]
    scores = [p for _, _, p in per_repeat]
    return patients, y_all, index, scores


def repeated_cv_summary(
    repeats: Sequence[Mapping[str, Any]],
    *,
    n_boot: int = 2000,
    seed: int = 0,
    ci: float = 0.95,
    stratify: bool = True,
) -> dict[str, object]:
    """Mean and SD of the AUC over repeats of cross-validation, with a patient-level interval.

    Parameters
    ----------
    repeats : list of dict
        One record per repeat: ``y_true`` and ``p_good`` (out-of-fold or
        held-out probabilities of that repeat; NaN for a patient the repeat
        did not score) and, optionally, ``patients`` (ids).  Repeated k-fold
        scores every patient in every repeat; repeated train/test splits
        (:func:`rehab_core.training.repeated_patient_splits`) score a
        different test set each time: give ``patients`` then.  Without
        ``patients`` every repeat must score the same patients in the same
        order.
    n_boot, seed, ci, stratify
        Patient bootstrap, as in :func:`rehab_core.evaluation.bootstrap_metrics`.

    Returns
    -------
    summary : dict
        ``auc_per_repeat`` (list), ``mean`` and ``sd`` (sample SD, ddof=1;
        NaN with one repeat) of those AUCs: the SD is how much the figure
        moves with the split.  ``pooled``: ``{"estimate", "low", "high"}``,
        the mean AUC with a patient-level bootstrap interval: each resample
        draws the patients once and recomputes every repeat's AUC on that
        same draw, so a patient scored in several repeats counts as one
        patient, not as several (the interval reflects which patients were
        recruited, for these splits).  Also ``n_repeats``, ``n_patients``,
        ``n_positive``, ``n_boot``, ``seed``, ``ci``, ``stratify`` and
        ``undefined_resamples``.  JSON-ready.
    """
    _check_bootstrap(n_boot, ci)
    patients, y, index, scores = _repeat_arrays(repeats)
    n_rep = len(index)
    for k, idx in enumerate(index):
        if y[idx].all() or not y[idx].any():
            raise ValueError(
                f"Repeat {k} scored patients of one outcome only; its AUC is undefined."
            )
    boot = _resample_weights(y, int(n_boot), seed, stratify)
    weights = np.vstack([np.ones((1, y.size)), boot])
    aucs = np.column_stack(
        [_auc_rows(y[idx], p, weights[:, idx]) for idx, p in zip(index, scores, strict=True)]
    )  # (1 + n_boot, n_repeats)
    per_repeat = aucs[0]
    with np.errstate(invalid="ignore"):
        pooled = aucs[1:].mean(axis=1)  # NaN when any repeat's AUC is undefined on a resample
    low, high = _percentile_interval(pooled, ci)
    return {
        "auc_per_repeat": [float(v) for v in per_repeat],
        "mean": float(per_repeat.mean()),
        "sd": float(per_repeat.std(ddof=1)) if n_rep > 1 else float("nan"),
        "pooled": {"estimate": float(per_repeat.mean()), "low": low, "high": high},
        "n_repeats": int(n_rep),
        "n_patients": len(patients),
        "n_positive": int(y.sum()),
        "n_boot": int(n_boot),
        "seed": int(seed),
        "ci": float(ci),
        "stratify": bool(stratify),
        "undefined_resamples": int(np.isnan(pooled).sum()),
    }


def repeated_cv_rows(summary: Mapping[str, Any]) -> list[dict[str, str]]:
    """A ``rehab repeated-cv`` summary as rows of text cells (the Markdown file and the page).

    Parameters
    ----------
    summary : mapping
        What :func:`rehab_core.workflows.repeated_cv.repeated_cross_validation`
        returns (``rows``, each with ``row``, ``group``, ``n_patients``,
        ``ceiling_auc`` and a :func:`repeated_cv_summary` ``summary``).

    Returns
    -------
    list of dict
        One per row: ``Row`` (a comparator's second row, fitted on the
        patients with EEG-EMG only, says so), ``Patients``, ``AUC, mean ± SD
        over repeats``, ``mean (95% CI)`` (the pooled bootstrap interval),
        ``per repeat`` and ``Ceiling AUC``.
    """
    out = []
    for row in summary.get("rows") or []:
        m = row["summary"]
        on_signal = row["group"] == "signal" and row["row"] != "LSTM"
        pooled = m["pooled"]
        out.append(
            {
                "Row": row["row"] + (" (patients with EEG-EMG)" if on_signal else ""),
                "Patients": str(row["n_patients"]),
                "AUC, mean ± SD over repeats": f"{m['mean']:.2f} ± {m['sd']:.2f}",
                "mean (95% CI)": (
                    f"{pooled['estimate']:.2f} ({pooled['low']:.2f}–{pooled['high']:.2f})"
                ),
                "per repeat": " / ".join(f"{v:.2f}" for v in m["auc_per_repeat"]),
                "Ceiling AUC": f"{row['ceiling_auc']:.2f}",
            }
        )
    return out


def seed_summary(per_seed: Mapping[Any, Mapping[str, Any]]) -> dict[str, object]:
    """Mean and SD of each metric across external cohorts (one per generator seed).

    Parameters
    ----------
    per_seed : mapping of seed to metrics
        ``{seed: {metric: value}}`` where each value is a number or a cell
        ``{"estimate", ...}`` (as in :func:`bootstrap_metrics` ``["metrics"]``);
        e.g. ``{1: {"roc_auc": 0.82}, 2: {"roc_auc": 0.73}, 3: {...}}``.
        Every seed must report the same metrics.

    Returns
    -------
    summary : dict
        ``seeds`` (as strings, in the given order), ``n_seeds`` and
        ``metrics``: ``{metric: {"mean", "sd", "min", "max", "values"}}``, the
        SD being the sample SD (ddof=1) across seeds (NaN for one seed), i.e.
        how much one external cohort's figure can move.  NaN values (a metric
        undefined on one cohort) are left out of that metric's mean and SD and
        counted in ``n_undefined``.  JSON-ready except for NaN.
    """
    if not isinstance(per_seed, Mapping) or not per_seed:
        raise ValueError("per_seed must be a non-empty mapping of seed to metrics.")
    seeds = [str(s) for s in per_seed]
    if len(set(seeds)) != len(seeds):
        raise ValueError("per_seed holds the same seed twice.")
    names = None
    for s, metrics in per_seed.items():
        if not isinstance(metrics, Mapping):
            raise TypeError(f"Metrics of seed {s} must be a mapping, got {type(metrics).__name__}.")
        if names is None:
            names = list(metrics)
        elif set(metrics) != set(names):
            raise ValueError(
                f"Seed {s} reports {sorted(metrics)} but the first seed reports {sorted(names)}; "
                "every seed needs the same metrics."
            )
    out: dict[str, Any] = {}
    for name in names or []:
        values = np.array([_value(per_seed[s][name], s, name) for s in per_seed])
        ok = values[~np.isnan(values)]
        out[name] = {
            "mean": float(ok.mean()) if ok.size else float("nan"),
            "sd": float(ok.std(ddof=1)) if ok.size > 1 else float("nan"),
            "min": float(ok.min()) if ok.size else float("nan"),
            "max": float(ok.max()) if ok.size else float("nan"),
            "values": [float(v) for v in values],
            "n_undefined": int(values.size - ok.size),
        }
    return {"seeds": seeds, "n_seeds": len(seeds), "metrics": out}


def _value(value: Any, seed: Any, name: str) -> float:
    if isinstance(value, Mapping):
        if "estimate" not in value:
            raise ValueError(f"{name} of seed {seed} is a mapping without 'estimate'.")
        value = value["estimate"]
    if value is None:
        return float("nan")
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{name} of seed {seed} must be a number, got {value!r}.")
    value = float(value)
    if math.isinf(value):
        raise ValueError(f"{name} of seed {seed} is infinite; a metric must be finite or NaN.")
    return value

"""Paired comparison of two scores' ROC AUC on the same patients.

Two models scored on the same patients are correlated: a patient who is hard
for one is usually hard for the other.  Comparing their separate bootstrap
intervals ignores that and is far too conservative (or, when the intervals
happen not to overlap, says nothing about the size of the difference).  Two
standard paired methods are given here:

* :func:`paired_bootstrap_auc`: patients are resampled once and both AUCs are
  computed on the same resample, with the multiplicity kernel of
  :mod:`rehab_core.evaluation._metrics` (point and interval share code, and the
  same seed gives the same resamples as :func:`bootstrap_metrics`);
* :func:`delong_test`: DeLong, DeLong & Clarke-Pearson (1988), the asymptotic
  covariance of correlated Mann-Whitney AUCs, computed with the fast midrank
  algorithm of Sun & Xu (2014), O(n log n).

The difference is always ``AUC(p_a) - AUC(p_b)``.
"""

from __future__ import annotations

import math

import numpy as np

from rehab_core._validation import check_range
from rehab_core.evaluation._checks import as_binary_labels, as_probabilities, check_same_length
from rehab_core.evaluation._metrics import (
    _auc_rows,
    _check_bootstrap,
    _percentile_interval,
    _resample_weights,
)

__all__ = ["delong_test", "paired_bootstrap_auc"]


def _paired_inputs(
    y_true: object, p_a: object, p_b: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = as_binary_labels(y_true, "y_true")
    a = as_probabilities(p_a, "p_a")
    b = as_probabilities(p_b, "p_b")
    check_same_length(y_true=y, p_a=a, p_b=b)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if min(n_pos, n_neg) < 2:
        raise ValueError(
            f"Comparing AUCs needs at least 2 good and 2 poor patients, got {n_pos} good "
            f"and {n_neg} poor."
        )
    return y, a, b


def _normal_quantile(ci: float) -> float:
    from scipy.special import ndtri

    return float(ndtri(0.5 + ci / 2))


def _two_sided_p(z: float) -> float:
    from scipy.special import ndtr

    return float(2.0 * ndtr(-abs(z)))


def paired_bootstrap_auc(
    y_true: object,
    p_a: object,
    p_b: object,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    ci: float = 0.95,
    stratify: bool = True,
) -> dict[str, object]:
    """AUC difference of two scores on the same patients, with a paired bootstrap interval.

    Parameters
    ----------
    y_true : array-like of {0, 1} or bool, shape (n_patients,)
        Observed outcome, 1 = good.
    p_a, p_b : array-like of float, shape (n_patients,)
        The two models' probabilities of a good outcome for the same patients,
        in the same order.
    n_boot, seed, ci, stratify
        As in :func:`rehab_core.evaluation.bootstrap_metrics`; the same
        ``seed`` and ``stratify`` draw the same resamples, so ``auc_a`` and
        ``auc_b`` here carry exactly the ROC AUC intervals of that function.

    Returns
    -------
    result : dict
        ``auc_a``, ``auc_b`` and ``difference`` (``AUC_a - AUC_b``), each
        ``{"estimate", "low", "high"}`` (full-sample estimate, percentile
        interval of the resamples); ``se`` (standard deviation of the
        resampled differences); ``p_value`` (two-sided, from
        ``z = difference / se`` and the normal distribution, as pROC's
        ``roc.test(method="bootstrap")``; 1.0 when both scores rank the
        patients identically); ``n``, ``n_positive``, ``n_boot``, ``seed``,
        ``ci``, ``stratify``, ``undefined_resamples`` (resamples with one
        class only, left out; always 0 when stratified) and ``method``.
        JSON-ready.

    Raises
    ------
    ValueError
        Fewer than 2 patients of either outcome, mismatched lengths, bad
        probabilities.
    """
    y, a, b = _paired_inputs(y_true, p_a, p_b)
    _check_bootstrap(n_boot, ci)
    weights = _resample_weights(y, int(n_boot), seed, stratify)
    ones = np.ones((1, y.size))
    point_a, point_b = _auc_rows(y, a, ones)[0], _auc_rows(y, b, ones)[0]
    boot_a, boot_b = _auc_rows(y, a, weights), _auc_rows(y, b, weights)
    diff = boot_a - boot_b
    defined = ~np.isnan(diff)
    estimate = float(point_a - point_b)
    se = float(np.std(diff[defined], ddof=1)) if defined.sum() > 1 else float("nan")
    if se > 0:
        p_value = _two_sided_p(estimate / se)
    else:  # every resample gives the same difference: the rankings agree
        p_value = 1.0 if estimate == 0 else 0.0
    low, high = _percentile_interval(diff, ci)
    return {
        "auc_a": _cell(point_a, boot_a, ci),
        "auc_b": _cell(point_b, boot_b, ci),
        "difference": {"estimate": estimate, "low": low, "high": high},
        "se": se,
        "p_value": p_value,
        "n": int(y.size),
        "n_positive": int(y.sum()),
        "n_boot": int(n_boot),
        "seed": int(seed),
        "ci": float(ci),
        "stratify": bool(stratify),
        "undefined_resamples": int((~defined).sum()),
        "method": "paired bootstrap",
    }


def _cell(point: float, boot: np.ndarray, ci: float) -> dict[str, float]:
    low, high = _percentile_interval(boot, ci)
    return {"estimate": float(point), "low": low, "high": high}


def _delong_covariance(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """DeLong covariance of the AUCs of ``scores (k, n_patients)`` (Sun & Xu 2014).

    With ``m`` positives and ``n`` negatives, midranks among the positives
    (``tx``), among the negatives (``ty``) and among everyone (``tz``) give the
    structural components ``V10 = (tz_pos - tx) / n`` (for each positive: the
    fraction of negatives it outscores, ties one half) and
    ``V01 = 1 - (tz_neg - ty) / m`` (for each negative: the fraction of
    positives that outscore it); ``cov = S10 / m + S01 / n`` with ``S10``,
    ``S01`` their sample covariance matrices across the ``k`` scores.

    Returns
    -------
    cov : ndarray, shape (k, k)
    """
    from scipy.stats import rankdata

    m, n = int(y.sum()), int((~y).sum())
    pos, neg = scores[:, y], scores[:, ~y]
    tz = rankdata(scores, axis=1)  # "average" ranks are midranks
    v10 = (tz[:, y] - rankdata(pos, axis=1)) / n
    v01 = 1.0 - (tz[:, ~y] - rankdata(neg, axis=1)) / m
    return np.atleast_2d(np.cov(v10)) / m + np.atleast_2d(np.cov(v01)) / n


def delong_test(y_true: object, p_a: object, p_b: object, *, ci: float = 0.95) -> dict[str, object]:
    """DeLong's test and interval for the AUC difference of two scores on the same patients.

    Parameters
    ----------
    y_true : array-like of {0, 1} or bool, shape (n_patients,)
        Observed outcome, 1 = good.
    p_a, p_b : array-like of float, shape (n_patients,)
        The two models' probabilities of a good outcome for the same patients.
    ci : float
        Coverage of the normal-approximation intervals, in (0, 1).

    Returns
    -------
    result : dict
        ``auc_a``, ``auc_b`` (each ``{"estimate", "low", "high"}``, DeLong
        interval clipped to [0, 1]), ``difference`` (``AUC_a - AUC_b`` with its
        interval ``estimate +- z * se``), ``se``, ``z``, ``p_value`` (two
        sided), ``correlation`` (of the two AUC estimates), ``n``,
        ``n_positive``, ``ci`` and ``method``.  When both scores rank every
        pair of patients alike, ``se`` is 0, ``z`` 0 and ``p_value`` 1.
        JSON-ready.

    Notes
    -----
    The AUC estimates are the Mann-Whitney statistics (ties count one half),
    the same numbers as :func:`rehab_core.evaluation.binary_metrics`.  The
    interval is asymptotic; with a dozen patients per class prefer
    :func:`paired_bootstrap_auc` or report both.
    """
    y, a, b = _paired_inputs(y_true, p_a, p_b)
    check_range("ci", ci, 0.0, 1.0)
    if ci in (0.0, 1.0):
        raise ValueError(f"ci={ci!r} must lie strictly between 0 and 1, e.g. 0.95.")
    ones = np.ones((1, y.size))
    auc = np.array([_auc_rows(y, a, ones)[0], _auc_rows(y, b, ones)[0]])
    cov = _delong_covariance(y, np.vstack([a, b]))
    var_diff = max(float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]), 0.0)
    se = math.sqrt(var_diff)
    estimate = float(auc[0] - auc[1])
    q = _normal_quantile(ci)
    if se > 0:
        z = estimate / se
        p_value = _two_sided_p(z)
    else:  # identical rankings: the difference is 0 without sampling error
        z, p_value = 0.0, 1.0
    sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    denom = sd[0] * sd[1]
    return {
        "auc_a": _normal_cell(auc[0], sd[0], q, clip=True),
        "auc_b": _normal_cell(auc[1], sd[1], q, clip=True),
        "difference": _normal_cell(estimate, se, q, clip=False),
        "se": se,
        "z": float(z),
        "p_value": float(p_value),
        "correlation": float(cov[0, 1] / denom) if denom > 0 else float("nan"),
        "n": int(y.size),
        "n_positive": int(y.sum()),
        "ci": float(ci),
        "method": "DeLong",
    }


def _normal_cell(estimate: float, sd: float, q: float, *, clip: bool) -> dict[str, float]:
    low, high = estimate - q * sd, estimate + q * sd
    if clip:
        low, high = max(low, 0.0), min(high, 1.0)
    return {"estimate": float(estimate), "low": float(low), "high": float(high)}

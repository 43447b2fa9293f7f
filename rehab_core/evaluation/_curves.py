"""ROC and reliability (calibration) curves as plain lists, ready to plot."""

from __future__ import annotations

import numpy as np

from rehab_core._validation import check_int, check_option
from rehab_core.evaluation._checks import as_binary_labels, as_probabilities, check_same_length
from rehab_core.evaluation._metrics import roc_auc

__all__ = ["calibration_bins", "roc_points"]


def roc_points(
    y_true: object, p_good: object, *, drop_intermediate: bool = True
) -> dict[str, object]:
    """Points of the ROC curve of the good-outcome class.

    Parameters
    ----------
    y_true : array-like of {0, 1} or bool, shape (n_patients,)
        Observed outcome, 1 = good.
    p_good : array-like of float, shape (n_patients,)
        Predicted probability of a good outcome.
    drop_intermediate : bool
        Drop collinear points, as :func:`sklearn.metrics.roc_curve`.

    Returns
    -------
    curve : dict
        ``fpr``, ``tpr``, ``thresholds`` (lists of Python floats, from
        :func:`sklearn.metrics.roc_curve`; the curve runs from (0, 0) to
        (1, 1)) and ``auc``.  A patient counts as predicted good when
        ``p_good >= threshold``.  scikit-learn's first threshold is
        ``inf`` ("nobody predicted good"); it is returned as ``None`` so the
        output stays valid JSON.

    Raises
    ------
    ValueError
        If only one outcome class is present: a ROC curve needs both.
    """
    from sklearn.metrics import roc_curve

    y = as_binary_labels(y_true, "y_true")
    p = as_probabilities(p_good, "p_good")
    check_same_length(y_true=y, p_good=p)
    if y.all() or not y.any():
        only = "good" if y.all() else "poor"
        raise ValueError(
            f"A ROC curve needs patients of both outcomes, but all {y.size} patients are {only}."
        )
    fpr, tpr, thresholds = roc_curve(y, p, drop_intermediate=drop_intermediate)
    return {
        "fpr": [float(v) for v in fpr],
        "tpr": [float(v) for v in tpr],
        "thresholds": [float(v) if np.isfinite(v) else None for v in thresholds],
        "auc": roc_auc(y, p),
    }


def calibration_bins(
    y_true: object,
    p_good: object,
    *,
    n_bins: int = 10,
    strategy: str = "uniform",
) -> dict[str, object]:
    """Reliability diagram: observed fraction of good outcomes per probability bin.

    Binning follows :func:`sklearn.calibration.calibration_curve` exactly
    (a value on an inner edge goes to the lower bin) and, like it, empty bins
    are left out, so ``count`` sums to the number of patients.

    Parameters
    ----------
    y_true : array-like of {0, 1} or bool, shape (n_patients,)
    p_good : array-like of float, shape (n_patients,)
    n_bins : int
        Number of bins.
    strategy : {"uniform", "quantile"}
        ``"uniform"``: equal-width bins on [0, 1]; ``"quantile"``: edges at
        quantiles of ``p_good`` so bins hold similar numbers of patients.

    Returns
    -------
    bins : dict
        Lists over the non-empty bins: ``bin_low``, ``bin_high`` (edges),
        ``mean_predicted``, ``observed_fraction``, ``count``; plus
        ``ece`` (expected calibration error: count-weighted mean of
        ``|observed_fraction - mean_predicted|``), ``n_bins`` and ``strategy``.
    """
    y = as_binary_labels(y_true, "y_true")
    p = as_probabilities(p_good, "p_good")
    n = check_same_length(y_true=y, p_good=p)
    n_bins = check_int("n_bins", n_bins, low=1)
    check_option("strategy", strategy, ("uniform", "quantile"))

    if strategy == "quantile":
        edges = np.percentile(p, np.linspace(0, 1, n_bins + 1) * 100)  # exactly as sklearn
    else:
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    ids = np.searchsorted(edges[1:-1], p)
    count = np.bincount(ids, minlength=n_bins)
    sum_p = np.bincount(ids, weights=p, minlength=n_bins)
    sum_y = np.bincount(ids, weights=y.astype(np.float64), minlength=n_bins)
    keep = count > 0
    mean_p = sum_p[keep] / count[keep]
    observed = sum_y[keep] / count[keep]
    ece = float(np.sum(count[keep] * np.abs(observed - mean_p)) / n)
    return {
        "bin_low": [float(v) for v in edges[:-1][keep]],
        "bin_high": [float(v) for v in edges[1:][keep]],
        "mean_predicted": [float(v) for v in mean_p],
        "observed_fraction": [float(v) for v in observed],
        "count": [int(v) for v in count[keep]],
        "ece": ece,
        "n_bins": int(n_bins),
        "strategy": strategy,
    }

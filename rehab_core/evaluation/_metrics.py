"""Binary and regression metrics, with stratified bootstrap intervals.

Every classification metric is computed by one vectorised kernel,
:func:`_metric_rows`, from *patient multiplicities*: a row of weights
``w (n_patients,)`` saying how many times each patient is counted.  The point
estimate is the row of ones; a bootstrap resample is a row of multinomial
counts.  Point estimates and intervals therefore share exactly the same code,
and that code is tested against :mod:`sklearn.metrics`.

Conventions (the same as scikit-learn's defaults):

* positive class = good outcome (label 1); a patient is predicted good when
  ``p_good >= threshold``;
* a ratio whose denominator is zero (precision with no predicted "good",
  recall with no true "good", ...) is 0, as with ``zero_division=0``;
* ROC AUC is NaN when only one outcome class is present, with an
  :class:`sklearn.exceptions.UndefinedMetricWarning`;
* balanced accuracy is the mean recall over the classes present in
  ``y_true`` (``sklearn.metrics.balanced_accuracy_score``);
* the Brier score is the mean squared difference ``(p_good - y)**2``.
"""

from __future__ import annotations

import warnings

import numpy as np

from rehab_core._validation import check_int, check_option, check_range
from rehab_core.evaluation._checks import as_binary_labels, as_probabilities, check_same_length

__all__ = [
    "METRIC_NAMES",
    "binary_metrics",
    "bootstrap_metrics",
    "regression_metrics",
    "roc_auc",
]

#: Metrics returned by :func:`binary_metrics` (besides the counts ``n`` and ``n_positive``).
METRIC_NAMES: tuple[str, ...] = (
    "accuracy",
    "recall",
    "precision",
    "f1",
    "roc_auc",
    "specificity",
    "balanced_accuracy",
    "brier",
)

_AVERAGES = ("binary", "macro")


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` with 0 where ``den == 0`` (scikit-learn's ``zero_division=0``)."""
    safe = np.where(den > 0, den, 1.0)
    return np.where(den > 0, num / safe, 0.0)


def _auc_rows(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted Mann-Whitney ROC AUC for each row of multiplicities.

    Parameters
    ----------
    y : ndarray of bool, shape (n_patients,)
    p : ndarray of float, shape (n_patients,)
    w : ndarray of float, shape (n_rows, n_patients)
        How often each patient counts in each row.

    Returns
    -------
    auc : ndarray, shape (n_rows,)
        P(score of a positive > score of a negative) + 0.5 P(equal), NaN in
        rows without positives or without negatives.  O(n_rows * n_patients).
    """
    order = np.argsort(p, kind="stable")
    p_sorted = p[order]
    starts = np.flatnonzero(
        np.r_[True, p_sorted[1:] != p_sorted[:-1]]
    )  # one group per distinct score
    w_sorted = w[:, order]
    pos = y[order].astype(np.float64)
    w_pos = np.add.reduceat(w_sorted * pos, starts, axis=1)
    w_neg = np.add.reduceat(w_sorted * (1.0 - pos), starts, axis=1)
    neg_below = np.cumsum(w_neg, axis=1) - w_neg
    wins = (w_pos * (neg_below + 0.5 * w_neg)).sum(axis=1)
    pairs = w_pos.sum(axis=1) * w_neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, wins / np.where(pairs > 0, pairs, 1.0), np.nan)


def roc_auc(y_true: object, score: object) -> float | np.ndarray:
    """Area under the ROC curve: P(score of a good > score of a poor) + half the ties.

    The one ROC AUC of the package (training's validation AUC, the fusion's
    cross-validation, the cohort's ceilings, the tables all call it); the
    same Mann-Whitney kernel as :func:`binary_metrics`, equal to
    :func:`sklearn.metrics.roc_auc_score`.

    Parameters
    ----------
    y_true : array-like of {0, 1} or bool, shape (n_patients,)
        Observed outcome, 1 = good.
    score : array-like of float, shape (n_patients,) or (n_rows, n_patients)
        Any score that ranks patients (a probability, a latent factor...);
        NaN is refused: leave out the patients without a score first. A 2-D
        ``score`` gives one AUC per row (e.g. one per candidate fusion weight).

    Returns
    -------
    float or ndarray of shape (n_rows,)
        **NaN when ``y_true`` holds only one outcome** (the AUC is not
        defined): the single, documented single-class behaviour. Callers that
        write JSON get ``null`` from :func:`rehab_core._json.to_jsonable`.
    """
    y = as_binary_labels(y_true, "y_true")
    s = np.asarray(score)
    if s.dtype == bool or not np.issubdtype(s.dtype, np.number):
        raise TypeError(f"score must hold numbers, got dtype {s.dtype}.")
    if s.ndim not in (1, 2) or s.shape[-1] != y.size:
        raise ValueError(
            f"score has shape {s.shape} but y_true has {y.size} patients; give one score "
            "per patient (or rows of them)."
        )
    s = s.astype(np.float64)
    if np.isnan(s).any():
        raise ValueError("score contains NaN; leave out the patients without a score.")
    ones = np.ones((1, y.size))
    if s.ndim == 1:
        return float(_auc_rows(y, s, ones)[0])
    return np.asarray([_auc_rows(y, row, ones)[0] for row in s])


def _metric_rows(
    y: np.ndarray, p: np.ndarray, w: np.ndarray, threshold: float, average: str
) -> dict[str, np.ndarray]:
    """Every metric of :data:`METRIC_NAMES` for each row of multiplicities ``w (n_rows, n)``."""
    pred = p >= threshold
    tp = w @ (y & pred).astype(np.float64)
    fp = w @ (~y & pred).astype(np.float64)
    fn = w @ (y & ~pred).astype(np.float64)
    tn = w @ (~y & ~pred).astype(np.float64)
    n = tp + fp + fn + tn
    n_pos, n_neg = tp + fn, tn + fp

    recall_pos, recall_neg = _ratio(tp, n_pos), _ratio(tn, n_neg)
    precision_pos, precision_neg = _ratio(tp, tp + fp), _ratio(tn, tn + fn)
    f1_pos, f1_neg = _ratio(2 * tp, 2 * tp + fp + fn), _ratio(2 * tn, 2 * tn + fp + fn)
    if average == "macro":  # both classes always count, as sklearn with labels=[0, 1]
        recall = (recall_pos + recall_neg) / 2
        precision = (precision_pos + precision_neg) / 2
        f1 = (f1_pos + f1_neg) / 2
    else:
        recall, precision, f1 = recall_pos, precision_pos, f1_pos
    present = (n_pos > 0).astype(np.float64) + (n_neg > 0)
    balanced = (recall_pos * (n_pos > 0) + recall_neg * (n_neg > 0)) / present
    return {
        "accuracy": (tp + tn) / n,
        "recall": recall,
        "precision": precision,
        "f1": f1,
        "roc_auc": _auc_rows(y, p, w),
        "specificity": recall_neg,
        "balanced_accuracy": balanced,
        "brier": (w @ (p - y) ** 2) / n,
    }


def _checked(
    y_true: object, p_good: object, threshold: float, average: str
) -> tuple[np.ndarray, np.ndarray]:
    y = as_binary_labels(y_true, "y_true")
    p = as_probabilities(p_good, "p_good")
    check_same_length(y_true=y, p_good=p)
    check_range("threshold", threshold, 0.0, 1.0)
    check_option("average", average, _AVERAGES)
    return y, p


def binary_metrics(
    y_true: object,
    p_good: object,
    *,
    threshold: float = 0.5,
    average: str = "binary",
) -> dict[str, float | int]:
    """Classification metrics for the good-outcome class.

    Parameters
    ----------
    y_true : array-like of {0, 1} or bool, shape (n_patients,)
        Observed outcome, 1 = good (3-month FMA-LE > 17).
    p_good : array-like of float, shape (n_patients,)
        Predicted probability of a good outcome, in [0, 1].
    threshold : float
        A patient is predicted good when ``p_good >= threshold``.
    average : {"binary", "macro"}
        ``"binary"`` (default) reports recall, precision and F1 of the good
        class (recall = sensitivity).  ``"macro"`` averages them over both
        classes, as ``sklearn.metrics.classification_report``'s "macro avg";
        the paper's tables appear to use that convention (its ResNet50 row,
        recall 0.5 and precision = accuracy / 2, is what a constant
        prediction gives under macro averaging).

    Returns
    -------
    metrics : dict
        ``accuracy, recall, precision, f1, roc_auc, specificity,
        balanced_accuracy, brier`` (Python floats) and ``n, n_positive``
        (Python ints).  Equal to the matching :mod:`sklearn.metrics`
        functions; see the module docstring for the zero-division rules.

    Warns
    -----
    sklearn.exceptions.UndefinedMetricWarning
        When only one outcome class is present (ROC AUC is NaN) or when no
        patient is predicted good (precision is set to 0).
    """
    y, p = _checked(y_true, p_good, threshold, average)
    rows = _metric_rows(y, p, np.ones((1, y.size)), threshold, average)
    n_positive = int(y.sum())
    _warn_undefined(y, p >= threshold)
    out: dict[str, float | int] = {name: float(rows[name][0]) for name in METRIC_NAMES}
    out["n"] = int(y.size)
    out["n_positive"] = n_positive
    return out


def _warn_undefined(y: np.ndarray, pred: np.ndarray) -> None:
    from sklearn.exceptions import UndefinedMetricWarning

    if y.all() or not y.any():
        only = "good" if y.all() else "poor"
        warnings.warn(
            f"Only one outcome class is present in y_true (all {only}); ROC AUC is not "
            "defined and is reported as NaN, and the recall of the missing class is 0.",
            UndefinedMetricWarning,
            stacklevel=3,
        )
    if not pred.any():
        warnings.warn(
            "No patient is predicted good at this threshold; precision is ill-defined "
            "and reported as 0.",
            UndefinedMetricWarning,
            stacklevel=3,
        )


def _check_bootstrap(n_boot: int, ci: float) -> None:
    check_int("n_boot", n_boot, low=1)
    check_range("ci", ci, 0.0, 1.0)
    if ci in (0.0, 1.0):
        raise ValueError(f"ci={ci!r} must lie strictly between 0 and 1, e.g. 0.95.")


def _resample_weights(y: np.ndarray, n_boot: int, seed: int, stratify: bool) -> np.ndarray:
    """Bootstrap resamples of patients as multiplicities, shape (n_boot, n_patients).

    Row ``b`` says how often each patient is drawn in resample ``b``: multinomial
    counts over all patients, or (``stratify=True``) over the good and the poor
    patients separately, each class keeping its size.  Every bootstrap of this
    package draws its resamples here, so the same ``seed`` gives the same
    resamples to a model's metrics, its paired comparisons and its ceiling.
    """
    rng = np.random.default_rng(seed)
    weights = np.zeros((n_boot, y.size))
    groups = [np.flatnonzero(y), np.flatnonzero(~y)] if stratify else [np.arange(y.size)]
    for idx in groups:
        if idx.size:
            weights[:, idx] = rng.multinomial(
                idx.size, np.full(idx.size, 1.0 / idx.size), size=n_boot
            )
    return weights


def _percentile_interval(values: np.ndarray, ci: float) -> tuple[float, float]:
    finite = values[~np.isnan(values)]
    if finite.size == 0:
        return float("nan"), float("nan")
    low, high = np.percentile(finite, [50 * (1 - ci), 50 * (1 + ci)])
    return float(low), float(high)


def bootstrap_metrics(
    y_true: object,
    p_good: object,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    threshold: float = 0.5,
    ci: float = 0.95,
    average: str = "binary",
    stratify: bool = True,
) -> dict[str, object]:
    """Point estimates and percentile bootstrap intervals of :func:`binary_metrics`.

    Patients are resampled with replacement.  With ``stratify=True``
    (default) the good and poor patients are resampled separately, each
    keeping its count, so every resample holds both classes and ROC AUC is
    always defined; the interval then describes sampling variability at the
    observed class balance.  With ``stratify=False`` the whole cohort is
    resampled and resamples with one class only give NaN AUC, which is left
    out of that metric's interval (their number is reported).

    Parameters
    ----------
    y_true, p_good, threshold, average
        As in :func:`binary_metrics`.
    n_boot : int
        Number of bootstrap resamples.
    seed : int
        Seed of :func:`numpy.random.default_rng`; the same seed gives the same intervals.
    ci : float
        Coverage of the percentile interval, in (0, 1).
    stratify : bool
        Resample within each outcome class (see above).

    Returns
    -------
    report : dict
        ``{"metrics": {name: {"estimate", "low", "high"}}, "n", "n_positive",
        "n_boot", "seed", "ci", "threshold", "average", "stratify",
        "undefined_resamples"}``, JSON-ready (Python floats/ints only).
        ``estimate`` is the full-sample value, not the bootstrap mean.

    Notes
    -----
    All resamples are evaluated at once as multinomial patient counts
    (``n_boot x n_patients`` weights), so n=100 and n_boot=2000 takes a few
    tens of milliseconds.
    """
    y, p = _checked(y_true, p_good, threshold, average)
    _check_bootstrap(n_boot, ci)

    weights = _resample_weights(y, int(n_boot), seed, stratify)
    point = _metric_rows(y, p, np.ones((1, y.size)), threshold, average)
    boot = _metric_rows(y, p, weights, threshold, average)
    _warn_undefined(y, p >= threshold)
    metrics = {}
    for name in METRIC_NAMES:
        low, high = _percentile_interval(boot[name], ci)
        metrics[name] = {"estimate": float(point[name][0]), "low": low, "high": high}
    return {
        "metrics": metrics,
        "n": int(y.size),
        "n_positive": int(y.sum()),
        "n_boot": int(n_boot),
        "seed": int(seed),
        "ci": float(ci),
        "threshold": float(threshold),
        "average": average,
        "stratify": bool(stratify),
        "undefined_resamples": int(np.isnan(boot["roc_auc"]).sum()),
    }


def regression_metrics(
    fma_true: object,
    fma_pred: object,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    ci: float = 0.95,
) -> dict[str, float | int]:
    """Error of a continuous 3-month FMA-LE prediction (points, 0-34 scale).

    Parameters
    ----------
    fma_true, fma_pred : array-like of float, shape (n_patients,)
        Observed and predicted lower-limb Fugl-Meyer scores (points).
    n_boot, seed, ci
        Percentile bootstrap (patients resampled with replacement) of the MAE.

    Returns
    -------
    metrics : dict
        ``n``, ``mae`` with ``mae_low``/``mae_high`` (points), ``rmse``
        (points), ``r2`` (``sklearn.metrics.r2_score``), ``spearman``
        (``scipy.stats.spearmanr``; NaN when either input is constant) and
        ``ci``.  Python floats/ints only.
    """
    from scipy.stats import spearmanr
    from sklearn.metrics import r2_score

    y = _as_scores(fma_true, "fma_true")
    f = _as_scores(fma_pred, "fma_pred")
    n = check_same_length(fma_true=y, fma_pred=f)
    _check_bootstrap(n_boot, ci)
    err = np.abs(y - f)
    rng = np.random.default_rng(seed)
    boot_mae = err[rng.integers(0, n, size=(int(n_boot), n))].mean(axis=1)
    low, high = _percentile_interval(boot_mae, ci)
    if np.ptp(y) == 0 or np.ptp(f) == 0:
        rho = float("nan")  # rank correlation is undefined for a constant input
    else:
        rho = float(spearmanr(y, f).statistic)
    return {
        "n": int(n),
        "mae": float(err.mean()),
        "mae_low": low,
        "mae_high": high,
        "rmse": float(np.sqrt(np.mean((y - f) ** 2))),
        "r2": float(r2_score(y, f)) if n > 1 else float("nan"),
        "spearman": rho,
        "ci": float(ci),
    }


def _as_scores(values: object, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(
            f"{name} must be a non-empty 1-D array of scores (one per patient), "
            f"got shape {arr.shape}."
        )
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{name} must hold numeric FMA-LE scores, got dtype {arr.dtype}.")
    arr = arr.astype(np.float64, copy=True)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values; every patient needs a score.")
    return arr

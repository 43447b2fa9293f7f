"""Logistic recalibration: calibration slope and calibration-in-the-large, with intervals.

With ``L = logit(p_good)``:

* **calibration slope** ``b`` from the logistic regression
  ``logit P(good) = a + b L``: 1 is ideal, below 1 means the predictions are
  too extreme (typical of overfitting), above 1 too modest;
* **calibration-in-the-large** ``a0`` from ``logit P(good) = a0 + L`` (``L``
  as an offset, slope fixed at 1): 0 is ideal, positive means the model
  predicts good outcomes too rarely on average, negative too often.

Both are maximum-likelihood fits by Newton's method, run for the full sample
and for every bootstrap resample at once: each resample is a row of patient
multiplicities, i.e. case weights (the kernel idea of
:mod:`rehab_core.evaluation._metrics`, and the same resamples for the same seed).
"""

from __future__ import annotations

import numpy as np

from rehab_core._validation import check_range
from rehab_core.evaluation._checks import (
    as_binary_labels,
    as_probabilities,
    check_both_outcomes,
    check_same_length,
)
from rehab_core.evaluation._metrics import (
    _check_bootstrap,
    _percentile_interval,
    _resample_weights,
)

__all__ = ["calibration_slope_intercept"]

_MAX_ITER = 100
_TOL = 1e-10
_MAX_COEF = 1e3  # |coefficient| beyond this means the fit ran off to infinity (separation)


def _logit(p: np.ndarray, p_clip: float) -> np.ndarray:
    p = np.clip(p, p_clip, 1.0 - p_clip)
    return np.log(p) - np.log1p(-p)


def _expit(x: np.ndarray) -> np.ndarray:
    from scipy.special import expit

    return expit(x)


def _loglik(y: np.ndarray, eta: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted Bernoulli log-likelihood of each row of linear predictors ``eta (rows, n)``."""
    with np.errstate(invalid="ignore"):  # NaN rows (no estimate) stay NaN
        return (w * (y[None, :] * eta - np.logaddexp(0.0, eta))).sum(axis=1)


def _newton_rows(
    y: np.ndarray, x: np.ndarray, w: np.ndarray, *, fit_slope: bool
) -> tuple[np.ndarray, np.ndarray]:
    """ML fit of ``logit P = a + b x`` for each row of case weights ``w (rows, n)``.

    With ``fit_slope=False`` the slope is held at 1 (``x`` is an offset) and
    only ``a`` is fitted.  Newton's method from ``(a, b) = (0, 1)``, a
    perfectly calibrated model, with step halving whenever a step would lower
    the log-likelihood (the problem is concave, so this always converges when
    the estimate exists).  NaN where it does not exist: one outcome class in
    the row, perfect separation (the coefficients run off to infinity) or a
    constant ``x``.
    """
    rows = w.shape[0]
    yf = y.astype(np.float64)
    a, b = np.zeros(rows), np.ones(rows)
    done = np.zeros(rows, dtype=bool)
    ll = _loglik(yf, a[:, None] + b[:, None] * x[None, :], w)
    for _ in range(_MAX_ITER):
        mu = _expit(a[:, None] + b[:, None] * x[None, :])
        r = w * (yf[None, :] - mu)
        v = w * mu * (1.0 - mu)
        g0, h00 = r.sum(axis=1), v.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            if fit_slope:
                g1, h01, h11 = r @ x, v @ x, v @ (x * x)
                det = h00 * h11 - h01 * h01
                ok = det > 1e-12 * h00 * h11
                da = np.where(ok, (h11 * g0 - h01 * g1) / det, np.nan)
                db = np.where(ok, (h00 * g1 - h01 * g0) / det, np.nan)
            else:
                da = np.where(h00 > 0, g0 / h00, np.nan)
                db = np.zeros(rows)
        da, db = np.where(done, 0.0, da), np.where(done, 0.0, db)
        scale = np.ones(rows)
        for _ in range(30):  # halve the step where it would lower the log-likelihood
            trial = _loglik(
                yf, (a + scale * da)[:, None] + (b + scale * db)[:, None] * x[None, :], w
            )
            worse = trial < ll - 1e-12 * np.abs(ll)
            if not worse.any():
                break
            scale = np.where(worse, scale / 2, scale)
        a, b, ll = a + scale * da, b + scale * db, np.where(done, ll, trial)
        done |= ~(np.maximum(np.abs(scale * da), np.abs(scale * db)) >= _TOL)  # NaN: done
        if done.all():
            break
    bad = ~done | ~(np.abs(a) < _MAX_COEF) | ~(np.abs(b) < _MAX_COEF)
    a[bad], b[bad] = np.nan, np.nan
    return a, b


def calibration_slope_intercept(
    y_true: object,
    p_good: object,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    ci: float = 0.95,
    stratify: bool = True,
    p_clip: float = 1e-6,
) -> dict[str, object]:
    """Calibration slope and calibration-in-the-large with bootstrap intervals.

    Parameters
    ----------
    y_true : array-like of {0, 1} or bool, shape (n_patients,)
        Observed outcome, 1 = good.
    p_good : array-like of float, shape (n_patients,)
        Predicted probability of a good outcome.
    n_boot, seed, ci, stratify
        As in :func:`rehab_core.evaluation.bootstrap_metrics` (the same seed
        gives the same resamples).
    p_clip : float
        Probabilities are clipped to ``[p_clip, 1 - p_clip]`` before the logit,
        so a saturated prediction of exactly 0 or 1 stays finite
        (``logit(1 - 1e-6)`` is about 13.8).

    Returns
    -------
    result : dict
        ``slope`` (ideal 1) and ``intercept`` (calibration-in-the-large, ideal
        0, on the log-odds scale), each ``{"estimate", "low", "high"}``; also
        ``n``, ``n_positive``, ``n_boot``, ``seed``, ``ci``, ``stratify``,
        ``p_clip`` and ``undefined_resamples`` (resamples where the slope
        does not exist, e.g. perfect separation of the outcomes by ``p_good``;
        left out of the interval).  The slope estimate is NaN when the full
        sample is perfectly separated (say so rather than show a number).
        JSON-ready.

    Raises
    ------
    ValueError
        When only one outcome class is present, or the predictions are all
        equal (no slope can be fitted).
    """
    y = as_binary_labels(y_true, "y_true")
    p = as_probabilities(p_good, "p_good")
    check_same_length(y_true=y, p_good=p)
    _check_bootstrap(n_boot, ci)
    check_range("p_clip", p_clip, 1e-15, 0.49)
    check_both_outcomes(y, "Calibration")
    x = _logit(p, p_clip)
    if np.ptp(x) == 0:
        raise ValueError(
            "Every patient has the same predicted probability, so no calibration slope "
            "can be fitted."
        )
    weights = _resample_weights(y, int(n_boot), seed, stratify)
    ones = np.ones((1, y.size))
    _, slope_point = _newton_rows(y, x, ones, fit_slope=True)
    _, slope_boot = _newton_rows(y, x, weights, fit_slope=True)
    intercept_point, _ = _newton_rows(y, x, ones, fit_slope=False)
    intercept_boot, _ = _newton_rows(y, x, weights, fit_slope=False)
    slope_low, slope_high = _percentile_interval(slope_boot, ci)
    int_low, int_high = _percentile_interval(intercept_boot, ci)
    return {
        "slope": {"estimate": float(slope_point[0]), "low": slope_low, "high": slope_high},
        "intercept": {
            "estimate": float(intercept_point[0]),
            "low": int_low,
            "high": int_high,
        },
        "n": int(y.size),
        "n_positive": int(y.sum()),
        "n_boot": int(n_boot),
        "seed": int(seed),
        "ci": float(ci),
        "stratify": bool(stratify),
        "p_clip": float(p_clip),
        "undefined_resamples": int(np.isnan(slope_boot).sum()),
    }

"""Calibration slope / intercept against direct maximum-likelihood fits, and decision curves
against the formula of Vickers & Elkin (2006) written out per threshold."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.optimize import brentq, minimize
from scipy.special import expit, logit

from rehab_core.evaluation import calibration_slope_intercept, decision_curve
from rehab_core.evaluation._calibration import _newton_rows
from rehab_core.evaluation._metrics import _resample_weights


def _cohort(seed: int, n: int = 200, slope: float = 1.0, shift: float = 0.0):
    """Outcomes drawn from logit P(good) = shift + slope * logit(p): known true calibration."""
    rng = np.random.default_rng(seed)
    p = expit(rng.normal(0, 1.5, n))
    y = (rng.random(n) < expit(shift + slope * logit(p))).astype(int)
    return y, p


def _direct_slope(y, p, w=None):
    """logit P = a + b logit(p) by a general-purpose optimiser on the expanded sample."""
    w = np.ones(y.size) if w is None else w
    x = logit(p)

    def nll(beta):
        eta = beta[0] + beta[1] * x
        return -np.sum(w * (y * eta - np.logaddexp(0, eta)))

    return minimize(nll, [0.0, 1.0], method="BFGS", options={"gtol": 1e-10}).x


def _direct_intercept(y, p, w=None):
    """Root of the score equation sum w (y - expit(a + logit p)) = 0."""
    w = np.ones(y.size) if w is None else w
    x = logit(p)
    return brentq(lambda a: np.sum(w * (y - expit(a + x))), -20, 20, xtol=1e-14)


@pytest.mark.parametrize(("seed", "slope", "shift"), [(0, 1.0, 0.0), (1, 0.5, 0.4), (2, 1.6, -0.7)])
def test_slope_and_intercept_equal_direct_maximum_likelihood(seed, slope, shift):
    y, p = _cohort(seed, slope=slope, shift=shift)
    out = calibration_slope_intercept(y, p, n_boot=50, seed=0)
    a, b = _direct_slope(y, p)
    assert out["slope"]["estimate"] == pytest.approx(b, abs=1e-6)
    assert out["intercept"]["estimate"] == pytest.approx(_direct_intercept(y, p), abs=1e-9)


def test_resample_fits_equal_direct_fits_on_the_expanded_patients():
    y, p = _cohort(3, n=40)
    w = _resample_weights(y.astype(bool), 5, 11, True)
    a, b = _newton_rows(y.astype(bool), logit(p), w, fit_slope=True)
    a0, _ = _newton_rows(y.astype(bool), logit(p), w, fit_slope=False)
    for k in range(5):
        idx = np.repeat(np.arange(y.size), w[k].astype(int))
        assert b[k] == pytest.approx(_direct_slope(y[idx], p[idx])[1], abs=1e-6)
        assert a[k] == pytest.approx(_direct_slope(y[idx], p[idx])[0], abs=1e-6)
        assert a0[k] == pytest.approx(_direct_intercept(y[idx], p[idx]), abs=1e-9)


def test_interval_covers_the_truth_and_detects_overfitting():
    y, p = _cohort(4, n=400)
    good = calibration_slope_intercept(y, p, n_boot=300, seed=0)
    assert good["slope"]["low"] < 1.0 < good["slope"]["high"]
    assert good["intercept"]["low"] < 0.0 < good["intercept"]["high"]
    # Predictions twice as extreme as the truth (an overfitted model): slope about 0.5.
    extreme = expit(2 * logit(p))
    over = calibration_slope_intercept(y, extreme, n_boot=300, seed=0)
    assert over["slope"]["high"] < 0.75
    assert over["slope"]["estimate"] == pytest.approx(0.5 * good["slope"]["estimate"], rel=1e-6)
    assert json.loads(json.dumps(over)) == over


def test_perfect_separation_gives_nan_slope_not_a_number_that_means_nothing():
    y = np.array([0, 0, 0, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.8])
    out = calibration_slope_intercept(y, p, n_boot=40, seed=0)
    assert np.isnan(out["slope"]["estimate"])
    assert out["undefined_resamples"] == 40  # every stratified resample separates too
    assert np.isfinite(out["intercept"]["estimate"])


def test_saturated_probabilities_are_clipped_not_refused():
    y, p = _cohort(5, n=60)
    p = p.copy()
    p[:3] = [0.0, 1.0, 1.0]
    out = calibration_slope_intercept(y, p, n_boot=30)
    assert np.isfinite(out["slope"]["estimate"]) and out["p_clip"] == 1e-6


@pytest.mark.parametrize(
    ("y", "p", "kwargs", "match"),
    [
        ([1, 1, 1], [0.2, 0.5, 0.7], {}, "both outcomes"),
        ([0, 1, 0], [0.4, 0.4, 0.4], {}, "same predicted probability"),
        ([0, 1, 0], [0.2, 0.5], {}, "p_good has 2"),
        ([0, 1, 0], [0.2, 0.5, 0.6], {"p_clip": 0.6}, "p_clip"),
    ],
)
def test_calibration_refuses_bad_input(y, p, kwargs, match):
    with pytest.raises(ValueError, match=match):
        calibration_slope_intercept(y, p, n_boot=10, **kwargs)


def test_decision_curve_matches_the_formula_threshold_by_threshold():
    y = np.array([1, 0, 1, 1, 0, 0, 1, 0])
    p = np.array([0.9, 0.6, 0.4, 0.7, 0.1, 0.3, 0.2, 0.5])
    thresholds = [0.1, 0.25, 0.5, 0.75]
    curve = decision_curve(y, p, thresholds=thresholds)
    # By hand at t = 0.5: acted on 0.9 (good), 0.6 (poor), 0.7 (good), 0.5 (poor):
    # TP 2, FP 2, NB = 2/8 - 2/8 * 1 = 0; treat all: 4/8 - 4/8 * 1 = 0.
    assert curve["net_benefit"][2] == pytest.approx(0.0)
    for k, t in enumerate(thresholds):
        act = p >= t
        tp, fp = np.sum(act & (y == 1)), np.sum(act & (y == 0))
        assert curve["net_benefit"][k] == pytest.approx(tp / 8 - fp / 8 * t / (1 - t))
        assert curve["treat_all"][k] == pytest.approx(0.5 - 0.5 * t / (1 - t))
    assert curve["treat_none"] == [0.0] * 4
    assert curve["prevalence"] == 0.5 and curve["n_events"] == 4


def test_decision_curve_limits_and_the_poor_outcome_view():
    y, p = _cohort(6, n=100)
    curve = decision_curve(y, p)
    assert curve["thresholds"][0] == 0.05 and curve["thresholds"][-1] == 0.95
    assert len(curve["thresholds"]) == 91
    # Below every prediction the model acts on everyone: its net benefit is treat-all's.
    low = decision_curve(y, np.clip(p, 0.2, 1.0), thresholds=[0.1, 0.15])
    assert low["net_benefit"] == pytest.approx(low["treat_all"])
    # A model that knows the outcome has net benefit = prevalence at every threshold.
    perfect = decision_curve(y, y.astype(float))
    assert perfect["net_benefit"] == pytest.approx([y.mean()] * 91)
    poor = decision_curve(y, p, thresholds=[0.3], positive="poor")
    act = (1 - p) >= 0.3
    tp, fp = np.sum(act & (y == 0)), np.sum(act & (y == 1))
    assert poor["net_benefit"][0] == pytest.approx(tp / 100 - fp / 100 * 0.3 / 0.7)
    assert poor["n_events"] == int((y == 0).sum())
    assert json.loads(json.dumps(curve)) == curve


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"thresholds": [0.2, 1.0]}, "lie in"),
        ({"thresholds": [0.5, 0.2]}, "strictly increasing"),
        ({"thresholds": []}, "non-empty"),
        ({"positive": "bad"}, "positive='bad' is not allowed"),
    ],
)
def test_decision_curve_refuses_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        decision_curve([0, 1, 1], [0.2, 0.6, 0.9], **kwargs)

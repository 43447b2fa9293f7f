"""ROC points and calibration bins against scikit-learn."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import roc_auc_score, roc_curve

from rehab_core.evaluation import calibration_bins, roc_points


def _data(seed: int = 0, n: int = 80) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return y, np.clip(0.3 * y + 0.7 * rng.random(n), 0, 1)


@pytest.mark.parametrize("drop", [True, False])
def test_roc_points_equal_sklearn_and_span_the_unit_square(drop):
    y, p = _data()
    curve = roc_points(y, p, drop_intermediate=drop)
    fpr, tpr, thr = roc_curve(y, p, drop_intermediate=drop)
    np.testing.assert_allclose(curve["fpr"], fpr)
    np.testing.assert_allclose(curve["tpr"], tpr)
    assert curve["thresholds"][0] is None  # sklearn's inf
    np.testing.assert_allclose(curve["thresholds"][1:], thr[1:])
    assert (curve["fpr"][0], curve["tpr"][0]) == (0.0, 0.0)
    assert (curve["fpr"][-1], curve["tpr"][-1]) == (1.0, 1.0)
    assert curve["auc"] == pytest.approx(roc_auc_score(y, p))
    json.dumps(curve, allow_nan=False)


def test_roc_points_needs_both_classes():
    with pytest.raises(
        ValueError, match="needs patients of both outcomes, but all 3 patients are poor"
    ):
        roc_points([0, 0, 0], [0.1, 0.5, 0.9])


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
@pytest.mark.parametrize("n_bins", [3, 10])
def test_calibration_bins_equal_sklearn(strategy, n_bins):
    y, p = _data(1, n=97)
    bins = calibration_bins(y, p, n_bins=n_bins, strategy=strategy)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=n_bins, strategy=strategy)
    np.testing.assert_allclose(bins["observed_fraction"], prob_true)
    np.testing.assert_allclose(bins["mean_predicted"], prob_pred)
    assert sum(bins["count"]) == 97
    for low, mean, high in zip(
        bins["bin_low"], bins["mean_predicted"], bins["bin_high"], strict=True
    ):
        assert low <= mean <= high
    json.dumps(bins, allow_nan=False)


def test_calibration_leaves_out_empty_bins_and_measures_miscalibration():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.05, 0.05, 0.95, 0.95])
    bins = calibration_bins(y, p, n_bins=10)
    assert bins["count"] == [2, 2]
    assert bins["ece"] == pytest.approx(0.05)
    always_half = calibration_bins(y, np.full(4, 0.5), n_bins=10)
    assert always_half["count"] == [4] and always_half["ece"] == pytest.approx(0.0)


def test_calibration_refuses_bad_settings():
    y, p = _data()
    with pytest.raises(ValueError, match="Did you mean 'quantile'"):
        calibration_bins(y, p, strategy="quantil")
    with pytest.raises(ValueError, match="n_bins=0 must be at least 1"):
        calibration_bins(y, p, n_bins=0)
    with pytest.raises(TypeError, match="n_bins must be a whole number"):
        calibration_bins(y, p, n_bins=2.5)

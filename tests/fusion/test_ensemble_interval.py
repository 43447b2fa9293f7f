"""ensemble_interval: per-patient mean and percentile interval over ensemble members."""

from __future__ import annotations

import numpy as np
import pytest

from rehab_core.fusion import ensemble_interval


def test_mean_and_percentiles_per_patient():
    rng = np.random.default_rng(0)
    probs = rng.beta(2, 2, size=(50, 7))
    out = ensemble_interval(probs, ci=0.8)
    np.testing.assert_allclose(out.mean, probs.mean(axis=0))
    np.testing.assert_allclose(out.low, np.percentile(probs, 10, axis=0))
    np.testing.assert_allclose(out.high, np.percentile(probs, 90, axis=0))
    assert np.all(out.low <= out.mean) and np.all(out.mean <= out.high)
    wide = ensemble_interval(probs, ci=0.95)
    assert np.all(wide.high - wide.low >= out.high - out.low)


def test_agreeing_members_give_a_zero_width_interval():
    out = ensemble_interval(np.full((5, 3), 0.7))
    np.testing.assert_allclose(out.low, 0.7)
    np.testing.assert_allclose(out.high, 0.7)


@pytest.mark.parametrize(
    ("probs", "ci", "error", "match"),
    [
        (np.full(5, 0.5), 0.9, ValueError, r"shape \(n_members, n_patients\), got shape \(5,\)"),
        (np.full((1, 5), 0.5), 0.9, ValueError, "at least 2 members"),
        (np.full((3, 2), 1.5), 0.9, ValueError, r"probabilities in \[0, 1\] without NaN"),
        (np.full((3, 2), "a"), 0.9, TypeError, "must hold probabilities as floats"),
        (np.full((3, 2), 0.5), 1.0, ValueError, "ci=1.0 must lie strictly between 0 and 1"),
    ],
)
def test_refuses_bad_input(probs, ci, error, match):
    with pytest.raises(error, match=match):
        ensemble_interval(probs, ci=ci)

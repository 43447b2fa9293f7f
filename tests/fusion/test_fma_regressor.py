"""FMARegressor accuracy and conformal-style interval coverage on a synthetic linear relation."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from rehab_core.fusion import FMA_MAX, FMARegressor


def _patients(seed: int, n: int):
    rng = np.random.default_rng(seed)
    baseline = rng.uniform(2, 30, n)
    logit = rng.normal(0, 1.5, n)
    p = 1 / (1 + np.exp(-logit))
    fma = np.clip(4 + 2.5 * logit + 0.6 * baseline + rng.normal(0, 2.0, n), 0, FMA_MAX)
    return p, baseline, fma


def test_recovers_a_linear_relation_and_baseline_helps():
    p, base, fma = _patients(0, 300)
    p_te, base_te, fma_te = _patients(1, 1000)
    with_base = FMARegressor(random_state=0).fit(p, fma, base)
    mae = np.mean(np.abs(with_base.predict(p_te, base_te) - fma_te))
    assert mae < 2.0  # noise sd 2 gives MAE ~1.6
    without = FMARegressor(random_state=0).fit(p, fma)
    assert np.mean(np.abs(without.predict(p_te) - fma_te)) > mae + 1.0
    pred = with_base.predict(np.array([1e-9, 1 - 1e-9]), np.array([0.0, 34.0]))
    assert pred.min() >= 0 and pred.max() <= FMA_MAX


@pytest.mark.parametrize("alpha", [0.05, 0.2])
def test_interval_coverage_is_close_to_nominal(alpha):
    p, base, fma = _patients(2, 300)
    p_te, base_te, fma_te = _patients(3, 2000)
    model = FMARegressor(random_state=0).fit(p, fma, base)
    pred, low, high = model.predict_interval(p_te, base_te, alpha=alpha)
    coverage = np.mean((fma_te >= low) & (fma_te <= high))
    assert abs(coverage - (1 - alpha)) < 0.04
    assert np.all((low <= pred) & (pred <= high))
    assert low.min() >= 0 and high.max() <= FMA_MAX
    assert model.residuals_.shape == (300,)


def test_too_few_patients_for_the_level_gives_the_whole_scale():
    p, base, fma = _patients(4, 10)
    model = FMARegressor(cv=5, random_state=0).fit(p, fma, base)
    assert model.interval_halfwidth(0.05) == np.inf  # ceil(11 * 0.95) = 11 > 10
    _, low, high = model.predict_interval(p[:3], base[:3], alpha=0.05)
    np.testing.assert_array_equal(low, 0.0)
    np.testing.assert_array_equal(high, FMA_MAX)
    assert np.isfinite(model.interval_halfwidth(0.5))


def test_regressor_refuses_bad_input():
    p, base, fma = _patients(5, 40)
    with pytest.raises(NotFittedError, match="This FMARegressor instance is not fitted yet"):
        FMARegressor().predict(p)
    with pytest.raises(
        ValueError, match="fma_3m must hold lower-limb Fugl-Meyer scores between 0 and 34"
    ):
        FMARegressor().fit(p, fma + 40)
    with pytest.raises(ValueError, match="needs at least 10 patients for cv=5 folds, got 8"):
        FMARegressor().fit(p[:8], fma[:8])
    with pytest.raises(ValueError, match="cv=1 must be at least 2"):
        FMARegressor(cv=1).fit(p, fma)
    model = FMARegressor(random_state=0).fit(p, fma, base)
    with pytest.raises(
        ValueError, match="fitted with baseline_fma; pass baseline_fma to predict too"
    ):
        model.predict(p)
    with pytest.raises(ValueError, match="alpha=0.0 must lie strictly between 0 and 1"):
        model.predict_interval(p, base, alpha=0.0)
    with pytest.raises(ValueError, match="p_good has 40, baseline_fma has 39"):
        model.predict(p, base[:-1])
    with pytest.raises(ValueError, match="fitted without baseline_fma"):
        FMARegressor(random_state=0).fit(p, fma).predict(p, base)

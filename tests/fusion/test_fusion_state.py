"""LateFusion and FMARegressor to_dict/from_dict: JSON only, no pickle, same predictions."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import StratifiedKFold

from rehab_core.fusion import FMA_MAX, FMARegressor, LateFusion


def _through_json(state: dict) -> dict:
    return json.loads(json.dumps(state, allow_nan=False))


def _cohort(seed: int, n: int):
    rng = np.random.default_rng(seed)
    y = np.array([0, 1] * (n // 2))
    signal = 1 / (1 + np.exp(-(1.5 * (2 * y - 1) + rng.normal(0, 1.5, n))))
    image = 1 / (1 + np.exp(-(1.0 * (2 * y - 1) + rng.normal(0, 1.5, n))))
    return signal, image, y


def _patients(seed: int, n: int):
    rng = np.random.default_rng(seed)
    baseline = rng.uniform(2, 30, n)
    logit = rng.normal(0, 1.5, n)
    fma = np.clip(4 + 2.5 * logit + 0.6 * baseline + rng.normal(0, 2.0, n), 0, FMA_MAX)
    return 1 / (1 + np.exp(-logit)), baseline, fma


@pytest.mark.parametrize(
    "params",
    [
        {"random_state": 0},
        {"weights": np.array([0.0, 0.25, 0.6, 1.0]), "threshold": "youden", "random_state": 3},
        {"scoring": "roc_auc", "cv": np.int64(4), "threshold": 0.4, "random_state": 1},
    ],
)
def test_late_fusion_round_trip_predicts_identically(params):
    signal, image, y = _cohort(0, 60)
    signal[[3, 10]] = np.nan  # two training patients without EEG-EMG
    model = LateFusion(**params).fit(signal, image, y)
    state = _through_json(model.to_dict())
    rebuilt = LateFusion.from_dict(state)

    s_new, i_new, _ = _cohort(1, 40)
    s_new[::7] = np.nan
    p, used = model.predict_with_provenance(s_new, i_new)
    p2, used2 = rebuilt.predict_with_provenance(s_new, i_new)
    np.testing.assert_allclose(p2, p, rtol=0, atol=0)
    np.testing.assert_array_equal(used2, used)
    np.testing.assert_array_equal(rebuilt.predict(s_new, i_new), model.predict(s_new, i_new))
    np.testing.assert_array_equal(rebuilt.cv_scores_, model.cv_scores_)
    np.testing.assert_array_equal(rebuilt.weights_, model.weights_)
    for name in ("weight_", "threshold_", "cv_score_", "n_fit_", "n_image_only_"):
        assert getattr(rebuilt, name) == getattr(model, name)
    assert (rebuilt.n_fit_, rebuilt.n_image_only_) == (58, 2)
    assert rebuilt.to_dict() == state
    # The rebuilt estimator keeps its parameters and can be refitted.
    refit = rebuilt.fit(signal, image, y)
    assert refit.weight_ == model.weight_ and refit.threshold_ == model.threshold_


def test_late_fusion_keeps_the_existing_state_keys():
    signal, image, y = _cohort(2, 40)
    state = LateFusion(cv=4, random_state=0).fit(signal, image, y).to_dict()
    assert set(state) == {
        "kind",
        "params",
        "weight",
        "threshold",
        "cv_score",
        "weights",
        "cv_scores",
        "n_fit",
        "n_image_only",
    }
    assert state["kind"] == "LateFusion" and state["params"]["cv"] == 4
    assert isinstance(state["params"]["cv"], int)


def test_late_fusion_splitter_is_described_and_must_be_given_again_to_refit():
    signal, image, y = _cohort(3, 40)
    splitter = StratifiedKFold(n_splits=4, shuffle=True, random_state=0)
    model = LateFusion(cv=splitter).fit(signal, image, y)
    state = _through_json(model.to_dict())
    assert state["params"]["cv"] == repr(splitter)
    rebuilt = LateFusion.from_dict(state)
    np.testing.assert_array_equal(
        rebuilt.predict_proba(signal, image), model.predict_proba(signal, image)
    )
    with pytest.raises(TypeError, match="cv must be a number of folds or a scikit-learn splitter"):
        rebuilt.fit(signal, image, y)
    assert rebuilt.set_params(cv=splitter).fit(signal, image, y).weight_ == model.weight_


@pytest.mark.parametrize("with_baseline", [True, False])
@pytest.mark.parametrize("n", [10, 60])  # n=10: too few patients for a 95% interval (inf)
def test_fma_regressor_round_trip_predicts_identically(with_baseline, n):
    p, base, fma = _patients(4, n)
    model = FMARegressor(alpha=0.5, random_state=0).fit(p, fma, base if with_baseline else None)
    state = _through_json(model.to_dict())
    rebuilt = FMARegressor.from_dict(state)

    p_new, base_new, _ = _patients(5, 30)
    p_new[:2] = [0.0, 1.0]  # clipped by p_clip before the logit
    b = base_new if with_baseline else None
    np.testing.assert_allclose(rebuilt.predict(p_new, b), model.predict(p_new, b), rtol=0, atol=0)
    for alpha in (0.05, 0.2, 0.5):
        assert rebuilt.interval_halfwidth(alpha) == model.interval_halfwidth(alpha)
        for got, want in zip(
            rebuilt.predict_interval(p_new, b, alpha=alpha),
            model.predict_interval(p_new, b, alpha=alpha),
            strict=True,
        ):
            np.testing.assert_allclose(got, want, rtol=0, atol=0)
    np.testing.assert_array_equal(rebuilt.residuals_, model.residuals_)
    assert (rebuilt.uses_baseline_, rebuilt.n_fit_) == (with_baseline, n)
    assert rebuilt.get_params() == model.get_params()
    assert rebuilt.to_dict() == state
    assert state["fma_range"] == [0.0, FMA_MAX]
    assert len(state["coef"]) == (2 if with_baseline else 1)
    if with_baseline:
        with pytest.raises(ValueError, match="pass baseline_fma to predict too"):
            rebuilt.predict(p_new)


@pytest.mark.parametrize(
    ("cls", "params", "args", "match"),
    [
        (
            LateFusion,
            {"weights": [0.0, 1.0], "threshold": "youden", "cv": 3},
            ([0.5], [0.5]),
            "This LateFusion instance is not fitted yet",
        ),
        (
            FMARegressor,
            {"alpha": 2.0, "random_state": 7},
            ([0.5],),
            "This FMARegressor instance is not fitted yet",
        ),
    ],
)
def test_unfitted_state_gives_an_unfitted_estimator(cls, params, args, match):
    state = _through_json(cls(**params).to_dict())
    assert set(state) == {"kind", "params"}
    rebuilt = cls.from_dict(state)
    assert rebuilt.get_params() == cls(**params).get_params()
    with pytest.raises(NotFittedError, match=match):
        rebuilt.predict(*args)


def test_fitted_state_missing_params_keeps_the_defaults():
    p, base, fma = _patients(6, 30)
    state = FMARegressor(random_state=0).fit(p, fma).to_dict()
    del state["params"]["alpha"], state["params"]["p_clip"]
    rebuilt = FMARegressor.from_dict(state)
    assert (rebuilt.alpha, rebuilt.p_clip) == (1.0, 1e-3)


def _late_state() -> dict:
    signal, image, y = _cohort(7, 40)
    return _through_json(
        LateFusion(weights=[0.0, 0.5, 1.0], cv=4, random_state=0).fit(signal, image, y).to_dict()
    )


def _fma_state() -> dict:
    p, base, fma = _patients(8, 30)
    return _through_json(FMARegressor(random_state=0).fit(p, fma, base).to_dict())


def _edit(state: dict, **changes) -> dict:
    out = json.loads(json.dumps(state))
    for key, value in changes.items():
        if value is None:
            del out[key]
        else:
            out[key] = value
    return out


@pytest.mark.parametrize(
    ("cls", "make", "changes", "error", "match"),
    [
        (LateFusion, _fma_state, {}, ValueError, "state of 'FMARegressor', not of 'LateFusion'"),
        (LateFusion, _late_state, {"extra": 1}, ValueError, "unknown entries extra"),
        (LateFusion, _late_state, {"params": {"w": 1}}, ValueError, r"no parameter\(s\) w"),
        (LateFusion, _late_state, {"params": [1]}, TypeError, "'params' must be a dict"),
        (LateFusion, _late_state, {"weight": None}, ValueError, "partly fitted: it lacks weight"),
        (LateFusion, _late_state, {"weight": 0.4}, ValueError, "not one of the candidate weights"),
        (LateFusion, _late_state, {"weight": "0.5"}, ValueError, "weight='0.5' must be a finite"),
        (LateFusion, _late_state, {"threshold": 1.5}, ValueError, "threshold=1.5 must lie between"),
        (LateFusion, _late_state, {"weights": [0.0, 2.0]}, ValueError, "3 candidate weights"),
        (LateFusion, _late_state, {"cv_scores": [1.0]}, ValueError, "non-empty 2-D list"),
        (LateFusion, _late_state, {"n_fit": -1}, ValueError, "n_fit=-1 must be at least 0"),
        (
            LateFusion,
            _late_state,
            {"params": {"scoring": "auc"}},
            ValueError,
            "scoring='auc' is not allowed",
        ),
        (FMARegressor, _fma_state, {"coef": [1.0]}, ValueError, r"'coef' must hold 2 value\(s\)"),
        (FMARegressor, _fma_state, {"coef": [1.0, "x"]}, ValueError, "'coef' must hold numbers"),
        (FMARegressor, _fma_state, {"residuals": [1.0]}, ValueError, r"\(n_fit=30\), got 1"),
        (FMARegressor, _fma_state, {"fma_range": [0, 66]}, ValueError, "written for another"),
        (FMARegressor, _fma_state, {"uses_baseline": 1}, ValueError, "must be true or false"),
        (
            FMARegressor,
            _fma_state,
            {"scaler_scale": [1.0, 0.0]},
            ValueError,
            "'scaler_scale' must be positive",
        ),
        (FMARegressor, _fma_state, {"params": {"cv": 1}}, ValueError, "cv=1 must be at least 2"),
        (FMARegressor, _fma_state, {"intercept": None}, ValueError, "lacks intercept"),
    ],
)
def test_from_dict_refuses_bad_states(cls, make, changes, error, match):
    with pytest.raises(error, match=match):
        cls.from_dict(_edit(make(), **changes))


def test_from_dict_refuses_non_finite_numbers():
    state = _fma_state()
    state["residuals"][0] = float("nan")
    with pytest.raises(ValueError, match="'residuals' must hold finite numbers only"):
        FMARegressor.from_dict(state)
    with pytest.raises(TypeError, match="state must be a dict, got list"):
        FMARegressor.from_dict([])


def test_to_dict_refuses_what_json_cannot_hold():
    with pytest.raises(TypeError, match=r"random_state \(a RandomState\) cannot be stored as JSON"):
        FMARegressor(random_state=np.random.RandomState(0)).to_dict()
    signal, image, y = _cohort(9, 40)
    model = LateFusion(cv=4, random_state=0).fit(signal, image, y)
    model.cv_score_ = float("-inf")
    with pytest.raises(ValueError, match="cv_score_=-inf is not finite"):
        model.to_dict()

"""Binary/regression metrics and bootstrap intervals against scikit-learn and scipy."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn import metrics as skm
from sklearn.exceptions import UndefinedMetricWarning

from rehab_core.evaluation import (
    METRIC_NAMES,
    binary_metrics,
    bootstrap_metrics,
    regression_metrics,
    roc_auc,
)
from rehab_core.evaluation._metrics import _metric_rows


def _data(seed: int, n: int = 60, ties: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.clip(0.35 * y + 0.65 * rng.random(n), 0, 1)
    return y, (np.round(p, 1) if ties else p)


def _sklearn(y: np.ndarray, p: np.ndarray, threshold: float, average: str) -> dict[str, float]:
    pred = (p >= threshold).astype(int)
    kw = {"zero_division": 0}
    if average == "macro":
        kw |= {"average": "macro", "labels": [0, 1]}
    return {
        "accuracy": skm.accuracy_score(y, pred),
        "recall": skm.recall_score(y, pred, **kw),
        "precision": skm.precision_score(y, pred, **kw),
        "f1": skm.f1_score(y, pred, **kw),
        "roc_auc": skm.roc_auc_score(y, p),
        "specificity": skm.recall_score(y, pred, pos_label=0, zero_division=0),
        "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
        "brier": skm.brier_score_loss(y, p),
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
@pytest.mark.parametrize("average", ["binary", "macro"])
@pytest.mark.parametrize("ties", [False, True])
def test_binary_metrics_equal_sklearn(seed, threshold, average, ties):
    y, p = _data(seed, ties=ties)
    got = binary_metrics(y, p, threshold=threshold, average=average)
    want = _sklearn(y, p, threshold, average)
    for name in METRIC_NAMES:
        assert got[name] == pytest.approx(want[name], abs=1e-12), name
    assert got["n"] == y.size and got["n_positive"] == int(y.sum())
    assert all(type(got[k]) is float for k in METRIC_NAMES)
    assert type(got["n"]) is int and type(got["n_positive"]) is int


def test_macro_average_of_a_constant_prediction_matches_paper_resnet50_row():
    # The paper's ResNet50 row (recall 0.5, precision = accuracy / 2) is what a constant
    # predictor gives under macro averaging.
    y = np.array([1] * 58 + [0] * 42)
    with pytest.warns(UndefinedMetricWarning, match="No patient is predicted good"):
        m = binary_metrics(y, np.full(100, 0.2), average="macro")
    assert m["recall"] == 0.5
    assert m["precision"] == pytest.approx(m["accuracy"] / 2)


def test_one_class_gives_nan_auc_with_a_warning_not_a_crash():
    y = np.ones(10, dtype=int)
    p = np.linspace(0.1, 0.9, 10)
    with pytest.warns(UndefinedMetricWarning, match="Only one outcome class is present"):
        m = binary_metrics(y, p)
    assert np.isnan(m["roc_auc"])
    assert m["specificity"] == 0.0
    assert m["recall"] == pytest.approx(skm.recall_score(y, p >= 0.5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, p >= 0.5))


def test_inputs_are_not_modified():
    y, p = _data(0)
    y0, p0 = y.copy(), p.copy()
    binary_metrics(y, p)
    bootstrap_metrics(y, p, n_boot=50)
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(p, p0)


@pytest.mark.parametrize(
    ("y", "p", "kwargs", "error", "match"),
    [
        (
            [0, 1, 2],
            [0.1, 0.2, 0.3],
            {},
            ValueError,
            r"only 0 \(poor\) and 1 \(good\); found 2 at position 2",
        ),
        (
            ["a", "b"],
            [0.1, 0.2],
            {},
            TypeError,
            "y_true must hold 0 \\(poor\\) / 1 \\(good\\) numbers",
        ),
        ([0, 1], [0.1, 1.2], {}, ValueError, r"must lie in \[0, 1\] \(probabilities, not logits\)"),
        ([0, 1], [0.1, np.nan], {}, ValueError, "p_good contains NaN at position 1"),
        ([0, 1, 1], [0.1, 0.2], {}, ValueError, "y_true has 3, p_good has 2"),
        ([[0, 1]], [[0.1, 0.2]], {}, ValueError, "y_true must be one-dimensional"),
        ([], [], {}, ValueError, "y_true is empty"),
        (
            [0, 1],
            [0.1, 0.2],
            {"threshold": 1.5},
            ValueError,
            "threshold=1.5 must lie between 0.0 and 1.0",
        ),
        ([0, 1], [0.1, 0.2], {"average": "macr"}, ValueError, "Did you mean 'macro'"),
        (
            [0, 1],
            np.array([True, False]),
            {},
            TypeError,
            "p_good must hold probabilities as floats",
        ),
    ],
)
def test_binary_metrics_refuses_bad_input(y, p, kwargs, error, match):
    with pytest.raises(error, match=match):
        binary_metrics(y, p, **kwargs)


@pytest.mark.parametrize("average", ["binary", "macro"])
def test_weighted_kernel_equals_sklearn_on_explicit_resamples(average):
    # A bootstrap row is a vector of patient multiplicities; it must equal sklearn on the
    # explicitly repeated patients.
    y, p = _data(3, n=40, ties=True)
    rng = np.random.default_rng(7)
    counts = rng.multinomial(40, np.full(40, 1 / 40), size=5).astype(float)
    rows = _metric_rows(y.astype(bool), p, counts, 0.5, average)
    for r in range(counts.shape[0]):
        idx = np.repeat(np.arange(40), counts[r].astype(int))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = _sklearn(y[idx], p[idx], 0.5, average)
        for name in METRIC_NAMES:
            assert rows[name][r] == pytest.approx(want[name], abs=1e-12), name


def test_bootstrap_interval_contains_estimate_and_is_seeded():
    y, p = _data(0, n=100)
    a = bootstrap_metrics(y, p, n_boot=500, seed=1)
    b = bootstrap_metrics(y, p, n_boot=500, seed=1)
    c = bootstrap_metrics(y, p, n_boot=500, seed=2)
    assert a == b
    assert a["metrics"]["roc_auc"] != c["metrics"]["roc_auc"]
    point = binary_metrics(y, p)
    for name in METRIC_NAMES:
        cell = a["metrics"][name]
        assert cell["estimate"] == pytest.approx(point[name])
        assert cell["low"] <= cell["estimate"] <= cell["high"], name
    assert a["undefined_resamples"] == 0
    assert a["n"] == 100 and a["n_boot"] == 500
    json.dumps(a, allow_nan=False)


def test_bootstrap_interval_narrows_with_more_patients():
    small = bootstrap_metrics(*_data(0, n=40), n_boot=400)
    large = bootstrap_metrics(*_data(0, n=640), n_boot=400)
    for name in ("accuracy", "roc_auc", "brier"):
        width_small = small["metrics"][name]["high"] - small["metrics"][name]["low"]
        width_large = large["metrics"][name]["high"] - large["metrics"][name]["low"]
        assert width_large < 0.6 * width_small, name  # ~ 1/sqrt(16) = 0.25 expected


def test_wider_ci_gives_wider_interval():
    y, p = _data(4, n=80)
    narrow = bootstrap_metrics(y, p, n_boot=300, ci=0.5)["metrics"]["roc_auc"]
    wide = bootstrap_metrics(y, p, n_boot=300, ci=0.95)["metrics"]["roc_auc"]
    assert wide["low"] < narrow["low"] < narrow["high"] < wide["high"]


def test_stratified_bootstrap_keeps_auc_defined_where_plain_resampling_does_not():
    y = np.array([1, 0, 0, 0, 0, 0, 0, 0])
    p = np.linspace(0.9, 0.1, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        strat = bootstrap_metrics(y, p, n_boot=300)
        plain = bootstrap_metrics(y, p, n_boot=300, stratify=False)
    assert strat["undefined_resamples"] == 0
    assert plain["undefined_resamples"] > 0
    assert not np.isnan(plain["metrics"]["roc_auc"]["low"])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_boot": 0}, ValueError, "n_boot=0 must be at least 1"),
        ({"n_boot": 10.5}, TypeError, "n_boot must be a whole number"),
        ({"ci": 1.0}, ValueError, "ci=1.0 must lie strictly between 0 and 1"),
        ({"ci": 95}, ValueError, "ci=95 must lie between 0.0 and 1.0"),
    ],
)
def test_bootstrap_refuses_bad_settings(kwargs, error, match):
    with pytest.raises(error, match=match):
        bootstrap_metrics(*_data(0), **kwargs)


def test_regression_metrics_equal_sklearn_and_scipy():
    rng = np.random.default_rng(0)
    fma = rng.uniform(0, 34, 80)
    pred = np.clip(fma + rng.normal(0, 3, 80), 0, 34)
    m = regression_metrics(fma, pred, n_boot=500)
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(fma, pred))
    assert m["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(fma, pred)))
    assert m["r2"] == pytest.approx(skm.r2_score(fma, pred))
    assert m["spearman"] == pytest.approx(spearmanr(fma, pred).statistic)
    assert m["mae_low"] < m["mae"] < m["mae_high"]
    assert m["n"] == 80
    json.dumps(m, allow_nan=False)


def test_regression_metrics_constant_prediction_and_bad_input():
    m = regression_metrics([10.0, 20.0, 30.0], [15.0, 15.0, 15.0], n_boot=10)
    assert np.isnan(m["spearman"])
    assert m["mae"] == pytest.approx(25 / 3)
    with pytest.raises(ValueError, match="fma_true has 3, fma_pred has 2"):
        regression_metrics([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="fma_pred contains NaN or infinite values"):
        regression_metrics([1.0, 2.0], [1.0, np.nan])
    with pytest.raises(TypeError, match="fma_true must hold numeric FMA-LE scores"):
        regression_metrics(["a", "b"], [1.0, 2.0])


@pytest.mark.parametrize("ties", [False, True])
def test_roc_auc_equals_sklearn_for_one_score_and_for_rows(ties):
    y, p = _data(3, ties=ties)
    assert roc_auc(y, p) == pytest.approx(skm.roc_auc_score(y, p))
    rows = np.vstack([p, 1 - p, np.round(p, 1)])
    np.testing.assert_allclose(roc_auc(y, rows), [skm.roc_auc_score(y, r) for r in rows])
    # a score need not be a probability (latent factors, FMA points)
    assert roc_auc(y, 34 * p - 3) == pytest.approx(skm.roc_auc_score(y, p))


def test_roc_auc_is_nan_with_one_outcome_class():
    assert np.isnan(roc_auc([1, 1, 1], [0.2, 0.5, 0.9]))
    assert np.isnan(roc_auc([0, 0], np.array([[0.1, 0.2], [0.3, 0.4]]))).all()


@pytest.mark.parametrize(
    ("y", "score", "error", "match"),
    [
        ([0, 1], [0.1, np.nan], ValueError, "score contains NaN"),
        ([0, 1], [0.1, 0.2, 0.3], ValueError, r"score has shape \(3,\) but y_true has 2"),
        ([0, 1], ["a", "b"], TypeError, "score must hold numbers"),
        ([0, 2], [0.1, 0.2], ValueError, "y_true must hold only 0"),
    ],
)
def test_roc_auc_refuses_bad_input(y, score, error, match):
    with pytest.raises(error, match=match):
        roc_auc(y, score)


def test_roc_auc_matches_scikit_learn_on_tied_patient_scores():
    """Moved from the training loop's own AUC (its validation AUC is this one now)."""
    rng = np.random.default_rng(0)
    for _ in range(50):
        y = rng.integers(0, 2, 15)
        if len(set(y)) < 2:
            continue
        score = rng.integers(0, 4, 15) / 3  # ties included
        assert roc_auc(y, score) == pytest.approx(skm.roc_auc_score(y, score), abs=1e-12)
    assert np.isnan(roc_auc(np.ones(4), np.linspace(0, 1, 4)))

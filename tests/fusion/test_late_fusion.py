"""LateFusion: weight choice by cross-validation on training patients only, NaN-signal fallback."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import log_loss, roc_auc_score, roc_curve
from sklearn.model_selection import PredefinedSplit, StratifiedKFold

from rehab_core.evaluation import roc_auc
from rehab_core.fusion import LateFusion
from rehab_core.fusion._late import _log_loss_per_row


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _cohort(seed: int, n: int = 160, signal_strength: float = 2.0, image_strength: float = 2.0):
    """Scores whose informativeness per modality is set by its strength (0 = pure noise)."""
    rng = np.random.default_rng(seed)
    y = np.array([0, 1] * (n // 2))
    sign = 2 * y - 1
    signal = _sigmoid(signal_strength * sign + rng.normal(0, 1.5, n))
    image = _sigmoid(image_strength * sign + rng.normal(0, 1.5, n))
    return signal, image, y


# AUC only ranks: near an almost perfect modality, a little noise barely changes it, so its
# weight is less sharply determined than with log loss (one reason log loss is the default).
@pytest.mark.parametrize(("scoring", "margin"), [("neg_log_loss", 0.1), ("roc_auc", 0.3)])
def test_weight_follows_the_informative_modality(scoring, margin):
    signal, image, y = _cohort(0, signal_strength=2.0, image_strength=0.0)
    assert LateFusion(scoring=scoring, random_state=0).fit(signal, image, y).weight_ >= 1 - margin
    signal, image, y = _cohort(1, signal_strength=0.0, image_strength=2.0)
    assert LateFusion(scoring=scoring, random_state=0).fit(signal, image, y).weight_ <= margin
    signal, image, y = _cohort(2, signal_strength=1.5, image_strength=1.5, n=400)
    assert 0.25 <= LateFusion(scoring=scoring, random_state=0).fit(signal, image, y).weight_ <= 0.75


def test_cv_scores_are_held_out_fold_scores_of_each_weight():
    signal, image, y = _cohort(3, n=40)
    fold = (np.arange(40) // 2) % 4  # 4 predefined folds, both classes in each
    model = LateFusion(weights=[0.0, 0.3, 1.0], cv=PredefinedSplit(fold)).fit(signal, image, y)
    assert model.cv_scores_.shape == (3, 4)
    for a, w in enumerate([0.0, 0.3, 1.0]):
        for k in range(4):
            test = fold == k
            fused = w * signal[test] + (1 - w) * image[test]
            assert model.cv_scores_[a, k] == pytest.approx(-log_loss(y[test], fused))
    best = int(np.argmax(model.cv_scores_.mean(axis=1)))
    assert model.weight_ == [0.0, 0.3, 1.0][best]
    assert model.cv_score_ == pytest.approx(model.cv_scores_[best].mean())


def test_row_scorers_equal_sklearn():
    signal, image, y = _cohort(4, n=30)
    rows = np.vstack([signal, image, np.round(signal, 1)])
    yb = y.astype(bool)
    np.testing.assert_allclose(roc_auc(yb, rows), [roc_auc_score(y, r) for r in rows])
    np.testing.assert_allclose(_log_loss_per_row(yb, rows), [log_loss(y, r) for r in rows])


class _RecordingSplitter(StratifiedKFold):
    def split(self, X, y=None, groups=None):
        self.seen_ = len(X)
        return super().split(X, y, groups)


def test_fit_sees_only_the_training_patients_with_both_scores():
    signal, image, y = _cohort(5, n=100)
    train, test = np.arange(70), np.arange(70, 100)
    signal_train = signal[train].copy()
    signal_train[:6] = np.nan  # six training patients without EEG-EMG
    splitter = _RecordingSplitter(n_splits=5, shuffle=True, random_state=0)
    model = LateFusion(cv=splitter).fit(signal_train, image[train], y[train])
    assert splitter.seen_ == 64
    assert (model.n_fit_, model.n_image_only_) == (64, 6)
    # Changing the held-out patients cannot change the fitted weight.
    again = LateFusion(cv=_RecordingSplitter(n_splits=5, shuffle=True, random_state=0))
    again.fit(signal_train, image[train], y[train])
    assert again.weight_ == model.weight_
    assert model.predict_proba(signal[test], image[test]).shape == (30,)


def test_fit_is_reproducible_and_does_not_modify_inputs():
    signal, image, y = _cohort(6, n=80)
    copies = signal.copy(), image.copy(), y.copy()
    a = LateFusion(random_state=3).fit(signal, image, y)
    b = LateFusion(random_state=3).fit(signal, image, y)
    c = LateFusion(random_state=4).fit(signal, image, y)
    np.testing.assert_array_equal(a.cv_scores_, b.cv_scores_)
    assert not np.array_equal(a.cv_scores_, c.cv_scores_)
    for arr, copy in zip((signal, image, y), copies, strict=True):
        np.testing.assert_array_equal(arr, copy)
    assert a.weights_.shape == (21,) and a.weights is None


def test_ties_go_to_the_plain_average():
    signal, _, y = _cohort(7, n=40)
    model = LateFusion(random_state=0).fit(signal, signal, y)  # identical scores: every weight ties
    assert model.weight_ == 0.5


def test_nan_signal_falls_back_to_the_image_score_and_says_so():
    signal, image, y = _cohort(8, n=60)
    model = LateFusion(random_state=0).fit(signal, image, y)
    s = np.array([0.9, np.nan, 0.2])
    i = np.array([0.3, 0.7, 0.4])
    p, used = model.predict_with_provenance(s, i)
    w = model.weight_
    np.testing.assert_allclose(p, [w * 0.9 + (1 - w) * 0.3, 0.7, w * 0.2 + (1 - w) * 0.4])
    assert used.tolist() == ["fusion", "image", "fusion"]
    np.testing.assert_array_equal(model.predict_proba(s, i), p)
    np.testing.assert_array_equal(model.predict(s, i), (p >= 0.5).astype(int))
    assert np.isnan(s[1])  # input untouched


def test_youden_threshold_maximises_sensitivity_plus_specificity_on_training_patients():
    signal, image, y = _cohort(9, n=80)
    model = LateFusion(threshold="youden", random_state=0).fit(signal, image, y)
    fused = model.predict_proba(signal, image)
    fpr, tpr, thr = roc_curve(y, fused)
    assert model.threshold_ == thr[np.argmax(tpr - fpr)]
    assert 0 < model.threshold_ < 1


def test_youden_falls_back_to_one_half_without_any_discrimination():
    y = np.array([0, 1] * 10)
    flat = np.full(20, 0.6)
    assert LateFusion(threshold="youden", random_state=0).fit(flat, flat, y).threshold_ == 0.5


def test_predict_before_fit_raises_not_fitted():
    with pytest.raises(NotFittedError, match="This LateFusion instance is not fitted yet"):
        LateFusion().predict_proba([0.5], [0.5])


def test_sklearn_clone_and_json_state():
    model = LateFusion(weights=[0.0, 0.5, 1.0], cv=4, random_state=1)
    assert clone(model).get_params() == model.get_params()
    signal, image, y = _cohort(10, n=40)
    state = model.fit(signal, image, y).to_dict()
    assert json.loads(json.dumps(state))["params"]["weights"] == [0.0, 0.5, 1.0]
    assert len(state["cv_scores"]) == 3 and len(state["cv_scores"][0]) == 4


@pytest.mark.parametrize(
    ("params", "signal", "image", "y", "error", "match"),
    [
        ({"weights": [0.0, 1.5]}, None, None, None, ValueError, "weights must lie between 0 and 1"),
        ({"weights": []}, None, None, None, ValueError, "non-empty 1-D grid"),
        ({"scoring": "auc"}, None, None, None, ValueError, "scoring='auc' is not allowed"),
        ({"cv": 1}, None, None, None, ValueError, "cv=1 must be at least 2 folds"),
        (
            {"cv": 30},
            None,
            None,
            None,
            ValueError,
            "smaller class has 20; lower cv or add patients",
        ),
        (
            {"cv": "five"},
            None,
            None,
            None,
            TypeError,
            "cv must be a number of folds or a scikit-learn splitter",
        ),
        ({"threshold": "youdn"}, None, None, None, ValueError, "Did you mean 'youden'"),
        (
            {"threshold": 2.0},
            None,
            None,
            None,
            ValueError,
            "threshold=2.0 must lie between 0.0 and 1.0",
        ),
        (
            {},
            None,
            np.r_[np.nan, np.full(39, 0.5)],
            None,
            ValueError,
            "image_scores contains NaN at position 0",
        ),
        (
            {},
            None,
            None,
            np.zeros(39),
            ValueError,
            "signal_scores has 40, image_scores has 40, y has 39",
        ),
        ({}, np.full(40, 2.0), None, None, ValueError, r"signal_scores must lie in \[0, 1\]"),
    ],
)
def test_fit_refuses_bad_parameters_and_input(params, signal, image, y, error, match):
    s, i, labels = _cohort(11, n=40)
    with pytest.raises(error, match=match):
        LateFusion(**params).fit(
            s if signal is None else signal,
            i if image is None else image,
            labels if y is None else y,
        )


def test_auc_scoring_refuses_folds_with_one_outcome():
    s, i, y = _cohort(12, n=40)
    order = np.argsort(y, kind="stable")  # fold 0 all poor, fold 1 all good
    fold = np.empty(40, int)
    fold[order] = np.repeat([0, 1], 20)
    with pytest.raises(ValueError, match="Held-out fold 0 has patients of one outcome only"):
        LateFusion(scoring="roc_auc", cv=PredefinedSplit(fold)).fit(s, i, y)

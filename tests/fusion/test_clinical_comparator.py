"""The clinical comparator and "fusion + clinical": maximum likelihood checked by a direct fit,
scikit-learn contract, JSON state, missing values, and out-of-fold predictions on given folds."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import expit, logit
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from rehab_core.fusion import (
    CLINICAL_FEATURES,
    ClinicalLogistic,
    fold_indices,
    out_of_fold_predict,
)
from rehab_core.training import patient_kfold

MODELS = {
    "clinical": {},
    "fusion + clinical": {"score_feature": "p_fused"},
}


def _patients(seed: int, n: int = 80):
    """Baseline FMA-LE, age, days since stroke and a fused score that all carry the outcome."""
    rng = np.random.default_rng(seed)
    severity = rng.standard_normal(n)
    y = (severity + 0.8 * rng.standard_normal(n) > 0).astype(int)
    fma = np.clip(np.round(13 + 6 * severity + 3 * rng.standard_normal(n)), 0, 34)
    age = np.round(rng.uniform(40, 79, n))
    days = rng.integers(0, 15, n).astype(float)
    p_fused = expit(severity + rng.standard_normal(n))
    return np.column_stack([fma, age, days, p_fused]), y


def _x(X: np.ndarray, params: dict) -> np.ndarray:
    return X if params.get("score_feature") else X[:, :3]


def _direct_fit(design: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Plain maximum-likelihood logistic regression by a general-purpose optimiser."""
    Z = np.column_stack([np.ones(len(y)), (design - design.mean(0)) / design.std(0)])

    def nll(beta):
        eta = Z @ beta
        return np.sum(np.logaddexp(0, eta) - y * eta)

    def grad(beta):
        return Z.T @ (expit(Z @ beta) - y)

    beta = minimize(nll, np.zeros(Z.shape[1]), jac=grad, method="BFGS", options={"gtol": 1e-10}).x
    return expit(Z @ beta)


@pytest.mark.parametrize("name", MODELS)
def test_fit_is_maximum_likelihood_on_the_stated_inputs(name):
    params = MODELS[name]
    X, y = _patients(0)
    model = ClinicalLogistic(**params)
    assert model.fit(_x(X, params), y) is model
    design = X[:, :3].copy()
    if params:  # the fused score enters as its logit
        design = np.column_stack([design, logit(np.clip(X[:, 3], 1e-3, 1 - 1e-3))])
    np.testing.assert_allclose(
        model.predict_proba(_x(X, params)), _direct_fit(design, y), atol=1e-5
    )
    assert model.n_fit_ == 80 and model.n_imputed_ == 0
    assert model.coef_.shape == (4 if params else 3,)
    np.testing.assert_array_equal(
        model.predict(_x(X, params)), model.predict_proba(_x(X, params)) >= 0.5
    )


@pytest.mark.parametrize("name", MODELS)
def test_scikit_learn_contract(name):
    params = MODELS[name]
    model = ClinicalLogistic(C=0.5, **params)
    assert clone(model).get_params() == model.get_params()
    assert not any(k.endswith("_") for k in vars(model))
    with pytest.raises(NotFittedError):
        model.predict_proba(_x(_patients(0)[0], params))
    X, y = _patients(1)
    model.fit(_x(X, params), y)
    learned = {k for k in vars(model) if k.endswith("_")}
    assert learned == {"coef_", "intercept_", "mean_", "scale_", "medians_", "n_fit_", "n_imputed_"}


def test_a_mapping_is_read_by_column_name_in_any_order():
    X, y = _patients(2)
    columns = {"p_fused": X[:, 3], "days_since_stroke": X[:, 2], "age": X[:, 1]}
    columns["fma_le_baseline"] = X[:, 0]
    by_name = ClinicalLogistic(score_feature="p_fused").fit(columns, y)
    by_position = ClinicalLogistic(score_feature="p_fused").fit(X, y)
    np.testing.assert_allclose(by_name.predict_proba(columns), by_position.predict_proba(X))
    with pytest.raises(ValueError, match="X lacks the column\\(s\\) p_fused"):
        by_name.predict_proba({k: v for k, v in columns.items() if k != "p_fused"})


def test_the_baseline_score_carries_the_clinical_model():
    X, y = _patients(3, n=200)
    model = ClinicalLogistic().fit(X[:, :3], y)
    fma_coef, age_coef, days_coef = model.coef_
    assert fma_coef > 1.0 and abs(age_coef) < 0.5 and abs(days_coef) < 0.5


def test_a_missing_baseline_is_refused_with_one_sentence():
    X, y = _patients(4)
    X = X[:, :3].copy()
    X[7, 0] = np.nan
    with pytest.raises(ValueError, match="row 7 has no fma_le_baseline.*missing='median'"):
        ClinicalLogistic().fit(X, y)


def test_median_imputation_fills_the_training_median_at_fit_and_at_prediction():
    X, y = _patients(5)
    X = X[:, :3].copy()
    X[[3, 9], 0] = np.nan
    X[9, 1] = np.nan
    model = ClinicalLogistic(missing="median").fit(X, y)
    assert model.n_imputed_ == 2
    medians = np.nanmedian(X, axis=0)
    np.testing.assert_allclose(model.medians_, medians)
    filled = np.where(np.isnan(X), medians, X)
    reference = ClinicalLogistic().fit(filled, y)
    np.testing.assert_allclose(model.predict_proba(X), reference.predict_proba(filled), atol=1e-9)
    new = np.array([[np.nan, 60.0, 3.0]])
    np.testing.assert_allclose(
        model.predict_proba(new), model.predict_proba([[medians[0], 60.0, 3.0]])
    )


def test_a_missing_score_is_always_refused():
    X, y = _patients(6)
    X[2, 3] = np.nan
    with pytest.raises(ValueError, match="p_fused contains NaN at position 2"):
        ClinicalLogistic(score_feature="p_fused", missing="median").fit(X, y)


def test_perfect_separation_is_refused_unless_penalised():
    X = np.array([[5, 60, 3], [6, 61, 2], [7, 70, 4], [20, 50, 5], [22, 66, 1], [25, 55, 9]])
    y = np.array([0, 0, 0, 1, 1, 1])
    with pytest.raises(ValueError, match="separate the training patients' outcomes.*set C"):
        ClinicalLogistic().fit(X.astype(float), y)
    p = ClinicalLogistic(C=1.0).fit(X.astype(float), y).predict_proba(X.astype(float))
    assert np.all((p >= 0.5) == y) and 0.5 < p.max() < 0.999


@pytest.mark.parametrize(
    ("params", "X", "y", "error", "match"),
    [
        ({}, np.zeros((4, 2)), [0, 1, 0, 1], ValueError, "shape \\(n_patients, 3\\)"),
        ({}, [[40.0, 60, 3]] * 2, [0, 1], ValueError, "fma_le_baseline=40 at row 0"),
        ({}, [[10.0, 60, 3]] * 2, [1, 1], ValueError, "both outcomes"),
        ({}, [[10.0, 60, 3]] * 2, [0, 1, 1], ValueError, "2 patients but y has 3"),
        ({"missing": "drop"}, [[10.0, 60, 3]] * 2, [0, 1], ValueError, "missing='drop'"),
        ({"C": 0.0}, [[10.0, 60, 3]] * 2, [0, 1], ValueError, "C=0.0 must be positive"),
        ({"features": "age"}, [[10.0]] * 2, [0, 1], TypeError, "list of column names"),
        ({"score_feature": "age"}, [[1.0] * 4] * 2, [0, 1], ValueError, "named once"),
        ({"score_feature": "p"}, [[10.0, 60, 3, 1.5]] * 2, [0, 1], ValueError, "not logits"),
    ],
)
def test_bad_input_is_refused(params, X, y, error, match):
    with pytest.raises(error, match=match):
        ClinicalLogistic(**params).fit(X, y)


@pytest.mark.parametrize("name", MODELS)
def test_json_state_round_trip_predicts_identically(name):
    params = MODELS[name]
    X, y = _patients(7)
    model = ClinicalLogistic(missing="median", **params).fit(_x(X, params), y)
    state = json.loads(json.dumps(model.to_dict(), allow_nan=False))
    assert state["kind"] == "ClinicalLogistic"
    assert state["params"]["features"] == list(CLINICAL_FEATURES)
    rebuilt = ClinicalLogistic.from_dict(state)
    X_new, _ = _patients(8, n=20)
    X_new[0, 0] = np.nan
    np.testing.assert_array_equal(
        rebuilt.predict_proba(_x(X_new, params)), model.predict_proba(_x(X_new, params))
    )
    assert rebuilt.get_params() == model.get_params()
    unfitted = ClinicalLogistic.from_dict(ClinicalLogistic(**params).to_dict())
    assert not hasattr(unfitted, "coef_")


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"coef": [1.0, 2.0]}, "'coef' must hold 3 value"),
        ({"scale": [1.0, 0.0, 1.0]}, "'scale' must be positive"),
        ({"medians": [1.0]}, "'medians' must hold 3 finite"),
        ({"medians": ["a", "b", "c"]}, "'medians' must hold 3 finite"),
        ({"kind": "LateFusion"}, "state of 'LateFusion'"),
    ],
)
def test_a_damaged_state_is_refused(change, match):
    X, y = _patients(9)
    state = {**ClinicalLogistic().fit(X[:, :3], y).to_dict(), **change}
    with pytest.raises(ValueError, match=match):
        ClinicalLogistic.from_dict(state)


@pytest.mark.parametrize("name", MODELS)
def test_out_of_fold_predictions_use_the_deep_models_patient_folds(name):
    params = MODELS[name]
    X, y = _patients(10, n=40)
    patients = [f"sub-{k:03d}" for k in range(40)]
    folds = patient_kfold(patients, y, n_splits=4, seed=0)
    rows = fold_indices(patients, folds)
    oof = out_of_fold_predict(ClinicalLogistic(**params), _x(X, params), y, rows)
    for fold in folds:  # the same computation written out fold by fold
        train = [patients.index(p) for p in fold.train]
        test = [patients.index(p) for p in fold.test]
        model = ClinicalLogistic(**params).fit(_x(X, params)[train], y[train])
        np.testing.assert_allclose(oof[test], model.predict_proba(_x(X, params)[test]))
    assert not np.isnan(oof).any()


def test_out_of_fold_leaves_nan_where_no_fold_held_a_patient_out():
    X, y = _patients(11, n=30)
    X = X[:, :3]
    rows = [(np.arange(10, 30), np.arange(0, 10))]
    oof = out_of_fold_predict(ClinicalLogistic(), X, y, rows)
    assert np.isnan(oof[10:]).all() and not np.isnan(oof[:10]).any()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the inputs are not modified and nothing warns
        out_of_fold_predict(ClinicalLogistic(), X, y, [(np.arange(15, 30), np.arange(15))])


@pytest.mark.parametrize(
    ("folds", "match"),
    [
        ([], "folds is empty"),
        ([(np.arange(5, 30), np.arange(0, 6))], "both to fit and to test"),
        ([(np.arange(5, 30), np.arange(5)), (np.arange(4, 30), np.arange(4))], "already held"),
        ([(np.arange(5, 31), np.arange(5))], "between 0 and 29"),
        ([(np.arange(5, 30), np.array([], dtype=int))], "test must be a non-empty"),
    ],
)
def test_out_of_fold_refuses_bad_folds(folds, match):
    X, y = _patients(12, n=30)
    with pytest.raises(ValueError, match=match):
        out_of_fold_predict(ClinicalLogistic(), X[:, :3], y, folds)


def test_fold_indices_maps_pairs_of_ids_and_refuses_unknown_patients():
    patients = ["a", "b", "c", "d"]
    rows = fold_indices(patients, [(["d", "a"], ["b", "c"])])
    np.testing.assert_array_equal(rows[0][0], [0, 3])
    np.testing.assert_array_equal(rows[0][1], [1, 2])
    with pytest.raises(ValueError, match="Fold 0 holds patient e, who has no row"):
        fold_indices(patients, [(["a", "e"], ["b"])])
    with pytest.raises(ValueError, match="lists a patient twice"):
        fold_indices(["a", "a"], [])

"""Per-row ceilings from the ground truth and the chance-corrected fraction of the ceiling."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from rehab_core.evaluation import (
    CEILING_COLUMNS,
    CLINICAL_MODEL,
    ceiling_column,
    ceiling_fraction,
    ceiling_probabilities,
)
from rehab_core.evaluation._metrics import _resample_weights


@pytest.mark.parametrize(
    ("name", "group", "column"),
    [
        ("ShuffleNet", "image", "p_good_fmri"),
        ("ResNet50", "image", "p_good_fmri"),
        ("LSTM", "signal", "p_good_eegemg"),
        ("ShuffleNet_LSTM", "fusion", "p_good_bayes"),
        ("ShuffleNet_LSTM + clinical", "fusion", "p_good_all"),
        (CLINICAL_MODEL, "image", "p_good_clinical"),
        ("clinical", "signal", "p_good_clinical"),
        (CLINICAL_MODEL, "fusion", "p_good_clinical"),
    ],
)
def test_each_row_gets_the_ceiling_of_what_it_sees(name, group, column):
    assert ceiling_column(name, group) == column


def test_column_names_can_follow_another_ground_truth():
    assert ceiling_column("FBNet", "image", columns={"fmri": "p_fmri_visible"}) == "p_fmri_visible"
    assert ceiling_column("LSTM", "signal", columns={"fmri": "x"}) == CEILING_COLUMNS["eegemg"]
    with pytest.raises(ValueError, match="columns key='mri' is not allowed.*'fmri'"):
        ceiling_column("FBNet", "image", columns={"mri": "x"})
    with pytest.raises(ValueError, match="group='imgae' is not allowed.*Did you mean 'image'"):
        ceiling_column("FBNet", "imgae")


TRUTH = {
    "sub-001": {"p_good_bayes": "0.9", "p_good_fmri": "0.7", "p_good_eegemg": "n/a"},
    "sub-002": {"p_good_bayes": "0.2", "p_good_fmri": "0.4", "p_good_eegemg": "0.3"},
    "sub-003": {"p_good_bayes": 0.6, "p_good_fmri": 0.5, "p_good_eegemg": 0.55},
}


def test_ceiling_probabilities_reads_the_tsv_strings_in_row_order():
    p = ceiling_probabilities(TRUTH, ["sub-003", "sub-001"], "p_good_fmri")
    np.testing.assert_array_equal(p, [0.5, 0.7])
    assert ceiling_probabilities(TRUTH, ["sub-002"], "p_good_clinical") is None  # older cohort
    assert ceiling_probabilities({}, ["sub-002"], "p_good_bayes") is None  # real data


@pytest.mark.parametrize(
    ("patients", "column", "match"),
    [
        (["sub-001"], "p_good_eegemg", "sub-001 has p_good_eegemg='n/a'"),
        (["sub-009"], "p_good_fmri", "sub-009 has no row"),
    ],
)
def test_ceiling_probabilities_refuses_a_patient_without_a_value(patients, column, match):
    with pytest.raises(ValueError, match=match):
        ceiling_probabilities(TRUTH, patients, column)


def _cohort(seed: int, n: int = 60):
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal(n)
    y = (latent + 0.9 * rng.standard_normal(n) > 0).astype(int)
    ceiling = 1 / (1 + np.exp(-2 * latent))
    model = 1 / (1 + np.exp(-(latent + rng.standard_normal(n))))
    return y, model, ceiling


def test_fraction_equals_a_direct_computation_on_the_same_resamples():
    y, p, c = _cohort(0)
    out = ceiling_fraction(y, p, c, n_boot=200, seed=3, ci=0.9)
    auc, ceil = roc_auc_score(y, p), roc_auc_score(y, c)
    assert out["auc"]["estimate"] == pytest.approx(auc)
    assert out["ceiling_auc"]["estimate"] == pytest.approx(ceil)
    assert out["fraction"]["estimate"] == pytest.approx((auc - 0.5) / (ceil - 0.5))
    fractions = []
    for row in _resample_weights(y.astype(bool), 200, 3, True).astype(int):
        idx = np.repeat(np.arange(y.size), row)
        a, b = roc_auc_score(y[idx], p[idx]), roc_auc_score(y[idx], c[idx])
        fractions.append((a - 0.5) / (b - 0.5))
    low, high = np.percentile(fractions, [5, 95])
    assert out["fraction"]["low"] == pytest.approx(low)
    assert out["fraction"]["high"] == pytest.approx(high)
    assert out["undefined_resamples"] == 0
    assert json.loads(json.dumps(out)) == out


def test_a_model_that_is_its_ceiling_reaches_exactly_one():
    y, _, c = _cohort(1)
    out = ceiling_fraction(y, c**2, c, n_boot=100)  # same ranking as the ceiling
    assert out["fraction"] == {"estimate": 1.0, "low": 1.0, "high": 1.0}


def test_issue_13_example_is_what_the_formula_gives():
    # Issue 13: AUC 0.82 against a ceiling of 0.91 is 0.78 of the ceiling, not 0.90.
    y = np.array([0] * 10 + [1] * 10)
    out = ceiling_fraction(y, np.r_[np.full(10, 0.4), np.full(10, 0.6)], np.linspace(0, 1, 20))
    assert out["fraction"]["estimate"] == pytest.approx((1.0 - 0.5) / (1.0 - 0.5))
    assert (0.82 - 0.5) / (0.91 - 0.5) == pytest.approx(0.78, abs=0.005)


def test_no_fraction_where_the_ceiling_is_at_chance():
    y = np.array([0, 1, 0, 1, 0, 1])
    flat = np.full(6, 0.5)  # the information says nothing: ceiling AUC 0.5
    out = ceiling_fraction(y, np.linspace(0.1, 0.9, 6), flat, n_boot=50)
    assert np.isnan(out["fraction"]["estimate"])
    assert out["undefined_resamples"] == 50


@pytest.mark.parametrize(
    ("y", "p", "c", "match"),
    [
        ([1, 1, 1], [0.2, 0.4, 0.6], [0.2, 0.4, 0.6], "both outcomes"),
        ([0, 1, 1], [0.2, 0.4, 0.6], [0.2, 0.4], "p_ceiling has 2"),
        ([0, 1, 1], [0.2, 0.4, 0.6], [0.2, np.nan, 0.4], "p_ceiling contains NaN"),
    ],
)
def test_fraction_refuses_bad_input(y, p, c, match):
    with pytest.raises(ValueError, match=match):
        ceiling_fraction(y, p, c, n_boot=10)

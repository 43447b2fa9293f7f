"""Summaries over repeated patient-level cross-validation and over external seeds."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from rehab_core.evaluation import repeated_cv_summary, seed_summary
from rehab_core.evaluation._metrics import _resample_weights


def _cohort(seed: int, n: int = 40):
    rng = np.random.default_rng(seed)
    y = np.array([0, 1] * (n // 2))
    return y, rng


def test_repeated_kfold_mean_sd_and_pooled_interval_equal_direct_computations():
    y, rng = _cohort(0)
    scores = [np.clip(0.3 * y + 0.7 * rng.random(y.size), 0, 1) for _ in range(4)]
    out = repeated_cv_summary(
        [{"y_true": y, "p_good": p} for p in scores], n_boot=150, seed=2, ci=0.9
    )
    aucs = [roc_auc_score(y, p) for p in scores]
    assert out["auc_per_repeat"] == pytest.approx(aucs)
    assert out["mean"] == pytest.approx(np.mean(aucs))
    assert out["sd"] == pytest.approx(np.std(aucs, ddof=1))
    # The pooled interval: one draw of patients per resample, every repeat's AUC on that draw.
    pooled = []
    for row in _resample_weights(y.astype(bool), 150, 2, True).astype(int):
        idx = np.repeat(np.arange(y.size), row)
        pooled.append(np.mean([roc_auc_score(y[idx], p[idx]) for p in scores]))
    low, high = np.percentile(pooled, [5, 95])
    assert out["pooled"] == pytest.approx({"estimate": np.mean(aucs), "low": low, "high": high})
    assert out["n_repeats"] == 4 and out["n_patients"] == y.size
    assert json.loads(json.dumps(out)) == out


def test_repeated_splits_with_different_test_patients_count_each_patient_once():
    y, rng = _cohort(1, n=30)
    ids = [f"sub-{k:03d}" for k in range(30)]
    p_all = np.clip(0.3 * y + 0.7 * rng.random(30), 0, 1)
    repeats = []
    for _ in range(3):
        test = np.sort(rng.choice(30, size=12, replace=False))
        test = test if len(set(y[test])) == 2 else np.r_[test[:-2], 0, 1]
        repeats.append(
            {"patients": [ids[k] for k in test], "y_true": y[test], "p_good": p_all[test] * 0.9}
        )
    out = repeated_cv_summary(repeats, n_boot=100, seed=0)
    assert out["auc_per_repeat"] == pytest.approx(
        [roc_auc_score(r["y_true"], r["p_good"]) for r in repeats]
    )
    union = {p for r in repeats for p in r["patients"]}
    assert out["n_patients"] == len(union)
    assert out["pooled"]["low"] <= out["mean"] <= out["pooled"]["high"]


def test_a_patient_a_repeat_did_not_score_is_left_out_of_that_repeat():
    y, rng = _cohort(2, n=20)
    p = np.clip(0.3 * y + 0.7 * rng.random(20), 0, 1)
    q = p.copy()
    q[:4] = np.nan
    out = repeated_cv_summary([{"y_true": y, "p_good": p}, {"y_true": y, "p_good": q}], n_boot=20)
    assert out["auc_per_repeat"][1] == pytest.approx(roc_auc_score(y[4:], p[4:]))


def test_one_repeat_has_no_sd():
    y, rng = _cohort(3)
    out = repeated_cv_summary([{"y_true": y, "p_good": rng.random(y.size)}], n_boot=20)
    assert math.isnan(out["sd"])


@pytest.mark.parametrize(
    ("repeats", "match"),
    [
        ([], "non-empty list"),
        ([{"y_true": [0, 1]}], "lacks p_good"),
        (
            [
                {"patients": ["a", "b"], "y_true": [0, 1], "p_good": [0.1, 0.9]},
                {"patients": ["a", "b"], "y_true": [1, 0], "p_good": [0.1, 0.9]},
            ],
            "Patient a has a different outcome in repeat 1",
        ),
        (
            [{"y_true": [0, 1], "p_good": [0.1, 0.9]}, {"y_true": [0, 1, 1], "p_good": [0, 1, 1]}],
            "same patients in the same order",
        ),
        ([{"y_true": [1, 1], "p_good": [0.1, 0.9]}], "Repeat 0 scored patients of one outcome"),
        (
            [{"patients": ["a"], "y_true": [0, 1], "p_good": [0.1, 0.9]}],
            "each of its 2 patients once",
        ),
    ],
)
def test_repeated_summary_refuses_bad_input(repeats, match):
    with pytest.raises(ValueError, match=match):
        repeated_cv_summary(repeats, n_boot=10)


def test_seed_summary_mean_and_sd_across_external_cohorts():
    per_seed = {
        1: {"roc_auc": {"estimate": 0.82, "low": 0.7, "high": 0.9}, "brier": 0.19},
        2: {"roc_auc": {"estimate": 0.73, "low": 0.62, "high": 0.83}, "brier": 0.22},
        3: {"roc_auc": {"estimate": 0.78, "low": 0.66, "high": 0.88}, "brier": float("nan")},
    }
    out = seed_summary(per_seed)
    auc = out["metrics"]["roc_auc"]
    assert auc["mean"] == pytest.approx(np.mean([0.82, 0.73, 0.78]))
    assert auc["sd"] == pytest.approx(np.std([0.82, 0.73, 0.78], ddof=1))
    assert (auc["min"], auc["max"]) == (0.73, 0.82)
    assert out["seeds"] == ["1", "2", "3"] and out["n_seeds"] == 3
    brier = out["metrics"]["brier"]
    assert brier["mean"] == pytest.approx(0.205) and brier["n_undefined"] == 1


@pytest.mark.parametrize(
    ("per_seed", "error", "match"),
    [
        ({}, ValueError, "non-empty mapping"),
        ({1: {"roc_auc": 0.8}, 2: {"brier": 0.2}}, ValueError, "every seed needs the same"),
        ({1: {"roc_auc": "high"}}, TypeError, "roc_auc of seed 1 must be a number"),
        ({1: {"roc_auc": {"low": 0.1}}}, ValueError, "without 'estimate'"),
        ({1: {"roc_auc": float("inf")}}, ValueError, "infinite"),
    ],
)
def test_seed_summary_refuses_bad_input(per_seed, error, match):
    with pytest.raises(error, match=match):
        seed_summary(per_seed)


def test_repeated_cv_rows_are_the_cells_of_the_shipped_markdown():
    """The page's rows and repeated_cv.md come from one function: the shipped file is its output."""
    import json
    from pathlib import Path

    from rehab_core.evaluation import repeated_cv_rows

    weights = Path(__file__).resolve().parents[2] / "weights"
    summary = json.loads((weights / "repeated_cv.json").read_text())
    rows = repeated_cv_rows(summary)
    assert [r["Row"] for r in rows][:2] == ["LSTM", "ShuffleNet"]
    assert "Clinical (patients with EEG-EMG)" in [r["Row"] for r in rows]
    markdown = (weights / "repeated_cv.md").read_text()
    for row in rows:
        assert "| " + " | ".join(row.values()) + " |" in markdown
    lstm = summary["rows"][0]["summary"]
    assert rows[0]["AUC, mean ± SD over repeats"] == f"{lstm['mean']:.2f} ± {lstm['sd']:.2f}"
    assert len(rows[0]["per repeat"].split(" / ")) == summary["n_repeats"]

"""compare_runs: two runs that differ in one choice, on the same patients (issue 13)."""

from __future__ import annotations

import numpy as np
import pytest

from rehab_core.evaluation import compare_runs, compare_runs_markdown, paired_bootstrap_auc


def _report(patients, y, p, *, auc=0.7, ceiling=0.8, row="LSTM"):
    """The fields compare_runs reads of an evaluation report: one row's cell and its scores."""
    entry = {
        "name": row,
        "n": len(patients),
        "metrics": {"roc_auc": {"estimate": auc}},
        "ceiling": {
            "ceiling_auc": {"estimate": ceiling},
            "fraction": {"estimate": (auc - 0.5) / (ceiling - 0.5)},
        },
    }
    return {
        "tables": {
            "table1": {"evaluations": []},
            "table2": {"evaluations": [entry]},
            "table3": {"evaluations": []},
        },
        "predictions": [
            {
                "name": row,
                "patients": list(patients),
                "y_true": [int(v) for v in y],
                "p_good": [float(v) for v in p],
            }
        ],
    }


def _cohort(seed, n=30):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    y[:2] = (0, 1)
    ids = [f"sub-{i:03d}" for i in range(n)]
    good = np.clip(0.5 + 0.3 * (y - 0.5) + rng.normal(0, 0.2, n), 0, 1)
    noisy = rng.uniform(0, 1, n)
    return ids, y, good, noisy


def test_difference_is_the_paired_bootstrap_on_the_patients_both_scored():
    ids, y, good, noisy = _cohort(0)
    a = _report(ids, y, good)
    b = _report(ids[3:], y[3:], noisy[3:])  # run b did not score the first three patients
    out = compare_runs((a, b), {}, names=("envelope", "raw"), n_boot=300, seed=4)
    (row,) = out["rows"]
    direct = paired_bootstrap_auc(y[3:], good[3:], noisy[3:], n_boot=300, seed=4)
    diff = row["development"]["difference"]
    assert diff["n"] == len(ids) - 3
    for key in ("estimate", "low", "high"):
        assert diff[key] == pytest.approx(direct["difference"][key])
    assert diff["p_value"] == pytest.approx(direct["p_value"])
    # each run's own table cell (AUC and the ceiling of what the row sees) is kept
    assert row["development"]["envelope"]["ceiling_auc"] == 0.8
    assert row["development"]["raw"]["n_patients"] == len(ids) - 3
    assert row["table"] == "table2" and "external" in row and "summary" not in row


def test_unseen_cohorts_give_mean_and_sd_of_each_figure():
    external = {}
    for s, auc in zip((1, 2, 3), (0.6, 0.7, 0.9), strict=True):
        ids, y, good, noisy = _cohort(s)
        external[f"seed{s}"] = (_report(ids, y, good, auc=auc), _report(ids, y, noisy, auc=0.5))
    out = compare_runs(None, external, names=("envelope", "raw"), n_boot=200)
    (row,) = out["rows"]
    assert out["cohorts"] == ["seed1", "seed2", "seed3"] and "development" not in row
    m = row["summary"]["metrics"]
    assert m["envelope_auc"]["mean"] == pytest.approx(np.mean([0.6, 0.7, 0.9]))
    assert m["envelope_auc"]["sd"] == pytest.approx(np.std([0.6, 0.7, 0.9], ddof=1))
    diffs = [row["external"][c]["difference"]["estimate"] for c in out["cohorts"]]
    assert m["difference"]["values"] == pytest.approx(diffs)
    above = sum(row["external"][c]["difference"]["low"] > 0 for c in out["cohorts"])
    assert row["n_cohorts_above_zero"] == above
    text = compare_runs_markdown(out)
    assert "| seed2 | 0.70 | 0.50 |" in text
    assert f"| unseen cohorts, mean ± SD | {np.mean([0.6, 0.7, 0.9]):.2f} ± " in text


def test_reports_of_different_cohorts_are_refused():
    ids, y, good, noisy = _cohort(0)
    flipped = 1 - y
    with pytest.raises(ValueError, match="give patient sub-000 different outcomes"):
        compare_runs((_report(ids, y, good), _report(ids, flipped, noisy)), {}, names=("a", "b"))


def test_a_missing_row_or_missing_scores_is_named():
    ids, y, good, _ = _cohort(0)
    a = _report(ids, y, good)
    with pytest.raises(ValueError, match="The report of b on seed1 has no row 'LSTM'"):
        compare_runs(None, {"seed1": (a, _report(ids, y, good, row="X"))}, names=("a", "b"))
    bare = {**a, "predictions": []}
    with pytest.raises(ValueError, match="holds no per-patient scores of 'LSTM'"):
        compare_runs((a, bare), {}, names=("a", "b"))


def test_names_and_inputs_are_checked():
    ids, y, good, _ = _cohort(0)
    a = _report(ids, y, good)
    with pytest.raises(ValueError, match="names must tell the two runs apart, got 'x' twice"):
        compare_runs((a, a), {}, names=("x", "x"))
    with pytest.raises(ValueError, match="Give the development reports, unseen-cohort reports"):
        compare_runs(None, {}, names=("a", "b"))


def test_reads_a_real_training_report():
    """The shipped evaluation.json against itself: the rows' cells and scores are found, and
    a run compared with itself differs by exactly zero on all its patients."""
    import json
    from pathlib import Path

    report = json.loads((Path(__file__).parents[2] / "weights" / "evaluation.json").read_text())
    out = compare_runs((report, report), {}, names=("a", "b"), rows=("LSTM", "ShuffleNet_LSTM"))
    cells = {e["name"]: e for t in ("table2", "table3") for e in report["tables"][t]["evaluations"]}
    for row in out["rows"]:
        dev, cell = row["development"], cells[row["row"]]
        assert dev["difference"]["estimate"] == dev["difference"]["low"] == 0.0
        assert dev["difference"]["n"] == cell["n"]
        assert dev["a"]["roc_auc"] == cell["metrics"]["roc_auc"]["estimate"]
        assert dev["a"]["ceiling_auc"] == cell["ceiling"]["ceiling_auc"]["estimate"]

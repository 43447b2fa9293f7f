"""``evaluate_cohort`` returns every scored patient's probability (the input of the curves)."""

from __future__ import annotations

import json

import pytest

from rehab_core.evaluation import roc_points
from rehab_core.workflows.evaluate import evaluate_cohort


@pytest.fixture(scope="module")
def report(tiny_training, tiny_evaluation_cache):
    return evaluate_cohort(
        tiny_training["cohort"], tiny_training["out"], cache_dir=tiny_evaluation_cache
    )


def test_predictions_cover_the_held_out_patients_of_each_table_row(report, tiny_training):
    manifest = json.loads((tiny_training["out"] / "shufflenet_lstm" / "manifest.json").read_text())
    test_ids = sorted(manifest["data"]["split"]["test"])
    by_group = {r["group"]: r for r in report["predictions"]}
    assert set(by_group) <= {"image", "fusion", "signal"} and {"image", "fusion"} <= set(by_group)
    for group in ("image", "fusion"):
        record = by_group[group]
        assert sorted(record["patients"]) == test_ids
        assert len(record["y_true"]) == len(record["p_good"]) == len(test_ids)
        assert all(0.0 <= p <= 1.0 for p in record["p_good"])
    if "signal" in by_group:  # only patients with EEG-EMG
        assert set(by_group["signal"]["patients"]) <= set(test_ids)
    json.dumps(report, allow_nan=False)  # what `rehab evaluate --json` prints


def test_the_tables_auc_is_the_auc_of_the_returned_scores(report):
    rows = {
        e["name"]: e["metrics"]["roc_auc"]["estimate"]
        for table in ("table1", "table3")
        for e in report["tables"][table]["evaluations"]
    }
    for record in report["predictions"]:
        if record["group"] == "signal" or len(set(record["y_true"])) < 2:
            continue
        auc = roc_points(record["y_true"], record["p_good"])["auc"]
        assert auc == pytest.approx(rows[record["name"]])


def test_bayes_probabilities_of_the_scored_patients(report):
    scored = {p for r in report["predictions"] for p in r["patients"]}
    assert set(report["bayes_p_good"]) == scored
    assert all(0.0 <= v <= 1.0 for v in report["bayes_p_good"].values())


def test_clinical_rows_come_from_the_bundle_and_every_row_has_its_ceiling(report):
    from rehab_core.evaluation import CLINICAL_MODEL

    assert report["clinical"]["omitted"] == {}
    assert CLINICAL_MODEL in [r["Method"] for r in report["tables"]["table1"]["rows"]]
    assert report["clinical"]["fitted_on"].endswith("(stored in the bundle)")
    assert report["ceiling_note"] == "Every row has the ceiling of what it sees."
    assert report["tables"]["paired"]["rows"]
    assert all(d["decision_curve"] or d["reason"] for d in report["diagnostics"])
    assert "Decision curves" in report["markdown"]


def test_a_cache_folder_spares_the_second_evaluation_its_preprocessing(
    report, tiny_training, tiny_evaluation_cache, monkeypatch
):
    import rehab_core.pipeline as pipeline

    (kept,) = list(tiny_evaluation_cache.glob("*/arrays/arrays.json"))  # one setup, kept

    def refuse(*args, **kwargs):
        raise AssertionError("the cohort was preprocessed again")

    monkeypatch.setattr(pipeline, "prepare_cohort", refuse)
    again = evaluate_cohort(
        tiny_training["cohort"], tiny_training["out"], cache_dir=tiny_evaluation_cache
    )
    assert again["predictions"] == report["predictions"]
    assert kept.is_file()


def test_the_external_summary_of_one_report_twice_has_its_figures_and_no_spread(report):
    from rehab_core.evaluation import external_summary

    out = external_summary({"x": report, "y": report})
    aucs = {
        e["name"]: e["metrics"]["roc_auc"]["estimate"]
        for t in ("table1", "table2", "table3")
        for e in report["tables"][t]["evaluations"]
    }
    assert {r["method"] for r in out["rows"]} == set(aucs)
    for row in out["rows"]:
        stats = row["summary"]["metrics"]["roc_auc"]
        assert stats["mean"] == pytest.approx(aucs[row["method"]]) and stats["sd"] == 0

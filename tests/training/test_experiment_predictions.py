"""A training run's evaluation.json carries every held-out patient's score (for the curves)."""

from __future__ import annotations

import json

import pytest

from rehab_core.evaluation import roc_points


def test_training_report_lists_the_scores_behind_its_tables(tiny_training):
    report = json.loads((tiny_training["out"] / "evaluation.json").read_text())
    manifest = json.loads((tiny_training["out"] / "shufflenet_lstm" / "manifest.json").read_text())
    test_ids = sorted(manifest["data"]["split"]["test"])
    by_group = {r["group"]: r for r in report["predictions"]}
    assert set(by_group) == {"signal", "image", "fusion"}
    for group in ("image", "fusion"):
        assert sorted(by_group[group]["patients"]) == test_ids
    assert set(by_group["signal"]["patients"]) <= set(test_ids)
    aucs = {
        e["name"]: e["metrics"]["roc_auc"]["estimate"]
        for table in ("table1", "table2", "table3")
        for e in report["tables"][table]["evaluations"]
    }
    for record in report["predictions"]:
        assert len(record["y_true"]) == len(record["p_good"]) == len(record["patients"])
        if len(set(record["y_true"])) == 2:
            auc = roc_points(record["y_true"], record["p_good"])["auc"]
            assert auc == pytest.approx(aucs[record["name"]])
    assert set(report["bayes_p_good"]) == set(test_ids)

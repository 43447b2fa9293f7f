"""``external_summary``: every row and paired difference over several unseen cohorts."""

from __future__ import annotations

import pytest
from _external_reports import evaluation_report

from rehab_core.evaluation import external_markdown, external_summary


def _report(fmri, lstm, fused, diff_ci):
    return evaluation_report(fmri, lstm, fused, diff_ci=diff_ci, lstm_n=34)


def test_mean_and_sd_across_cohorts_of_each_row_and_difference():
    reports = {
        "seed1": _report(0.6, 0.7, 0.8, (0.05, 0.35)),
        "seed2": _report(0.7, 0.8, 0.9, (-0.1, 0.5)),
        "seed3": _report(0.8, 0.9, 0.7, (-0.3, -0.01)),
    }
    out = external_summary(reports)
    assert out["cohorts"] == ["seed1", "seed2", "seed3"]
    rows = {r["method"]: r for r in out["rows"]}
    fmri = rows["ShuffleNet"]["summary"]["metrics"]
    assert fmri["roc_auc"]["mean"] == pytest.approx(0.7)
    assert fmri["roc_auc"]["sd"] == pytest.approx(0.1)  # sample SD, ddof=1
    assert fmri["ceiling_auc"]["mean"] == pytest.approx(0.8)
    assert fmri["fraction_of_ceiling"]["values"] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert rows["LSTM"]["modality"] == "EEG-EMG"
    (comp,) = out["comparisons"]
    assert comp["comparison"] == "ShuffleNet_LSTM − ShuffleNet"
    assert comp["summary"]["metrics"]["difference"]["values"] == pytest.approx([0.2, 0.2, -0.1])
    assert (comp["n_cohorts_above_zero"], comp["n_cohorts_below_zero"]) == (1, 1)
    text = external_markdown(out)
    assert "| fMRI | ShuffleNet | 0.70 ± 0.10 | 0.80 ± 0.00 |" in text
    assert "1 of 3 | 1 of 3 |" in text


def test_rows_missing_from_one_cohort_are_left_out_and_no_report_is_refused():
    first = _report(0.6, 0.7, 0.8, (0.0, 0.4))
    second = _report(0.7, 0.8, 0.9, (0.0, 0.4))
    second["tables"]["table2"]["evaluations"] = []  # a cohort without EEG-EMG
    out = external_summary({"a": first, "b": second})
    assert [r["method"] for r in out["rows"]] == ["ShuffleNet", "ShuffleNet_LSTM"]
    with pytest.raises(ValueError, match="at least one evaluation report"):
        external_summary({})


def test_the_weights_scored_are_recorded_and_other_weights_on_one_cohort_refused():
    first = _report(0.6, 0.7, 0.8, (0.0, 0.4))
    second = _report(0.7, 0.8, 0.9, (0.0, 0.4))
    for report in (first, second):
        report["models"] = {"shufflenet_lstm": {"weights_sha256": "a" * 64}}
    out = external_summary({"s1": first, "s2": second})
    assert out["models"] == {"shufflenet_lstm": {"weights_sha256": "a" * 64}}
    second["models"]["shufflenet_lstm"]["weights_sha256"] = "b" * 64
    with pytest.raises(
        ValueError,
        match=r"^Cohort s2 was scored with other weights of shufflenet_lstm \(bbbbbbbbbbbb… "
        r"instead of aaaaaaaaaaaa…\); score every cohort with the same bundle\.$",
    ):
        external_summary({"s1": first, "s2": second})
    assert external_summary({"s1": _report(0.6, 0.7, 0.8, (0.0, 0.4))})["models"] == {}


def test_tables_hold_the_cells_the_markdown_shows():
    from rehab_core.evaluation import external_tables

    reports = {
        "seed1": _report(0.6, 0.7, 0.8, (0.05, 0.35)),
        "seed2": _report(0.7, 0.8, 0.9, (-0.1, 0.5)),
    }
    out = external_summary(reports)
    tables = external_tables(out)
    fmri = tables["rows"][0]
    assert fmri == {
        "Modality": "fMRI",
        "Method": "ShuffleNet",
        "ROC AUC": "0.65 ± 0.07",
        "Ceiling AUC": "0.80 ± 0.00",
        "Fraction of ceiling": "0.50 ± 0.24",
        "AUC seed1": "0.60",
        "AUC seed2": "0.70",
    }
    (comp,) = tables["comparisons"]
    assert comp["seed2 (95% CI)"] == "+0.20 (-0.10 to +0.50)"
    assert (comp["CI above 0"], comp["CI below 0"]) == ("1 of 2", "0 of 2")
    text = external_markdown(out)
    assert "| " + " | ".join(fmri.values()) + " |" in text

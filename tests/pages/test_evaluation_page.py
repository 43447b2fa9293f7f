"""The Evaluation page through the real app (AppTest): tables, curves, stale and empty folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
WEIGHTS = ROOT / "weights"
EVALUATION = "pages/evaluation.py"


@pytest.fixture(autouse=True)
def environment(tmp_path, monkeypatch):
    monkeypatch.setenv("REHAB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("REHAB_WEIGHTS_DIR", raising=False)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


def open_evaluation(signed_in) -> AppTest:
    at = signed_in(AppTest.from_file(APP, default_timeout=120), "researcher").run()
    at.switch_page(EVALUATION).run()
    assert not at.exception, at.exception
    return at


def charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def weights_copy(tmp_path, monkeypatch, *, heldout_sha256: str | None = None) -> Path:
    """The shipped weights folder without its tensors (the page reads manifests only).

    With ``heldout_sha256``, also a ``heldout_evaluation.json`` as ``rehab evaluate --json``
    writes it, holding the shipped run's per-patient scores and recording those weights.
    """
    folder = tmp_path / "weights"
    (folder / "shufflenet_lstm").mkdir(parents=True)
    shutil.copy(WEIGHTS / "shufflenet_lstm" / "manifest.json", folder / "shufflenet_lstm")
    for name in ("evaluation.json", "tables.md"):
        shutil.copy(WEIGHTS / name, folder / name)
    if heldout_sha256 is not None:
        training = json.loads((folder / "evaluation.json").read_text())
        heldout = {
            "cohort": training["cohort"],
            "models": {"shufflenet_lstm": {"weights_sha256": heldout_sha256}},
            "predictions": training["predictions"],
            "bayes_p_good": training["bayes_p_good"],
        }
        (folder / "heldout_evaluation.json").write_text(json.dumps(heldout))
    monkeypatch.setenv("REHAB_WEIGHTS_DIR", str(folder))
    return folder


def without_training_scores(folder: Path) -> None:
    """``evaluation.json`` as a run that stored no per-patient scores wrote it."""
    training = json.loads((folder / "evaluation.json").read_text())
    del training["predictions"]
    (folder / "evaluation.json").write_text(json.dumps(training))


def test_shipped_evaluation_shows_tables_curves_and_synthetic_label(signed_in):
    at = open_evaluation(signed_in)
    assert at.title[0].value == "Evaluation"
    assert at.warning[0].value.startswith("**Synthetic cohort.**")
    titles = [m.value for m in at.markdown]
    for title in (
        "**Table 1. fMRI prediction model evaluation**",
        "**Table 2. EEG-EMG prediction model evaluation**",
        "**Table 3. Multimodal fusion prediction model evaluation**",
    ):
        assert title in titles
    training = json.loads((WEIGHTS / "evaluation.json").read_text())
    table1 = at.table[0].value  # static tables: nothing cut off at the page's edge
    assert list(table1.columns) == training["tables"]["table1"]["columns"]
    assert table1.iloc[0]["ROC AUC"] == training["tables"]["table1"]["rows"][0]["ROC AUC"]
    # each row has its own ceiling (a column), no separate "Bayes-optimal ceiling" row
    assert "Ceiling AUC" in table1.columns and "Bayes-optimal ceiling" not in set(table1["Method"])
    assert table1.iloc[0]["Ceiling AUC"] == training["tables"]["table1"]["rows"][0]["Ceiling AUC"]
    metrics = {m.label: m.value for m in at.metric}
    # the shipped run has no held-out test set: every figure is out of fold
    assert training["evaluated_on"] == "out-of-fold (cross-validation)"
    assert metrics["Patients scored out of fold"] == str(training["n_eval_patients"])
    assert metrics["Bayes ceiling AUC (out of fold)"] == f"{training['bayes_ceiling_auc']:.2f}"
    assert "Held-out test patients" not in metrics
    n_folds = training["settings"]["n_folds"]
    captions = " ".join(c.value for c in at.caption)
    assert f"Scored out of fold ({n_folds}-fold cross-validation" in captions
    # curves of the out-of-fold scores stored with the bundle, said to be out of fold
    roc, calibration = charts(at)
    assert roc["layout"]["title"]["text"] == "ROC curves (out-of-fold scores)"
    assert calibration["layout"]["title"]["text"] == "Calibration (out-of-fold scores)"
    fused = next(r for r in training["predictions"] if r["group"] == "fusion")
    assert f"{len(fused['patients'])} patients scored out of fold" in captions
    assert "held-out patients" not in captions
    # the shipped external.json scored the installed weights: its figures are shown
    assert any(s.value == "On unseen cohorts" for s in at.subheader)
    assert (WEIGHTS / "external.json").is_file()
    assert not [w for w in at.warning if "external.json" in w.value]
    card = " ".join(m.value for e in at.expander for m in e.markdown)
    assert f"({n_folds}-fold cross-validation), no held-out test set." in card
    assert f"**Performance** out of fold ({n_folds}-fold cross-validation)" in card
    assert any("Model card" in s.value for s in at.subheader)
    # issue 15: no model id and no other machine's path outside Technical details
    assert [e.label for e in at.expander if e.label.startswith("Model card")] == [
        "Model card: FBNet + LSTM",
        "Model card: GhostNet + LSTM",
        "Model card: RegNet + LSTM",
        "Model card: ShuffleNet + LSTM",
    ]  # one per installed bundle
    captions = " ".join(c.value for c in at.caption)
    assert f"on the cohort {Path(training['cohort']).name};" in captions
    assert training["cohort"] not in captions
    (details,) = [e for e in at.expander if e.label == "Technical details"]
    assert training["cohort"] in details.markdown[0].value
    fma_table = next(f.value for f in at.dataframe if "FMA-LE R²" in f.value.columns)
    from rehab_core.report import plain_model_name

    assert fma_table["Model"].tolist() == [plain_model_name(m) for m in training["models"]]
    assert "ShuffleNet + LSTM" in fma_table["Model"].tolist()


def test_curves_of_held_out_scores_that_match_the_installed_weights(
    signed_in, tmp_path, monkeypatch
):
    from rehab_core.evaluation import roc_points

    manifest = json.loads((WEIGHTS / "shufflenet_lstm" / "manifest.json").read_text())
    folder = weights_copy(tmp_path, monkeypatch, heldout_sha256=manifest["sha256"])
    heldout = json.loads((folder / "heldout_evaluation.json").read_text())
    at = open_evaluation(signed_in)
    roc, calibration = charts(at)
    names = [trace["name"] for trace in roc["data"]]
    assert names[0] == "chance" and names[1].startswith("Bayes-optimal ceiling (AUC ")
    assert roc["layout"]["title"]["text"] == "ROC curves (held-out patients)"
    fused = next(r for r in heldout["predictions"] if r["group"] == "fusion")
    auc = roc_points(fused["y_true"], fused["p_good"])["auc"]
    assert names[2] == f"ShuffleNet_LSTM (AUC {auc:.2f}, n={len(fused['patients'])})"
    assert calibration["data"][0]["name"] == "perfect calibration"
    assert not [w for w in at.warning if "other weights" in w.value]
    assert f"{len(fused['patients'])} held-out patients" in " ".join(c.value for c in at.caption)


def test_held_out_scores_of_other_weights_are_not_drawn(signed_in, tmp_path, monkeypatch):
    folder = weights_copy(tmp_path, monkeypatch, heldout_sha256="0" * 64)
    without_training_scores(folder)
    at = open_evaluation(signed_in)
    assert charts(at) == []
    (warning,) = [w.value for w in at.warning if "other weights" in w.value]
    assert warning.startswith("heldout_evaluation.json scored shufflenet_lstm with other weights")
    assert at.code[0].value.startswith("rehab evaluate --cohort ")
    assert at.code[0].value.endswith(f"--json > {folder / 'heldout_evaluation.json'}")


def test_scores_written_with_the_bundles_are_drawn_when_the_heldout_file_is_stale(
    signed_in, tmp_path, monkeypatch
):
    folder = weights_copy(tmp_path, monkeypatch, heldout_sha256="0" * 64)
    training = json.loads((folder / "evaluation.json").read_text())
    assert training["predictions"]  # the shipped run stored every patient's out-of-fold score
    at = open_evaluation(signed_in)
    assert len(charts(at)) == 2
    assert not [w for w in at.warning if "other weights" in w.value]


def test_without_held_out_scores_the_page_says_how_to_get_them(signed_in, tmp_path, monkeypatch):
    folder = weights_copy(tmp_path, monkeypatch)
    without_training_scores(folder)
    assert not (folder / "heldout_evaluation.json").exists()
    at = open_evaluation(signed_in)
    assert charts(at) == []
    assert any("every held-out patient's score" in i.value for i in at.info)
    assert "Table 3. Multimodal fusion prediction model evaluation" in " ".join(
        m.value for m in at.markdown
    )


def test_a_folder_without_evaluation(signed_in, tmp_path, monkeypatch):
    monkeypatch.setenv("REHAB_WEIGHTS_DIR", str(tmp_path / "empty"))
    at = open_evaluation(signed_in)
    assert [i.value for i in at.info] == [
        f"{tmp_path / 'empty'} holds no evaluation.json: train models with `rehab train --out "
        f"{tmp_path / 'empty'}` to see their evaluation here."
    ]
    assert not at.warning  # nothing says synthetic when there is no model at all


def test_clinical_comparators_paired_differences_and_net_benefit_are_shown(
    signed_in, tmp_path, monkeypatch
):
    """An evaluation.json with the statistics of issue 13 shows them under the tables."""
    import numpy as np

    from rehab_core._json import to_jsonable
    from rehab_core.evaluation import (
        EvaluationSettings,
        ModelResult,
        paper_tables,
        row_diagnostics,
    )

    folder = weights_copy(tmp_path, monkeypatch)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 30)
    ids = [f"sub-{i:02d}" for i in range(30)]
    results = [
        ModelResult(
            name,
            group,
            y,
            np.clip(0.5 + s * (y - 0.5) + rng.normal(0, 0.2, 30), 0, 1),
            patients=ids,
        )
        for name, group, s in (
            ("ShuffleNet", "image", 0.3),
            ("ShuffleNet_LSTM", "fusion", 0.5),
            ("Clinical", "fusion", 0.4),
        )
    ]
    settings = EvaluationSettings(n_boot=50)
    tables = paper_tables(results, settings, pairs="default")
    report = json.loads((folder / "evaluation.json").read_text())
    report["tables"]["paired"] = tables["paired"]
    report["diagnostics"] = row_diagnostics(results, settings)
    report["clinical"] = {
        "features": ["fma_le_baseline", "age", "days_since_stroke"],
        "fitted_on": "the development folds of the deep models",
        "omitted": {},
    }
    (folder / "evaluation.json").write_text(json.dumps(to_jsonable(report)))
    at = open_evaluation(signed_in)
    titles = [m.value for m in at.markdown]
    assert "**Paired AUC differences (A − B) on the patients both models scored**" in titles
    assert "**Calibration and net benefit (decision curves)**" in titles
    captions = " ".join(c.value for c in at.caption)
    assert "Clinical = logistic regression on fma_le_baseline, age, days_since_stroke" in captions
    frames = [f.value for f in at.table]  # static tables: long and wide, nothing scrolled off
    assert any("ShuffleNet_LSTM − Clinical" in set(f.get("Comparison", [])) for f in frames)
    assert any({"NB 0.5", "Treat all 0.5", "Slope"} <= set(f.columns) for f in frames)


def write_external(folder: Path, weights_sha256: str, extra: dict | None = None) -> dict:
    """``external.json`` and ``external.md`` as ``rehab external-summary`` writes them, from
    hand-made ``rehab evaluate`` reports of three unseen cohorts."""
    from _external_reports import evaluation_report

    from rehab_core._json import to_jsonable
    from rehab_core.evaluation import external_markdown, external_summary

    models = {"shufflenet_lstm": {"weights_sha256": weights_sha256}, **(extra or {})}

    def report(fmri, lstm, fused):
        return evaluation_report(fmri, lstm, fused, lstm_ceiling=0.85, models=models)

    summary = external_summary(
        {
            "seed1": report(0.61, 0.70, 0.72),
            "seed2": report(0.55, 0.74, 0.70),
            "seed3": report(0.58, 0.66, 0.69),
        }
    )
    (folder / "external.json").write_text(json.dumps(to_jsonable(summary)))
    (folder / "external.md").write_text(external_markdown(summary))
    return summary


def test_figures_on_unseen_cohorts_are_shown_from_external_json(signed_in, tmp_path, monkeypatch):
    from rehab_core.evaluation import external_tables

    folder = weights_copy(tmp_path, monkeypatch)
    manifest = json.loads((folder / "shufflenet_lstm" / "manifest.json").read_text())
    summary = write_external(folder, manifest["sha256"])
    at = open_evaluation(signed_in)
    headers = [s.value for s in at.subheader]
    assert "On unseen cohorts" in headers
    assert headers.index("On unseen cohorts") > headers.index("ROC and calibration")
    expected = external_tables(summary)
    frames = [f.value for f in at.table]
    (rows,) = [f for f in frames if "AUC seed3" in f.columns and "Modality" in f.columns]
    assert rows.to_dict("records") == expected["rows"]
    assert rows.iloc[0]["ROC AUC"] == "0.58 ± 0.03"  # fMRI: 0.61, 0.55, 0.58
    (comparisons,) = [f for f in frames if "seed1 (95% CI)" in f.columns]
    assert comparisons.to_dict("records") == expected["comparisons"]
    captions = " ".join(c.value for c in at.caption)
    assert "3 cohorts none of the models learnt from (seed1, seed2, seed3)" in captions
    footnote = (folder / "external.md").read_text().strip().split("\n\n")[-1]
    assert footnote.startswith("Ceiling AUC:") and footnote in captions
    assert not [w for w in at.warning if "external.json" in w.value]


def test_figures_on_unseen_cohorts_of_other_weights_are_not_shown(signed_in, tmp_path, monkeypatch):
    folder = weights_copy(tmp_path, monkeypatch)
    write_external(folder, "0" * 64)
    at = open_evaluation(signed_in)
    assert "On unseen cohorts" in [s.value for s in at.subheader]
    (warning,) = [w.value for w in at.warning if w.value.startswith("external.json")]
    assert warning.startswith("external.json scored shufflenet_lstm with other weights")
    assert not [f for f in at.table if "AUC seed1" in f.value.columns]
    assert any(f"--out {folder / 'external'}" in c.value for c in at.code)


def test_a_model_scored_on_unseen_cohorts_but_not_installed_keeps_its_figures(
    signed_in, tmp_path, monkeypatch
):
    folder = weights_copy(tmp_path, monkeypatch)
    manifest = json.loads((folder / "shufflenet_lstm" / "manifest.json").read_text())
    write_external(folder, manifest["sha256"], {"resnet50_lstm": {"weights_sha256": "1" * 64}})
    at = open_evaluation(signed_in)
    assert not [w for w in at.warning if "external.json" in w.value]
    assert [f for f in at.table if "AUC seed1" in f.value.columns]
    captions = " ".join(c.value for c in at.caption)
    assert "Scored on these cohorts but not installed here: ResNet50 + LSTM" in captions


@pytest.mark.parametrize("same_cohort", [True, False], ids=["same-cohort", "other-cohort"])
def test_repeated_cross_validation_is_shown_from_repeated_cv_json(
    signed_in, tmp_path, monkeypatch, same_cohort
):
    from rehab_core.evaluation import repeated_cv_rows

    folder = weights_copy(tmp_path, monkeypatch)
    summary = json.loads((WEIGHTS / "repeated_cv.json").read_text())
    if not same_cohort:
        summary["fingerprint_sha256"] = "0" * 64
    (folder / "repeated_cv.json").write_text(json.dumps(summary))
    at = open_evaluation(signed_in)
    titles = [m.value for m in at.markdown]
    assert "**How much the out-of-fold AUC moves with the split (repeated cross-validation)**" in (
        titles
    )
    (table,) = [f.value for f in at.table if "per repeat" in f.value.columns]
    assert table.to_dict("records") == repeated_cv_rows(summary)
    captions = " ".join(c.value for c in at.caption)
    assert "repeated 5 times with other folds (seeds 0, 1, 2, 3, 4)" in captions
    said = "Same cohort as the tables above" if same_cohort else "Run on another cohort"
    assert said in captions


def test_without_repeated_cv_json_the_section_is_absent(signed_in, tmp_path, monkeypatch):
    weights_copy(tmp_path, monkeypatch)
    at = open_evaluation(signed_in)
    assert not [f for f in at.table if "per repeat" in f.value.columns]


def test_the_lstm_input_comparison_is_shown_from_signal_input_json(
    signed_in, tmp_path, monkeypatch
):
    """make signal-input's file: the envelope LSTM against the paper's raw samples."""
    from rehab_core.evaluation import compare_runs_markdown

    folder = weights_copy(tmp_path, monkeypatch)
    at = open_evaluation(signed_in)
    assert "The LSTM's input: envelope or raw" not in [s.value for s in at.subheader]
    shutil.copy(WEIGHTS / "signal_input.json", folder / "signal_input.json")
    st.cache_data.clear()
    at = open_evaluation(signed_in)
    headers = [s.value for s in at.subheader]
    assert headers[-2:] == ["The LSTM's input: envelope or raw", "Model cards"]
    summary = json.loads((WEIGHTS / "signal_input.json").read_text())
    shown = " ".join(m.value for m in at.markdown)
    for line in compare_runs_markdown(summary).splitlines():
        if line.startswith("| development") or line.startswith("| unseen"):
            assert line in shown, line

"""Reading a weights folder's evaluation, and the curves drawn from held-out scores."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rehab_core.evaluation import calibration_bins, roc_points
from rehab_core.report.evaluation import (
    EXTERNAL_REPORT,
    HELDOUT_REPORT,
    curve_source,
    evaluation_curves,
    external_command,
    heldout_command,
    is_cross_validated,
    read_evaluation_folder,
    stale_models,
)

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"


@pytest.fixture
def heldout():
    ids = [f"sub-{i:03d}" for i in range(8)]
    y = [0, 1, 0, 1, 1, 0, 1, 0]
    return {
        "models": {"shufflenet_lstm": {"weights_sha256": "abc"}},
        "predictions": [
            {
                "name": "ShuffleNet",
                "group": "image",
                "patients": ids,
                "y_true": y,
                "p_good": [0.2, 0.7, 0.4, 0.6, 0.9, 0.3, 0.5, 0.45],
            },
            {
                "name": "ShuffleNet_LSTM",
                "group": "fusion",
                "patients": ids,
                "y_true": y,
                "p_good": [0.25, 0.65, 0.35, 0.6, 0.8, 0.3, 0.55, 0.5],
            },
            {
                "name": "LSTM",
                "group": "signal",
                "patients": ids[:3:2],
                "y_true": [0, 0],
                "p_good": [0.5, 0.4],
            },
        ],
        "bayes_p_good": {p: 0.1 + 0.8 * v for p, v in zip(ids[:-1], y[:-1], strict=True)},
    }


def test_curves_of_every_model_with_two_outcomes(heldout):
    curves = evaluation_curves(heldout, n_bins=4)
    assert [c["name"] for c in curves["models"]] == ["ShuffleNet", "ShuffleNet_LSTM"]
    fused = heldout["predictions"][1]
    assert curves["models"][1]["roc"] == roc_points(fused["y_true"], fused["p_good"])
    assert curves["models"][1]["calibration"] == calibration_bins(
        fused["y_true"], fused["p_good"], n_bins=4
    )
    assert curves["models"][1]["n"] == 8
    assert curves["skipped"] == ["LSTM: all 2 patients have the same outcome, so no ROC curve."]


def test_bayes_curve_uses_the_fusion_patients_with_ground_truth(heldout):
    bayes = evaluation_curves(heldout)["bayes"]
    assert bayes["n"] == 7  # the last patient has no ground truth
    assert bayes["roc"]["auc"] == 1.0


def test_no_ground_truth_no_bayes_curve(heldout):
    heldout["bayes_p_good"] = None
    assert evaluation_curves(heldout)["bayes"] is None


def _installed(sha256: str):
    """The shipped manifest, as if its weights had the SHA-256 ``sha256``."""
    import dataclasses

    from rehab_core.storage import read_manifest

    return dataclasses.replace(read_manifest(WEIGHTS / "shufflenet_lstm"), sha256=sha256)


def test_stale_models_are_those_scored_with_other_weights(heldout):
    assert stale_models(heldout, {"shufflenet_lstm": _installed("abc")}) == []
    assert stale_models(heldout, {"shufflenet_lstm": _installed("new")}) == ["shufflenet_lstm"]
    assert stale_models(heldout, {}) == ["shufflenet_lstm"]


def test_read_the_shipped_weights_folder():
    folder = read_evaluation_folder(WEIGHTS)
    manifest = folder["manifests"]["shufflenet_lstm"]
    fused = manifest.metrics.tables["table3"]["evaluations"][0]
    assert folder["training"]["n_eval_patients"] == fused["n"]
    assert folder["training"]["evaluated_on"] == manifest.metrics.evaluated_on
    assert folder["training"]["fingerprint_sha256"] == manifest.data.fingerprint_sha256
    assert folder["markdown"].startswith("**Table 1. fMRI prediction model evaluation**")
    assert folder["synthetic"] is True
    # no held-out set: the curves are drawn from the out-of-fold scores written with the bundle
    assert folder["heldout"] is None and manifest.data.split.test == ()
    assert curve_source(folder) == ("training", [])
    assert is_cross_validated(folder["training"])
    assert not is_cross_validated({"evaluated_on": "held-out test patients"})
    assert not is_cross_validated(None)


def test_external_figures_are_read_when_present_and_checked_against_the_weights(tmp_path):
    folder = read_evaluation_folder(tmp_path)
    assert folder["external"] is None and folder["external_markdown"] is None
    external = {"cohorts": ["seed1"], "rows": [], "comparisons": []}
    external["models"] = {"shufflenet_lstm": {"weights_sha256": "abc"}}
    (tmp_path / EXTERNAL_REPORT).write_text(json.dumps(external))
    (tmp_path / "external.md").write_text("**External evaluation**\n")
    folder = read_evaluation_folder(tmp_path)
    assert folder["external"] == external
    assert folder["external_markdown"] == "**External evaluation**\n"
    assert stale_models(external, {"shufflenet_lstm": _installed("abc")}) == []
    assert stale_models(external, {"shufflenet_lstm": _installed("new")}) == ["shufflenet_lstm"]
    assert external_command(tmp_path).endswith(f"--out {tmp_path / 'external'}")
    (tmp_path / EXTERNAL_REPORT).write_text("{not json")
    with pytest.raises(ValueError, match=r"external.json in .* cannot be read as JSON"):
        read_evaluation_folder(tmp_path)


def test_a_folder_without_evaluation_and_a_broken_report(tmp_path):
    folder = read_evaluation_folder(tmp_path)
    assert folder["training"] is None and folder["heldout"] is None
    assert folder["manifests"] == {} and folder["synthetic"] is False
    (tmp_path / HELDOUT_REPORT).write_text("{not json")
    with pytest.raises(ValueError, match=r"heldout_evaluation.json in .* cannot be read as JSON"):
        read_evaluation_folder(tmp_path)


def test_heldout_command_names_the_training_cohort(tmp_path):
    shutil.copy(WEIGHTS / "evaluation.json", tmp_path / "evaluation.json")
    training = json.loads((tmp_path / "evaluation.json").read_text())
    command = heldout_command(tmp_path, training)
    assert command == (
        f"rehab evaluate --cohort {training['cohort']} --weights {tmp_path} --json > "
        f"{tmp_path / HELDOUT_REPORT}"
    )
    assert "COHORT_THE_MODELS_WERE_TRAINED_ON" in heldout_command(tmp_path, None)


@pytest.mark.parametrize(
    ("installed", "training_has_scores", "expected"),
    [
        ("abc", False, ("heldout", [])),
        ("abc", True, ("heldout", [])),
        ("new", True, ("training", ["shufflenet_lstm"])),
        ("new", False, ("", ["shufflenet_lstm"])),
    ],
)
def test_curve_source_prefers_fresh_heldout_scores(
    heldout, installed, training_has_scores, expected
):
    training = {"predictions": heldout["predictions"]} if training_has_scores else {}
    info = {
        "heldout": heldout,
        "training": training,
        "manifests": {"shufflenet_lstm": _installed(installed)},
    }
    assert curve_source(info) == expected


def test_curve_source_without_any_scores():
    assert curve_source({"heldout": None, "training": {}, "manifests": {}}) == ("", [])

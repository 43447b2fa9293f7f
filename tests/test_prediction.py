"""Predicting one patient with a trained bundle, and the CLI around it."""

import json
import shutil

import numpy as np
import pytest

from rehab_core.cli import main
from rehab_core.io.cohort import read_cohort
from rehab_core.prediction import FusionPredictor
from rehab_core.storage import WeightsIntegrityError

PREDICT_KEYS = {
    "probability_good",
    "interval",
    "label",
    "signal_score",
    "image_score",
    "fusion_weight",
    "fma_3m",
    "model_id",
    "inputs",
}


def _patient(cohort, with_signals=True):
    for p in read_cohort(cohort).patients:
        if (p.signals_path is not None) == with_signals:
            return p
    raise AssertionError("no such patient")


def test_predict_one_patient(tiny_training):
    predictor = FusionPredictor.load(tiny_training["out"] / "shufflenet_lstm")
    p = _patient(tiny_training["cohort"])
    pred = predictor.predict(
        predictor.prepare(p.signals_path, p.fmri_path),
        baseline_fma=float(p.clinical["fma_le_baseline"]),
    )
    assert 0 <= pred.probability_good <= 1
    lo, hi = pred.interval
    assert lo <= pred.probability_good <= hi
    assert pred.label in ("good", "poor") and pred.modality == "fusion"
    w = pred.fusion_weight
    assert pred.probability_good == pytest.approx(
        w * pred.signal_score + (1 - w) * pred.image_score
    )
    assert 0 <= pred.fma_3m <= 34
    assert len(pred.slice_probabilities) == len(pred.slice_index) > 0
    assert len(pred.window_probabilities) == len(pred.window_starts_s)
    assert set(pred.inputs) == {str(p.signals_path), str(p.fmri_path)}
    assert all(len(h) == 64 for h in pred.inputs.values())


def test_image_only_prediction_is_said(tiny_training):
    predictor = FusionPredictor.load(tiny_training["out"] / "shufflenet_lstm")
    p = _patient(tiny_training["cohort"], with_signals=False)
    pred = predictor.predict(predictor.prepare(None, p.fmri_path))
    assert pred.signal_score is None and pred.modality == "image"
    assert pred.probability_good == pytest.approx(pred.image_score)
    assert any("Image-only prediction" in n for n in pred.notes)


def test_predict_json_schema(tiny_training, capsys):
    p = _patient(tiny_training["cohort"])
    code = main(
        [
            "predict",
            "--signals",
            str(p.signals_path),
            "--fmri",
            str(p.fmri_path),
            "--weights",
            str(tiny_training["out"]),
            "--model",
            "shufflenet_lstm",
            "--baseline-fma",
            p.clinical["fma_le_baseline"],
            "--json",
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert PREDICT_KEYS <= set(out)
    assert out["label"] in ("good", "poor") and len(out["interval"]) == 2
    assert out["model_id"] == "shufflenet_lstm"


def test_tampered_weights_are_refused(tiny_training, tmp_path, capsys):
    copy = tmp_path / "shufflenet_lstm"
    shutil.copytree(tiny_training["out"] / "shufflenet_lstm", copy)
    blob = bytearray((copy / "model.safetensors").read_bytes())
    blob[-10] ^= 0x01
    (copy / "model.safetensors").write_bytes(bytes(blob))
    with pytest.raises(WeightsIntegrityError, match=r"do not match their manifest"):
        FusionPredictor.load(copy)
    p = _patient(tiny_training["cohort"])
    code = main(["predict", "--fmri", str(p.fmri_path), "--weights", str(copy)])
    assert code == 2
    assert "do not match their manifest" in capsys.readouterr().err


def test_evaluate_on_training_cohort_uses_only_test_patients(tiny_training, capsys):
    code = main(
        [
            "evaluate",
            "--cohort",
            str(tiny_training["cohort"]),
            "--weights",
            str(tiny_training["out"]),
            "--json",
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    entry = out["models"]["shufflenet_lstm"]
    assert entry["evaluated_on"].startswith("held-out test patients")
    assert entry["n_patients"] == len(
        json.loads((tiny_training["out"] / "shufflenet_lstm" / "manifest.json").read_text())[
            "data"
        ]["split"]["test"]
    )


def test_batch_prediction_writes_csv(tiny_training, tmp_path):
    out = tmp_path / "pred.csv"
    code = main(
        [
            "predict",
            "--cohort",
            str(tiny_training["cohort"]),
            "--weights",
            str(tiny_training["out"]),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    lines = out.read_text().strip().splitlines()
    assert lines[0].startswith("participant_id,probability_good")
    assert len(lines) == 21
    probs = [float(line.split(",")[1]) for line in lines[1:]]
    assert np.all((np.asarray(probs) >= 0) & (np.asarray(probs) <= 1))

"""Predicting one patient with a trained bundle, and the CLI around it."""

import json
import shutil

import numpy as np
import pytest

from rehab_core.cli import main
from rehab_core.io.cohort import read_cohort
from rehab_core.prediction import FusionPredictor
from rehab_core.report import prediction_call
from rehab_core.storage import BundleManifest, WeightsIntegrityError
from rehab_core.workflows.predict import prepare_inputs

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


def _split(tiny_training):
    manifest = tiny_training["out"] / "shufflenet_lstm" / "manifest.json"
    return json.loads(manifest.read_text())["data"]["split"]


def _sub_cohort(src, dst, keep):
    """A copy of the cohort ``src`` with only the patients ``keep`` (fewer to preprocess)."""
    import csv

    dst.mkdir()
    for name in ("participants.tsv", "ground_truth.tsv"):
        if not (src / name).is_file():
            continue
        with open(src / name, newline="") as fh:
            reader = csv.DictReader(fh, delimiter="\t")
            rows = [r for r in reader if r["participant_id"] in keep]
            fields = reader.fieldnames
        with open(dst / name, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields, delimiter="\t", lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
    for item in src.iterdir():
        if item.is_dir() and item.name in keep:
            shutil.copytree(item, dst / item.name)
        elif item.is_file() and item.name not in ("participants.tsv", "ground_truth.tsv"):
            shutil.copy2(item, dst / item.name)
    return dst


def _patient(cohort, with_signals=True):
    for p in read_cohort(cohort).patients:
        if (p.signals_path is not None) == with_signals:
            return p
    raise AssertionError("no such patient")


def test_predict_one_patient(tiny_training):
    predictor = FusionPredictor.load(tiny_training["out"] / "shufflenet_lstm")
    p = _patient(tiny_training["cohort"])
    pred = predictor.predict(
        prepare_inputs(predictor, p.signals_path, p.fmri_path),
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
    pred = predictor.predict(prepare_inputs(predictor, None, p.fmri_path))
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
    # the page's and the PDF's call, and what the bundle was trained on, from its manifest
    assert out["call"] == prediction_call(out).call
    assert out["call_reasons"] == list(prediction_call(out).reasons)
    manifest = BundleManifest.from_dict(
        json.loads((tiny_training["out"] / "shufflenet_lstm" / "manifest.json").read_text())
    )
    assert out["trained_on"] == manifest.trained_on == "synthetic"
    assert out["imagenet_pretrained"] is manifest.imagenet_pretrained is False  # pretrained=False


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


def test_evaluate_on_training_cohort_uses_only_test_patients(
    tiny_training, tiny_evaluation_cache, capsys
):
    code = main(
        [
            "evaluate",
            "--cohort",
            str(tiny_training["cohort"]),
            "--weights",
            str(tiny_training["out"]),
            "--json",
            "--work-dir",
            str(tiny_evaluation_cache),
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    entry = out["models"]["shufflenet_lstm"]
    split = _split(tiny_training)
    assert entry["n_left_out_as_training_patients"] == len(split["development"])
    assert entry["n_patients"] == len(split["test"])


def test_evaluate_text_output(tiny_training, tiny_evaluation_cache, capsys):
    code = main(
        [
            "evaluate",
            "--cohort",
            str(tiny_training["cohort"]),
            "--weights",
            str(tiny_training["out"]),
            "--work-dir",
            str(tiny_evaluation_cache),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "Table 3. Multimodal fusion prediction model evaluation" in out
    assert "shufflenet_lstm: " in out and "left out as patients it learnt from" in out


def test_batch_prediction_writes_csv(tiny_training, tmp_path):
    ids = [p.participant_id for p in read_cohort(tiny_training["cohort"]).patients]
    keep = set(ids[:4])  # the first patients: with and without EEG-EMG
    cohort = _sub_cohort(tiny_training["cohort"], tmp_path / "cohort", keep)
    out = tmp_path / "pred.csv"
    code = main(
        [
            "predict",
            "--cohort",
            str(cohort),
            "--weights",
            str(tiny_training["out"]),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    lines = out.read_text().strip().splitlines()
    assert lines[0].startswith("participant_id,probability_good")
    assert len(lines) == 1 + len(keep)
    assert sorted(line.split(",")[0] for line in lines[1:]) == sorted(keep)
    probs = [float(line.split(",")[1]) for line in lines[1:]]
    assert np.all((np.asarray(probs) >= 0) & (np.asarray(probs) <= 1))


def test_cli_refuses_wrong_model_and_missing_fmri(tiny_training, capsys):
    code = main(
        [
            "predict",
            "--fmri",
            "x.nii.gz",
            "--weights",
            str(tiny_training["out"] / "shufflenet_lstm"),
            "--model",
            "fbnet_lstm",
        ]
    )
    assert code == 2
    assert "holds the model shufflenet_lstm, not fbnet_lstm" in capsys.readouterr().err
    code = main(["predict", "--weights", str(tiny_training["out"])])
    assert code == 2
    assert "give --fmri FILE" in capsys.readouterr().err


def test_cli_bad_option_is_one_sentence(tiny_cohort, tmp_path, capsys):
    code = main(
        ["train", "--cohort", str(tiny_cohort), "--out", str(tmp_path), "--backbone", "shufflenett"]
    )
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "Did you mean 'shufflenet'?" in err and len(err.splitlines()) == 1


def test_evaluate_leaves_out_patients_a_bundle_learnt_from(tiny_training, tmp_path, capsys):
    """A cohort that mixes training patients with new ones scores only the new ones."""
    import csv

    split = _split(tiny_training)
    # the test patients and three development patients: fewer to preprocess, same question
    dev = set(sorted(split["development"])[:3])
    mixed = _sub_cohort(tiny_training["cohort"], tmp_path / "mixed", dev | set(split["test"]))
    # change one development patient's files: it becomes a patient the bundle never saw
    rows = list(csv.DictReader(open(mixed / "participants.tsv"), delimiter="\t"))
    changed = sorted(dev)[0]
    bold = next((mixed / changed / "func").glob("*.nii.gz"))
    import nibabel as nib

    img = nib.load(bold)
    data = np.asarray(img.dataobj).astype(np.float32) * 1.01
    nib.save(nib.Nifti1Image(data, img.affine, img.header), bold)
    for rec in (mixed / changed / "eeg").glob("*_eegemg.txt"):  # and its EEG-EMG, if any
        with open(rec, "a") as fh:
            fh.write("\n")  # a trailing blank line: same samples, other bytes
    assert (
        main(["evaluate", "--cohort", str(mixed), "--weights", str(tiny_training["out"]), "--json"])
        == 0
    )
    entry = json.loads(capsys.readouterr().out)["models"]["shufflenet_lstm"]
    assert entry["n_left_out_as_training_patients"] == len(dev) - 1
    assert entry["n_patients"] == len(rows) - len(dev) + 1

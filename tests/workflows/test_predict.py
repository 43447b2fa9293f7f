"""Predict one patient (the CLI's use case) and predict-and-store (the Prediction page's)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rehab_core.io.cohort import read_cohort
from rehab_core.report import prediction_lines
from rehab_core.storage import WeightsError
from rehab_core.workflows.predict import (
    limit_torch_threads,
    load_model,
    plan_prediction,
    predict_and_store,
    predict_patient,
    prepare_inputs,
    signals_reason,
)


@pytest.fixture(scope="module")
def predictor(tiny_training):
    return load_model("shufflenet_lstm", tiny_training["out"])


@pytest.fixture(scope="module")
def patient(tiny_training):
    return next(p for p in read_cohort(tiny_training["cohort"]).patients if p.signals_path)


def test_predict_patient_is_the_bundles_own_prediction(predictor, patient):
    run = predict_patient(
        predictor, patient.signals_path, patient.fmri_path, baseline_fma=patient.baseline_fma
    )
    direct = predictor.predict(
        prepare_inputs(predictor, patient.signals_path, patient.fmri_path),
        baseline_fma=patient.baseline_fma,
    )
    assert run.prediction.to_dict() == direct.to_dict()
    assert 0 <= run.timing_s["preprocess"] <= run.timing_s["total"]
    outputs = run.outputs()
    assert outputs["timing_s"] == run.timing_s
    assert set(outputs["qc"]) == {"signals", "fmri"}
    assert prediction_lines(outputs)[0][0] == "P(good outcome)"


def test_load_model_refuses_another_model(tiny_training):
    with pytest.raises(WeightsError, match=r"holds the model shufflenet_lstm, not fbnet_lstm"):
        load_model("fbnet_lstm", tiny_training["out"] / "shufflenet_lstm")


def test_limit_torch_threads_follows_the_environment(monkeypatch):
    import torch

    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("REHAB_TORCH_THREADS", "2")
        limit_torch_threads()
        assert torch.get_num_threads() == 2
        monkeypatch.delenv("REHAB_TORCH_THREADS")
        limit_torch_threads()
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


@pytest.fixture
def stored_patient(tmp_path, monkeypatch, patient):
    from rehab_core.storage import open_store

    for var in ("REHAB_DATA_DIR", "REHAB_DATABASE_URL", "REHAB_MAX_UPLOAD_MB"):
        monkeypatch.delenv(var, raising=False)
    store = open_store(data_dir=tmp_path / "data")
    record = store.create_patient("P-0001", fma_le_baseline=int(patient.baseline_fma))
    signals = store.add_upload(record.id, "signals", "rec.txt", patient.signals_path)
    fmri = store.add_upload(record.id, "fmri", "bold.nii.gz", patient.fmri_path)
    yield store, record, signals, fmri
    store.close()


def test_predict_and_store_keeps_the_prediction_and_audits_the_actor(
    predictor, stored_patient, monkeypatch
):
    import torch

    from rehab_core.security import audit_events

    store, record, signals, fmri = stored_patient
    threads = torch.get_num_threads()
    monkeypatch.setenv("REHAB_TORCH_THREADS", "1")
    try:
        stored = predict_and_store(
            store, record, predictor, signals=signals, fmri=fmri, actor="dr.a"
        )
        assert torch.get_num_threads() == 1  # the page's process runs torch on one thread
    finally:
        torch.set_num_threads(threads)
    assert [p.id for p in store.predictions(record.id)] == [stored.id]
    out = stored.outputs
    assert out["model_id"] == "shufflenet_lstm" and set(out["timing_s"]) == {"preprocess", "total"}
    assert out["inputs"] == {str(signals.path): signals.sha256, str(fmri.path): fmri.sha256}
    assert sorted(stored.upload_ids) == sorted([signals.id, fmri.id])
    (event,) = audit_events(store, action="predict")
    assert (event.username, event.patient_id, event.target) == (
        "dr.a",
        record.id,
        f"prediction {stored.id}",
    )
    assert event.details["weights_sha256"] == stored.weights_sha256


def test_a_failed_prediction_stores_and_audits_nothing(predictor, stored_patient):
    from rehab_core.io import InputError
    from rehab_core.security import audit_events

    store, record, signals, fmri = stored_patient

    def unreadable():
        raise InputError("bold.nii.gz is not a NIfTI file.")

    with pytest.raises(InputError, match="is not a NIfTI file"):
        predict_and_store(
            store, record, predictor, signals=None, fmri=fmri, actor="dr.a", prepare=unreadable
        )
    assert store.predictions(record.id) == []
    assert audit_events(store, action="predict") == []


# ---------------------------------------------------------------- what can be predicted

REAL_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "real-stroke-eeg-emg"
REAL = REAL_DIR / "subj2_iMC_s01_srg_raw.fif"


def test_signals_reason_is_empty_for_the_models_channels(patient):
    assert signals_reason(patient.signals_path) == ""


@pytest.mark.skipif(not REAL.exists(), reason="the shared real recordings are not here")
def test_signals_reason_names_the_muscles_an_arm_recording_lacks():
    reason = signals_reason(REAL)
    assert reason.startswith("The model cannot use this EEG-EMG recording: it lacks the paper's")
    assert "rectus femoris" in reason and "emg1" in reason and "EMG_" not in reason


def test_signals_reason_of_an_unreadable_file_is_the_readers_sentence(tmp_path):
    path = tmp_path / "broken.fif"
    path.write_bytes(b"not a fif file at all")
    reason = signals_reason(path)
    assert reason and "broken.fif" in reason


def test_plan_prediction_fusion_fmri_only_and_nothing(stored_patient):
    _, _, signals, fmri = stored_patient
    why = "The model cannot use this EEG-EMG recording: it lacks the leg EMG of the rectus femoris."

    fusion = plan_prediction(signals, fmri)
    assert (fusion.signals, fusion.fmri, fusion.signals_unused, fusion.blocked) == (
        signals,
        fmri,
        "",
        "",
    )
    assert not fusion.fmri_only

    only = plan_prediction(signals, fmri, why)
    assert only.signals is None and only.fmri == fmri and only.signals_unused == why
    assert only.fmri_only and only.blocked == ""

    assert plan_prediction(None, fmri).fmri_only is False  # no EEG-EMG stored: image-only

    nothing = plan_prediction(signals, None, why)
    assert nothing.blocked == (
        "Nothing can be predicted yet: every model needs the patient's resting-state fMRI, "
        "and the model cannot use this EEG-EMG recording: it lacks the leg EMG of the rectus "
        "femoris."
    )
    assert not nothing.fmri_only
    assert plan_prediction(signals, None).blocked == (
        "Nothing can be predicted yet: every model needs the patient's resting-state fMRI."
    )


def test_an_fmri_only_prediction_is_labelled_in_the_record(predictor, stored_patient):
    store, record, signals, fmri = stored_patient
    why = "The model cannot use this EEG-EMG recording: it lacks the leg EMG of the rectus femoris."
    stored = predict_and_store(
        store,
        record,
        predictor,
        signals=None,
        fmri=fmri,
        actor="dr.a",
        unused_signals=(signals, why),
    )
    out = stored.outputs
    assert out["modality"] == "image" and out["signal_score"] is None
    name = signals.original_name  # as the upload shows it
    assert out["signals_not_used"] == {"upload_id": signals.id, "file": name, "reason": why}
    assert name.startswith("EEG-EMG recording (")  # the label, said once in the note
    assert out["notes"][0] == (
        f"fMRI-only prediction: the {name} was not used, so the fMRI model alone decides. {why}"
    )
    assert not any(n.startswith("Image-only") for n in out["notes"])
    assert list(stored.upload_ids) == [fmri.id] and out["inputs"] == {str(fmri.path): fmri.sha256}
    assert ("Note", out["notes"][0]) in prediction_lines(out)  # the PDF's lines


@pytest.mark.skipif(not REAL.exists(), reason="the shared real recordings are not here")
def test_a_stored_recording_without_the_models_channels_is_named_as_uploaded(
    predictor, stored_patient
):
    """Issue 15: the error named the stored copy (its SHA-256), not the user's file."""
    from rehab_core.io import MissingChannelsError
    from rehab_core.security import audit_events

    store, record, _, fmri = stored_patient
    arm = store.add_upload(record.id, "signals", "Ward 3 recording.fif", REAL)
    label = arm.original_name  # the de-identified label every page shows
    assert label == "EEG-EMG recording (.fif)" and label != arm.path.name
    with pytest.raises(MissingChannelsError, match=rf"^{re.escape(label)} lacks") as err:
        predict_and_store(store, record, predictor, signals=arm, fmri=fmri, actor="dr.a")
    assert arm.path.name not in str(err.value) and arm.sha256[:12] not in str(err.value)
    assert store.predictions(record.id) == []
    assert audit_events(store, action="predict") == []

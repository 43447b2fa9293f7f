"""Predict one patient (the CLI's use case) and predict-and-store (the Prediction page's)."""

from __future__ import annotations

import pytest

from rehab_core.io.cohort import read_cohort
from rehab_core.report import prediction_lines
from rehab_core.storage import WeightsError
from rehab_core.workflows.predict import (
    limit_torch_threads,
    load_model,
    predict_and_store,
    predict_patient,
    prepare_inputs,
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

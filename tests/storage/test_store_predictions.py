"""Stored predictions: round trip with provenance, NaN as null, and refusals."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from _store_helpers import prediction_outputs

from rehab_core.storage import RecordNotFound


def test_predictions_round_trip(store, patient, signals_bytes, fmri_bytes):
    s = store.add_upload(patient.id, "signals", "a.txt", signals_bytes)
    f = store.add_upload(patient.id, "fmri", "b.nii.gz", fmri_bytes)
    first = store.add_prediction(patient.id, prediction_outputs(0.7), upload_ids=[s.id, f.id])
    second = store.add_prediction(patient.id, prediction_outputs(0.2), upload_ids=[f.id])
    assert store.predictions(patient.id) == [second, first]
    got = store.predictions(patient.id)[1]
    assert (got.model_id, got.weights_sha256) == ("shufflenet_lstm", "ab" * 32)
    assert got.preprocessing == {"signals": {"l_freq": 0.5}}
    assert got.inputs == {"rec.txt": "cd" * 32}
    assert got.upload_ids == (s.id, f.id)
    assert got.outputs["probability_good"] == 0.7
    assert got.outputs["signal_score"] is None  # NaN has no JSON form
    assert got.outputs["window_probabilities"] == [0.1, 0.2]
    assert got.created_at.tzinfo == dt.UTC
    assert not math.isnan(got.outputs["probability_good"])


def test_prediction_refusals(store, patient, signals_bytes):
    other = store.create_patient("P-002")
    theirs = store.add_upload(other.id, "signals", "a.txt", signals_bytes)
    with pytest.raises(ValueError, match=rf"Upload ids \[{theirs.id}\] are not uploads of patient"):
        store.add_prediction(patient.id, prediction_outputs(), upload_ids=[theirs.id])
    with pytest.raises(ValueError, match="lack model_id and weights_sha256"):
        store.add_prediction(patient.id, {"probability_good": 0.5}, upload_ids=[])
    with pytest.raises(RecordNotFound):
        store.add_prediction(99, prediction_outputs(), upload_ids=[])
    assert store.predictions(patient.id) == []

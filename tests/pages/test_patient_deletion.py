"""Right to erasure on the Patients page (AppTest): admin only, typed confirmation, audited."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from streamlit.testing.v1 import AppTest

from rehab_core.io import PAPER_CHANNELS, write_signals_text
from rehab_core.security import audit_events
from rehab_core.storage import db

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PATIENTS = "pages/patients.py"
LABEL = "Delete this patient"


@pytest.fixture
def doomed(app_store, tmp_path):
    """Patient P-1 with a stored recording and a prediction, beside P-2 who must stay."""
    rng = np.random.default_rng(3)
    rec = write_signals_text(
        tmp_path / "rec.txt", rng.normal(0.0, 20.0, size=(22, 1100)), PAPER_CHANNELS, 100.0
    )
    patient = app_store.create_patient("P-1", age=70)
    upload = app_store.add_upload(patient.id, "signals", "Jane Doe.txt", rec)
    outputs = {
        "probability_good": 0.6,
        "model_id": "shufflenet_lstm",
        "weights_sha256": "ab" * 32,
        "preprocessing": {},
        "inputs": {},
    }
    app_store.add_prediction(patient.id, outputs, upload_ids=[upload.id])
    app_store.create_patient("P-2")
    return patient, upload


def open_patients(signed_in, role: str, patient_id: int) -> AppTest:
    at = signed_in(AppTest.from_file(APP, default_timeout=120), role=role).run()
    at.session_state["patient_id"] = patient_id
    at.switch_page(PATIENTS).run()
    assert not at.exception
    return at


def confirm_and_click(at: AppTest, typed: str) -> AppTest:
    (box,) = [t for t in at.text_input if t.label == "Type P-1 to confirm"]
    box.set_value(typed)
    (button,) = [b for b in at.button if b.label == LABEL]
    button.click().run()
    assert not at.exception
    return at


def n_rows(store, table, patient_id: int) -> int:
    with store.engine.connect() as conn:
        query = select(func.count()).select_from(table).where(table.c.patient_id == patient_id)
        return conn.scalar(query)


def test_admin_deletes_a_patient_after_typing_the_pseudonym(signed_in, app_store, doomed):
    patient, upload = doomed
    at = open_patients(signed_in, "admin", patient.id)
    assert [e.label for e in at.expander if e.label == LABEL] == [LABEL]
    confirm_and_click(at, "P-1")
    assert [s.value for s in at.success] == ["Deleted P-1 with 1 recording(s) and 1 prediction(s)."]
    assert "patient_id" not in at.session_state and at.selectbox[0].value is None
    assert [p.pseudonym for p in app_store.list_patients()] == ["P-2"]
    assert n_rows(app_store, db.Upload.__table__, patient.id) == 0
    assert n_rows(app_store, db.Prediction.__table__, patient.id) == 0
    assert not upload.path.exists()
    assert [p for p in (app_store.data_dir / "files").rglob("*") if p.is_file()] == []
    (event,) = audit_events(app_store, action="delete_patient")
    assert (event.username, event.patient_id) == ("test-admin", patient.id)
    assert event.details == {"n_uploads": 1, "n_predictions": 1, "n_files_removed": 1}
    assert "P-1" not in repr(event) and "Jane" not in repr(event)
    assert not [b for b in at.button if b.label == LABEL]  # no patient selected, no control


@pytest.mark.parametrize("typed", ["", "p-1", "P-2", "P-1x"])
def test_a_wrong_confirmation_deletes_nothing(signed_in, app_store, doomed, typed):
    patient, upload = doomed
    at = confirm_and_click(open_patients(signed_in, "admin", patient.id), typed)
    assert [e.value for e in at.error] == ["Type the pseudonym P-1 exactly; nothing was deleted."]
    assert app_store.get_patient(patient.id) == patient
    assert app_store.uploads(patient.id) == [upload] and upload.path.is_file()
    assert len(app_store.predictions(patient.id)) == 1
    assert audit_events(app_store, action="delete_patient") == []
    assert at.session_state["patient_id"] == patient.id


@pytest.mark.parametrize("role", ["clinician", "researcher"])
def test_only_the_admin_sees_the_delete_control(signed_in, app_store, doomed, role):
    patient, _ = doomed
    at = open_patients(signed_in, role, patient.id)
    assert at.title[0].value == "Patients" and at.metric  # the patient is shown...
    assert not [e for e in at.expander if e.label == LABEL]  # ...without the control
    assert not [b for b in at.button if b.label == LABEL]
    assert not [t for t in at.text_input if "to confirm" in t.label]


def test_a_failed_audit_record_is_told_after_the_deletion(
    signed_in, app_store, doomed, monkeypatch
):
    patient, upload = doomed
    at = open_patients(signed_in, "admin", patient.id)
    import rehab_core.workflows.patients

    real = rehab_core.workflows.patients.record_event

    def record_event(store, username, action, **kwargs):
        if action == "delete_patient":
            raise OperationalError("INSERT INTO audit_events", {}, OSError("disk full"))
        return real(store, username, action, **kwargs)

    monkeypatch.setattr(rehab_core.workflows.patients, "record_event", record_event)
    confirm_and_click(at, "P-1")
    assert [e.value for e in at.error] == [
        f"Patient {patient.id} was deleted but the audit trail could not record it; "
        "tell the data protection officer the time and patient id."
    ]
    assert [p.pseudonym for p in app_store.list_patients()] == ["P-2"]
    assert not upload.path.exists()
    assert "patient_id" not in at.session_state

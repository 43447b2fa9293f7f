"""``rehab gc`` (leftover files) and ``rehab patients delete`` (erasure on the server, audited)."""

from __future__ import annotations

import numpy as np
import pytest

import rehab_core.workflows.patients
from rehab_core.cli import main
from rehab_core.io import PAPER_CHANNELS, write_signals_text
from rehab_core.security import audit_events, create_user, set_user_active
from rehab_core.storage import open_store


@pytest.fixture
def store(tmp_path, monkeypatch):
    for var in ("REHAB_DATA_DIR", "REHAB_DATABASE_URL", "REHAB_MAX_UPLOAD_MB"):
        monkeypatch.delenv(var, raising=False)
    s = open_store(data_dir=tmp_path / "data")
    yield s
    s.close()


@pytest.fixture
def patient(store, tmp_path):
    """P-1 with one stored recording; the admin ``root`` and the clinician ``carol`` exist."""
    rng = np.random.default_rng(5)
    data = rng.normal(0.0, 20.0, size=(22, 1100))
    rec = write_signals_text(tmp_path / "rec.txt", data, PAPER_CHANNELS, 100.0)
    p = store.create_patient("P-1")
    upload = store.add_upload(p.id, "signals", "rec.txt", rec)
    create_user(store, "root", None, "admin", actor="pytest")
    create_user(store, "carol", None, "clinician", actor="pytest")
    return p, upload


def rehab(store, *args: str) -> int:
    return main([*args, "--data-dir", str(store.data_dir)])


def test_gc_dry_run_lists_then_gc_removes(store, patient, capsys):
    _, upload = patient
    orphan = store.data_dir / "files" / "ef" / ("ef" * 32 + ".txt")
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"left by a killed upload")
    assert rehab(store, "gc", "--dry-run") == 0
    assert capsys.readouterr().out.splitlines() == [
        f"would remove {orphan}",
        f"would remove 1 leftover file(s) under {store.data_dir}",
    ]
    assert orphan.is_file()
    assert rehab(store, "gc") == 0
    assert capsys.readouterr().out.splitlines() == [
        f"removed {orphan}",
        f"removed 1 leftover file(s) under {store.data_dir}",
    ]
    assert not orphan.exists() and upload.path.is_file()
    assert rehab(store, "gc") == 0
    assert capsys.readouterr().out == f"removed 0 leftover file(s) under {store.data_dir}\n"


def test_patients_delete_erases_and_records_the_actor(store, patient, capsys):
    p, upload = patient
    assert rehab(store, "patients", "delete", "--id", str(p.id), "--actor", "Root", "--yes") == 0
    out = capsys.readouterr().out
    assert out == f"deleted patient {p.id}: 1 upload(s), 0 prediction(s), 1 file(s) removed\n"
    assert store.list_patients() == [] and not upload.path.exists()
    (event,) = audit_events(store, action="delete_patient")
    assert (event.username, event.patient_id) == ("root", p.id)
    assert event.details == {"n_uploads": 1, "n_predictions": 0, "n_files_removed": 1, "via": "cli"}
    assert "P-1" not in repr(event)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--actor", "root"), "Deleting a patient cannot be undone; add --yes to confirm."),
        (
            ("--actor", "carol", "--yes"),
            "'carol' is not an active administrator account; give --actor the user name of one.",
        ),
        (
            ("--actor", "nobody", "--yes"),
            "'nobody' is not an active administrator account; give --actor the user name of one.",
        ),
        (
            ("--actor", "retired", "--yes"),
            "'retired' is not an active administrator account; give --actor the user name of one.",
        ),
    ],
)
def test_patients_delete_refusals_delete_nothing(store, patient, capsys, args, message):
    p, upload = patient
    create_user(store, "retired", None, "admin", actor="pytest")
    set_user_active(store, "retired", False, actor="root")
    assert rehab(store, "patients", "delete", "--id", str(p.id), *args) == 2
    assert capsys.readouterr().err == f"rehab patients: {message}\n"
    assert store.get_patient(p.id) == p and upload.path.is_file()
    assert audit_events(store, action="delete_patient") == []


def test_patients_delete_unknown_id_is_one_sentence(store, patient, capsys):
    assert rehab(store, "patients", "delete", "--id", "999", "--actor", "root", "--yes") == 2
    assert capsys.readouterr().err == "rehab patients: There is no patient with id 999.\n"


def test_patients_delete_tells_when_the_audit_fails(store, patient, capsys, monkeypatch):
    from sqlalchemy.exc import OperationalError

    def record_event(*args, **kwargs):
        raise OperationalError("INSERT INTO audit_events", {}, OSError("disk full"))

    monkeypatch.setattr(rehab_core.workflows.patients, "record_event", record_event)
    p, upload = patient
    assert rehab(store, "patients", "delete", "--id", str(p.id), "--actor", "root", "--yes") == 1
    assert capsys.readouterr().err == (
        f"rehab patients: patient {p.id} was deleted but the audit trail could not record it; "
        "record the time and patient id by hand.\n"
    )
    assert store.list_patients() == [] and not upload.path.exists()

"""Patient use cases: each done as the acting user, each written to the audit trail."""

from __future__ import annotations

import nibabel
import pytest
from sqlalchemy.exc import OperationalError

from rehab_core.io import InputError
from rehab_core.security import audit_events, create_user, set_user_active
from rehab_core.storage import RecordNotFound
from rehab_core.workflows import patients as workflow
from rehab_core.workflows.patients import (
    AuditNotRecorded,
    create_demo_patient,
    create_patient,
    delete_patient,
    upload_recording,
)


def leftovers(store) -> list:
    """Anything left in the working folder (must be nothing after every call)."""
    tmp = store.data_dir / "tmp"
    return list(tmp.iterdir()) if tmp.exists() else []


def events(store, action: str) -> list[tuple]:
    """(user, patient id, target, details) of each ``action`` event, oldest first."""
    return [
        (e.username, e.patient_id, e.target, e.details)
        for e in reversed(audit_events(store, action=action))
    ]


# --- create and upload -------------------------------------------------------------------


def test_create_patient_is_audited_and_a_refusal_is_not(store):
    patient = create_patient(store, "carol", "P-1", age=70, sex="F")
    assert store.get_patient(patient.id) == patient and patient.age == 70
    assert events(store, "create_patient") == [("carol", patient.id, None, {})]
    with pytest.raises(ValueError, match=r"^A patient with the pseudonym P-1 already exists;"):
        create_patient(store, "carol", "P-1")
    with pytest.raises(ValueError, match=r"^Age must be a whole number from 18 to 120; got 3\.$"):
        create_patient(store, "carol", "P-2", age=3)
    assert len(events(store, "create_patient")) == 1


def test_upload_is_audited_by_id_and_hash_never_by_name(store, signals_bytes):
    patient = store.create_patient("P-1")
    rec = upload_recording(store, "carol", patient.id, "signals", "Jane Doe.txt", signals_bytes)
    again = upload_recording(store, "carol", patient.id, "signals", "copy.txt", signals_bytes)
    assert (rec.duplicate, again.duplicate, again.id) == (False, True, rec.id)
    assert [u.id for u in store.uploads(patient.id)] == [rec.id]  # one record, used again
    assert events(store, "upload") == [
        (
            "carol",
            patient.id,
            f"upload {rec.id}",
            {"kind": "signals", "sha256": rec.sha256, "duplicate": dup},
        )
        for dup in (False, True)
    ]
    assert "Jane" not in repr(audit_events(store))


def test_a_refused_upload_stores_and_audits_nothing(store):
    patient = store.create_patient("P-1")
    with pytest.raises(InputError, match=r"^bad\.txt "):
        upload_recording(store, "carol", patient.id, "signals", "bad.txt", b"not a recording")
    with pytest.raises(RecordNotFound, match=r"^There is no patient with id 99\.$"):
        upload_recording(store, "carol", 99, "signals", "a.txt", b"x")
    assert store.uploads(patient.id) == [] and events(store, "upload") == []
    assert leftovers(store) == []


# --- delete ------------------------------------------------------------------------------


def test_delete_erases_then_records_the_administrator(store, signals_bytes):
    patient = store.create_patient("P-1")
    rec = store.add_upload(patient.id, "signals", "a.txt", signals_bytes)
    gone = delete_patient(store, "Root", patient.id, via="cli")
    assert (gone.patient_id, gone.pseudonym, gone.n_uploads) == (patient.id, "P-1", 1)
    assert store.list_patients() == [] and not rec.path.exists()
    assert events(store, "delete_patient") == [
        ("root", patient.id, None, {**gone.audit_details(), "via": "cli"})
    ]
    assert "P-1" not in repr(audit_events(store))


@pytest.mark.parametrize("actor", ["carol", "nobody", "retired", ""])
def test_only_an_active_administrator_deletes(store, actor):
    patient = store.create_patient("P-1")
    store.create_patient("P-2")
    create_user(store, "retired", None, "admin", actor="pytest")
    set_user_active(store, "retired", False, actor="root")
    with pytest.raises(
        PermissionError, match=rf"^{actor!r} is not an active administrator account;"
    ):
        delete_patient(store, actor, patient.id)
    assert store.get_patient(patient.id) == patient
    assert events(store, "delete_patient") == []


def test_an_unknown_patient_is_one_sentence_and_not_audited(store):
    with pytest.raises(RecordNotFound, match=r"^There is no patient with id 7\.$"):
        delete_patient(store, "root", 7)
    assert events(store, "delete_patient") == []


def test_a_failed_audit_event_leaves_the_deletion_standing(store, signals_bytes, monkeypatch):
    patient = store.create_patient("P-1")
    rec = store.add_upload(patient.id, "signals", "a.txt", signals_bytes)

    def record_event(*args, **kwargs):
        raise OperationalError("INSERT INTO audit_events", {}, OSError("disk full"))

    monkeypatch.setattr(workflow, "record_event", record_event)
    with pytest.raises(AuditNotRecorded, match=rf"^Patient {patient.id} was deleted but") as err:
        delete_patient(store, "root", patient.id)
    assert isinstance(err.value.__cause__, OperationalError)
    assert (err.value.deletion.patient_id, err.value.deletion.n_uploads) == (patient.id, 1)
    assert store.list_patients() == [] and not rec.path.exists()


# --- the demo patient --------------------------------------------------------------------


@pytest.mark.slow  # generates a demo patient's recordings
def test_demo_patient(store):
    from rehab_core.demo import generate_patient

    demo = create_demo_patient(store, "dr.demo", seed=7, minutes=0.2, volumes=50)
    files = generate_patient(store.data_dir / "check", seed=7, minutes=0.2, volumes=50)
    row = files.participant
    assert demo.pseudonym == "DEMO-7"
    assert (demo.age, demo.sex, demo.affected_side) == (
        row["age"],
        row["sex"],
        row["affected_side"],
    )
    assert (demo.days_since_stroke, demo.fma_le_baseline) == (
        row["days_since_stroke"],
        row["fma_le_baseline"],
    )
    ups = {u.kind: u for u in store.uploads(demo.id)}
    assert ups["signals"].original_name == "EEG-EMG recording (.txt)"
    assert ups["signals"].qc["missing_paper_channels"] == []
    assert ups["signals"].qc["duration_s"] == 12.0
    # the grid is the patient's scanner site's (cohort v2), not one fixed shape
    assert ups["fmri"].qc["shape"] == [*nibabel.load(files.fmri_path).shape[:3], 50]
    assert create_demo_patient(store, "dr.demo", seed=7, minutes=0.2, volumes=50) == demo
    assert len(store.uploads(demo.id)) == 2
    assert leftovers(store) == []


@pytest.mark.slow  # generates a demo patient's recordings
def test_demo_patient_completes_a_half_created_one(store):
    half = store.create_patient("DEMO-3", age=50)
    demo = create_demo_patient(store, "dr.demo", seed=3, minutes=0.2, volumes=50)
    assert demo == half
    assert sorted(u.kind for u in store.uploads(demo.id)) == ["fmri", "signals"]


@pytest.mark.slow  # generates a demo patient's recordings
def test_demo_patient_is_audited_once(store):
    demo = create_demo_patient(store, "carol", seed=5, minutes=0.2, volumes=50)
    assert events(store, "create_patient") == [("carol", demo.id, None, {"demo": True})]
    kinds = sorted(d["kind"] for *_, d in events(store, "upload"))
    assert kinds == ["fmri", "signals"]
    assert create_demo_patient(store, "root", seed=5, minutes=0.2, volumes=50) == demo
    assert len(events(store, "create_patient")) == 1 and len(events(store, "upload")) == 2


# --- refusals are audited too (issue 14, finding 6) ---------------------------------------


def test_a_refused_upload_is_audited_without_its_file_name(store):
    patient = store.create_patient("P-1")
    with pytest.raises(InputError, match=r"^Jane-Doe-eeg\.txt "):
        upload_recording(
            store, "carol", patient.id, "signals", "Jane-Doe-eeg.txt", b"not a recording"
        )
    ((user, pid, target, details),) = events(store, "upload_refused")
    assert (user, pid, target) == ("carol", patient.id, None)
    assert details["kind"] == "signals" and details["size"] == len(b"not a recording")
    assert details["reason"].startswith("<file> ") and "Jane" not in repr(audit_events(store))


def test_a_refused_deletion_is_audited(store):
    patient = store.create_patient("P-1")
    with pytest.raises(PermissionError):
        delete_patient(store, "carol", patient.id)
    assert events(store, "access_refused") == [
        ("carol", patient.id, "delete_patient", {"needs": "admin", "role": "clinician"})
    ]


# --- the channel map -------------------------------------------------------------------------


def test_a_channel_map_is_stored_with_the_upload_audited_and_applied_on_reading(store, tmp_path):
    """Issue 15: a recording naming the rectus femoris "RF" could never be used by the model."""
    import numpy as np

    from rehab_core.io import PAPER_CHANNELS, ChannelNamesError, write_signals_text
    from rehab_core.pipeline import prepare_patient, view_signals
    from rehab_core.workflows.patients import map_channels
    from rehab_core.workflows.predict import signals_reason

    own = {"EMG_RF": "RF", "EMG_RFP": "Rectus_femoris_prox_L"}
    names = [own.get(c, c) for c in PAPER_CHANNELS]
    data = np.random.default_rng(1).normal(0.0, 20.0, size=(len(names), 12 * 500))
    path = write_signals_text(tmp_path / "ward.txt", data, names, 500.0)
    patient = store.create_patient("P-1")
    upload = upload_recording(store, "carol", patient.id, "signals", "ward.txt", path)
    assert upload.channel_map == {}
    assert "rectus femoris" in signals_reason(upload.path)

    with pytest.raises(ChannelNamesError, match=r"^RF is mapped to Cz, which is not one of"):
        map_channels(store, "carol", upload, {"RF": "Cz"})
    assert events(store, "channel_map") == []
    assert store.latest_upload(patient.id, "signals").channel_map == {}

    mapping = {"RF": "EMG_RF", "Rectus_femoris_prox_L": "EMG_RFP"}
    mapped = map_channels(store, "carol", upload, mapping)
    stored = store.latest_upload(patient.id, "signals")
    assert mapped.channel_map == stored.channel_map == mapping
    assert stored.qc["missing_paper_channels"] == []
    assert events(store, "channel_map") == [
        ("carol", patient.id, f"upload {upload.id}", {"mapping": mapping, "missing": []})
    ]
    # applied wherever the recording is read: the check, the prediction's input, the viewer
    assert signals_reason(stored.path, stored.channel_map) == ""
    prepared = prepare_patient(stored.path, None, paper_channels=True, channel_map=mapping)
    assert prepared.raw.ch_names == list(PAPER_CHANNELS)
    assert prepared.raw.get_channel_types()[-6:] == ["emg"] * 6
    assert view_signals(stored.path, channel_map=mapping).model_channels.usable

    cleared = map_channels(store, "carol", stored, {})
    assert cleared.channel_map == {} and "channel_map" not in cleared.qc
    assert cleared.qc["missing_paper_channels"] == ["EMG_RF", "EMG_RFP"]


def test_an_earlier_uploads_map_is_offered_only_where_it_fits(store, tmp_path):
    """Each upload keeps its own map; a newer one is offered the newest earlier map that fits."""
    import numpy as np

    from rehab_core.io import PAPER_CHANNELS, write_signals_text
    from rehab_core.workflows.patients import earlier_channel_map, map_channels

    def ward(name: str, own: dict[str, str], seed: int):
        names = [own.get(c, c) for c in PAPER_CHANNELS]
        data = np.random.default_rng(seed).normal(0.0, 20.0, size=(len(names), 12 * 100))
        path = write_signals_text(tmp_path / name, data, names, 100.0)
        return upload_recording(store, "carol", patient.id, "signals", name, path), names

    patient = store.create_patient("P-2")
    first, first_names = ward("a.txt", {"EMG_RF": "RF"}, 1)
    assert earlier_channel_map(store, first, first_names) == {}  # nothing earlier
    map_channels(store, "carol", first, {"RF": "EMG_RF"})
    other, other_names = ward("b.txt", {"EMG_RF": "Rect_fem"}, 2)  # no RF: the map does not fit
    assert earlier_channel_map(store, other, other_names) == {}
    same, same_names = ward("c.txt", {"EMG_RF": "RF"}, 3)
    assert earlier_channel_map(store, same, same_names) == {"RF": "EMG_RF"}
    assert store.latest_upload(patient.id, "signals").channel_map == {}  # offered, not applied

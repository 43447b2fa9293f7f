"""Patient records: created, listed, found, refused with one sentence, erased with their files."""

from __future__ import annotations

import datetime as dt

import pytest
from _store_helpers import patient_with_records, stored_files

from rehab_core.storage import RecordNotFound, open_store


def test_create_list_get_patients(store):
    b = store.create_patient("  B-2 ", age=70, sex="M", affected_side="right", days_since_stroke=5)
    a = store.create_patient("A-1", fma_le_baseline=0)
    assert b.pseudonym == "B-2"  # surrounding spaces dropped
    assert (b.age, b.sex, b.affected_side, b.days_since_stroke, b.fma_le_baseline) == (
        70,
        "M",
        "right",
        5,
        None,
    )
    assert [p.pseudonym for p in store.list_patients()] == ["A-1", "B-2"]
    assert store.get_patient(a.id) == a
    assert a.created_at.tzinfo == dt.UTC
    assert abs(dt.datetime.now(dt.UTC) - a.created_at) < dt.timedelta(minutes=1)
    with pytest.raises(Exception, match="FrozenInstanceError|cannot assign"):
        a.age = 3  # records are frozen
    assert store.find_patient("A-1") == a
    assert store.find_patient("nobody") is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"pseudonym": "  "}, "The pseudonym must not be empty."),
        ({"pseudonym": "x" * 65}, "at most 64 printable characters; got 65"),
        ({"age": 12}, "Age must be a whole number from 18 to 120; got 12."),
        ({"age": 60.5}, "Age must be a whole number from 18 to 120; got 60.5."),
        ({"sex": "female"}, "Sex must be one of F, M; got 'female'."),
        ({"affected_side": "both"}, "The affected side must be one of left, right; got 'both'."),
        ({"days_since_stroke": -1}, "Days since stroke must be a whole number from 0 to 3650"),
        ({"fma_le_baseline": 35}, "Baseline FMA-LE must be a whole number from 0 to 34; got 35."),
        ({"fma_le_baseline": True}, "Baseline FMA-LE must be a whole number from 0 to 34"),
    ],
)
def test_bad_patient_fields_are_refused_and_nothing_is_stored(store, fields, message):
    kwargs = {"pseudonym": "P-9"} | fields
    pseudonym = kwargs.pop("pseudonym")
    with pytest.raises(ValueError, match=message.replace(".", r"\.").replace("(", r"\(")):
        store.create_patient(pseudonym, **kwargs)
    assert store.list_patients() == []


def test_whole_float_fields_are_kept_as_int(store):
    p = store.create_patient("P-1", age=60.0, fma_le_baseline=12.0)
    assert (p.age, p.fma_le_baseline) == (60, 12)
    assert isinstance(p.age, int)


def test_duplicate_pseudonym_is_one_sentence(store, patient):
    with pytest.raises(ValueError, match=r"^A patient with the pseudonym P-001 already exists;"):
        store.create_patient(" P-001")
    assert len(store.list_patients()) == 1


def test_delete_patient_erases_rows_and_the_files_only_they_used(store, make_signals, make_nifti):
    shared = make_signals(seed=1)
    gone, gone_signals, gone_fmri = patient_with_records(store, "P-1", shared, make_nifti(seed=1))
    kept, kept_signals, kept_fmri = patient_with_records(store, "P-2", shared, make_nifti(seed=2))
    assert gone_signals.path == kept_signals.path  # stored once, by content

    result = store.delete_patient(gone.id)
    assert (result.patient_id, result.pseudonym, result.n_uploads, result.n_predictions) == (
        gone.id,
        "P-1",
        2,
        1,
    )
    assert result.removed_files == (gone_fmri.path,)
    assert not gone_fmri.path.exists() and kept_signals.path.read_bytes() == shared
    with pytest.raises(RecordNotFound, match=rf"^There is no patient with id {gone.id}\.$"):
        store.get_patient(gone.id)
    assert [p.pseudonym for p in store.list_patients()] == ["P-2"]
    assert store.uploads(kept.id) == [kept_fmri, kept_signals]
    assert len(store.predictions(kept.id)) == 1
    assert sorted(stored_files(store)) == sorted([kept_signals.path, kept_fmri.path])
    again = store.create_patient("P-1")  # the pseudonym is free again, with nothing attached
    assert store.uploads(again.id) == [] and store.predictions(again.id) == []

    result = store.delete_patient(kept.id)
    assert sorted(result.removed_files) == sorted([kept_signals.path, kept_fmri.path])
    assert stored_files(store) == [] and store.collect_garbage() == []


def test_rows_are_deleted_before_files(store, patient, signals_bytes, monkeypatch):
    """A crash between the two leaves a file without a row, which collect_garbage removes."""
    from rehab_core.storage.files import FileStore

    rec = store.add_upload(patient.id, "signals", "a.txt", signals_bytes)

    def crash(self, rels):
        raise KeyboardInterrupt("killed after the rows were deleted")

    monkeypatch.setattr(FileStore, "remove_unreferenced", crash)
    with pytest.raises(KeyboardInterrupt):
        store.delete_patient(patient.id)
    monkeypatch.undo()
    assert store.list_patients() == []
    assert stored_files(store) == [rec.path]  # garbage: no row references it
    assert store.collect_garbage() == [rec.path]
    assert stored_files(store) == []


def test_deleted_patient_leaves_no_trace_in_the_sqlite_files(tmp_path, make_signals):
    """Right to erasure: the values are overwritten, not only unlinked from the tables."""
    store = open_store(f"sqlite:///{tmp_path / 'rehab.db'}", tmp_path / "data")
    marker = "ERASE-ME-7f3a9c"
    keep = store.create_patient("KEEP-ME-1b2c")
    store.add_upload(keep.id, "signals", "keep.txt", make_signals(seed=2))
    doomed = store.create_patient(marker)
    store.add_upload(doomed.id, "signals", f"{marker}.txt", make_signals(seed=3))

    def database_bytes() -> bytes:
        return b"".join(p.read_bytes() for p in tmp_path.glob("rehab.db*"))

    assert marker.encode() in database_bytes()
    store.delete_patient(doomed.id)
    assert marker.encode() not in database_bytes()
    assert b"KEEP-ME-1b2c" in database_bytes()
    store.close()

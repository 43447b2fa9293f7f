"""Issue 14, finding 11: stored files were never re-checked against their hash, and the data
folder's own folders and lock file were not private."""

from __future__ import annotations

import stat

import pytest

from rehab_core.storage import StoredFileChanged, check_stored_file


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_stored_file_changed_on_disk_is_refused_in_one_sentence(store, patient, signals_bytes):
    rec = store.add_upload(patient.id, "signals", "rec.txt", signals_bytes)
    assert check_stored_file(rec.path, rec.sha256) == rec.path
    rec.path.write_bytes(signals_bytes[:-3] + b"999")  # same size, other content
    with pytest.raises(
        StoredFileChanged,
        match=rf"^The stored recording {rec.sha256[:12]} was changed on disk since it was "
        r"uploaded \(its SHA-256 no longer matches\); restore it from the backup or upload it "
        r"again\.$",
    ):
        check_stored_file(rec.path, rec.sha256)
    assert isinstance(StoredFileChanged("x"), ValueError)  # pages show it as a refused file


def test_a_missing_stored_file_is_one_sentence(store, patient, signals_bytes):
    rec = store.add_upload(patient.id, "signals", "rec.txt", signals_bytes)
    rec.path.unlink()
    with pytest.raises(StoredFileChanged, match=r"is missing from the data folder; restore it"):
        check_stored_file(rec.path, rec.sha256)


def test_uploading_the_same_bytes_again_repairs_a_changed_file(store, patient, signals_bytes):
    rec = store.add_upload(patient.id, "signals", "rec.txt", signals_bytes)
    rec.path.write_bytes(b"x" * len(signals_bytes))  # the old size check kept this one
    again = store.add_upload(patient.id, "signals", "rec.txt", signals_bytes)
    assert again.duplicate and check_stored_file(again.path, again.sha256)


def test_files_and_folders_are_private(store, patient, signals_bytes):
    rec = store.add_upload(patient.id, "signals", "rec.txt", signals_bytes)
    assert mode(rec.path) == 0o600
    for folder in (store.data_dir, store.data_dir / "files", rec.path.parent):
        assert mode(folder) == 0o700, folder
    with store.temp_folder() as tmp:
        assert mode(tmp) == 0o700 and mode(tmp.parent) == 0o700
    assert mode(store.data_dir / ".files.lock") == 0o600

"""Uploads: read by the real reader, stored once by content, refused with one sentence."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from _store_helpers import leftovers, stored_files

from rehab_core.io import InputError
from rehab_core.storage import UploadTooLargeError, open_store


def test_signals_upload_is_validated_stored_by_content_and_summarised(
    store, patient, signals_bytes
):
    rec = store.add_upload(patient.id, "signals", "C:\\clinic\\Rec 1.TXT", signals_bytes)
    sha = hashlib.sha256(signals_bytes).hexdigest()
    # the uploaded name is not kept (it may carry the patient's); only kind and format
    assert rec.original_name == "EEG-EMG recording (.txt)"
    assert rec.path == store.data_dir / "files" / sha[:2] / f"{sha}.txt"
    assert rec.path.read_bytes() == signals_bytes
    assert (rec.sha256, rec.size, rec.format, rec.kind) == (
        sha,
        len(signals_bytes),
        "rehab-eegemg text",
        "signals",
    )
    assert rec.duplicate is False
    assert rec.qc == {
        "n_channels": 22,
        "sfreq": 100.0,
        "duration_s": 11.0,
        "n_channels_by_type": {"eeg": 16, "emg": 6},
        "missing_paper_channels": [],
        "warnings": [],
    }
    assert store.uploads(patient.id) == [rec]
    assert store.latest_upload(patient.id, "signals") == rec
    assert store.latest_upload(patient.id, "fmri") is None
    assert leftovers(store) == []


def test_missing_paper_channels_are_listed_in_qc(store, patient, make_signals):
    rec = store.add_upload(patient.id, "signals", "short.txt", make_signals(n_chans=20))
    assert rec.qc["missing_paper_channels"] == ["EMG_ST", "EMG_RFP"]
    assert rec.qc["n_channels_by_type"] == {"eeg": 16, "emg": 4}


def test_fmri_upload_qc(store, patient, make_nifti):
    rec = store.add_upload(patient.id, "fmri", "bold.nii.gz", make_nifti(volumes=60, tr=2.0))
    assert rec.path.name.endswith(".nii.gz")
    assert rec.format == "NIfTI"
    assert rec.qc == {
        "shape": [6, 6, 4, 60],
        "voxel_size_mm": [3.0, 3.0, 3.0],
        "tr_s": 2.0,
        "n_volumes": 60,
        "duration_s": 120.0,
        "warnings": [],
    }


def test_uploads_newest_first_and_by_kind(store, patient, make_signals, fmri_bytes):
    first = store.add_upload(patient.id, "signals", "a.txt", make_signals(seed=1))
    scan = store.add_upload(patient.id, "fmri", "b.nii.gz", fmri_bytes)
    second = store.add_upload(patient.id, "signals", "c.txt", make_signals(seed=2))
    assert [u.id for u in store.uploads(patient.id)] == [second.id, scan.id, first.id]
    assert [u.id for u in store.uploads(patient.id, "signals")] == [second.id, first.id]
    assert store.latest_upload(patient.id, "signals") == second
    with pytest.raises(ValueError, match="kind='eeg' is not allowed"):
        store.uploads(patient.id, "eeg")


def test_same_bytes_twice_reuse_the_file_and_the_record(store, patient, signals_bytes):
    first = store.add_upload(patient.id, "signals", "a.txt", signals_bytes)
    again = store.add_upload(patient.id, "signals", "renamed.txt", signals_bytes)
    assert again.duplicate is True
    assert again.id == first.id and again.original_name == "EEG-EMG recording (.txt)"
    other = store.create_patient("P-002")
    theirs = store.add_upload(other.id, "signals", "b.txt", signals_bytes)
    assert theirs.duplicate is False and theirs.id != first.id
    assert theirs.path == first.path
    assert stored_files(store) == [first.path]
    assert len(store.uploads(patient.id)) == 1


def test_the_same_bytes_again_make_that_recording_the_latest(store, patient, signals_bytes):
    """Upload A, then B, then A again: A is what the pages and predictions use, not B."""
    first = store.add_upload(patient.id, "signals", "a.txt", signals_bytes)
    newer = store.add_upload(patient.id, "signals", "b.txt", signals_bytes + b"\n")
    assert store.latest_upload(patient.id, "signals").id == newer.id
    again = store.add_upload(patient.id, "signals", "a-again.txt", signals_bytes)
    assert again.duplicate and again.id == first.id and again.created_at >= newer.created_at
    assert store.latest_upload(patient.id, "signals").id == first.id
    assert [u.id for u in store.uploads(patient.id, "signals")] == [first.id, newer.id]


@pytest.mark.parametrize("as_type", [str, Path])
def test_upload_from_a_path(store, patient, tmp_path, fmri_bytes, as_type):
    src = tmp_path / "in.nii.gz"
    src.write_bytes(fmri_bytes)
    rec = store.add_upload(patient.id, "fmri", "scan.nii.gz", as_type(src))
    assert rec.path.read_bytes() == fmri_bytes
    assert src.exists()  # the source is copied, never moved


@pytest.mark.parametrize(
    ("kind", "name", "message"),
    [
        ("signals", "rec.csv", r"^rec\.csv is not a supported EEG-EMG recording; expected one of"),
        (
            "signals",
            "rec.vhdr",
            r"^rec\.vhdr is a BrainVision header .* export the recording as EDF",
        ),
        ("signals", "rec.eeg", r"^rec\.eeg is the data part of a BrainVision recording"),
        ("signals", "rec.fdt", r"^rec\.fdt is the data part of an EEGLAB recording"),
        ("signals", "bold.nii.gz", r"^bold\.nii\.gz looks like an fMRI file, not a EEG-EMG"),
        ("fmri", "rec.txt", r"^rec\.txt looks like an EEG-EMG file, not a resting-state fMRI"),
        ("fmri", "scan.gz", r"^scan\.gz is not a supported resting-state fMRI; .*\.nii, \.nii\.gz"),
        ("fmri", ".nii.gz", r"is not a supported resting-state fMRI"),
        (
            "fmri",
            "../../etc/passwd.nii.gz",
            None,
        ),  # only the suffix counts: accepted, stored by hash
    ],
)
def test_suffix_allow_list(store, patient, fmri_bytes, kind, name, message):
    if message is None:
        rec = store.add_upload(patient.id, kind, name, fmri_bytes)
        assert rec.original_name == "Resting-state fMRI (.nii.gz)"
        assert rec.path.parent.parent == store.data_dir / "files"
        return
    with pytest.raises(InputError, match=message):
        store.add_upload(patient.id, kind, name, fmri_bytes)
    assert stored_files(store) == [] and store.uploads(patient.id) == []


@pytest.mark.parametrize(
    ("kind", "name", "payload", "message"),
    [
        ("signals", "bad.txt", b"# rehab-eegemg v1\n# sfreq: 100\nC3 C4\n1 2\n3\n", r"^bad\.txt "),
        ("signals", "empty.edf", b"", r"^empty\.edf is empty \(0 bytes\)"),
        ("signals", "garbage.edf", b"not an edf" * 40, r"^garbage\.edf could not be read as EDF"),
        ("fmri", "scan.nii.gz", b"\x1f\x8b not really gzip", r"^scan\.nii\.gz could not be read"),
    ],
)
def test_refused_file_stores_nothing(store, patient, kind, name, payload, message):
    with pytest.raises(InputError, match=message) as err:
        store.add_upload(patient.id, kind, name, payload)
    assert "upload-" not in str(err.value)  # the user's name, not the temporary copy's
    assert store.uploads(patient.id) == []
    assert stored_files(store) == [] and leftovers(store) == []


def test_too_short_and_3d_fmri_are_refused_by_the_real_reader(store, patient, make_nifti):
    with pytest.raises(InputError, match=r"^short\.nii\.gz .*100"):
        store.add_upload(patient.id, "fmri", "short.nii.gz", make_nifti(volumes=20))
    with pytest.raises(InputError, match=r"^anat\.nii\.gz "):
        store.add_upload(patient.id, "fmri", "anat.nii.gz", make_nifti(four_d=False))
    assert stored_files(store) == [] and store.uploads(patient.id) == []


def test_eeglab_set_with_separate_fdt_is_refused_plainly(store, patient, tmp_path):
    import mne
    import scipy.io as sio

    info = mne.create_info(["C3", "C4", "EMG_RF"], 100.0, ["eeg", "eeg", "emg"])
    data = np.random.default_rng(0).normal(size=(3, 1500)) * 1e-5
    raw = mne.io.RawArray(data, info, verbose="error")
    whole = tmp_path / "rec.set"
    mne.export.export_raw(whole, raw, fmt="eeglab", overwrite=True, verbose="error")
    rec = store.add_upload(patient.id, "signals", "rec.set", whole)  # data inside: accepted
    assert rec.format == "EEGLAB" and rec.qc["n_channels"] == 3
    fields = {k: v for k, v in sio.loadmat(whole, appendmat=False).items() if k[:2] != "__"}
    fields["data"] = "rec.fdt"  # data in a separate file, as EEGLAB often saves
    split = tmp_path / "split.set"
    sio.savemat(split, fields, appendmat=False)
    with pytest.raises(InputError, match=r"^split\.set is an EEGLAB recording whose data lie in"):
        store.add_upload(patient.id, "signals", "split.set", split)
    assert len(store.uploads(patient.id)) == 1


def test_size_limit(store, db_url, patient, tmp_path, signals_bytes):
    small = open_store(db_url, store.data_dir, max_upload_mb=len(signals_bytes) / 1e6 / 2)
    with pytest.raises(UploadTooLargeError, match=r"^big\.txt is 0\.\d MB, above the .* limit"):
        small.add_upload(patient.id, "signals", "big.txt", signals_bytes)
    src = tmp_path / "big.txt"
    src.write_bytes(signals_bytes)
    with pytest.raises(UploadTooLargeError, match="REHAB_MAX_UPLOAD_MB"):
        small.add_upload(patient.id, "signals", "big.txt", src)
    assert stored_files(store) == [] and store.uploads(patient.id) == []
    small.close()


def test_long_and_non_ascii_names_fit_the_column(store, patient, signals_bytes):
    """PostgreSQL enforces String(255) (SQLite does not); the label, not the name, is stored."""
    name = "é" * 300 + ".txt"
    rec = store.add_upload(patient.id, "signals", name, signals_bytes)
    assert rec.original_name == "EEG-EMG recording (.txt)"
    assert store.uploads(patient.id)[0].original_name == "EEG-EMG recording (.txt)"


def test_failed_row_insert_removes_the_new_file(store, patient, signals_bytes, monkeypatch):
    from rehab_core.storage import uploads

    def broken(row, files, *, duplicate=False):
        raise RuntimeError("database went away")

    monkeypatch.setattr(uploads, "_record", broken)
    with pytest.raises(RuntimeError, match="database went away"):
        store.add_upload(patient.id, "signals", "a.txt", signals_bytes)
    monkeypatch.undo()
    assert store.uploads(patient.id) == []
    assert stored_files(store) == []


def test_failed_insert_keeps_a_file_another_row_uses(store, patient, signals_bytes, monkeypatch):
    from rehab_core.storage import uploads

    theirs = store.add_upload(patient.id, "signals", "a.txt", signals_bytes)
    other = store.create_patient("P-002")

    def broken(row, files, *, duplicate=False):
        raise RuntimeError("database went away")

    monkeypatch.setattr(uploads, "_record", broken)
    with pytest.raises(RuntimeError):
        store.add_upload(other.id, "signals", "a.txt", signals_bytes)
    monkeypatch.undo()
    assert stored_files(store) == [theirs.path]


def test_the_uploaded_name_is_never_stored(store, patient, signals_bytes, fmri_bytes):
    """Issue 14, finding 12: file names (which often carry a patient's name) were stored."""
    from sqlalchemy import text

    store.add_upload(patient.id, "signals", "Jane_Doe_1956-03-02_eeg.txt", signals_bytes)
    store.add_upload(patient.id, "fmri", "DOE^JANE_bold.nii.gz", fmri_bytes)
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM uploads")).all()
    dump = repr(rows) + repr(store.uploads(patient.id))
    assert "Jane" not in dump and "JANE" not in dump and "1956" not in dump
    assert sorted(u.original_name for u in store.uploads(patient.id)) == [
        "EEG-EMG recording (.txt)",
        "Resting-state fMRI (.nii.gz)",
    ]


def test_rehab_gc_collects_a_killed_deidentification_folder(store, patient):
    """Issue 14, finding 12: what a killed upload leaves (the original bytes) goes with gc."""
    import os

    from rehab_core.cli import main

    left = store.data_dir / "tmp" / "deid-killed"
    left.mkdir(parents=True)
    (left / "in_raw.fif").write_bytes(b"original header with a name")
    os.utime(left, (1, 1))
    assert main(["gc", "--data-dir", str(store.data_dir)]) == 0
    assert not left.exists()

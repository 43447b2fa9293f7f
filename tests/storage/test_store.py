"""The store: patients, validated content-addressed uploads, predictions, the demo patient."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from pathlib import Path

import numpy as np
import pytest

from rehab_core.io import InputError
from rehab_core.storage import RecordNotFound, UploadTooLargeError, open_store


def stored_files(store) -> list[Path]:
    root = store.data_dir / "files"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def leftovers(store) -> list[Path]:
    """Anything left in the validation folder (must be nothing after every upload)."""
    tmp = store.data_dir / "tmp"
    return list(tmp.iterdir()) if tmp.exists() else []


# --- patients -----------------------------------------------------------------------------


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


@pytest.mark.parametrize("pid", [7, 0, -1, 2**31, 2**63, 2**70])
def test_unknown_ids_raise_record_not_found(store, pid):
    """Also ids beyond 32 bits, which PostgreSQL refuses to compare with an Integer key."""
    for call in (
        lambda: store.get_patient(pid),
        lambda: store.uploads(pid),
        lambda: store.predictions(pid),
        lambda: store.add_upload(pid, "signals", "a.txt", b"x"),
        lambda: store.delete_patient(pid),
    ):
        with pytest.raises(RecordNotFound, match=rf"^There is no patient with id {pid}\.$"):
            call()
    with pytest.raises(RecordNotFound):
        store.get_patient("7")  # not an int id


# --- uploads ------------------------------------------------------------------------------


def test_signals_upload_is_validated_stored_by_content_and_summarised(
    store, patient, signals_bytes
):
    rec = store.add_upload(patient.id, "signals", "C:\\clinic\\Rec 1.TXT", signals_bytes)
    sha = hashlib.sha256(signals_bytes).hexdigest()
    assert rec.original_name == "Rec 1.TXT"  # metadata only: the last component
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
    assert again.id == first.id and again.original_name == "a.txt"
    other = store.create_patient("P-002")
    theirs = store.add_upload(other.id, "signals", "b.txt", signals_bytes)
    assert theirs.duplicate is False and theirs.id != first.id
    assert theirs.path == first.path
    assert stored_files(store) == [first.path]
    assert len(store.uploads(patient.id)) == 1


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
        assert rec.original_name == "passwd.nii.gz"
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
    """PostgreSQL enforces String(255) (SQLite does not): the store keeps the last 255 chars."""
    name = "é" * 300 + ".txt"
    rec = store.add_upload(patient.id, "signals", name, signals_bytes)
    assert rec.original_name == name[-255:]
    assert store.uploads(patient.id)[0].original_name == name[-255:]


def test_max_upload_ceiling_is_what_the_size_column_holds(tmp_path, monkeypatch):
    monkeypatch.delenv("REHAB_DATABASE_URL", raising=False)
    monkeypatch.setenv("REHAB_MAX_UPLOAD_MB", "3000")
    with pytest.raises(ValueError, match=r"max_upload_mb=3000\.0 is above 2147 MB, the largest"):
        open_store(data_dir=tmp_path)
    assert open_store(data_dir=tmp_path, max_upload_mb=2147).max_upload_mb == 2147.0
    assert 2147 * 10**6 <= 2**31 - 1  # the largest accepted file fits uploads.size on PostgreSQL


def test_max_upload_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("REHAB_DATABASE_URL", raising=False)
    monkeypatch.delenv("REHAB_MAX_UPLOAD_MB", raising=False)
    assert open_store(data_dir=tmp_path).max_upload_mb == 500.0
    monkeypatch.setenv("REHAB_MAX_UPLOAD_MB", "20")
    assert open_store(data_dir=tmp_path).max_upload_mb == 20.0
    assert open_store(data_dir=tmp_path, max_upload_mb=3).max_upload_mb == 3.0
    monkeypatch.setenv("REHAB_MAX_UPLOAD_MB", "lots")
    with pytest.raises(ValueError, match="REHAB_MAX_UPLOAD_MB='lots' is not a number"):
        open_store(data_dir=tmp_path)


def test_failed_row_insert_removes_the_new_file(store, patient, signals_bytes, monkeypatch):
    from rehab_core.storage.store import Store

    def broken(self, row, *, duplicate=False):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Store, "_upload_record", broken)
    with pytest.raises(RuntimeError, match="database went away"):
        store.add_upload(patient.id, "signals", "a.txt", signals_bytes)
    monkeypatch.undo()
    assert store.uploads(patient.id) == []
    assert stored_files(store) == []


def test_failed_insert_keeps_a_file_another_row_uses(store, patient, signals_bytes, monkeypatch):
    from rehab_core.storage.store import Store

    theirs = store.add_upload(patient.id, "signals", "a.txt", signals_bytes)
    other = store.create_patient("P-002")

    def broken(self, row, *, duplicate=False):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Store, "_upload_record", broken)
    with pytest.raises(RuntimeError):
        store.add_upload(other.id, "signals", "a.txt", signals_bytes)
    monkeypatch.undo()
    assert stored_files(store) == [theirs.path]


# --- deletion and garbage ----------------------------------------------------------------


def _patient_with_records(store, pseudonym, signals, fmri):
    p = store.create_patient(pseudonym)
    s = store.add_upload(p.id, "signals", "a.txt", signals)
    f = store.add_upload(p.id, "fmri", "b.nii.gz", fmri)
    store.add_prediction(p.id, _outputs(), upload_ids=[s.id, f.id])
    return p, s, f


def test_delete_patient_erases_rows_and_the_files_only_they_used(store, make_signals, make_nifti):
    shared = make_signals(seed=1)
    gone, gone_signals, gone_fmri = _patient_with_records(store, "P-1", shared, make_nifti(seed=1))
    kept, kept_signals, kept_fmri = _patient_with_records(store, "P-2", shared, make_nifti(seed=2))
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
    from rehab_core.storage.store import Store

    rec = store.add_upload(patient.id, "signals", "a.txt", signals_bytes)

    def crash(self, rels):
        raise KeyboardInterrupt("killed after the rows were deleted")

    monkeypatch.setattr(Store, "_remove_unreferenced", crash)
    with pytest.raises(KeyboardInterrupt):
        store.delete_patient(patient.id)
    monkeypatch.undo()
    assert store.list_patients() == []
    assert stored_files(store) == [rec.path]  # garbage: no row references it
    assert store.collect_garbage() == [rec.path]
    assert stored_files(store) == []


def test_deletion_waits_for_an_upload_that_shares_its_file(store, signals_bytes, monkeypatch):
    """Without the files lock the deletion would remove the file under the upload's new row."""
    import threading

    from rehab_core.storage.store import Store

    doomed, newcomer = store.create_patient("P-1"), store.create_patient("P-2")
    theirs = store.add_upload(doomed.id, "signals", "a.txt", signals_bytes)
    written, go_on = threading.Event(), threading.Event()
    real_write = Store._write_content

    def slow_write(target, content):
        wrote = real_write(target, content)  # the file is there (already, being shared)
        written.set()
        go_on.wait(30)  # ...and the row not yet in
        return wrote

    monkeypatch.setattr(Store, "_write_content", staticmethod(slow_write))
    results = {}
    upload = threading.Thread(
        target=lambda: results.update(
            up=store.add_upload(newcomer.id, "signals", "b.txt", signals_bytes)
        )
    )
    deletion = threading.Thread(target=lambda: results.update(gone=store.delete_patient(doomed.id)))
    upload.start()
    assert written.wait(30)
    deletion.start()
    deletion.join(0.5)
    assert deletion.is_alive()  # waiting for the upload's row
    go_on.set()
    upload.join(30)
    deletion.join(30)
    assert results["gone"].removed_files == ()  # the newcomer's row references the file
    assert results["up"].path == theirs.path and theirs.path.read_bytes() == signals_bytes
    assert store.uploads(newcomer.id) == [results["up"]]


def test_collect_garbage_removes_unreferenced_and_stale_files(store, patient, signals_bytes):
    import os
    import time

    rec = store.add_upload(patient.id, "signals", "a.txt", signals_bytes)
    orphan = store.data_dir / "files" / "ab" / ("ab" * 32 + ".nii.gz")
    half_written = rec.path.parent / f".tmp-{rec.path.name}-x1y2"
    orphan.parent.mkdir(parents=True)
    for path in (orphan, half_written):
        path.write_bytes(b"left by a killed upload")
    stale = store.data_dir / "tmp" / "old-validation"
    (stale / "sub").mkdir(parents=True)
    (stale / "sub" / "upload-x.txt").write_bytes(b"copy")
    fresh = store.data_dir / "tmp" / "validating-now"
    fresh.mkdir()
    hour_ago = time.time() - 3700
    os.utime(stale, (hour_ago, hour_ago))

    assert store.collect_garbage() == sorted([orphan, half_written, stale])
    assert stored_files(store) == [rec.path] and rec.path.read_bytes() == signals_bytes
    assert fresh.is_dir() and not stale.exists()
    assert store.collect_garbage(tmp_older_than_s=0) == [fresh]
    assert store.collect_garbage() == []
    assert store.uploads(patient.id) == [rec]


def test_collect_garbage_dry_run_lists_and_keeps(store, patient, signals_bytes):
    import os
    import time

    rec = store.add_upload(patient.id, "signals", "a.txt", signals_bytes)
    orphan = store.data_dir / "files" / "cd" / ("cd" * 32 + ".txt")
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"left by a killed deletion")
    stale = store.data_dir / "tmp" / "old-validation"
    stale.mkdir(parents=True)
    hour_ago = time.time() - 3700
    os.utime(stale, (hour_ago, hour_ago))

    assert store.collect_garbage(dry_run=True) == sorted([orphan, stale])
    assert orphan.is_file() and stale.is_dir()  # nothing removed
    assert store.collect_garbage() == sorted([orphan, stale])
    assert store.collect_garbage(dry_run=True) == []
    assert stored_files(store) == [rec.path]


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


# --- predictions --------------------------------------------------------------------------


def _outputs(p: float = 0.7) -> dict:
    return {
        "probability_good": p,
        "label": "good" if p > 0.5 else "poor",
        "signal_score": float("nan"),
        "model_id": "shufflenet_lstm",
        "weights_sha256": "ab" * 32,
        "preprocessing": {"signals": {"l_freq": 0.5}},
        "inputs": {"rec.txt": "cd" * 32},
        "window_probabilities": np.array([0.1, 0.2]),
    }


def test_predictions_round_trip(store, patient, signals_bytes, fmri_bytes):
    s = store.add_upload(patient.id, "signals", "a.txt", signals_bytes)
    f = store.add_upload(patient.id, "fmri", "b.nii.gz", fmri_bytes)
    first = store.add_prediction(patient.id, _outputs(0.7), upload_ids=[s.id, f.id])
    second = store.add_prediction(patient.id, _outputs(0.2), upload_ids=[f.id])
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
        store.add_prediction(patient.id, _outputs(), upload_ids=[theirs.id])
    with pytest.raises(ValueError, match="lack model_id and weights_sha256"):
        store.add_prediction(patient.id, {"probability_good": 0.5}, upload_ids=[])
    with pytest.raises(RecordNotFound):
        store.add_prediction(99, _outputs(), upload_ids=[])
    assert store.predictions(patient.id) == []


# --- demo ---------------------------------------------------------------------------------


# generates a demo patient's recordings
@pytest.mark.slow
def test_demo_patient(store):
    from rehab_core.demo import generate_patient

    demo = store.create_demo_patient(seed=7, minutes=0.2, volumes=50)
    row = generate_patient(store.data_dir / "check", seed=7, minutes=0.2, volumes=50).participant
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
    assert ups["signals"].original_name == "sub-demo_task-flexext_eegemg.txt"
    assert ups["signals"].qc["missing_paper_channels"] == []
    assert ups["signals"].qc["duration_s"] == 12.0
    assert ups["fmri"].qc["shape"] == [64, 64, 35, 50]
    assert store.create_demo_patient(seed=7, minutes=0.2, volumes=50) == demo
    assert len(store.uploads(demo.id)) == 2
    assert leftovers(store) == []


# generates a demo patient's recordings
@pytest.mark.slow
def test_demo_patient_completes_a_half_created_one(store):
    half = store.create_patient("DEMO-3", age=50)
    demo = store.create_demo_patient(seed=3, minutes=0.2, volumes=50)
    assert demo == half
    assert sorted(u.kind for u in store.uploads(demo.id)) == ["fmri", "signals"]

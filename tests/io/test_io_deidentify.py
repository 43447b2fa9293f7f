"""De-identification of every stored format: identifying header fields cleared, samples kept."""

from __future__ import annotations

import datetime as dt
import gzip
import logging
import os
from pathlib import Path

import numpy as np
import pytest

from rehab_core.io import CorruptFileError, UnknownFormatError, read_fmri, read_signals
from rehab_core.io.deidentify import deidentify_bytes, deidentify_file

NAME = "Doe^John 1950-01-01"
REAL_DIR = Path(
    os.environ.get(
        "REHAB_REAL_EEG_EMG_DIR",
        Path(__file__).resolve().parents[3] / "shared" / "data" / "real-stroke-eeg-emg",
    )
)
REAL_FILES = sorted(REAL_DIR.glob("subj*_raw.fif"))
IDENTIFYING = (b"Doe", b"John", b"1950", b"MRN123", b"ADM77", b"DrWho")


def _no_identity(content: bytes) -> None:
    found = [word for word in IDENTIFYING if word in content]
    assert not found, f"identifying text left in the file: {found}"


# ---------------------------------------------------------------- NIfTI


def _nifti(tmp_path: Path, fname: str, *, version: int = 1, identify: bool = True) -> Path:
    import nibabel as nib

    rng = np.random.default_rng(3)
    data = rng.normal(100.0, 5.0, size=(5, 4, 3, 60)).astype(np.float32)
    affine = np.array([[2.0, 0, 0, -4], [0, 2.5, 0, -5], [0, 0, 3, 6], [0, 0, 0, 1]])
    klass = nib.Nifti1Image if version == 1 else nib.Nifti2Image
    img = klass(data, affine)
    header = img.header
    header.set_xyzt_units("mm", "sec")
    header.set_zooms((2.0, 2.5, 3.0, 2.0))
    img.set_qform(affine, 1)
    img.set_sform(affine, 4)
    if identify:
        header["descrip"] = NAME.encode()
        header["aux_file"] = b"MRN123"
        header["intent_name"] = b"John"
        if version == 1:
            header["db_name"] = b"ADM77 Doe"
        ext = b"(0010,0010) PN Doe^John (0010,0030) DA 19500101"
        header.extensions.append(nib.nifti1.Nifti1Extension(2, ext))
    path = tmp_path / fname
    nib.save(img, path)
    return path


def _nifti_bytes(path: Path) -> bytes:
    content = path.read_bytes()
    return gzip.decompress(content) if path.name.endswith(".gz") else content


@pytest.mark.parametrize(
    ("fname", "version", "fields"),
    [
        ("bold.nii", 1, ["descrip", "aux_file", "intent_name", "db_name", "extensions"]),
        ("bold.nii.gz", 1, ["descrip", "aux_file", "intent_name", "db_name", "extensions"]),
        ("bold2.nii", 2, ["descrip", "aux_file", "intent_name", "extensions"]),
    ],
)
def test_nifti_text_fields_and_extensions_are_cleared(tmp_path, fname, version, fields):
    import nibabel as nib

    path = _nifti(tmp_path, fname, version=version)
    before = nib.load(path)
    assert before.header.extensions
    report = deidentify_file("fmri", path)
    assert report == {"format": "NIfTI", "cleared": fields}
    _no_identity(_nifti_bytes(path))
    after = nib.load(path)
    for field in ("descrip", "aux_file", "intent_name"):
        assert after.header[field].item() == b""
    assert not after.header.extensions
    assert np.array_equal(after.get_fdata(), before.get_fdata())
    np.testing.assert_array_equal(after.affine, before.affine)
    assert after.header.get_zooms() == before.header.get_zooms()
    assert after.header.get_xyzt_units() == ("mm", "sec")
    assert int(after.header["qform_code"]) == 1 and int(after.header["sform_code"]) == 4
    assert after.header["vox_offset"] == before.header["vox_offset"]
    assert read_fmri(path).shape == (5, 4, 3, 60)


def test_nifti_image_bytes_stay_where_they_were(tmp_path):
    path = _nifti(tmp_path, "bold.nii")
    content = path.read_bytes()
    out, _ = deidentify_bytes("fmri", path.name, content)
    offset = int(np.frombuffer(content[108:112], "<f4")[0])
    assert len(out) == len(content) and offset > 352
    assert out[offset:] == content[offset:]
    assert out[352:offset] == bytes(offset - 352)  # the extension is zeroed, not moved


@pytest.mark.parametrize("fname", ["clean.nii", "clean.nii.gz"])
def test_clean_nifti_comes_back_unchanged(tmp_path, fname):
    path = _nifti(tmp_path, fname, identify=False)
    content = path.read_bytes()
    out, report = deidentify_bytes("fmri", fname, content)
    assert report == {"format": "NIfTI", "cleared": []}
    assert out == content


def test_gzip_file_name_and_time_are_dropped(tmp_path):
    path = _nifti(tmp_path, "clean.nii", identify=False)
    buffer = tmp_path / "named.nii.gz"
    with (
        open(buffer, "wb") as raw,
        gzip.GzipFile("Doe_John.nii", "wb", fileobj=raw, mtime=1e9) as gz,
    ):
        gz.write(path.read_bytes())
    assert b"Doe_John" in buffer.read_bytes()
    out, report = deidentify_bytes("fmri", "named.nii.gz", buffer.read_bytes())
    assert report["cleared"] == ["gzip_header"]
    assert b"Doe_John" not in out and out[4:8] == bytes(4)
    assert gzip.decompress(out) == path.read_bytes()


# ---------------------------------------------------------------- EDF / BDF


def _edf(tmp_path: Path, fname: str = "rec.edf") -> Path:
    import edfio

    rng = np.random.default_rng(4)
    signals = [
        edfio.EdfSignal(
            rng.normal(0, 20, 1200),
            100,
            label=label,
            physical_dimension="uV",
            physical_range=(-200, 200),
        )
        for label in ("C3", "C4", "EMG_RF")
    ]
    edf = edfio.Edf(
        signals,
        patient=edfio.Patient(
            code="MRN123", sex="M", birthdate=dt.date(1950, 1, 1), name="Doe_John"
        ),
        recording=edfio.Recording(
            startdate=dt.date(2024, 3, 1),
            hospital_administration_code="ADM77",
            investigator_technician_code="DrWho",
            equipment_code="amp",
        ),
        starttime=dt.time(10, 11, 12),
    )
    path = tmp_path / fname
    edf.write(path)
    return path


def _bdf(tmp_path: Path, write_bdf) -> Path:
    """A 3-channel, 12-s BioSemi file at 100 Hz whose header names a patient."""
    samples = np.random.default_rng(5).integers(-(2**20), 2**20, size=(12, 3, 100))
    return write_bdf(
        tmp_path / "rec.bdf",
        samples,
        ["C3", "C4", "EMG_RF"],
        patient="MRN123 M 01-JAN-1950 Doe_John",
        recording="Startdate 01-MAR-2024 ADM77 DrWho amp",
        date="01.03.24",
    )


@pytest.mark.parametrize("fmt", ["EDF", "BDF"])
def test_edf_and_bdf_identification_is_anonymised_in_place(tmp_path, write_bdf, fmt):
    path = _edf(tmp_path) if fmt == "EDF" else _bdf(tmp_path, write_bdf)
    content = path.read_bytes()
    before = read_signals(path)
    assert before.info["subject_info"]["his_id"] == "MRN123"
    report = deidentify_file("signals", path)
    assert report == {"format": fmt, "cleared": ["patient_id", "recording_id", "startdate"]}
    out = path.read_bytes()
    assert out[8:88] == b"X X X X".ljust(80)
    assert out[88:168] == b"Startdate X X X X".ljust(80)
    assert out[168:176] == b"01.01.85"
    assert out[:8] == content[:8] and out[176:] == content[176:]  # all else byte-identical
    _no_identity(out)
    after = read_signals(path)
    assert np.array_equal(after.get_data(), before.get_data())
    assert after.ch_names == before.ch_names
    assert after.info["meas_date"].date() == dt.date(1985, 1, 1)
    info = after.info["subject_info"] or {}
    assert "birthday" not in info and "first_name" not in info


def test_anonymous_edf_comes_back_unchanged(tmp_path):
    path = _edf(tmp_path)
    first, _ = deidentify_bytes("signals", path.name, path.read_bytes())
    second, report = deidentify_bytes("signals", path.name, first)
    assert report["cleared"] == [] and second == first


# ---------------------------------------------------------------- FIF


def _identified_fif(tmp_path: Path, fname: str) -> Path:
    import mne

    info = mne.create_info(["C3", "C4", "EMG_RF"], 100.0, ["eeg", "eeg", "emg"])
    data = np.random.default_rng(6).normal(0, 2e-5, size=(3, 1200))
    raw = mne.io.RawArray(data, info, verbose="error")
    raw.set_meas_date(dt.datetime(2024, 3, 1, 10, 0, tzinfo=dt.UTC))
    with raw.info._unlock():
        raw.info["subject_info"] = {
            "his_id": "MRN123",
            "last_name": "Doe",
            "first_name": "John",
            "birthday": dt.date(1950, 1, 1),
        }
        raw.info["experimenter"] = "DrWho"
        raw.info["description"] = "John at ADM77"
    path = tmp_path / fname
    raw.save(path, verbose="error")
    return path


@pytest.mark.parametrize("fname", ["rec_raw.fif", "rec_raw.fif.gz"])
def test_fif_is_anonymised_by_mne_and_keeps_its_samples(tmp_path, fname):
    path = _identified_fif(tmp_path, fname)
    before = read_signals(path)
    report = deidentify_file("signals", path)
    assert report["format"] == "FIF"
    assert {"subject_info", "meas_date", "experimenter", "description"} <= set(report["cleared"])
    _no_identity(_nifti_bytes(path))
    after = read_signals(path)
    assert np.array_equal(after.get_data(), before.get_data())
    assert after.info["meas_date"] != before.info["meas_date"]
    assert after.info["subject_info"].get("last_name") != "Doe"
    again, report = deidentify_bytes("signals", fname, path.read_bytes())
    assert report["cleared"] == [] and again == path.read_bytes()  # idempotent, same bytes


@pytest.mark.skipif(not REAL_FILES, reason=f"the shared real recordings are not in {REAL_DIR}")
@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: p.name)
def test_real_fif_recordings_hold_nothing_to_clear(path):
    # The shared recordings were published anonymised (no subject_info, no date, zero time stamps).
    content = path.read_bytes()
    out, report = deidentify_bytes("signals", path.name, content)
    assert report == {"format": "FIF", "cleared": []}
    assert out == content


# ---------------------------------------------------------------- EEGLAB


def test_eeglab_subject_and_free_text_fields_are_cleared(tmp_path):
    import mne
    import scipy.io

    info = mne.create_info(["C3", "C4", "EMG_RF"], 100.0, "eeg")
    raw = mne.io.RawArray(
        np.random.default_rng(7).normal(0, 2e-5, (3, 1200)), info, verbose="error"
    )
    plain = tmp_path / "plain.set"
    mne.export.export_raw(plain, raw, fmt="eeglab", verbose="error")
    fields = {k: v for k, v in scipy.io.loadmat(plain, appendmat=False).items() if k[0] != "_"}
    fields.update(subject="Doe John", comments="born 1950", filepath="/data/DoeJohn")
    path = tmp_path / "rec.set"
    scipy.io.savemat(path, {"EEG": fields}, appendmat=False)
    before = read_signals(path)
    report = deidentify_file("signals", path)
    assert report == {"format": "EEGLAB", "cleared": ["subject", "setname", "filepath", "comments"]}
    _no_identity(path.read_bytes())
    after = read_signals(path)
    assert np.array_equal(after.get_data(), before.get_data())
    assert after.ch_names == before.ch_names


# ---------------------------------------------------------------- rehab-eegemg text


def test_text_header_keeps_only_the_keys_the_reader_uses(tmp_path):
    from rehab_core.io import write_signals_text

    data = np.random.default_rng(8).normal(0, 20, (3, 1100))
    path = write_signals_text(tmp_path / "rec.txt", data, ["C3", "C4", "EMG_RF"], 100.0)
    lines = path.read_bytes().split(b"\n")
    path.write_bytes(
        b"\n".join([lines[0], b"# patient: Doe John", b"# born 1950-01-01", *lines[1:]])
    )
    (tmp_path / "rec.json").write_text('{"sfreq": 100, "subject": "MRN123", "units": "uV"}')
    before = read_signals(path)
    report = deidentify_file("signals", path)
    assert report == {
        "format": "rehab-eegemg text",
        "cleared": ["header line 2", "header line 3", "rec.json key 1"],
    }
    _no_identity(path.read_bytes() + (tmp_path / "rec.json").read_bytes())
    assert path.read_bytes() == b"\n".join(lines)  # exactly what the writer wrote
    assert np.array_equal(read_signals(path).get_data(), before.get_data())


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("kind", "name", "content", "error", "message"),
    [
        ("fmri", "x.nii", b"\x00" * 400, CorruptFileError, r"^x\.nii does not start with"),
        ("fmri", "x.nii.gz", b"\x1f\x8b\x08" + b"\x00" * 20, CorruptFileError, r"^x\.nii\.gz is"),
        ("signals", "x.edf", b"0       X", CorruptFileError, r"^x\.edf is 9 bytes, shorter"),
        ("signals", "x_raw.fif", b"nothing", CorruptFileError, r"^x_raw\.fif could not be read"),
        ("signals", "x.set", b"nothing", CorruptFileError, r"^x\.set could not be read"),
        ("signals", "x.vhdr", b"", UnknownFormatError, r"^x\.vhdr cannot be de-identified"),
        ("fmri", "x.edf", b"", UnknownFormatError, r"^x\.edf cannot be de-identified as a fmri"),
    ],
)
def test_unreadable_or_unknown_files_are_refused_in_one_sentence(
    kind, name, content, error, message
):
    with pytest.raises(error, match=message) as info:
        deidentify_bytes(kind, name, content)
    assert str(info.value).count(". ") == 0 and str(info.value).endswith(".")


def test_refused_file_is_left_as_it_was(tmp_path):
    path = tmp_path / "x.nii"
    path.write_bytes(b"\x01" * 400)
    with pytest.raises(CorruptFileError):
        deidentify_file("fmri", path)
    assert path.read_bytes() == b"\x01" * 400
    assert [p.name for p in tmp_path.iterdir()] == ["x.nii"]


# ---------------------------------------------------------------- through the store


@pytest.fixture
def store(tmp_path, monkeypatch):
    from rehab_core.storage import open_store

    for var in ("REHAB_DATA_DIR", "REHAB_DATABASE_URL", "REHAB_MAX_UPLOAD_MB"):
        monkeypatch.delenv(var, raising=False)
    s = open_store(url=f"sqlite:///{tmp_path / 'rehab.db'}", data_dir=tmp_path / "data")
    yield s
    s.close()


def test_store_keeps_only_de_identified_bytes(store, tmp_path):
    import hashlib

    patient = store.create_patient("P-001")
    edf = _edf(tmp_path)
    nii = _nifti(tmp_path, "bold.nii.gz")
    signals = store.add_upload(patient.id, "signals", "rec.edf", edf.read_bytes())
    fmri = store.add_upload(patient.id, "fmri", "bold.nii.gz", nii.read_bytes())
    for record in (signals, fmri):
        stored = record.path.read_bytes()
        assert hashlib.sha256(stored).hexdigest() == record.sha256 and len(stored) == record.size
        _no_identity(_nifti_bytes(record.path) if record.kind == "fmri" else stored)
    assert signals.qc["deidentified"] == ["patient_id", "recording_id", "startdate"]
    assert fmri.qc["deidentified"][-1] == "extensions"
    assert signals.qc["n_channels"] == 3 and fmri.qc["n_volumes"] == 60
    again = store.add_upload(patient.id, "signals", "rec.edf", edf.read_bytes())
    assert again.duplicate and again.id == signals.id


def test_upload_writes_no_patient_data_to_logs(store, tmp_path, caplog, capfd):
    patient = store.create_patient("P-002")
    edf = _edf(tmp_path, "Doe_John_1950.edf")
    with caplog.at_level(logging.DEBUG):
        store.add_upload(patient.id, "signals", edf.name, edf.read_bytes())
        with pytest.raises(CorruptFileError):
            store.add_upload(patient.id, "signals", "Doe_John.edf", edf.read_bytes()[:300])
    out, err = capfd.readouterr()
    logged = caplog.text + out + err
    assert not [w for w in ("Doe", "John", "1950", "MRN123") if w in logged], logged

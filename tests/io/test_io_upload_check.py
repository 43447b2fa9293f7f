"""rehab_core.io.upload_check: what an upload may be, and its QC read from a copy."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from rehab_core.io import PAPER_CHANNELS, InputError, UnknownFormatError, write_signals_text
from rehab_core.io.upload_check import KINDS, UPLOAD_SUFFIXES, check_upload, upload_suffix

COPY = "upload-0123456789abcdef"  # how the store names its working copy


def signals_copy(tmp_path, *, n_chans: int = 22, sfreq: float = 100.0, seconds: float = 11.0):
    data = np.random.default_rng(0).normal(0.0, 20.0, size=(n_chans, int(seconds * sfreq)))
    return write_signals_text(tmp_path / f"{COPY}.txt", data, PAPER_CHANNELS[:n_chans], sfreq)


def fmri_copy(tmp_path, *, volumes: int = 50, four_d: bool = True):
    import nibabel as nib

    shape = (6, 6, 4, volumes) if four_d else (6, 6, 4)
    data = np.random.default_rng(0).normal(100.0, 5.0, size=shape).astype(np.float32)
    img = nib.Nifti1Image(data, np.eye(4) * 3)
    img.header.set_zooms((3.0, 3.0, 3.0, 2.0)[: len(shape)])
    img.header.set_xyzt_units("mm", "sec")
    path = tmp_path / f"{COPY}.nii.gz"
    path.write_bytes(gzip.compress(img.to_bytes(), mtime=0))
    return path


def test_signals_qc(tmp_path):
    qc = check_upload("signals", signals_copy(tmp_path, n_chans=20), "Rec 1.TXT")
    assert qc == {
        "n_channels": 20,
        "sfreq": 100.0,
        "duration_s": 11.0,
        "n_channels_by_type": {"eeg": 16, "emg": 4},
        "missing_paper_channels": ["EMG_ST", "EMG_RFP"],
        "warnings": [],
    }


def test_fmri_qc(tmp_path):
    assert check_upload("fmri", fmri_copy(tmp_path, volumes=60), "bold.nii.gz") == {
        "shape": [6, 6, 4, 60],
        "voxel_size_mm": [3.0, 3.0, 3.0],
        "tr_s": 2.0,
        "n_volumes": 60,
        "duration_s": 120.0,
        "warnings": [],
    }


def refused_copy(tmp_path, name: str):
    """A working copy of a file the reader refuses, uploaded as ``name``."""
    if name == "bad.txt":
        path = tmp_path / f"{COPY}.txt"
        path.write_bytes(b"# rehab-eegemg v1\n# sfreq: 100\nC3 C4\n1 2\n3\n")
        return path
    if name == "empty.edf":
        path = tmp_path / f"{COPY}.edf"
        path.write_bytes(b"")
        return path
    return (
        fmri_copy(tmp_path, volumes=20)
        if name == "short.nii.gz"
        else fmri_copy(tmp_path, four_d=False)
    )


@pytest.mark.parametrize(
    ("kind", "name", "message"),
    [
        ("signals", "bad.txt", r"^bad\.txt "),
        ("signals", "empty.edf", r"^empty\.edf is empty \(0 bytes\)"),
        ("fmri", "short.nii.gz", r"^short\.nii\.gz .*100"),
        ("fmri", "anat.nii.gz", r"^anat\.nii\.gz "),
    ],
)
def test_refusals_name_the_uploaded_file_never_the_copy(tmp_path, kind, name, message):
    with pytest.raises(InputError, match=message) as err:
        check_upload(kind, refused_copy(tmp_path, name), name)
    assert COPY not in str(err.value)


def test_reader_warnings_name_the_uploaded_file(tmp_path):
    path = signals_copy(tmp_path, sfreq=1000.0, seconds=10.5)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(line for line in lines if not line.startswith("# sfreq")))
    qc = check_upload("signals", path, "no-rate.txt")
    assert qc["sfreq"] == 1000.0
    (warning,) = qc["warnings"]
    assert warning.startswith("no-rate.txt gives no sampling rate")
    assert f"{COPY}.txt" not in warning


@pytest.mark.parametrize(
    ("kind", "name", "suffix"),
    [
        ("signals", "rec.TXT", ".txt"),
        ("signals", "a.b.fif.gz", ".fif.gz"),  # the longest accepted suffix
        ("signals", "rec.fif", ".fif"),
        ("fmri", "bold.NII.GZ", ".nii.gz"),
        ("fmri", "../../etc/passwd.nii", ".nii"),  # only the end of the name counts
    ],
)
def test_accepted_suffixes(kind, name, suffix):
    assert upload_suffix(kind, name) == suffix
    assert suffix in UPLOAD_SUFFIXES[kind]


@pytest.mark.parametrize(
    ("kind", "name", "message"),
    [
        ("signals", "rec.csv", r"^rec\.csv is not a supported EEG-EMG recording; expected one of"),
        ("signals", "rec.vhdr", r"^rec\.vhdr is a BrainVision header .* export the recording as"),
        ("signals", "rec.vmrk", r"^rec\.vmrk is a BrainVision marker file"),
        ("signals", "rec.eeg", r"^rec\.eeg is the data part of a BrainVision recording"),
        ("signals", "rec.fdt", r"^rec\.fdt is the data part of an EEGLAB recording"),
        ("signals", "bold.nii.gz", r"^bold\.nii\.gz looks like an fMRI file, not a EEG-EMG"),
        ("fmri", "rec.txt", r"^rec\.txt looks like an EEG-EMG file, not a resting-state fMRI"),
        ("fmri", "scan.gz", r"^scan\.gz is not a supported resting-state fMRI; .*\.nii, \.nii\.gz"),
        ("fmri", ".nii.gz", r"is not a supported resting-state fMRI"),
    ],
)
def test_refused_suffixes(tmp_path, kind, name, message):
    with pytest.raises(UnknownFormatError, match=message):
        upload_suffix(kind, name)
    with pytest.raises(UnknownFormatError, match=message):  # checked before anything is read
        check_upload(kind, tmp_path / "never-read", name)


def test_unknown_kind_is_refused_with_the_choices(tmp_path):
    assert KINDS == ("signals", "fmri")
    with pytest.raises(ValueError, match=r"kind='eeg' is not allowed; choose one of 'signals'"):
        check_upload("eeg", signals_copy(tmp_path), "rec.txt")

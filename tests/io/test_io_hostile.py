"""The hostile uploads of issue 14, each refused with one sentence before it is unpacked or looped.

Before the header checks of ``rehab_core.io._guards`` and the bounds of
``rehab_core.io.limits``: the self-referencing FIF made MNE open itself for
ever (in ``read_signals`` and in de-identification); the three bombs were
unpacked whole (733, 635 and 769 MB); 40,000 channel names took the text
reader 13.7 s (``names.count``). The files come from ``tests/_hostile.py``; their
time and memory are measured by ``bench/bench_hostile_uploads.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _hostile import (
    eeglab_bomb,
    fif_gz_bomb,
    many_channel_names,
    nifti_gz_bomb,
    self_referencing_fif,
)

from rehab_core.io import (
    ChannelNamesError,
    ExternalFileError,
    InputError,
    TooLargeError,
    UnknownFormatError,
    UnknownSamplingRateError,
    read_fmri,
    read_signals,
)
from rehab_core.io.deidentify import deidentify_bytes
from rehab_core.io.limits import MAX_CHANNELS, MAX_DECOMPRESSED_BYTES, MAX_SIGNAL_VALUES


@pytest.fixture(scope="session")
def hostile(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile")
    return {
        "self_fif": self_referencing_fif(folder / "fif"),
        "fif_gz": fif_gz_bomb(folder / "bomb_raw.fif.gz"),
        "set": eeglab_bomb(folder / "bomb.set"),
        "nii_gz": nifti_gz_bomb(folder / "bomb.nii.gz"),
        "names": many_channel_names(folder / "names.txt"),
    }


def one_sentence(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message and message.endswith("."), message
    return message


def test_the_files_are_what_the_issue_describes(hostile):
    sizes = {key: path.stat().st_size for key, path in hostile.items()}
    assert sizes["self_fif"] < 1e6
    assert all(sizes[k] < 1e6 for k in ("fif_gz", "set", "nii_gz")), sizes
    assert hostile["self_fif"].read_bytes().count(b"./in_raw.fif") == 1


def test_self_referencing_fif_is_refused_not_followed(hostile):
    with pytest.raises(ExternalFileError, match=r"^in_raw\.fif is one part of a split FIF") as err:
        read_signals(hostile["self_fif"])
    one_sentence(err)


def test_self_referencing_fif_is_refused_by_de_identification(hostile, tmp_path):
    # de-identification names its temporary copy in_raw.fif: the reference pointed at it
    content = hostile["self_fif"].read_bytes()
    with pytest.raises(ExternalFileError, match=r"^rec_raw\.fif is one part of a split FIF"):
        deidentify_bytes("signals", "rec_raw.fif", content, work_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []  # its private copies are gone


@pytest.mark.parametrize("reader", ["read", "deidentify"])
def test_fif_gz_bomb_is_refused_before_it_is_unpacked(hostile, reader, tmp_path):
    cap = rf"unpacks to more than {MAX_DECOMPRESSED_BYTES / 1024**2:,.0f} MiB"
    with pytest.raises(TooLargeError, match=rf"^bomb_raw\.fif\.gz {cap}") as err:
        if reader == "read":
            read_signals(hostile["fif_gz"])
        else:
            content = hostile["fif_gz"].read_bytes()
            deidentify_bytes("signals", "bomb_raw.fif.gz", content, work_dir=tmp_path)
    one_sentence(err)


@pytest.mark.parametrize("reader", ["read", "deidentify"])
def test_eeglab_bomb_is_refused_before_it_is_unpacked(hostile, reader, tmp_path):
    with pytest.raises(TooLargeError, match=r"^bomb\.set unpacks to more than") as err:
        if reader == "read":
            read_signals(hostile["set"])
        else:
            deidentify_bytes("signals", "bomb.set", hostile["set"].read_bytes(), work_dir=tmp_path)
    one_sentence(err)


@pytest.mark.parametrize("reader", ["read", "deidentify"])
def test_nifti_bomb_is_refused_from_its_header(hostile, reader, tmp_path):
    match = r"^bomb\.nii\.gz declares an image of shape \(64, 64, 48, 978\)"
    with pytest.raises(TooLargeError, match=match) as err:
        if reader == "read":
            read_fmri(hostile["nii_gz"])
        else:
            content = hostile["nii_gz"].read_bytes()
            deidentify_bytes("fmri", "bomb.nii.gz", content, work_dir=tmp_path)
    one_sentence(err)


def test_forty_thousand_channel_names_are_refused_at_once(hostile):
    with pytest.raises(ChannelNamesError, match=r"^names\.txt declares 40,000 channels") as err:
        read_signals(hostile["names"])
    one_sentence(err)


def test_too_many_samples_are_refused_before_parsing(tmp_path):
    n_chans = 64
    rows = MAX_SIGNAL_VALUES // n_chans + 10
    names = " ".join(f"c{i}" for i in range(n_chans))
    path = tmp_path / "long.txt"
    with open(path, "w") as fh:
        fh.write(f"# sfreq: 1000\n{names}\n")
        fh.write(("0 " * (n_chans - 1) + "0\n") * rows)
    with pytest.raises(TooLargeError, match=r"^long\.txt declares 64 channels of"):
        read_signals(path)


@pytest.mark.parametrize("sfreq", ["1e6", "25000"])
def test_implausible_sampling_rates_are_refused(tmp_path, sfreq):
    path = tmp_path / "fast.txt"
    rows = "\n".join("1 2" for _ in range(20))
    path.write_text(f"# sfreq: {sfreq}\nC3 C4\n{rows}\n")
    with pytest.raises(UnknownSamplingRateError, match=r"^fast\.txt declares a sampling rate of"):
        read_signals(path)


def test_edf_header_with_too_many_signals_is_refused_from_the_header(tmp_path):
    n = 9_999  # the most the 4-character field holds
    header = b"0".ljust(8) + b"X".ljust(80) + b"X".ljust(80) + b"01.01.25" + b"00.00.00"
    header += str(256 * (n + 1)).encode().ljust(8) + b"".ljust(44) + b"1".ljust(8)
    header += b"1".ljust(8) + str(n).encode().ljust(4)
    path = tmp_path / "wide.edf"
    path.write_bytes(header + b" " * (256 * n))
    with pytest.raises(ChannelNamesError, match=r"^wide\.edf declares 9,999 channels, more "):
        read_signals(path)
    assert MAX_CHANNELS < n


# --- references to other files ------------------------------------------------------------------
def _brainvision(tmp_path: Path) -> Path:
    import mne

    info = mne.create_info(["C3", "C4", "EMG_RF"], 100.0, ["eeg", "eeg", "emg"])
    data = np.random.default_rng(3).normal(size=(3, 1500)) * 1e-5
    raw = mne.io.RawArray(data, info, verbose="error")
    folder = tmp_path / "upload"
    folder.mkdir()
    path = folder / "rec.vhdr"
    mne.export.export_raw(path, raw, fmt="brainvision", overwrite=True, verbose="error")
    return path


@pytest.mark.parametrize("key", ["DataFile", "MarkerFile"])
@pytest.mark.parametrize("target", ["../secret.eeg", "{outside}", "sub/rec.eeg", "..\\secret"])
def test_brainvision_references_are_confined_to_the_header_folder(tmp_path, key, target):
    path = _brainvision(tmp_path)
    secret = tmp_path / "secret.eeg"
    secret.write_bytes((path.parent / "rec.eeg").read_bytes())  # a readable file outside
    value = target.format(outside=secret)
    lines = path.read_text(encoding="latin-1").splitlines()
    lines = [f"{key}={value}" if line.startswith(f"{key}=") else line for line in lines]
    path.write_text("\n".join(lines) + "\n", encoding="latin-1")
    with pytest.raises(ExternalFileError, match=r"^rec\.vhdr names a (data|marker) file") as err:
        read_signals(path)
    assert str(secret) not in one_sentence(err)


def test_brainvision_link_out_of_the_folder_is_refused(tmp_path):
    path = _brainvision(tmp_path)
    data = path.parent / "rec.eeg"
    outside = tmp_path / "elsewhere.eeg"
    data.rename(outside)
    data.symlink_to(outside)
    with pytest.raises(ExternalFileError, match=r"^rec\.vhdr names a data file \(\.eeg\) outside"):
        read_signals(path)


def test_brainvision_beside_its_files_still_reads(tmp_path):
    raw = read_signals(_brainvision(tmp_path))
    assert raw.ch_names == ["C3", "C4", "EMG_RF"]


def _eeglab_with_data_file(tmp_path: Path, reference: str) -> Path:
    import mne
    import scipy.io as sio

    info = mne.create_info(["C3", "C4", "EMG_RF"], 100.0, ["eeg", "eeg", "emg"])
    data = np.random.default_rng(4).normal(size=(3, 1500)) * 1e-5
    raw = mne.io.RawArray(data, info, verbose="error")
    whole = tmp_path / "whole.set"
    mne.export.export_raw(whole, raw, fmt="eeglab", overwrite=True, verbose="error")
    fields = {k: v for k, v in sio.loadmat(whole, appendmat=False).items() if k[:2] != "__"}
    fields["data"] = reference
    folder = tmp_path / "upload"
    folder.mkdir(exist_ok=True)
    path = folder / "split.set"
    sio.savemat(path, fields, appendmat=False)
    return path


@pytest.mark.parametrize("reference", ["../private.fdt", "/etc/hostname.fdt", "a/b.fdt"])
def test_eeglab_fdt_reference_is_confined_to_the_set_folder(tmp_path, reference):
    (tmp_path / "private.fdt").write_bytes(np.zeros(4500, "<f4").tobytes())
    path = _eeglab_with_data_file(tmp_path, reference)
    with pytest.raises(ExternalFileError, match=r"^split\.set names a data file \(\.fdt\) outside"):
        read_signals(path)


def test_eeglab_fdt_missing_is_refused_plainly(tmp_path):
    path = _eeglab_with_data_file(tmp_path, "split.fdt")
    with pytest.raises(
        ExternalFileError, match=r"^split\.set is an EEGLAB recording whose data lie in a separate"
    ):
        read_signals(path)


def test_eeglab_fdt_beside_the_set_still_reads(tmp_path):
    path = _eeglab_with_data_file(tmp_path, "split.fdt")
    samples = np.random.default_rng(5).normal(size=(3, 1500)).astype("<f4")
    (path.parent / "split.fdt").write_bytes(samples.T.tobytes())
    assert read_signals(path).get_data().shape == (3, 1500)


def test_matlab_v73_is_refused_by_name(tmp_path):
    path = tmp_path / "new.set"
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5"
    hdf5 = b"\x89HDF\r\n\x1a\n"
    path.write_bytes(header.ljust(116) + bytes(8) + b"\x00\x02IM" + bytes(384) + hdf5)
    with pytest.raises(UnknownFormatError, match=r"^new\.set is saved as MATLAB v7\.3 \(HDF5\)"):
        read_signals(path)


def test_refusals_do_not_echo_a_line_of_the_file(tmp_path):
    """Issue 14, finding 5: the failing-files table echoed a line of a private file."""
    secret = "root:x:0:0:root:/root:/bin/bash"
    path = tmp_path / "rec.txt"
    path.write_text(f"# sfreq: 100\nC3 C4\n1 {secret}\n")
    with pytest.raises(InputError) as err:
        read_signals(path)
    assert secret not in str(err.value) and "a 31-character value" in str(err.value)


def test_short_reason_drops_long_quoted_text(tmp_path):
    from rehab_core.io._common import short_reason

    err = ValueError("could not parse 'PatientName=Jane Example Doe, born 1950' here")
    assert short_reason(err, tmp_path / "x.vhdr") == "could not parse '…' here"
    assert short_reason(ValueError("bad value 'abc'"), tmp_path / "x") == "bad value 'abc'"

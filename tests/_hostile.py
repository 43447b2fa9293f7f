"""Generators of the hostile uploads of issue 14 (small on disk, ruinous to read naively).

Shared by ``tests/io/test_io_hostile.py``, ``tests/storage`` and
``bench/bench_hostile_uploads.py`` (which puts ``tests/`` on ``sys.path``).
Each writes a file and returns its path; nothing is committed as a binary.

=========================  =========================================================
generator                  what reading it naively does
=========================  =========================================================
self_referencing_fif       MNE follows its "next file" reference to itself for ever
                           (the name is ``./in_raw.fif``, the de-identification
                           step's temporary copy)
fif_gz_bomb                ~0.7 MB of gzip that unpacks to 733 MB of FIF samples
eeglab_bomb                ~0.6 MB MATLAB file whose compressed variable unpacks to
                           635 MB
nifti_gz_bomb              ~0.8 MB ``.nii.gz`` whose header declares 769 MB of voxels
many_channel_names         a text recording naming 40,000 channels
=========================  =========================================================
"""

from __future__ import annotations

import io
import math
import struct
import zlib
from pathlib import Path

import numpy as np

PAPER_NAMES = ["C3", "C4", "Cz", "EMG_RF"]


def self_referencing_fif(folder: Path, name: str = "in_raw.fif") -> Path:
    """A ~200 KB FIF whose next-file reference names ``./in_raw.fif``.

    MNE saves a split recording (its first part names ``in_raw-1.fif`` as the
    next file); the name is then replaced, byte for byte, by ``./in_raw.fif``,
    which MNE resolves next to the file it is reading. Read as ``in_raw.fif``
    (what the de-identification step names its copy) MNE opens itself again
    and again.
    """
    import mne

    folder.mkdir(parents=True, exist_ok=True)
    work = folder / "split"
    work.mkdir(exist_ok=True)
    info = mne.create_info(PAPER_NAMES[:3], 1000.0, "eeg")
    data = np.random.default_rng(0).normal(size=(3, 200_000)).astype(np.float32) * 1e-5
    raw = mne.io.RawArray(data, info, verbose="error")
    raw.save(work / "in_raw.fif", split_size="1.2MB", fmt="single", verbose="error")
    content = (work / "in_raw.fif").read_bytes()
    assert content.count(b"in_raw-1.fif") == 1
    content = content.replace(b"in_raw-1.fif", b"./in_raw.fif")
    for part in work.iterdir():
        part.unlink()
    work.rmdir()
    out = folder / name
    out.write_bytes(content)
    return out


def _deflate_repeated(prefix: bytes, unit: bytes, n_units: int, suffix: bytes) -> bytes:
    """Raw deflate of ``prefix + unit * n_units + suffix``, with ``unit`` compressed once.

    Each part ends with a full flush, after which deflate refers to nothing
    before it, so the one compressed copy of ``unit`` is repeated as is: a
    bomb of hundreds of MB is written in a fraction of a second.
    """

    def block(data: bytes) -> bytes:
        packer = zlib.compressobj(9, zlib.DEFLATED, -15)
        return packer.compress(data) + packer.flush(zlib.Z_FULL_FLUSH)

    final = zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)
    return block(prefix) + block(unit) * n_units + block(suffix) + final


def _checksums(prefix: bytes, unit: bytes, n_units: int, suffix: bytes) -> tuple[int, int]:
    crc, adler = zlib.crc32(prefix), zlib.adler32(prefix)
    for _ in range(n_units):
        crc, adler = zlib.crc32(unit, crc), zlib.adler32(unit, adler)
    return zlib.crc32(suffix, crc), zlib.adler32(suffix, adler)


def _gzip_repeated(path: Path, prefix: bytes, unit: bytes, n_units: int, suffix: bytes) -> None:
    crc, _ = _checksums(prefix, unit, n_units, suffix)
    size = len(prefix) + len(unit) * n_units + len(suffix)
    with open(path, "wb") as fh:
        fh.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff")
        fh.write(_deflate_repeated(prefix, unit, n_units, suffix))
        fh.write(struct.pack("<II", crc, size & 0xFFFFFFFF))


class _Capture(io.BytesIO):
    def close(self) -> None:  # MNE's end_file closes its file; keep the bytes readable
        pass


def fif_gz_bomb(path: Path, unpacked_mb: float = 733.0, n_chans: int = 22) -> Path:
    """A ``.fif.gz`` of zeros (float64 buffers) that unpacks to ``unpacked_mb`` MB."""
    import mne
    from mne._fiff.constants import FIFF
    from mne._fiff.write import (
        end_block,
        end_file,
        start_block,
        start_file,
        write_double,
        write_int,
    )
    from mne.io.base import _write_raw_metadata

    names = [f"EEG{i:03d}" for i in range(n_chans)]
    info = mne.create_info(names, 1000.0, "eeg")
    head = _Capture()
    fid = start_file(head)
    start_block(fid, FIFF.FIFFB_MEAS)
    _write_raw_metadata(fid, info, FIFF.FIFFT_DOUBLE, False, mne.Annotations([], [], []))
    start_block(fid, FIFF.FIFFB_RAW_DATA)
    write_int(fid, FIFF.FIFF_FIRST_SAMPLE, 0)
    buffer = _Capture()
    write_double(buffer, FIFF.FIFF_DATA_BUFFER, np.zeros((n_chans, 10_000)))
    tail = _Capture()
    end_block(tail, FIFF.FIFFB_RAW_DATA)
    end_block(tail, FIFF.FIFFB_MEAS)
    end_file(tail)
    unit = buffer.getvalue()
    n_units = math.ceil(unpacked_mb * 1e6 / len(unit))
    _gzip_repeated(path, head.getvalue(), unit, n_units, tail.getvalue())
    return path


def _mat_element(mtype: int, payload: bytes) -> bytes:
    padded = payload + bytes(-len(payload) % 8)
    return struct.pack("<II", mtype, len(payload)) + padded


def eeglab_bomb(path: Path, unpacked_mb: float = 635.0) -> Path:
    """An EEGLAB ``.set`` (MATLAB v7) with one more variable: ``unpacked_mb`` MB of zeros,
    zlib-compressed, which SciPy's reader unpacks whole."""
    import mne

    info = mne.create_info(PAPER_NAMES, 100.0, ["eeg", "eeg", "eeg", "emg"])
    data = np.random.default_rng(1).normal(size=(4, 1500)) * 1e-5
    raw = mne.io.RawArray(data, info, verbose="error")
    mne.export.export_raw(path, raw, fmt="eeglab", overwrite=True, verbose="error")
    unit = bytes(1024**2)  # 131,072 doubles: one column of the matrix
    rows = len(unit) // 8
    cols = math.ceil(unpacked_mb * 1e6 / len(unit))
    n_data = rows * cols * 8
    header = (
        _mat_element(6, struct.pack("<II", 6, 0))  # array flags: mxDOUBLE_CLASS
        + _mat_element(5, struct.pack("<ii", rows, cols))  # dimensions
        + _mat_element(1, b"zeros")  # name
        + struct.pack("<II", 9, n_data)  # miDOUBLE, then the values
    )
    prefix = struct.pack("<II", 14, len(header) + n_data) + header
    _, adler = _checksums(prefix, unit, cols, b"")
    stream = b"\x78\xda" + _deflate_repeated(prefix, unit, cols, b"") + struct.pack(">I", adler)
    with open(path, "ab") as fh:
        fh.write(struct.pack("<II", 15, len(stream)) + stream)
    return path


def nifti_gz_bomb(path: Path, unpacked_mb: float = 769.0) -> Path:
    """A ``.nii.gz`` whose header declares ``unpacked_mb`` MB of float32 zeros (all present)."""
    import nibabel as nib

    x, y, z = 64, 64, 48
    n_vols = math.ceil(unpacked_mb * 1e6 / (x * y * z * 4))
    header = nib.Nifti1Header()
    header.set_data_shape((x, y, z, n_vols))
    header.set_data_dtype(np.float32)
    header.set_zooms((3.0, 3.0, 3.0, 2.0))
    header.set_xyzt_units("mm", "sec")
    header["vox_offset"] = 352
    prefix = header.binaryblock + bytes(4)
    _gzip_repeated(path, prefix, bytes(x * y * z * 4), n_vols, b"")
    return path


def many_channel_names(path: Path, n_names: int = 40_000, n_rows: int = 20) -> Path:
    """A rehab-eegemg text recording whose channel-name line names ``n_names`` channels."""
    names = " ".join(f"ch{i}" for i in range(n_names))
    row = " ".join("0" for _ in range(n_names))
    lines = ["# rehab-eegemg 1", "# sfreq: 1000", "# units: uV", names] + [row] * n_rows
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def hang(*args: object, **kwargs: object) -> None:
    """A reader that never returns (stands in for one a crafted file sends into a loop)."""
    import time

    time.sleep(3600)

"""Header checks run before a third-party reader touches a file.

MNE, nibabel and SciPy trust what a header says: how many channels, how
many samples, which other file to open next. Each function here reads only
the header (or streams a compressed file without keeping it) and refuses,
with one sentence, a file that declares more than :mod:`rehab_core.io.limits`
allows or that names a file outside its own folder. They cost milliseconds on
an ordinary file.

===========  ==========================================================================
format       checked before the reader runs
===========  ==========================================================================
FIF          unpacked size of a ``.fif.gz``; channel count, sampling rate and number of
             samples (data buffers and skips) from the tag directory; no reference to a
             next file (split recordings): MNE would open whatever file that names,
             itself included, for ever
EEGLAB       MATLAB v7.3 (HDF5) refused; every compressed element's unpacked size;
             then (parsed in the sandbox) channels, rate and samples, and the ``.fdt``
             data file confined to the ``.set``'s folder
BrainVision  ``DataFile`` and ``MarkerFile`` confined to the header's folder; channel
             count, sampling interval, samples in the data file
EDF / BDF    channel count, sampling rate and samples from the fixed header
===========  ==========================================================================
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from rehab_core.io._reasons import is_read_error, short_reason
from rehab_core.io.errors import CorruptFileError, ExternalFileError, UnknownFormatError
from rehab_core.io.limits import (
    MAX_DECOMPRESSED_BYTES,
    check_decompressed_size,
    check_n_channels,
    check_sfreq,
    check_signal_values,
    confined_reference,
    gzip_size,
    inflate_size,
)

__all__ = [
    "check_fif",
    "check_eeglab_container",
    "check_eeglab_fields",
    "eeglab_fields",
    "check_brainvision",
    "check_edf",
]

_SMALL_TAG = 64  # bytes; the scalar tags read here are 4 or 8 bytes


# --- FIF ---------------------------------------------------------------------------------------
def check_fif(path: Path, name: str | None = None) -> None:
    """Refuse a FIF file that unpacks too far, declares too much or names a next file.

    Raises
    ------
    TooLargeError, ChannelNamesError, UnknownSamplingRateError
        A bound of :mod:`rehab_core.io.limits` is exceeded.
    ExternalFileError
        The file is one part of a split recording (it names a next file).
    CorruptFileError
        The gzip stream or the tag directory cannot be read.
    """
    from mne._fiff.constants import FIFF
    from mne._fiff.open import fiff_open
    from mne._fiff.tag import read_tag
    from mne._fiff.tree import dir_tree_find

    name = name or path.name
    if path.name.lower().endswith(".gz"):
        try:
            size = gzip_size(path, MAX_DECOMPRESSED_BYTES)
        except (OSError, EOFError, zlib.error) as err:
            raise CorruptFileError(
                f"{name} is not a complete gzip file ({short_reason(err, path)}); "
                "expected a gzip-compressed FIF recording."
            ) from err
        check_decompressed_size(name, size, MAX_DECOMPRESSED_BYTES)
    try:
        fid, tree, directory = fiff_open(path, verbose="error")
    except Exception as err:
        if not is_read_error(err):
            raise
        raise CorruptFileError(
            f"{name} could not be read as FIF ({short_reason(err, path)}); "
            "expected a complete FIF recording."
        ) from err

    def scalar(ent: Any) -> float | None:
        if ent.size > _SMALL_TAG:
            return None
        try:
            return float(read_tag(fid, ent.pos).data.item())
        except Exception as err:
            if not is_read_error(err):
                raise
            return None

    with fid:
        for node in dir_tree_find(tree, FIFF.FIFFB_REF):
            role, names_a_file = None, False
            for ent in node["directory"]:
                if ent.kind == FIFF.FIFF_REF_ROLE:
                    role = scalar(ent)
                elif ent.kind in (FIFF.FIFF_REF_FILE_NAME, FIFF.FIFF_REF_FILE_NUM):
                    names_a_file = True
            if names_a_file and role in (None, FIFF.FIFFV_ROLE_NEXT_FILE):
                raise ExternalFileError(
                    f"{name} is one part of a split FIF recording (it names a next file to "
                    "read); save the recording as one file and upload that."
                )
        n_chans = sum(1 for ent in directory if ent.kind == FIFF.FIFF_CH_INFO)
        for ent in directory:
            if ent.kind == FIFF.FIFF_NCHAN:
                declared = scalar(ent)
                if declared is not None:
                    n_chans = max(n_chans, int(declared))
                break
        check_n_channels(name, n_chans)
        for ent in directory:
            if ent.kind == FIFF.FIFF_SFREQ:
                sfreq = scalar(ent)
                if sfreq is not None:
                    check_sfreq(name, sfreq)
                break
        itemsize = {
            FIFF.FIFFT_DAU_PACK16: 2,
            FIFF.FIFFT_SHORT: 2,
            FIFF.FIFFT_FLOAT: 4,
            FIFF.FIFFT_DOUBLE: 8,
            FIFF.FIFFT_INT: 4,
            FIFF.FIFFT_COMPLEX_FLOAT: 8,
            FIFF.FIFFT_COMPLEX_DOUBLE: 16,
        }
        n_values, n_skipped, largest = 0, 0, 0
        for ent in directory:
            if ent.kind == FIFF.FIFF_DATA_BUFFER:
                values = ent.size // itemsize.get(ent.type, 2)
                n_values += values
                largest = max(largest, values)
            elif ent.kind == FIFF.FIFF_DATA_SKIP:
                n_skipped += max(0, int(scalar(ent) or 0))
        n_values += n_skipped * largest  # MNE fills each skipped buffer with zeros
        check_signal_values(name, max(n_chans, 1), n_values // max(n_chans, 1))


# --- EEGLAB (MATLAB) ---------------------------------------------------------------------------
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_MI_COMPRESSED = 15


def _region(fh: BinaryIO, n_bytes: int) -> Iterator[bytes]:
    left = n_bytes
    while left > 0:
        chunk = fh.read(min(left, 1 << 20))
        if not chunk:
            return
        left -= len(chunk)
        yield chunk


def check_eeglab_container(path: Path, name: str | None = None) -> None:
    """Refuse a MATLAB file saved as v7.3 (HDF5) or whose compressed parts unpack too far.

    A MATLAB v7 file holds its variables as zlib-compressed elements that
    SciPy unpacks whole; each is counted here as it streams, and all of them
    together may unpack to at most :data:`~rehab_core.io.limits.MAX_DECOMPRESSED_BYTES`.
    """
    name = name or path.name
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(128)
        if len(head) < 128 or not head.startswith(b"MATLAB"):
            return  # MATLAB v4 (uncompressed) or not MATLAB at all: the reader decides
        fh.seek(512)
        if b"MATLAB 7.3" in head[:116] or fh.read(8) == _HDF5_SIGNATURE:
            raise UnknownFormatError(
                f"{name} is saved as MATLAB v7.3 (HDF5), which this reader does not support; "
                "save it from EEGLAB in the MATLAB v7 format, or export it as EDF or FIF."
            )
        order = "<" if head[126:128] == b"IM" else ">"
        offset, unpacked = 128, 0
        while offset + 8 <= size:
            fh.seek(offset)
            mtype, n_bytes = struct.unpack(f"{order}II", fh.read(8))
            if mtype >> 16:  # small data element: type and size share the first word
                offset += 8
                continue
            if mtype == _MI_COMPRESSED:
                left = MAX_DECOMPRESSED_BYTES - unpacked
                try:
                    unpacked += inflate_size(_region(fh, n_bytes), left)
                except zlib.error as err:
                    raise CorruptFileError(
                        f"{name} holds a damaged compressed variable ({short_reason(err, path)}); "
                        "expected a .set saved by EEGLAB."
                    ) from err
                check_decompressed_size(name, unpacked, MAX_DECOMPRESSED_BYTES)
            offset += 8 + n_bytes + (-n_bytes % 8 if mtype != _MI_COMPRESSED else 0)


def check_eeglab_fields(path: Path, fields: dict[str, Any], name: str | None = None) -> None:
    """Check an EEGLAB header's numbers and its ``.fdt`` reference (from :func:`eeglab_fields`).

    ``fields`` holds ``nbchan``, ``pnts``, ``trials``, ``srate`` (numbers or
    None) and ``data_file`` (the ``EEG.data`` text when the samples lie in a
    separate file, else None).

    Raises
    ------
    ExternalFileError
        The data file is named with a folder, lies outside the ``.set``'s
        folder or is not beside it.
    """
    name = name or path.name
    n_chans = int(fields.get("nbchan") or 0)
    check_n_channels(name, n_chans)
    srate = fields.get("srate")
    if srate is not None:
        check_sfreq(name, float(srate))
    n_times = int(fields.get("pnts") or 0) * max(1, int(fields.get("trials") or 1))
    check_signal_values(name, max(n_chans, 1), n_times)
    reference = fields.get("data_file")
    if reference is None:
        return
    target = confined_reference(path.parent, reference, name, "data file (.fdt)")
    if not target.is_file() and not path.with_suffix(".fdt").is_file():
        raise ExternalFileError(
            f"{name} is an EEGLAB recording whose data lie in a separate .fdt file, which is "
            "not beside it; save the recording from EEGLAB as one .set file, or export it as "
            "EDF or FIF."
        )


def _scalar(value: Any) -> float | None:
    import numpy as np

    array = np.asarray(value)
    if array.size != 1 or array.dtype.kind not in "iuf":
        return None
    return float(array.ravel()[0])


def eeglab_fields(path: str) -> dict[str, Any]:
    """Parse a ``.set`` the two ways MNE does and return the header numbers (JSON types).

    Run through :func:`rehab_core.io.sandbox.run_limited`: SciPy's MATLAB
    reader is not hardened against crafted files (scipy/scipy#25166).
    """
    import warnings

    import numpy as np
    from scipy.io import loadmat

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loadmat(path, appendmat=False)
        mat = loadmat(path, appendmat=False, squeeze_me=True, mat_dtype=False)
    eeg = mat.get("EEG")
    if isinstance(eeg, np.ndarray) and eeg.dtype.names is not None and eeg.size == 1:
        record = eeg.item() if eeg.ndim else eeg[()]
        keys = eeg.dtype.names
        fields = {k: record[i] for i, k in enumerate(keys)}
    else:
        fields = {k: v for k, v in mat.items() if not k.startswith("__")}
    data = fields.get("data")
    data_file = None
    if isinstance(data, str):
        data_file = data
    elif isinstance(data, np.ndarray) and data.dtype.kind in "US" and data.size == 1:
        data_file = str(data.ravel()[0])
    return {
        "nbchan": _scalar(fields.get("nbchan")),
        "pnts": _scalar(fields.get("pnts")),
        "trials": _scalar(fields.get("trials")),
        "srate": _scalar(fields.get("srate")),
        "data_file": data_file,
    }


# --- BrainVision -------------------------------------------------------------------------------
_VHDR_KEY = re.compile(
    r"^\s*(DataFile|MarkerFile|NumberOfChannels|SamplingInterval)\s*=(.*)$", re.IGNORECASE
)
_VHDR_BYTES = {"INT_16": 2, "UINT_16": 2, "INT_32": 4, "IEEE_FLOAT_32": 4}


def check_brainvision(path: Path, name: str | None = None) -> None:
    """Confine a ``.vhdr``'s data and marker files to its folder and bound its numbers."""
    name = name or path.name
    text = path.read_bytes()[: 4 * 1024**2].decode("latin-1")
    values: dict[str, list[str]] = {}
    for line in text.splitlines():
        match = _VHDR_KEY.match(line)
        if match:
            values.setdefault(match.group(1).lower(), []).append(match.group(2).strip())
    for key, what in (("datafile", "data file (.eeg)"), ("markerfile", "marker file (.vmrk)")):
        for reference in values.get(key, []):
            if reference:
                confined_reference(path.parent, reference, name, what)
    n_chans = 0
    for value in values.get("numberofchannels", []):
        try:
            n_chans = max(n_chans, int(value))
        except ValueError:
            continue
    check_n_channels(name, n_chans)
    for value in values.get("samplinginterval", []):
        try:
            interval_us = float(value)
        except ValueError:
            continue
        if interval_us > 0:
            check_sfreq(name, 1e6 / interval_us)
    data_files = [v for v in values.get("datafile", []) if v]
    if n_chans and data_files:
        target = path.parent / data_files[0]
        if target.is_file():
            width = min(_VHDR_BYTES.values())
            check_signal_values(name, n_chans, target.stat().st_size // width // n_chans)


# --- EDF / BDF ---------------------------------------------------------------------------------
def _ascii_number(raw: bytes) -> float | None:
    try:
        return float(raw.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        return None


def check_edf(path: Path, fmt: str, name: str | None = None) -> None:
    """Bound an EDF/BDF header's channel count, sampling rates and number of samples."""
    name = name or path.name
    with open(path, "rb") as fh:
        head = fh.read(256)
        if len(head) < 256:
            return  # the reader refuses a short file with its own sentence
        n_signals = _ascii_number(head[252:256])
        if n_signals is None or n_signals < 1:
            return
        n_signals = int(n_signals)
        check_n_channels(name, n_signals)
        n_records = _ascii_number(head[236:244])
        duration = _ascii_number(head[244:252])
        fh.seek(256 + n_signals * 216)
        per_record = [_ascii_number(fh.read(8)) for _ in range(n_signals)]
    samples = [int(n) for n in per_record if n is not None and n > 0]
    if not samples:
        return
    if duration is not None and duration > 0:
        check_sfreq(name, max(samples) / duration)
    width = 3 if fmt == "BDF" else 2
    header_bytes = 256 * (n_signals + 1)
    if n_records is None or n_records < 0:  # -1: as many records as the file holds
        n_records = (path.stat().st_size - header_bytes) // (sum(samples) * width)
    check_signal_values(name, n_signals, int(n_records) * max(samples))

"""Bounds on what a recording may declare, checked before a reader allocates or unpacks it.

A hostile file is small on disk and asks for a lot: a header announcing
40,000 channels, a gzip stream of zeros that unpacks to gigabytes, an fMRI
header declaring a thousand volumes of 256^3 voxels. Each reader checks the
header's numbers against these bounds first and refuses with one sentence, so
no reader ever allocates, unpacks or loops past them.

The bounds, and why
-------------------
:data:`MAX_CHANNELS` = 512
    High-density EEG has 256 electrodes; with EMG, EOG and auxiliary inputs
    no amplifier the clinic uses reaches 512. The paper records 22.
:data:`MAX_SFREQ_HZ` = 20,000 Hz
    Surface EMG is sampled at 1-10 kHz; 20 kHz leaves room for any amplifier.
:data:`MAX_SIGNAL_VALUES` = 2**25 (33.5 million samples over all channels)
    22 channels for 25 min at 1 kHz, or 64 channels for 8.7 min: about three
    times the 9-minute recordings the demo and the paper's protocol use. Read
    as float64 that is 256 MiB, and the readers hold about two copies, so an
    accepted recording fits in the upload sandbox's memory budget
    (:mod:`rehab_core.io.sandbox`).
:data:`MAX_FMRI_VALUES` = 2**26 (67 million voxel values)
    e.g. 64 x 64 x 40 x 400 volumes or 96 x 96 x 60 x 120; the paper's
    series is 64 x 64 x 35 x 120 (17 million). Read as float32: 256 MiB.
:data:`MAX_DECOMPRESSED_BYTES` = the signal bound as float64 plus 16 MiB
    The most any compressed EEG-EMG file (``.fif.gz``, a compressed EEGLAB
    ``.set``) may unpack to: the largest accepted recording stored as
    doubles, plus room for its header. A compressed NIfTI may unpack to what
    its own header declares (itself bounded by :data:`MAX_FMRI_VALUES`).

Unpacking is counted as it streams (:func:`gzip_size`, :func:`inflate_size`),
never buffered, so a bomb is refused after at most
:data:`MAX_DECOMPRESSED_BYTES` of work and a few MiB of memory.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from collections.abc import Iterable
from pathlib import Path

from rehab_core.io.errors import (
    ChannelNamesError,
    ExternalFileError,
    TooLargeError,
    UnknownSamplingRateError,
)

__all__ = [
    "MAX_CHANNELS",
    "MAX_SFREQ_HZ",
    "MAX_SIGNAL_VALUES",
    "MAX_FMRI_VALUES",
    "MAX_DECOMPRESSED_BYTES",
    "MAX_FMRI_BYTES",
    "check_n_channels",
    "check_sfreq",
    "check_signal_values",
    "check_decompressed_size",
    "check_fmri_size",
    "gzip_size",
    "inflate_size",
    "confined_reference",
]

MAX_CHANNELS = 512
"""Most channels a recording may have."""
MAX_SFREQ_HZ = 20_000.0
"""Highest sampling rate accepted, in Hz."""
MAX_SIGNAL_VALUES = 2**25
"""Most samples a recording may hold, over all channels (n_chans * n_times)."""
MAX_FMRI_VALUES = 2**26
"""Most voxel values an fMRI series may hold (x * y * z * t)."""
MAX_DECOMPRESSED_BYTES = MAX_SIGNAL_VALUES * 8 + 16 * 1024**2
"""Most bytes a compressed EEG-EMG file may unpack to (272 MiB)."""
MAX_FMRI_BYTES = MAX_FMRI_VALUES * 4
"""Most bytes an fMRI series may hold, both as stored and as the float32 it is read into."""

_CHUNK = 1 << 20


def check_n_channels(name: str, n_chans: int) -> None:
    """Refuse more than :data:`MAX_CHANNELS` channels (:class:`ChannelNamesError`)."""
    if n_chans > MAX_CHANNELS:
        raise ChannelNamesError(
            f"{name} declares {n_chans:,} channels, more than the {MAX_CHANNELS} any "
            "EEG-EMG amplifier records; expected a recording with its real channels only."
        )


def check_sfreq(name: str, sfreq: float) -> None:
    """Refuse a sampling rate that is not finite and positive or above :data:`MAX_SFREQ_HZ`."""
    if not math.isfinite(sfreq) or sfreq <= 0 or sfreq > MAX_SFREQ_HZ:
        raise UnknownSamplingRateError(
            f"{name} declares a sampling rate of {sfreq:g} Hz, outside 0-{MAX_SFREQ_HZ:,.0f} Hz; "
            "expected the amplifier's rate, e.g. 1000 Hz."
        )


def check_signal_values(name: str, n_chans: int, n_times: int) -> None:
    """Refuse a recording of more than :data:`MAX_SIGNAL_VALUES` samples over all channels."""
    n_values = int(n_chans) * int(n_times)
    if n_values > MAX_SIGNAL_VALUES:
        raise TooLargeError(
            f"{name} declares {n_chans:,} channels of {n_times:,} samples ({n_values:,} values), "
            f"more than the {MAX_SIGNAL_VALUES:,} a recording may hold; "
            "upload a shorter excerpt or fewer channels."
        )


def check_fmri_size(name: str, shape: tuple[int, ...], itemsize: int) -> None:
    """Refuse an image whose declared voxels exceed :data:`MAX_FMRI_VALUES`, or whose data
    (as stored, ``itemsize`` bytes a value) exceed :data:`MAX_FMRI_BYTES`."""
    n_values = math.prod(int(n) for n in shape)
    if n_values > MAX_FMRI_VALUES or n_values * max(int(itemsize), 4) > MAX_FMRI_BYTES:
        raise TooLargeError(
            f"{name} declares an image of shape {tuple(int(n) for n in shape)} "
            f"({n_values:,} values of {int(itemsize)} bytes), more than the "
            f"{MAX_FMRI_BYTES / 1024**2:,.0f} MiB an fMRI series may hold; "
            "expected a resting-state series of ordinary size."
        )


def check_decompressed_size(name: str, n_bytes: int, limit: int) -> None:
    """Refuse a compressed file that unpacks to more than ``limit`` bytes."""
    if n_bytes > limit:
        raise TooLargeError(
            f"{name} unpacks to more than {limit / 1024**2:,.0f} MiB, more than a recording "
            "of the largest accepted size holds; expected an ordinary compressed recording."
        )


def gzip_size(source: str | os.PathLike[str] | bytes, limit: int) -> int:
    """Bytes a gzip file (path or content) unpacks to, counted up to ``limit + 1``.

    Streams in 1 MiB chunks and keeps nothing, so a bomb costs time
    proportional to ``limit`` and constant memory. Every gzip member counts.

    Raises
    ------
    OSError, EOFError, zlib.error
        The stream is not valid gzip (callers turn these into their sentence).
    """
    import io

    total = 0
    raw = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else open(source, "rb")
    with raw, gzip.GzipFile(fileobj=raw) as fh:
        while total <= limit:
            chunk = fh.read(_CHUNK)
            if not chunk:
                break
            total += len(chunk)
    return total


def inflate_size(chunks: Iterable[bytes], limit: int) -> int:
    """Bytes a zlib stream (a MATLAB compressed element) unpacks to, counted up to ``limit + 1``.

    ``chunks`` is the compressed stream in pieces (read as they are needed);
    nothing unpacked is kept.

    Raises
    ------
    zlib.error
        The stream is not valid zlib data.
    """
    inflater = zlib.decompressobj()
    total = 0
    for chunk in chunks:
        data = inflater.decompress(chunk, _CHUNK)
        total += len(data)
        while inflater.unconsumed_tail and total <= limit:
            data = inflater.decompress(inflater.unconsumed_tail, _CHUNK)
            total += len(data)
        if total > limit or inflater.eof:
            break
    return total


def confined_reference(folder: Path, reference: str, name: str, what: str) -> Path:
    """The file a recording's header names, refused unless it is a plain name in ``folder``.

    BrainVision headers name their ``.eeg``/``.vmrk`` files, EEGLAB ``.set``
    files their ``.fdt``: the readers join that text to the header's folder,
    so ``../`` or an absolute path would make the server read any file. Only
    a bare file name that stays inside ``folder`` (symbolic links resolved)
    is accepted.

    Parameters
    ----------
    folder : Path
        The folder of the file that holds the reference.
    reference : str
        The file name as written in the header.
    name : str
        The header file's name, for the message.
    what : str
        What the reference is, for the message (e.g. "data file").

    Raises
    ------
    ExternalFileError
        The reference is a path rather than a name, or leaves the folder.
    """
    plain = (
        reference
        and reference == reference.strip()
        and "/" not in reference
        and "\\" not in reference
        and reference not in (".", "..")
        and "\x00" not in reference
        and ":" not in reference
    )
    if plain:
        target = folder / reference
        base = folder.resolve()
        resolved = target.resolve()
        if resolved.parent == base:
            return target
    raise ExternalFileError(
        f"{name} names a {what} outside its own folder; expected the {what} "
        "to be named without a folder and to lie beside it."
    )

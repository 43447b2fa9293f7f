"""De-identification: names, dates and free text removed from recording headers before storage.

What is cleared, per format (everything else, the samples above all, is kept
byte for byte where the format allows it):

==========================  ===================================================================
format                      cleared
==========================  ===================================================================
NIfTI-1 / NIfTI-2           the text fields ``descrip``, ``aux_file``, ``intent_name``,
(``.nii``, ``.nii.gz``)     ``db_name`` and ``data_type`` (NIfTI-1's Analyze leftovers) or
                            ``unused_str`` (NIfTI-2); every header extension (they can carry
                            DICOM tags: names, birth dates, accession numbers). The extensions'
                            bytes are zeroed and the extension flag cleared, so ``vox_offset``
                            and the image bytes stay where they were; affine, TR, pixdim,
                            units and qform/sform codes are untouched. A ``.nii.gz`` is
                            recompressed without the gzip file name and time stamp.
EDF / BDF                   local patient identification (bytes 8-88) becomes ``X X X X``,
                            local recording identification (88-168) ``Startdate X X X X``
                            and the start date (168-176) ``01.01.85``, the EDF+ values for an
                            anonymised recording; the rest of the file is left as it was.
FIF (``.fif``, ``.fif.gz``) what ``mne.io.anonymize_info`` replaces (subject_info, meas_date,
                            experimenter, description, file and measurement time stamps...),
                            then the recording is saved again in its own sample format.
EEGLAB (``.set``)           the struct fields ``subject``, ``setname``, ``filename``,
                            ``filepath``, ``comments`` and ``history``; the MATLAB header's
                            creation time.
rehab-eegemg text           every header line except the format line and the ``sfreq``,
(``.txt``)                  ``units`` and ``n_samples`` keys; with :func:`deidentify_file`,
                            every key of a ``<stem>.json`` sidecar except ``sfreq``, ``units``
                            and ``channel_types``.
==========================  ===================================================================

A file with nothing to clear comes back unchanged (same bytes). What was
cleared is reported by field name only, never by value, so the report can be
stored and logged. The functions here never log or print.

Not covered: free text inside EDF+ annotation signals, FIF/EEGLAB event
descriptions, and BrainVision files (the store does not accept them).
"""

from __future__ import annotations

import gzip
import io
import json
import math
import os
import struct
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rehab_core._files import write_atomic
from rehab_core.io import limits as _limits
from rehab_core.io._common import check_matlab_parses, short_reason
from rehab_core.io.errors import CorruptFileError, TooLargeError, UnknownFormatError
from rehab_core.io.limits import check_fmri_size

_Deidentifier = Callable[[bytes, str, Path], tuple[bytes, list[str]]]

__all__ = ["DEIDENTIFY_SUFFIXES", "MAX_DECOMPRESSED_BYTES", "deidentify_bytes", "deidentify_file"]

MAX_DECOMPRESSED_BYTES = _limits.MAX_DECOMPRESSED_BYTES
"""Most a ``.fif.gz`` may unpack to (:mod:`rehab_core.io.limits`); a ``.nii.gz`` may unpack to
what its header declares, itself bounded by ``MAX_FMRI_BYTES``."""
_NIFTI_SLACK = 1024**2  # trailing bytes after the declared image that are tolerated
_MAX_NIFTI_OFFSET = 64 * 1024**2

_NIFTI_TEXT_FIELDS = ("descrip", "aux_file", "intent_name", "db_name", "data_type", "unused_str")
_EDF_FIELDS = (  # (start, stop, field, EDF+ anonymous value)
    (8, 88, "patient_id", b"X X X X"),
    (88, 168, "recording_id", b"Startdate X X X X"),
    (168, 176, "startdate", b"01.01.85"),
)
_EEGLAB_FIELDS = ("subject", "setname", "filename", "filepath", "comments", "history")
_TEXT_KEYS = ("sfreq", "units", "n_samples")
_SIDECAR_KEYS = ("sfreq", "units", "channel_types")
_MAT_HEADER = b"MATLAB 5.0 MAT-file, written by rehab_core (de-identified)".ljust(116)


def _nifti_header(data: bytes, name: str) -> Any:
    import nibabel as nib

    klass = _nifti_header_class(data, name)
    try:
        return klass.from_fileobj(io.BytesIO(data), check=False)
    except (ValueError, EOFError, nib.spatialimages.HeaderDataError) as err:
        raise CorruptFileError(
            f"{name} has an unreadable NIfTI header ({short_reason(err, Path(name))}); "
            "expected a NIfTI-1 or NIfTI-2 image."
        ) from err


def _nifti_declared_bytes(header: Any, name: str) -> int:
    """Header, extensions and image bytes the header declares; refused beyond the fMRI bound."""
    try:
        shape = header.get_data_shape()
        itemsize = header.get_data_dtype().itemsize
    except Exception as err:  # nibabel raises several types for garbage dims and codes
        raise CorruptFileError(
            f"{name} has an unreadable NIfTI header ({short_reason(err, Path(name))}); "
            "expected a NIfTI-1 or NIfTI-2 image."
        ) from err
    check_fmri_size(name, shape, itemsize)
    offset = int(header["vox_offset"]) if _finite(header["vox_offset"]) else 0
    offset = max(offset, len(header.binaryblock))
    if offset > _MAX_NIFTI_OFFSET:
        raise TooLargeError(
            f"{name} puts its image {offset:,} bytes after the start, far more than a header "
            "and its extensions take; expected an ordinary NIfTI image."
        )
    return offset + math.prod(int(n) for n in shape) * itemsize


def _nifti(content: bytes, name: str, folder: Path) -> tuple[bytes, list[str]]:
    compressed = content[:2] == b"\x1f\x8b"
    if compressed:
        # the header says how much there is to unpack; a stream that holds more is refused
        # before it is unpacked, whatever it would unpack to
        declared = _nifti_declared_bytes(_nifti_header(_gunzip(content, name, 540), name), name)
        data = _gunzip(content, name, declared + _NIFTI_SLACK, refuse_beyond=True)
    else:
        data = content
    header = _nifti_header(data, name)
    if not compressed:
        _nifti_declared_bytes(header, name)
    cleared = []
    for field in _NIFTI_TEXT_FIELDS:
        if field in header.keys() and bytes(header[field]).strip(b"\0 "):
            header[field] = b""
            cleared.append(field)
    out = bytearray(data)
    size = len(header.binaryblock)
    out[:size] = header.binaryblock
    vox_offset = int(header["vox_offset"]) if _finite(header["vox_offset"]) else 0
    if vox_offset >= size + 4 and len(out) >= size + 4 and any(out[size : size + 4]):
        out[size : size + 4] = bytes(4)
        stop = min(vox_offset, len(out))
        out[size + 4 : stop] = bytes(stop - size - 4)
        cleared.append("extensions")
    gzip_header = compressed and _gzip_header_says_more(content)
    if gzip_header:
        cleared.append("gzip_header")
    if not cleared:
        return content, cleared
    if compressed:
        return gzip.compress(bytes(out), compresslevel=6, mtime=0), cleared
    return bytes(out), cleared


def _finite(value: Any) -> bool:
    return math.isfinite(float(value)) and 0 <= float(value) < 2**62


def _nifti_header_class(data: bytes, name: str) -> type:
    import nibabel as nib

    if len(data) >= 4:
        for order in "<>":
            size = struct.unpack(f"{order}i", data[:4])[0]
            if size == 348 and len(data) >= 348:
                return nib.Nifti1Header
            if size == 540 and len(data) >= 540:
                return nib.Nifti2Header
    raise CorruptFileError(
        f"{name} does not start with a complete NIfTI-1 or NIfTI-2 header; "
        "expected a .nii or .nii.gz image."
    )


def _gzip_header_says_more(content: bytes) -> bool:
    """Whether a gzip member's header names a file, holds a comment or a time stamp."""
    flags = content[3] if len(content) > 3 else 0
    return bool(flags & 0x18) or content[4:8] != bytes(4)


def _gunzip(content: bytes, name: str, limit: int, *, refuse_beyond: bool = False) -> bytes:
    """The first ``limit`` unpacked bytes of every gzip member (all of them: ``refuse_beyond``
    refuses a stream that holds more, after unpacking at most one chunk past ``limit``)."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(content)) as fh:
            data = fh.read(limit)
            more = bool(fh.read(1)) if refuse_beyond and len(data) == limit else False
    except (OSError, EOFError, zlib.error) as err:
        raise CorruptFileError(
            f"{name} is not a complete gzip file ({short_reason(err, Path(name))}); "
            "expected a gzip-compressed recording."
        ) from err
    if more:
        raise TooLargeError(
            f"{name} unpacks to more than its header declares ({limit:,} bytes); "
            "expected an ordinary compressed image."
        )
    return data


def _edf(content: bytes, name: str, fmt: str) -> tuple[bytes, list[str]]:
    if len(content) < 256:
        raise CorruptFileError(
            f"{name} is {len(content)} bytes, shorter than the 256-byte {fmt} header; "
            f"expected a complete {fmt} recording."
        )
    out = bytearray(content)
    cleared = []
    for start, stop, field, value in _EDF_FIELDS:
        new = value.ljust(stop - start)
        if out[start:stop] != new:
            out[start:stop] = new
            cleared.append(field)
    return (bytes(out) if cleared else content), cleared


def _edf_like(fmt: str) -> _Deidentifier:
    return lambda content, name, folder: _edf(content, name, fmt)


def _fif_identifying(info: Any) -> list[str]:
    """The ``info`` keys that ``anonymize_info`` would change and that hold something."""
    import mne
    from mne.utils import object_diff

    anonymous = mne.io.anonymize_info(info.copy(), verbose="error")
    found = []
    for key in info:
        value = info[key]
        if not object_diff(value, anonymous[key]):
            continue
        if key in ("file_id", "meas_id"):
            if value is not None and int(value.get("secs", 0)):  # a time stamp, not just a machine
                found.append(key)
        elif value not in (None, "", [], {}) and not (hasattr(value, "__len__") and not len(value)):
            found.append(key)
    return found


def _fif(content: bytes, name: str, work: Path) -> tuple[bytes, list[str]]:
    import mne

    from rehab_core.io._guards import check_fif
    from rehab_core.io.signals import is_read_error

    compressed = content[:2] == b"\x1f\x8b"
    with _private_folder(work) as folder:
        src = Path(folder) / ("in_raw.fif.gz" if compressed else "in_raw.fif")
        _write_private(src, content)
        check_fif(src, name)  # no next file (itself, say), nothing past the bounds
        try:
            raw = mne.io.read_raw_fif(src, preload=True, verbose="error")
            cleared = _fif_identifying(raw.info)
        except Exception as err:
            if not is_read_error(err):
                raise
            raise CorruptFileError(
                f"{name} could not be read as FIF ({short_reason(err, src)}); "
                "expected a complete FIF recording."
            ) from err
        if not cleared:
            return content, cleared
        raw.anonymize(daysback=None, keep_his=False, verbose="error")
        out = Path(folder) / "out_raw.fif"
        fmt = raw.orig_format  # the file's own sample format keeps the samples as they were
        if fmt not in ("single", "double", "int", "short"):
            fmt = "double"
        raw.save(out, fmt=fmt, overwrite=True, verbose="error")
        data = out.read_bytes()
    if compressed:
        data = gzip.compress(data, compresslevel=6, mtime=0)
    return data, cleared


def _blank(value: Any) -> bool:
    """Whether a loadmat value holds no text (empty array, or only empty strings)."""
    import numpy as np

    array = np.asarray(value)
    if array.size == 0:
        return True
    if array.dtype.kind in "US":
        return all(not str(v).strip() for v in array.ravel())
    return False


def _eeglab(content: bytes, name: str, work: Path) -> tuple[bytes, list[str]]:
    import numpy as np
    import scipy.io

    from rehab_core.io.signals import is_read_error

    with _private_folder(work) as folder:
        probe = Path(folder) / "in.set"
        _write_private(probe, content)
        check_matlab_parses(probe, name)
    try:
        mat = scipy.io.loadmat(io.BytesIO(content), appendmat=False)
    except Exception as err:
        if not is_read_error(err):
            raise
        raise CorruptFileError(
            f"{name} could not be read as an EEGLAB MATLAB file ({short_reason(err, Path(name))}); "
            "expected a .set saved by EEGLAB (MATLAB v7 or older)."
        ) from err
    variables = {k: v for k, v in mat.items() if not k.startswith("__")}
    eeg = variables.get("EEG")
    struct_form = isinstance(eeg, np.ndarray) and eeg.dtype.names is not None and eeg.size == 1
    fields = eeg.flat[0] if struct_form else variables
    names = eeg.dtype.names if struct_form else tuple(variables)
    cleared = [f for f in _EEGLAB_FIELDS if f in names and not _blank(fields[f])]
    for field in cleared:
        fields[field] = np.array("")
    if not cleared:
        return content, cleared
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, variables, appendmat=False, do_compression=True)
    data = bytearray(buffer.getvalue())
    data[:116] = _MAT_HEADER  # savemat writes the time of writing there
    return bytes(data), cleared


def _text(content: bytes, name: str, folder: Path) -> tuple[bytes, list[str]]:
    """Drop header lines other than the format line and the keys the reader uses."""
    from rehab_core.io.text import FORMAT_NAME

    pos, kept, cleared, line_no = 0, [], [], 0
    while pos < len(content):
        end = content.find(b"\n", pos)
        end = len(content) if end < 0 else end + 1
        line = content[pos:end]
        line_no += 1
        text = line.decode("utf-8-sig" if line_no == 1 else "utf-8", errors="replace").strip()
        if text and not text.startswith("#"):
            break
        body = text[1:].strip()
        key = body.partition(":")[0].strip().lower() if ":" in body else None
        words = body.split()
        if (
            not text
            or key in _TEXT_KEYS
            or (key is None and len(words) == 2 and words[0].lower() == FORMAT_NAME)
        ):
            kept.append(line)
        else:
            cleared.append(f"header line {line_no}")
        pos = end
    if not cleared:
        return content, cleared
    if content.startswith(b"\xef\xbb\xbf") and kept and not kept[0].startswith(b"\xef\xbb\xbf"):
        kept.insert(0, b"\xef\xbb\xbf")  # the byte-order mark went with a dropped first line
    return b"".join(kept) + content[pos:], cleared


_FORMATS: dict[str, tuple[str, str, _Deidentifier]] = {
    ".nii.gz": ("fmri", "NIfTI", _nifti),
    ".nii": ("fmri", "NIfTI", _nifti),
    ".edf": ("signals", "EDF", _edf_like("EDF")),
    ".bdf": ("signals", "BDF", _edf_like("BDF")),
    ".fif.gz": ("signals", "FIF", _fif),
    ".fif": ("signals", "FIF", _fif),
    ".set": ("signals", "EEGLAB", _eeglab),
    ".txt": ("signals", "rehab-eegemg text", _text),
}
DEIDENTIFY_SUFFIXES: tuple[str, ...] = tuple(_FORMATS)
"""File suffixes :func:`deidentify_bytes` handles (matched case-insensitively)."""


def _format_of(kind: str, name: str) -> tuple[str, _Deidentifier]:
    from rehab_core._validation import check_option

    check_option("kind", kind, ("signals", "fmri"))
    lower = name.lower()
    for suffix, (fkind, label, function) in _FORMATS.items():
        if lower.endswith(suffix) and fkind == kind:
            return label, function
    allowed = ", ".join(s for s, (k, _, _) in _FORMATS.items() if k == kind)
    raise UnknownFormatError(
        f"{name} cannot be de-identified as a {kind} file; expected one of {allowed}."
    )


def deidentify_bytes(
    kind: str, name: str, content: bytes, *, work_dir: str | os.PathLike[str] | None = None
) -> tuple[bytes, dict[str, Any]]:
    """Remove names, dates and free text from a recording's header.

    FIF and EEGLAB files are parsed by MNE and SciPy, which were not written
    for hostile input: for them the work runs in a sandboxed child process
    (:func:`rehab_core.io.sandbox.run_limited`), after the header checks of
    :mod:`rehab_core.io._guards` (a FIF naming a next file, a compressed file
    that unpacks past :data:`MAX_DECOMPRESSED_BYTES`).

    Parameters
    ----------
    kind : {"signals", "fmri"}
        What the file is.
    name : str
        The file's name; its suffix (:data:`DEIDENTIFY_SUFFIXES`) picks the
        format, and it names the file in error messages.
    content : bytes
        The file's bytes (not modified).
    work_dir : path-like | None
        Where the temporary copies of FIF and EEGLAB files go, each in a
        private ``deid-*`` folder (0700) removed afterwards. The store passes
        its ``DATA_DIR/tmp``, so the original bytes never leave the data
        folder and a copy a crash left behind is removed by ``rehab gc``;
        None: the system's temporary folder.

    Returns
    -------
    content : bytes
        The de-identified bytes; ``content`` itself when nothing was cleared.
    report : dict
        ``{"format": str, "cleared": list[str]}``: the names of the fields
        that held something and were cleared (never their values).

    Raises
    ------
    UnknownFormatError
        The suffix is not one of this kind's formats.
    CorruptFileError, TooLargeError, ExternalFileError, ResourceLimitError
        The header cannot be parsed (so it cannot be cleared either), declares
        too much or names another file, or parsing it ran past the sandbox's
        limits.
    """
    from rehab_core.io.sandbox import in_sandbox

    label, function = _format_of(kind, name)
    content = bytes(content)
    work = Path(work_dir) if work_dir is not None else Path(tempfile.gettempdir())
    work.mkdir(mode=0o700, parents=True, exist_ok=True)
    if function in (_fif, _eeglab) and not in_sandbox():
        out, cleared = _deidentify_sandboxed(kind, name, content, work)
    else:
        out, cleared = function(content, name, work)
    return out, {"format": label, "cleared": cleared}


def _deidentify_sandboxed(
    kind: str, name: str, content: bytes, work: Path
) -> tuple[bytes, list[str]]:
    from rehab_core.io.sandbox import run_limited

    with _private_folder(work) as folder:
        src, dst = Path(folder) / "original", Path(folder) / "deidentified"
        _write_private(src, content)
        cleared = run_limited(
            _deidentify_job, kind, name, str(src), str(dst), str(folder), what=name
        )
        if not cleared:
            return content, []
        return dst.read_bytes(), list(cleared)


def _deidentify_job(kind: str, name: str, src: str, dst: str, folder: str) -> list[str]:
    """The sandboxed half of :func:`deidentify_bytes`: ``src`` in, ``dst`` out, cleared fields."""
    _, function = _format_of(kind, name)
    out, cleared = function(Path(src).read_bytes(), name, Path(folder))
    if cleared:
        _write_private(Path(dst), out)
    return cleared


def _private_folder(work: Path) -> tempfile.TemporaryDirectory:
    """A fresh 0700 folder under ``work`` for the copies of one file, removed on exit."""
    return tempfile.TemporaryDirectory(prefix="deid-", dir=work)


def _write_private(path: Path, content: bytes) -> None:
    """Write a new file readable by this user only (0600, whatever the umask)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)


def _clean_sidecar(path: Path) -> list[str]:
    """Keep only the keys the text reader uses in ``<stem>.json``; the names of the others."""
    from rehab_core.io.text import _read_sidecar

    content = _read_sidecar(path)  # {} when there is none; bad JSON is refused there
    dropped = [k for k in content if k not in _SIDECAR_KEYS]
    if dropped:
        kept = {k: v for k, v in content.items() if k in _SIDECAR_KEYS}
        write_atomic(path.with_suffix(".json"), json.dumps(kept, indent=2).encode("utf-8"))
    return [f"{path.with_suffix('.json').name} key {i + 1}" for i in range(len(dropped))]


def deidentify_file(kind: str, path: str | os.PathLike[str]) -> dict[str, Any]:
    """De-identify a recording in place (atomically: the old file or the whole new one).

    Parameters
    ----------
    kind : {"signals", "fmri"}
    path : str | os.PathLike
        The recording; a text recording's ``<stem>.json`` sidecar is cleaned too.

    Returns
    -------
    dict
        ``{"format": str, "cleared": list[str]}`` as for :func:`deidentify_bytes`;
        the file is rewritten only when something was cleared.

    Raises
    ------
    UnknownFormatError, CorruptFileError
        As for :func:`deidentify_bytes`; the file is left as it was.
    FileNotFoundError
        ``path`` does not exist.
    """
    path = Path(path)
    content = path.read_bytes()
    out, report = deidentify_bytes(kind, path.name, content)
    if report["cleared"]:
        write_atomic(path, out)
    if report["format"] == "rehab-eegemg text":
        report["cleared"] += _clean_sidecar(path)
    return report

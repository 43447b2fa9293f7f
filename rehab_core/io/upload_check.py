"""What a dashboard upload may be, and the check that reads it before anything is kept.

An upload is one self-contained file: the EEG-EMG recording (``signals``) or
the resting-state fMRI (``fmri``). :func:`upload_suffix` decides from the name
the user uploaded it under whether its kind and format are accepted at all;
:func:`check_upload` reads the file with the dashboard's own reader
(:func:`~rehab_core.io.read_signals` or :func:`~rehab_core.io.read_fmri`) and
returns the QC summary stored beside it. Both refuse with an
:class:`~rehab_core.io.InputError`: one sentence naming the file as the user
called it, never the path of the copy that was read.

:func:`check_upload` takes only plain arguments and returns a JSON-ready
dict, so it can run in a separate, resource-limited process.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from rehab_core._validation import check_option
from rehab_core.io.channels import PAPER_CHANNELS
from rehab_core.io.errors import InputError, UnknownFormatError
from rehab_core.io.fmri import read_fmri
from rehab_core.io.signals import read_signals

__all__ = ["KINDS", "UPLOAD_SUFFIXES", "upload_suffix", "check_upload"]

KINDS: tuple[str, ...] = ("signals", "fmri")
"""What an upload can be: the EEG-EMG recording or the resting-state fMRI."""

UPLOAD_SUFFIXES: dict[str, dict[str, str]] = {
    "signals": {
        ".txt": "rehab-eegemg text",
        ".edf": "EDF",
        ".bdf": "BDF",
        ".fif": "FIF",
        ".fif.gz": "FIF",
        ".set": "EEGLAB",
    },
    "fmri": {".nii": "NIfTI", ".nii.gz": "NIfTI"},
}
"""Suffixes accepted per kind (case-insensitive) and the format each names.

Every one is a single, self-contained file. BrainVision (``.vhdr`` with its
``.vmrk`` and ``.eeg``) and EEGLAB with a separate ``.fdt`` need several files
and are refused with a sentence that says what to export instead.
"""

_EXPORT_HINT = "export the recording as EDF, FIF or rehab-eegemg text (.txt) and upload that"
_MULTI_FILE = {
    ".vhdr": "is a BrainVision header whose data lie in separate .vmrk and .eeg files, "
    "which cannot be uploaded as one file",
    ".vmrk": "is a BrainVision marker file; the recording needs its .vhdr and .eeg too, "
    "which cannot be uploaded as one file",
    ".eeg": "is the data part of a BrainVision recording, which needs its .vhdr and .vmrk "
    "too and cannot be uploaded as one file",
    ".fdt": "is the data part of an EEGLAB recording, which needs its .set too "
    "and cannot be uploaded as one file",
}


def upload_suffix(kind: str, original_name: str) -> str:
    """The accepted suffix ``original_name`` ends with, in lower case.

    Parameters
    ----------
    kind : {"signals", "fmri"}
    original_name : str
        The name the user uploaded the file under; only its end is looked at.

    Raises
    ------
    UnknownFormatError
        The suffix is not one of :data:`UPLOAD_SUFFIXES` for ``kind``; the
        sentence says what was expected (and, for a recording split over
        several files, what to export instead).
    """
    check_option("kind", kind, KINDS)
    lower = original_name.lower()
    allowed = UPLOAD_SUFFIXES[kind]
    for suffix in sorted(allowed, key=len, reverse=True):
        if lower.endswith(suffix) and len(lower) > len(suffix):
            return suffix
    what = "EEG-EMG recording" if kind == "signals" else "resting-state fMRI"
    for suffix, reason in _MULTI_FILE.items():
        if lower.endswith(suffix) and kind == "signals":
            raise UnknownFormatError(f"{original_name} {reason}; {_EXPORT_HINT}.")
    other = next(k for k in KINDS if k != kind)
    if any(lower.endswith(s) for s in UPLOAD_SUFFIXES[other]):
        expected = "an fMRI" if other == "fmri" else "an EEG-EMG"
        raise UnknownFormatError(
            f"{original_name} looks like {expected} file, not a {what}; "
            f"expected one of {', '.join(allowed)}."
        )
    raise UnknownFormatError(
        f"{original_name} is not a supported {what}; expected one of {', '.join(allowed)}."
    )


def _signal_qc(raw: Any) -> dict[str, Any]:
    types: dict[str, int] = {}
    for kind in raw.get_channel_types():
        types[kind] = types.get(kind, 0) + 1
    present = {name.lower() for name in raw.ch_names}
    sfreq = float(raw.info["sfreq"])
    return {
        "n_channels": len(raw.ch_names),
        "sfreq": sfreq,
        "duration_s": round(raw.n_times / sfreq, 3),
        "n_channels_by_type": dict(sorted(types.items())),
        "missing_paper_channels": [c for c in PAPER_CHANNELS if c.lower() not in present],
    }


def _fmri_qc(img: Any) -> dict[str, Any]:
    zooms = [float(z) for z in img.header.get_zooms()]
    shape = [int(n) for n in img.shape]
    tr = zooms[3]
    return {
        "shape": shape,
        "voxel_size_mm": [round(z, 4) for z in zooms[:3]],
        "tr_s": tr,
        "n_volumes": shape[3],
        "duration_s": round(shape[3] * tr, 3),
    }


def _renamed(err: InputError, read_name: str, original_name: str) -> InputError:
    """The same refusal with the read copy's name replaced by the uploaded name."""
    message = str(err).replace(read_name, original_name)
    try:
        return type(err)(message)
    except TypeError:  # pragma: no cover - every InputError takes one message
        return InputError(message)


def check_upload(kind: str, path: str | os.PathLike[str], original_name: str) -> dict[str, Any]:
    """Read an uploaded file with the dashboard's reader; its QC summary.

    Parameters
    ----------
    kind : {"signals", "fmri"}
    path : str | os.PathLike
        The file to read (a copy of the upload; its own name never reaches the user).
    original_name : str
        The name the user uploaded it under: checked with :func:`upload_suffix`
        and used in every sentence and warning in place of ``path``'s name.

    Returns
    -------
    dict
        JSON-ready. For ``signals``: ``n_channels``, ``sfreq`` (Hz),
        ``duration_s``, ``n_channels_by_type``, ``missing_paper_channels``.
        For ``fmri``: ``shape``, ``voxel_size_mm``, ``tr_s``, ``n_volumes``,
        ``duration_s``. Both: ``warnings``, the reader's warnings as sentences.

    Raises
    ------
    InputError
        The reader refused the file (unreadable, too short, 3D...), or the
        suffix is not accepted; one sentence naming ``original_name``.
    """
    suffix = upload_suffix(kind, original_name)
    path = Path(path)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if kind == "signals":
                qc = _signal_qc(read_signals(path))
            else:
                qc = _fmri_qc(read_fmri(path))
    except InputError as err:
        if suffix == ".set" and isinstance(err.__cause__, FileNotFoundError):
            raise UnknownFormatError(
                f"{original_name} is an EEGLAB recording whose data lie in a separate .fdt "
                f"file, which cannot be uploaded as one file; {_EXPORT_HINT}."
            ) from err
        raise _renamed(err, path.name, original_name) from err
    qc["warnings"] = [str(w.message).replace(path.name, original_name) for w in caught]
    return qc

"""``read_signals``: one entry point for every supported EEG-EMG file format.

The format is chosen from the file name's extension (case-insensitive):

=================  ==========================================  ============================
extension          format                                      reader
=================  ==========================================  ============================
``.txt``           rehab-eegemg text (:mod:`rehab_core.io.text`)  :func:`read_signals_text`
``.edf``           European Data Format                        ``mne.io.read_raw_edf``
``.bdf``           BioSemi Data Format                         ``mne.io.read_raw_bdf``
``.vhdr``          BrainVision (header; ``.eeg``/``.vmrk`` beside)  ``mne.io.read_raw_brainvision``
``.fif``, ``.fif.gz``  MNE/Neuromag FIF                         ``mne.io.read_raw_fif``
``.set``           EEGLAB                                      ``mne.io.read_raw_eeglab``
=================  ==========================================  ============================

Every reader returns a preloaded ``mne.io.BaseRaw`` in volts, refused files
raise an :class:`~rehab_core.io.errors.InputError` subclass, and the same
post-processing applies:

* Channel types. FIF stores real channel types and they are kept. EDF, BDF,
  BrainVision and EEGLAB do not (MNE calls every data channel ``eeg``), so
  channels MNE typed ``eeg`` are re-typed by name: ``standard_1005`` names stay
  ``eeg``, others become ``misc``. In every format a name starting with
  ``EMG`` (``EMG_RF``, ``emg1``) becomes ``emg``.
* EEG channels without stored positions get ``standard_1005`` positions.
* ``raw.info["description"]`` names the source format and file (and keeps
  a description stored in the file after it).
* Data must be finite and last at least one 10-s window.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rehab_core.io._common import (
    check_duration,
    check_matlab_parses,
    check_not_empty,
    finish_raw,
    short_reason,
)
from rehab_core.io._reasons import is_read_error
from rehab_core.io.channels import guess_channel_type
from rehab_core.io.errors import CorruptFileError, NonFiniteError, UnknownFormatError
from rehab_core.io.text import read_signals_text

if TYPE_CHECKING:
    import mne

__all__ = ["SIGNAL_EXTENSIONS", "read_signals"]

SIGNAL_EXTENSIONS: tuple[str, ...] = (".txt", ".edf", ".bdf", ".vhdr", ".fif", ".fif.gz", ".set")
"""Extensions :func:`read_signals` accepts (matched case-insensitively)."""

_FORMAT_NAMES = {
    ".edf": "EDF",
    ".bdf": "BDF",
    ".vhdr": "BrainVision",
    ".fif": "FIF",
    ".fif.gz": "FIF",
    ".set": "EEGLAB",
}
_TYPELESS_FORMATS = {".edf", ".bdf", ".vhdr", ".set"}


def _signal_extension(path: Path) -> str:
    """Return the supported extension of ``path`` or raise :class:`UnknownFormatError`."""
    lower = path.name.lower()
    for ext in sorted(SIGNAL_EXTENSIONS, key=len, reverse=True):
        if lower.endswith(ext):
            return ext
    raise UnknownFormatError(
        f"{path.name} is not a supported EEG-EMG recording; expected one of "
        f"{', '.join(SIGNAL_EXTENSIONS)}."
    )


def _mne_reader(ext: str) -> Callable[..., mne.io.BaseRaw]:
    import mne

    return {
        ".edf": mne.io.read_raw_edf,
        ".bdf": mne.io.read_raw_bdf,
        ".vhdr": mne.io.read_raw_brainvision,
        ".fif": mne.io.read_raw_fif,
        ".fif.gz": mne.io.read_raw_fif,
        ".set": mne.io.read_raw_eeglab,
    }[ext]


# MNE warnings that mean the file is damaged and MNE would return less data
# than the file announces; they are raised as errors, never passed on.
_TRUNCATION_WARNINGS = (
    r"Number of records from the header does not match the file size",  # EDF/BDF
    r"Invalid tag with only",  # FIF
)


def _edf_header_records(path: Path) -> str:
    """The EDF/BDF header's number-of-records field (8 ASCII bytes at offset 236)."""
    with open(path, "rb") as fh:
        fh.seek(236)
        return fh.read(8).decode("ascii", errors="replace").strip()


def _call_reader(path: Path, ext: str, *, refuse_truncation: bool) -> mne.io.BaseRaw:
    """Run MNE's reader; its warnings are passed on only if the file was read.

    A file MNE cannot read raises, and the warnings it gave on the way (about
    garbage header fields) would only be noise next to that error.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # MNE's advice on file naming is not the user's concern.
        warnings.filterwarnings("ignore", message=r".*does not conform to MNE naming conventions")
        for message in _TRUNCATION_WARNINGS:
            action = "error" if refuse_truncation else "ignore"
            warnings.filterwarnings(action, message=message, category=RuntimeWarning)
        raw = _mne_reader(ext)(path, preload=True, verbose="warning")
    for record in caught:
        warnings.warn(record.message, record.category, stacklevel=5)
    return raw


def _read_or_refuse(path: Path, ext: str, *, refuse_truncation: bool) -> mne.io.BaseRaw:
    """Run the MNE reader, turning its errors into :class:`CorruptFileError`.

    With ``refuse_truncation`` a truncation warning escapes as ``RuntimeWarning``.
    """
    fmt = _FORMAT_NAMES[ext]
    try:
        return _call_reader(path, ext, refuse_truncation=refuse_truncation)
    except Exception as err:
        if not is_read_error(err):
            raise
        raise CorruptFileError(
            f"{path.name} could not be read as {fmt} ({short_reason(err, path)}); "
            f"expected a complete {fmt} recording."
        ) from err


def _check_header(path: Path, ext: str) -> None:
    """The format's header checks (:mod:`rehab_core.io._guards`) before MNE reads the file."""
    from rehab_core.io import _guards

    if ext in (".fif", ".fif.gz"):
        _guards.check_fif(path)
    elif ext == ".set":
        fields = check_matlab_parses(path, path.name)
        if fields is not None:
            _guards.check_eeglab_fields(path, fields)
    elif ext == ".vhdr":
        _guards.check_brainvision(path)
    elif ext in (".edf", ".bdf"):
        _guards.check_edf(path, _FORMAT_NAMES[ext])


def _read_with_mne(path: Path, ext: str) -> mne.io.BaseRaw:
    fmt = _FORMAT_NAMES[ext]
    _check_header(path, ext)
    try:
        raw = _read_or_refuse(path, ext, refuse_truncation=True)
    except RuntimeWarning as warning:
        # EDF/BDF written while recording may announce -1 records; reading
        # up to the file size is then the standard, complete reading.
        if ext not in {".edf", ".bdf"} or _edf_header_records(path) != "-1":
            reason = short_reason(warning, path).split(" (perhaps")[0]
            raise CorruptFileError(
                f"{path.name} is truncated or damaged ({reason}); "
                f"expected a complete {fmt} recording."
            ) from warning
        raw = _read_or_refuse(path, ext, refuse_truncation=False)
    try:  # a mangled FIF channel record reads but has no type (found by test_io_fuzz.py)
        raw.get_channel_types()
    except (KeyError, ValueError) as err:
        raise CorruptFileError(
            f"{path.name} declares a channel of unknown kind ({short_reason(err, path)}); "
            f"expected a complete {fmt} recording."
        ) from err
    if ext in _TYPELESS_FORMATS:
        retype = {
            name: guess_channel_type(name)
            for name, kind in zip(raw.ch_names, raw.get_channel_types(), strict=True)
            if kind == "eeg" and guess_channel_type(name) != "eeg"
        }
        if retype:
            raw.set_channel_types(retype, on_unit_change="ignore", verbose="error")
    data = raw.get_data()
    finite = np.isfinite(data)
    if not finite.all():
        ch, sample = np.argwhere(~finite)[0]
        raise NonFiniteError(
            f"{path.name} holds a NaN or infinite sample in channel {raw.ch_names[ch]} "
            f"at {sample / raw.info['sfreq']:.3f} s; expected finite numbers only."
        )
    check_duration(path.name, raw.n_times, raw.info["sfreq"])
    description = f"rehab_core.io: {fmt} from {path.name}"
    if raw.info["description"]:
        description += f"; stored description: {raw.info['description']}"
    return finish_raw(raw, path, description)


def read_signals(path: str | os.PathLike[str]) -> mne.io.BaseRaw:
    """Read an EEG-EMG recording in any supported format.

    Parameters
    ----------
    path : str | os.PathLike
        A file ending in one of :data:`SIGNAL_EXTENSIONS`.

    Returns
    -------
    mne.io.BaseRaw
        Preloaded; data in volts, shape (n_chans, n_times); channel types
        ``eeg``/``emg`` (others ``misc``, ``stim``, ...); ``standard_1005``
        positions on EEG channels that had none; ``info["description"]``
        records the source format and file.

    Raises
    ------
    UnknownFormatError
        The extension is not supported.
    EmptyFileError, CorruptFileError, NonFiniteError, TooShortError, ...
        Subclasses of :class:`~rehab_core.io.errors.InputError`, one plain
        sentence each.
    FileNotFoundError
        ``path`` does not exist.
    """
    path = Path(path)
    ext = _signal_extension(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist.")
    if ext == ".txt":
        return read_signals_text(path)
    check_not_empty(path)
    return _read_with_mne(path, ext)

"""Internals shared by the signal readers: duration check and finishing a Raw."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rehab_core.io._reasons import short_reason
from rehab_core.io.channels import guess_channel_type, standard_1005_montage_name
from rehab_core.io.errors import EmptyFileError, TooShortError

if TYPE_CHECKING:
    import mne

__all__ = [
    "MIN_SIGNAL_SECONDS",
    "check_duration",
    "check_matlab_parses",
    "check_not_empty",
    "finish_raw",
    "short_reason",
]

MIN_SIGNAL_SECONDS = 10.0
"""Shortest accepted recording: one 10-s analysis window (paper, Methods 2.4)."""


# scipy's MATLAB reader is not hardened against crafted files (its loadmat docstring says
# so, scipy/scipy#25166): a mangled element type code makes it read a wild pointer and
# crash the process (tests/io/test_io_fuzz.py found one). So the file is parsed first in
# a sandboxed child process (rehab_core.io.sandbox), in the two ways the readers parse it,
# and only then in this one.
MATLAB_PROBE_SECONDS = 60.0


def check_matlab_parses(path: Path, name: str, fmt: str = "EEGLAB") -> dict[str, Any] | None:
    """Refuse a MATLAB file that unpacks too far, or crashes or hangs scipy's reader.

    The compressed parts are counted first
    (:func:`rehab_core.io._guards.check_eeglab_container`), then the file is
    parsed in a sandboxed child. A file the reader refuses with an ordinary
    exception passes (None): reading it here raises the same exception, which
    the caller turns into its message.

    Returns
    -------
    dict | None
        The EEGLAB header numbers (:func:`rehab_core.io._guards.eeglab_fields`),
        or None when the child's reader refused the file.

    Raises
    ------
    ResourceLimitError
        The child process crashed, or ran longer than :data:`MATLAB_PROBE_SECONDS`.
    TooLargeError, UnknownFormatError
        The file unpacks too far, or is MATLAB v7.3.
    """
    from rehab_core.io._guards import check_eeglab_container, eeglab_fields
    from rehab_core.io.errors import InputError
    from rehab_core.io.sandbox import Limits, SandboxError, run_limited

    check_eeglab_container(path, name)
    limits = Limits(cpu_s=MATLAB_PROBE_SECONDS, wall_s=MATLAB_PROBE_SECONDS * 2)
    try:
        return run_limited(eeglab_fields, str(path), limits=limits, what=f"{name} ({fmt})")
    except InputError:
        raise
    except (SandboxError, Exception):  # noqa: BLE001 - any ordinary refusal by scipy's parser
        return None  # (MatReadError, ValueError...; in a sandbox child raised here directly):
        # the reader in this process refuses the file the same way and says why


def check_not_empty(path: Path) -> None:
    """Raise :class:`EmptyFileError` if ``path`` holds no bytes."""
    if path.stat().st_size == 0:
        raise EmptyFileError(f"{path.name} is empty (0 bytes); expected a recording.")


def check_duration(name: str, n_times: int, sfreq: float) -> None:
    """Raise :class:`TooShortError` if ``n_times`` samples at ``sfreq`` Hz are under one window."""
    needed = int(round(MIN_SIGNAL_SECONDS * sfreq))
    if n_times < needed:
        raise TooShortError(
            f"{name} holds {n_times / sfreq:.3g} s of signal ({n_times} samples at {sfreq:g} Hz) "
            f"but at least one {MIN_SIGNAL_SECONDS:g}-s window ({needed} samples) is needed."
        )


def _has_eeg_positions(raw: mne.io.BaseRaw) -> bool:
    """Whether any EEG channel already carries a real (finite, non-zero) position."""
    import numpy as np

    for ch in raw.info["chs"]:
        pos = ch["loc"][:3]
        if ch["kind"] == _eeg_kind() and np.all(np.isfinite(pos)) and np.any(pos != 0):
            return True
    return False


def _eeg_kind() -> int:
    from mne.io.constants import FIFF

    return FIFF.FIFFV_EEG_CH


def finish_raw(raw: mne.io.BaseRaw, path: Path, description: str) -> mne.io.BaseRaw:
    """Type EMG channels by name, set the standard_1005 montage on EEG, record the source.

    Channels whose name starts with ``EMG`` (any case) become ``emg``; EEG
    channels get positions from ``standard_1005`` where their names match
    (case-insensitive; others keep no position), unless the file already gave
    EEG positions, which are kept. ``raw.info["description"]``
    is set to ``description``. Works in place on a Raw the caller created.
    """
    to_emg = {
        name: "emg"
        for name, kind in zip(raw.ch_names, raw.get_channel_types(), strict=True)
        if kind != "emg" and guess_channel_type(name) == "emg"
    }
    if to_emg:
        raw.set_channel_types(to_emg, on_unit_change="ignore", verbose="error")
    if "eeg" in raw.get_channel_types() and not _has_eeg_positions(raw):
        raw.set_montage(
            standard_1005_montage_name(), match_case=False, on_missing="ignore", verbose="error"
        )
    raw.info["description"] = description
    if not any(f is not None for f in raw.filenames):
        raw.filenames = (path,)
    return raw

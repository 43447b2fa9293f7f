"""The paper's channel set, channel typing by name, and picking the model's channels.

Shi et al. 2025 record 16 EEG sites (10-20/10-05 names) and surface EMG of the
paretic leg, i.e. the leg that performs the hip/knee flexion-extension task.
The model reads these 22 channels in exactly this order:

EEG (16)
    ``P4 CP2 FC5 C3 P3 C2 FC6 C4 CP6 F3 FC2 FC1 F4 CP5 C1 CP1``
EMG (6), all of the paretic (task) leg
    ``EMG_RF``  rectus femoris,
    ``EMG_VM``  vastus medialis,
    ``EMG_BFL`` biceps femoris, long head,
    ``EMG_GMAX`` gluteus maximus,
    ``EMG_ST``  semitendinosus,
    ``EMG_RFP`` proximal rectus femoris.

Channel types from names (used by every reader):

* a name that matches (case-insensitively) a position of MNE's
  ``standard_1005`` montage is ``eeg``;
* a name starting with ``EMG`` (any case; ``EMG_RF``, ``emg1``) is ``emg``;
* anything else is ``misc``, unless a sidecar or the source format says
  otherwise.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from rehab_core.io.errors import MissingChannelsError

if TYPE_CHECKING:
    import mne

__all__ = [
    "PAPER_EEG_CHANNELS",
    "PAPER_EMG_CHANNELS",
    "PAPER_CHANNELS",
    "EMG_MUSCLES",
    "guess_channel_type",
    "pick_paper_channels",
]

PAPER_EEG_CHANNELS: tuple[str, ...] = (
    "P4",
    "CP2",
    "FC5",
    "C3",
    "P3",
    "C2",
    "FC6",
    "C4",
    "CP6",
    "F3",
    "FC2",
    "FC1",
    "F4",
    "CP5",
    "C1",
    "CP1",
)
PAPER_EMG_CHANNELS: tuple[str, ...] = (
    "EMG_RF",
    "EMG_VM",
    "EMG_BFL",
    "EMG_GMAX",
    "EMG_ST",
    "EMG_RFP",
)
PAPER_CHANNELS: tuple[str, ...] = PAPER_EEG_CHANNELS + PAPER_EMG_CHANNELS
"""All 22 channels in the model's order (16 EEG, then 6 EMG)."""

EMG_MUSCLES: dict[str, str] = {
    "EMG_RF": "rectus femoris",
    "EMG_VM": "vastus medialis",
    "EMG_BFL": "biceps femoris, long head",
    "EMG_GMAX": "gluteus maximus",
    "EMG_ST": "semitendinosus",
    "EMG_RFP": "proximal rectus femoris",
}
"""Muscle of each paper EMG channel; all on the paretic (task) leg."""


@functools.lru_cache(maxsize=1)
def standard_1005_montage_name() -> str:
    """Name of MNE's built-in 10-05 montage on the Colin27 head.

    MNE 1.13 renamed ``standard_1005`` to ``colin27_1005`` (same positions) and
    deprecated the old name; the new name is used where it exists.
    """
    import mne

    builtin = mne.channels.get_builtin_montages()
    return "colin27_1005" if "colin27_1005" in builtin else "standard_1005"


@functools.lru_cache(maxsize=1)
def _standard_1005_names() -> dict[str, str]:
    """Map lower-case standard_1005 position names to their canonical spelling."""
    import mne

    montage = mne.channels.make_standard_montage(standard_1005_montage_name())
    return {name.lower(): name for name in montage.ch_names}


def guess_channel_type(name: str) -> str:
    """Return ``"eeg"``, ``"emg"`` or ``"misc"`` for a channel name.

    Parameters
    ----------
    name : str
        Channel name as written in the file.

    Returns
    -------
    str
        ``"eeg"`` for a ``standard_1005`` position name (any case), ``"emg"``
        for a name starting with ``EMG`` (any case), otherwise ``"misc"``.
    """
    if name.upper().startswith("EMG"):
        return "emg"
    if name.lower() in _standard_1005_names():
        return "eeg"
    return "misc"


def _join_names(names: list[str]) -> str:
    if len(names) == 1:
        return names[0]
    return f"{', '.join(names[:-1])} and {names[-1]}"


def _source_name(raw: mne.io.BaseRaw) -> str:
    filenames = [f for f in raw.filenames if f is not None]
    if filenames:
        return Path(filenames[0]).name
    return "The recording"


def pick_paper_channels(raw: mne.io.BaseRaw) -> mne.io.BaseRaw:
    """Return a copy of ``raw`` with the paper's 22 channels in the model's order.

    Names are matched case-insensitively and renamed to the paper's spelling
    (``fc5`` -> ``FC5``, ``emg_rf`` -> ``EMG_RF``); the 16 EEG channels are
    typed ``eeg`` and the 6 EMG channels ``emg``. ``raw`` is not modified.

    Parameters
    ----------
    raw : mne.io.BaseRaw
        A preloaded recording, e.g. from :func:`rehab_core.io.read_signals`.

    Returns
    -------
    mne.io.BaseRaw
        A copy holding exactly :data:`PAPER_CHANNELS`, in that order.

    Raises
    ------
    MissingChannelsError
        If any of the 22 channels is absent (all missing ones are named), or
        if two channels of ``raw`` differ only by case.
    """
    by_lower: dict[str, str] = {}
    for name in raw.ch_names:
        key = name.lower()
        if key in by_lower:
            raise MissingChannelsError(
                f"{_source_name(raw)} has channels {by_lower[key]} and {name} that differ only "
                "by case, so the paper's channel cannot be chosen; rename one of them."
            )
        by_lower[key] = name
    missing_eeg = [c for c in PAPER_EEG_CHANNELS if c.lower() not in by_lower]
    missing_emg = [c for c in PAPER_EMG_CHANNELS if c.lower() not in by_lower]
    if missing_eeg or missing_emg:
        parts = []
        if missing_eeg:
            parts.append(f"the paper's EEG channels {_join_names(missing_eeg)}")
        if missing_emg:
            parts.append(f"the leg EMG channels {_join_names(missing_emg)}")
        raise MissingChannelsError(
            f"{_source_name(raw)} lacks {' and '.join(parts)}; "
            f"the model needs all {len(PAPER_CHANNELS)}."
        )
    source_names = [by_lower[c.lower()] for c in PAPER_CHANNELS]
    picked = raw.copy().pick(source_names)
    picked.reorder_channels(source_names)
    renames = {
        old: new for old, new in zip(source_names, PAPER_CHANNELS, strict=True) if old != new
    }
    if renames:
        picked.rename_channels(renames)
    picked.set_channel_types(
        {c: "eeg" for c in PAPER_EEG_CHANNELS} | {c: "emg" for c in PAPER_EMG_CHANNELS},
        on_unit_change="ignore",
    )
    return picked

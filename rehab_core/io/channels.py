"""The paper's channel set, channel typing by name, and picking the model's channels.

Shi et al. 2025 record 16 EEG sites (10-20/10-05 names) and surface EMG of the
paretic leg, i.e. the leg that performs the hip/knee flexion-extension task.
The model reads these 22 channels in exactly this order:

EEG (16)
    ``P4 CP2 FC5 C3 P3 C2 FC6 C4 CP6 F3 FC2 FC1 F4 CP5 C1 CP1``
EMG (6), all of the paretic (task) leg
    ``EMG_RF``  rectus femoris,
    ``EMG_VM``  vastus medialis,
    ``EMG_BFL`` biceps femoris (long head),
    ``EMG_GMAX`` gluteus maximus,
    ``EMG_ST``  semitendinosus,
    ``EMG_RFP`` proximal rectus femoris.

Display order (:func:`montage_order`, used by every page and figure): EEG from
front to back and, within a row, from left to right (10-20/10-05 names, any
case); then EMG, the paper's leg muscles front of the thigh then back, each from
hip to knee (proximal rectus femoris, rectus femoris, vastus medialis, gluteus
maximus, biceps femoris (long head), semitendinosus), then other EMG channels;
anything else last, in the recording's order. :func:`channel_label` names a
paper EMG channel by its muscle.

Channel types from names (used by every reader):

* a name that matches (case-insensitively) a position of MNE's
  ``standard_1005`` montage is ``eeg``;
* a name starting with ``EMG`` (any case; ``EMG_RF``, ``emg1``) is ``emg``;
* anything else is ``misc``, unless a sidecar or the source format says
  otherwise.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rehab_core.io.errors import ChannelNamesError, MissingChannelsError

if TYPE_CHECKING:
    import mne

__all__ = [
    "PAPER_EEG_CHANNELS",
    "PAPER_EMG_CHANNELS",
    "PAPER_CHANNELS",
    "EMG_MUSCLES",
    "ModelChannels",
    "apply_channel_map",
    "channel_label",
    "check_model_channels",
    "guess_channel_type",
    "map_raw_channels",
    "montage_order",
    "unmapped_channels",
    "pick_paper_channels",
    "read_channel_map",
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
    "EMG_BFL": "biceps femoris (long head)",
    "EMG_GMAX": "gluteus maximus",
    "EMG_ST": "semitendinosus",
    "EMG_RFP": "proximal rectus femoris",
}
"""Muscle of each paper EMG channel; all on the paretic (task) leg."""

#: The paper's EMG channels in display order: the front of the thigh, then the back, each
#: from hip to knee.
_EMG_DISPLAY_ORDER = ("EMG_RFP", "EMG_RF", "EMG_VM", "EMG_GMAX", "EMG_BFL", "EMG_ST")

#: Rows of the 10-20/10-05 system from front (nasion) to back (inion). A temporal prefix
#: shares the row of its central neighbour (T7 lies on the C3-C4 line, FT7 on the FC line);
#: earlobe (A) and mastoid (M) references come after the scalp.
_ROWS = {
    "N": 0, "Fp": 1, "AFp": 2, "AF": 3, "AFF": 4, "F": 5, "FFC": 6, "FFT": 6, "FC": 7,
    "FT": 7, "FCC": 8, "FTT": 8, "C": 9, "T": 9, "CCP": 10, "TTP": 10, "CP": 11, "TP": 11,
    "CPP": 12, "TPP": 12, "P": 13, "PPO": 14, "PO": 15, "POO": 16, "O": 17, "OI": 18,
    "I": 19, "A": 20, "M": 20,
}  # fmt: skip
#: Old 10-20 names of the temporal sites and their 10-10 names.
_OLD_TEMPORAL = {"t3": "T7", "t4": "T8", "t5": "P7", "t6": "P8"}
_SITE = re.compile(r"^([A-Za-z]+?)(z|\d+h?)$", re.IGNORECASE)
_ROWS_LOWER = {prefix.lower(): row for prefix, row in _ROWS.items()}


def _eeg_position(name: str) -> tuple[int, float] | None:
    """(row front to back, column left to right) of a 10-20/10-05 name, or ``None``.

    Odd numbers lie on the left, even on the right, ``z`` on the midline; the
    number grows away from it. A trailing ``h`` (10-05 half positions, e.g.
    ``FFC1h``) lies half a step nearer the midline than its number.
    """
    name = _OLD_TEMPORAL.get(name.lower(), name)
    match = _SITE.match(name)
    if match is None or match.group(1).lower() not in _ROWS_LOWER:
        return None
    prefix, place = match.group(1).lower(), match.group(2).lower()
    if place == "z":
        return _ROWS_LOWER[prefix], 0.0
    number = int(place.rstrip("h"))
    if number == 0:
        return None
    step = (number + 1) // 2 - (0.5 if place.endswith("h") else 0.0)
    return _ROWS_LOWER[prefix], -step if number % 2 else step


def _natural_key(name: str) -> tuple[object, ...]:
    """Sort key that puts emg2 before emg10."""
    return tuple(int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", name))


def montage_order(names: Sequence[str], ch_types: Sequence[str] | None = None) -> list[str]:
    """The channel names in the order a clinician reads a montage.

    EEG first, front to back and left to right within a row (``Fp1 Fpz Fp2
    F7 F3 Fz ... O2``), for any 10-20 or 10-05 name in any case (the old
    temporal names T3-T6 where T7, T8, P7, P8 stand); then the EMG, the
    paper's leg muscles in a fixed anatomical order (front of the thigh, then
    the back, each from hip to knee), then other EMG names in natural order
    (``emg2`` before ``emg10``); then every other name, in the given order.

    Parameters
    ----------
    names : sequence of str
        Channel names as in the recording.
    ch_types : sequence of str or None
        ``"eeg"``/``"emg"``/other per name; ``None`` judges by the name alone
        (an ``EMG`` prefix is EMG). A channel typed ``emg`` is EMG whatever its
        name, and one typed otherwise is never placed with the EEG.

    Returns
    -------
    list of str
        The same names, each once, reordered; ``names`` is not modified.
    """
    names = list(names)
    if ch_types is not None and len(ch_types) != len(names):
        raise ValueError(f"{len(ch_types)} channel types were given for {len(names)} names.")
    emg_rank = {code.lower(): k for k, code in enumerate(_EMG_DISPLAY_ORDER)}

    def key(item: tuple[int, str]) -> tuple[object, ...]:
        i, name = item
        kind = ch_types[i] if ch_types is not None else None
        is_emg = kind == "emg" if kind is not None else name.upper().startswith("EMG")
        position = None if is_emg or kind not in (None, "eeg") else _eeg_position(name)
        if position is not None:
            return (0, *position, i)
        if is_emg and name.lower() in emg_rank:
            return (1, emg_rank[name.lower()], i)
        if is_emg:
            return (2, _natural_key(name), i)
        return (3, i)

    return [name for _, name in sorted(enumerate(names), key=key)]


def channel_label(name: str) -> str:
    """How a figure names a channel: the muscle for a paper EMG code, otherwise the name.

    ``channel_label("EMG_RF")`` is ``"rectus femoris"`` (any case);
    ``channel_label("C3")`` is ``"C3"``.
    """
    return EMG_MUSCLES.get(name.upper(), name)


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


def _missing_phrase(missing_eeg: Sequence[str], missing_emg: Sequence[str]) -> str:
    """What a recording lacks, EEG by site and EMG by muscle name (never by code)."""
    parts = []
    if missing_eeg:
        parts.append(f"the paper's EEG channels {_join_names(list(missing_eeg))}")
    if len(missing_emg) == len(PAPER_EMG_CHANNELS):
        muscles = [channel_label(c) for c in _EMG_DISPLAY_ORDER]
        parts.append(f"all six leg muscles the model reads ({_join_names(muscles)})")
    elif missing_emg:
        muscles = [channel_label(c) for c in missing_emg]
        parts.append(f"the leg EMG of the {_join_names(muscles)}")
    return " and ".join(parts)


@dataclass(frozen=True)
class ModelChannels:
    """Which of the model's 22 channels a recording has (see :func:`check_model_channels`).

    ``other_emg``: the recording's EMG channels that are none of the paper's leg muscles.
    """

    missing_eeg: tuple[str, ...]
    missing_emg: tuple[str, ...]
    other_emg: tuple[str, ...]

    @classmethod
    def from_missing(cls, missing: Sequence[str]) -> ModelChannels:
        """From a stored list of missing paper channels (an upload's QC), other EMG unknown."""
        lower = {c.lower() for c in missing}
        return cls(
            missing_eeg=tuple(c for c in PAPER_EEG_CHANNELS if c.lower() in lower),
            missing_emg=tuple(c for c in PAPER_EMG_CHANNELS if c.lower() in lower),
            other_emg=(),
        )

    @property
    def usable(self) -> bool:
        """True when the model can read the recording (all 22 channels present)."""
        return not (self.missing_eeg or self.missing_emg)

    def reason(self) -> str:
        """Why the model cannot use the recording, in one plain sentence ("" if it can)."""
        if self.usable:
            return ""
        lacks = _missing_phrase(self.missing_eeg, self.missing_emg)
        sentence = f"The model cannot use this EEG-EMG recording: it lacks {lacks}"
        if self.missing_emg and self.other_emg:
            n = len(self.other_emg)
            sentence += (
                f"; its {n} EMG channel{'s' if n > 1 else ''} "
                f"({_join_names(list(self.other_emg))}) "
                f"{'are' if n > 1 else 'is'} not leg muscles the model knows"
            )
        return sentence + "."

    def note(self) -> str:
        """What a viewer can say about the recording: viewable, and whether the model can use it."""
        if self.usable:
            return (
                "The model can use this recording: it has the 16 EEG sites and the six leg "
                "muscles the model reads."
            )
        reason = self.reason()
        return (
            "This recording can be viewed (traces, spectra and quality checks below), but "
            f"{reason[0].lower()}{reason[1:]} The model needs the paper's 16 EEG sites and EMG "
            "of the six leg muscles."
        )


def check_model_channels(
    names: Sequence[str], ch_types: Sequence[str] | None = None
) -> ModelChannels:
    """Which of the paper's 22 channels ``names`` holds (case-insensitively), and other EMG.

    Parameters
    ----------
    names : sequence of str
        The recording's channel names.
    ch_types : sequence of str or None
        Channel types; ``None`` judges EMG by the name (an ``EMG`` prefix).
    """
    lower = {n.lower() for n in names}
    paper = {c.lower() for c in PAPER_CHANNELS}
    emg = [
        n
        for i, n in enumerate(names)
        if (ch_types[i] == "emg" if ch_types is not None else n.upper().startswith("EMG"))
        and n.lower() not in paper
    ]
    return ModelChannels(
        missing_eeg=tuple(c for c in PAPER_EEG_CHANNELS if c.lower() not in lower),
        missing_emg=tuple(c for c in PAPER_EMG_CHANNELS if c.lower() not in lower),
        other_emg=tuple(montage_order(emg, ["emg"] * len(emg))),
    )


def unmapped_channels(names: Sequence[str]) -> list[str]:
    """The channels of ``names`` that are none of the model's 22 (case-insensitively).

    These are what a user may map onto a channel the model lacks (:func:`apply_channel_map`).
    """
    paper = {c.lower() for c in PAPER_CHANNELS}
    return [n for n in names if n.lower() not in paper]


def apply_channel_map(names: Sequence[str], mapping: Mapping[str, str]) -> list[str]:
    """``names`` with the user's channel map applied: ``{"RF": "EMG_RF"}`` renames RF.

    A recording may call the model's channels otherwise (``"RF"``,
    ``"Rectus_femoris_L"``); the map says which of its channels is which of
    the model's. ``names`` is not modified.

    Parameters
    ----------
    names : sequence of str
        The recording's channel names, in its order.
    mapping : mapping of str to str
        The recording's channel name (exact) -> one of :data:`PAPER_CHANNELS`
        (any case; returned in the paper's spelling).

    Returns
    -------
    list of str
        The names in the same order, the mapped ones renamed.

    Raises
    ------
    ChannelNamesError
        A mapped channel the recording does not have, a target that is not one
        of the model's channels, two channels mapped to one, or a target the
        recording already has (one sentence each).
    """
    paper = {c.lower(): c for c in PAPER_CHANNELS}
    have = set(names)
    kept = {n.lower() for n in names if n not in mapping}
    targets: dict[str, str] = {}
    for source, target in mapping.items():
        if source not in have:
            raise ChannelNamesError(
                f"The channel map names {source}, but this recording has no such channel"
                f"{_did_you_mean(source, names)}."
            )
        wanted = paper.get(str(target).lower())
        if wanted is None:
            raise ChannelNamesError(
                f"{source} is mapped to {target}, which is not one of the model's channels"
                f"{_did_you_mean(str(target), PAPER_CHANNELS)}; they are "
                f"{', '.join(PAPER_CHANNELS)}."
            )
        if wanted in targets:
            raise ChannelNamesError(
                f"{targets[wanted]} and {source} are both mapped to {channel_label(wanted)}; "
                "keep one of them."
            )
        if wanted.lower() in kept:
            raise ChannelNamesError(
                f"{source} is mapped to {channel_label(wanted)}, which this recording already "
                "has; map it to a channel the recording lacks."
            )
        targets[wanted] = source
    renamed = {source: target for target, source in targets.items()}
    return [renamed.get(n, n) for n in names]


def _did_you_mean(name: str, choices: Sequence[str]) -> str:
    """`` (did you mean X?)`` for the closest of ``choices`` (any case), else ``""``."""
    import difflib

    by_lower = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
    return f" (did you mean {by_lower[close[0]]}?)" if close else ""


def read_channel_map(spec: str | Path) -> dict[str, str]:
    """A channel map from a JSON file or from ``SOURCE=TARGET`` pairs separated by commas.

    The file holds what the dashboard stores with an upload: one JSON object
    of the recording's channel name -> the model's (``{"RF": "EMG_RF"}``).
    ``"RF=EMG_RF,Rectus_femoris_L=EMG_RFP"`` gives the same map inline. The
    names are not checked against a recording here; :func:`apply_channel_map`
    does that when the recording is read.

    Raises
    ------
    ChannelNamesError
        The file is no JSON object of names, or a pair has no ``=`` or an
        empty side (one sentence saying what a channel map looks like).
    """
    import json

    how = (
        'a channel map is a JSON file such as {"RF": "EMG_RF"} or SOURCE=TARGET pairs '
        "separated by commas, such as RF=EMG_RF,RFP=EMG_RFP"
    )
    text = str(spec).strip()
    path = Path(text)
    if "=" not in text:
        if not path.is_file():
            raise ChannelNamesError(f"{text!r} is no file and holds no SOURCE=TARGET pair; {how}.")
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ChannelNamesError(f"{path.name} is not JSON ({err}); {how}.") from None
        if not isinstance(loaded, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and k and v for k, v in loaded.items()
        ):
            raise ChannelNamesError(f"{path.name} holds no object of channel names; {how}.")
        return dict(loaded)
    mapping: dict[str, str] = {}
    for pair in text.split(","):
        source, sep, target = (part.strip() for part in pair.partition("="))
        if not (sep and source and target):
            raise ChannelNamesError(f"{pair.strip()!r} is not a SOURCE=TARGET pair; {how}.")
        if source in mapping:
            raise ChannelNamesError(f"{source} is mapped twice; {how}.")
        mapping[source] = target
    return mapping


def map_raw_channels(raw: mne.io.BaseRaw, mapping: Mapping[str, str]) -> mne.io.BaseRaw:
    """``raw`` with :func:`apply_channel_map` applied: renamed, and each mapped one typed.

    A channel mapped to one of the model's EEG sites becomes ``eeg``, one
    mapped to a leg muscle ``emg``. ``raw`` itself is returned when ``mapping``
    is empty; otherwise a copy (``raw`` is not modified).
    """
    if not mapping:
        return raw
    names = apply_channel_map(raw.ch_names, mapping)
    renames = {old: new for old, new in zip(raw.ch_names, names, strict=True) if old != new}
    out = raw.copy()
    out.rename_channels(renames)
    emg = set(PAPER_EMG_CHANNELS)
    out.set_channel_types(
        {new: "emg" if new in emg else "eeg" for new in renames.values()},
        on_unit_change="ignore",
    )
    return out


def _source_name(raw: mne.io.BaseRaw) -> str:
    filenames = [f for f in raw.filenames if f is not None]
    if filenames:
        return Path(filenames[0]).name
    return "The recording"


def pick_paper_channels(raw: mne.io.BaseRaw, *, name: str | None = None) -> mne.io.BaseRaw:
    """Return a copy of ``raw`` with the paper's 22 channels in the model's order.

    Names are matched case-insensitively and renamed to the paper's spelling
    (``fc5`` -> ``FC5``, ``emg_rf`` -> ``EMG_RF``); the 16 EEG channels are
    typed ``eeg`` and the 6 EMG channels ``emg``. ``raw`` is not modified.

    Parameters
    ----------
    raw : mne.io.BaseRaw
        A preloaded recording, e.g. from :func:`rehab_core.io.read_signals`.
    name : str or None
        How an error names the recording: the file as the user gave it (a
        stored copy is named by its hash). ``None``: the name of the file
        ``raw`` was read from.

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
    source = name or _source_name(raw)
    by_lower: dict[str, str] = {}
    for ch in raw.ch_names:
        key = ch.lower()
        if key in by_lower:
            raise MissingChannelsError(
                f"{source} has channels {by_lower[key]} and {ch} that differ only "
                "by case, so the paper's channel cannot be chosen; rename one of them."
            )
        by_lower[key] = ch
    missing_eeg = [c for c in PAPER_EEG_CHANNELS if c.lower() not in by_lower]
    missing_emg = [c for c in PAPER_EMG_CHANNELS if c.lower() not in by_lower]
    if missing_eeg or missing_emg:
        raise MissingChannelsError(
            f"{source} lacks {_missing_phrase(missing_eeg, missing_emg)}; "
            f"the model needs all {len(PAPER_CHANNELS)} channels."
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

"""Readers and writers for the model's inputs: EEG-EMG recordings and rs-fMRI.

Entry points
------------
read_signals(path) -> mne.io.BaseRaw
    rehab-eegemg text (``.txt``), EDF (``.edf``), BDF (``.bdf``),
    BrainVision (``.vhdr``), FIF (``.fif``, ``.fif.gz``), EEGLAB (``.set``).
read_fmri(path) -> nibabel.Nifti1Image
    NIfTI-1 or NIfTI-2, ``.nii`` or ``.nii.gz``; 4D float32, TR in seconds.
write_signals_text(path, data_uV, ch_names, sfreq, *, decimals=2)
    The fast, deterministic writer of the text format (see :mod:`.text`).
pick_paper_channels(raw) -> mne.io.BaseRaw
    The paper's 16 EEG + 6 leg-EMG channels, in the model's order.
montage_order(names, ch_types=None) -> list of str
    The display order of pages and figures: EEG front to back, left to right, then EMG.

Every refused file raises a subclass of :class:`InputError` (a ``ValueError``)
whose message is one plain sentence for the user. Importing this package does
not import MNE, nibabel or pandas; the readers import them when called.
"""

from __future__ import annotations

from rehab_core.io.channels import (
    EMG_MUSCLES,
    PAPER_CHANNELS,
    PAPER_EEG_CHANNELS,
    PAPER_EMG_CHANNELS,
    ModelChannels,
    apply_channel_map,
    channel_label,
    check_model_channels,
    guess_channel_type,
    map_raw_channels,
    montage_order,
    pick_paper_channels,
    read_channel_map,
    unmapped_channels,
)
from rehab_core.io.errors import (
    ChannelNamesError,
    CorruptFileError,
    DefaultSamplingRateWarning,
    EmptyFileError,
    ExternalFileError,
    HeaderMismatchError,
    InputError,
    MissingChannelsError,
    NonFiniteError,
    NonNumericError,
    NotFourDimensionalError,
    RaggedColumnsError,
    ResourceLimitError,
    TooLargeError,
    TooShortError,
    UnknownFormatError,
    UnknownSamplingRateError,
    UnknownUnitError,
)
from rehab_core.io.fmri import MIN_FMRI_SECONDS, read_fmri
from rehab_core.io.signals import SIGNAL_EXTENSIONS, read_signals
from rehab_core.io.text import read_signals_text, write_signals_text

__all__ = [
    "read_signals",
    "read_signals_text",
    "write_signals_text",
    "read_fmri",
    "pick_paper_channels",
    "guess_channel_type",
    "montage_order",
    "channel_label",
    "check_model_channels",
    "apply_channel_map",
    "map_raw_channels",
    "read_channel_map",
    "unmapped_channels",
    "ModelChannels",
    "PAPER_EEG_CHANNELS",
    "PAPER_EMG_CHANNELS",
    "PAPER_CHANNELS",
    "EMG_MUSCLES",
    "SIGNAL_EXTENSIONS",
    "MIN_FMRI_SECONDS",
    "InputError",
    "UnknownFormatError",
    "EmptyFileError",
    "CorruptFileError",
    "RaggedColumnsError",
    "NonNumericError",
    "NonFiniteError",
    "TooShortError",
    "UnknownSamplingRateError",
    "UnknownUnitError",
    "HeaderMismatchError",
    "ChannelNamesError",
    "MissingChannelsError",
    "NotFourDimensionalError",
    "TooLargeError",
    "ExternalFileError",
    "ResourceLimitError",
    "DefaultSamplingRateWarning",
]

"""EEG-EMG preprocessing: filters, artifact handling, windows, z-scores and QC.

The paper's pipeline (Shi et al. 2025, Methods 2.5) in one call is
:func:`preprocess_signals` (arrays in µV) or :func:`preprocess_raw` (an MNE
Raw in volts); every step is also a pure function on arrays.
"""

from __future__ import annotations

from rehab_core.signals.artifacts import (
    detect_bad_channels,
    line_noise_ratio,
    reject_windows,
    repair_bad_channels,
    robust_std,
)
from rehab_core.signals.envelopes import envelope_features, envelope_n_frames
from rehab_core.signals.filters import (
    bandpass_filter,
    effective_band,
    filter_signals,
    line_harmonics,
    notch_filter,
    resample,
)
from rehab_core.signals.pipeline import SignalResult, preprocess_raw, preprocess_signals
from rehab_core.signals.settings import SignalSettings
from rehab_core.signals.spectra import coherence, power_spectra
from rehab_core.signals.windows import make_windows, window_n_times, zscore_windows

__all__ = [
    "SignalResult",
    "SignalSettings",
    "bandpass_filter",
    "coherence",
    "detect_bad_channels",
    "effective_band",
    "envelope_features",
    "envelope_n_frames",
    "filter_signals",
    "line_harmonics",
    "line_noise_ratio",
    "make_windows",
    "notch_filter",
    "power_spectra",
    "preprocess_raw",
    "preprocess_signals",
    "reject_windows",
    "repair_bad_channels",
    "resample",
    "robust_std",
    "window_n_times",
    "zscore_windows",
]

"""EEG-EMG preprocessing: filters, artifact handling, windows, z-scores and QC.

The paper's pipeline (Shi et al. 2025, Methods 2.5) in one call is
:func:`preprocess_signals` (arrays in µV) or :func:`preprocess_raw` (an MNE
Raw in volts); every step is also a pure function on arrays. What a viewer
shows beside it is computed here too: which windows were kept
(:func:`kept_window_data`, :func:`rejected_intervals`, :func:`unused_tail`),
power spectra and corticomuscular coherence (:func:`signal_spectra`).
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
from rehab_core.signals.pipeline import (
    SignalResult,
    preprocess_raw,
    preprocess_signals,
    recording_arrays,
)
from rehab_core.signals.settings import SignalSettings
from rehab_core.signals.spectra import (
    BETA_BAND_HZ,
    MOTOR_EEG_CHANNELS,
    CoherenceUnavailable,
    MotorCoherence,
    SignalSpectra,
    coherence,
    coherence_confidence_limit,
    motor_coherence,
    power_spectra,
    signal_spectra,
)
from rehab_core.signals.windows import (
    kept_window_data,
    make_windows,
    rejected_intervals,
    unused_tail,
    window_n_times,
    zscore_windows,
)

__all__ = [
    "BETA_BAND_HZ",
    "MOTOR_EEG_CHANNELS",
    "CoherenceUnavailable",
    "MotorCoherence",
    "SignalResult",
    "SignalSettings",
    "SignalSpectra",
    "bandpass_filter",
    "coherence",
    "coherence_confidence_limit",
    "detect_bad_channels",
    "effective_band",
    "envelope_features",
    "envelope_n_frames",
    "filter_signals",
    "kept_window_data",
    "line_harmonics",
    "line_noise_ratio",
    "make_windows",
    "motor_coherence",
    "notch_filter",
    "power_spectra",
    "preprocess_raw",
    "preprocess_signals",
    "recording_arrays",
    "rejected_intervals",
    "reject_windows",
    "repair_bad_channels",
    "resample",
    "robust_std",
    "signal_spectra",
    "unused_tail",
    "window_n_times",
    "zscore_windows",
]

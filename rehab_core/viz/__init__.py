"""Figures for the dashboard (plotly) and the data reductions behind them.

Pure functions: arrays or preprocessing results in, ``plotly`` figures or
plain rows out. No file access, no state, no streamlit, so a page only
chooses what to show and what to cache.

decimate  min-max decimation of a long recording to the chart's pixel width
signals   stacked EEG-EMG traces, power spectra, corticomuscular coherence, QC rows
fmri      orthogonal views, screened slices, head motion, tSNR, QC rows
"""

from __future__ import annotations

from rehab_core.viz.decimate import decimate_minmax, view_slice
from rehab_core.viz.fmri import (
    fmri_qc_table,
    motion_figure,
    orthogonal_views_figure,
    screened_slices,
    slice_profile,
    tsnr_figure,
)
from rehab_core.viz.signals import (
    BETA_BAND_HZ,
    MOTOR_EEG_CHANNELS,
    MotorCoherence,
    coherence_confidence_limit,
    coherence_figure,
    kept_window_data,
    motor_coherence,
    psd_figure,
    recording_arrays,
    rejected_intervals,
    signal_qc_table,
    signal_traces_figure,
    unused_tail,
)

__all__ = [
    "BETA_BAND_HZ",
    "MOTOR_EEG_CHANNELS",
    "MotorCoherence",
    "coherence_confidence_limit",
    "coherence_figure",
    "decimate_minmax",
    "fmri_qc_table",
    "kept_window_data",
    "motion_figure",
    "motor_coherence",
    "orthogonal_views_figure",
    "psd_figure",
    "recording_arrays",
    "rejected_intervals",
    "screened_slices",
    "signal_qc_table",
    "signal_traces_figure",
    "slice_profile",
    "tsnr_figure",
    "unused_tail",
    "view_slice",
]

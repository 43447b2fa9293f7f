"""Figures for the dashboard (plotly) and the data reductions behind them.

Pure functions: arrays or preprocessing results in, ``plotly`` figures or
plain rows out. No file access, no state, no streamlit, so a page only
chooses what to show and what to cache.

decimate  min-max decimation of a long recording to the chart's pixel width
signals   stacked EEG-EMG traces, power spectra, corticomuscular coherence, QC rows
          (the spectra and coherence themselves: rehab_core.signals)
fmri      orthogonal views in mm (one map styled by fmri_map_figure), template alignment,
          screened slices, head motion, tSNR, QC rows
prediction_figures  probability, window and slice scores, Grad-CAM overlay, attributions,
          ROC and calibration curves
"""

from __future__ import annotations

from rehab_core.viz.decimate import decimate_minmax, view_slice
from rehab_core.viz.fmri import (
    FMRI_MAP_STYLES,
    fmri_map_figure,
    fmri_qc_table,
    motion_figure,
    orthogonal_views_figure,
    registration_figure,
    screened_slices,
    slice_profile,
    tsnr_figure,
)
from rehab_core.viz.prediction_figures import (
    attribution_figure,
    calibration_figure,
    gradcam_figure,
    gradcam_overlay,
    png_bytes,
    probability_figure,
    roc_figure,
    slice_probabilities_figure,
    window_timeline_figure,
)
from rehab_core.viz.signals import (
    coherence_figure,
    psd_figure,
    signal_qc_table,
    signal_traces_figure,
)

__all__ = [
    "FMRI_MAP_STYLES",
    "attribution_figure",
    "calibration_figure",
    "coherence_figure",
    "decimate_minmax",
    "fmri_map_figure",
    "fmri_qc_table",
    "gradcam_figure",
    "gradcam_overlay",
    "motion_figure",
    "orthogonal_views_figure",
    "registration_figure",
    "png_bytes",
    "probability_figure",
    "psd_figure",
    "roc_figure",
    "screened_slices",
    "signal_qc_table",
    "signal_traces_figure",
    "slice_probabilities_figure",
    "slice_profile",
    "tsnr_figure",
    "view_slice",
    "window_timeline_figure",
]

"""Explanations: Grad-CAM for the fMRI-slice backbones, Integrated Gradients for the LSTM.

``gradcam`` and ``integrated_gradients`` (and their ensemble means) import torch when called;
``overlay_heatmap`` and ``attribution_summary`` are numpy only.
"""

from __future__ import annotations

from rehab_core.explain.attribution import (
    AttributionSummary,
    attribution_summary,
    integrated_gradients,
)
from rehab_core.explain.cam import OUTCOME_TARGETS, gradcam
from rehab_core.explain.ensemble import (
    ensemble_gradcam,
    ensemble_integrated_gradients,
    recording_attribution,
    spread_indices,
)
from rehab_core.explain.overlay import overlay_heatmap

__all__ = [
    "OUTCOME_TARGETS",
    "AttributionSummary",
    "attribution_summary",
    "ensemble_gradcam",
    "ensemble_integrated_gradients",
    "gradcam",
    "integrated_gradients",
    "overlay_heatmap",
    "recording_attribution",
    "spread_indices",
]

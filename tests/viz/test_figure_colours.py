"""No figure carries a colour that Streamlit's chart theme swaps for one of its own.

Streamlit's theme sends #000001-#000040 as placeholders and the browser replaces
them; Inferno's first stop #000004 turned the background of the fMRI maps pink.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from rehab_core.evaluation import calibration_bins, roc_points
from rehab_core.explain import attribution_summary
from rehab_core.viz import (
    attribution_figure,
    calibration_figure,
    coherence_figure,
    fmri_map_figure,
    motion_figure,
    probability_figure,
    psd_figure,
    roc_figure,
    slice_probabilities_figure,
    tsnr_figure,
    window_timeline_figure,
)
from rehab_core.viz._plotly import is_theme_placeholder
from rehab_core.viz.training import learning_curves

_COLOUR = re.compile(r"#[0-9a-fA-F]{6}\b|rgba?\([^)]*\)")


def _figures(imaging_result):
    res = imaging_result
    rng = np.random.default_rng(0)
    y = np.array([0, 1, 0, 1, 1, 0, 1, 0])
    p = np.clip(0.5 + 0.3 * (y - 0.5) + 0.1 * rng.standard_normal(8), 0.01, 0.99)
    curve = {"name": "m", "group": "fusion", "roc": roc_points(y, p)}
    curve["calibration"] = calibration_bins(y, p, n_bins=3)
    freqs = np.arange(2.0, 46.0)
    z = int(res.slice_index[0])
    yield from (fmri_map_figure(res, name, 2, 2, z) for name in ("mean", "alff", "reho", "tsnr"))
    yield tsnr_figure(res.maps["tsnr"], res.mask, res.slice_index, res.screened_out)
    yield motion_figure(res.qc["motion_params"], res.qc["fd_mm"], fd_threshold_mm=0.5)
    yield psd_figure(freqs, rng.random((2, freqs.size)), ["C3", "EMG_RF"], ["eeg", "emg"])
    yield coherence_figure(freqs, rng.random((1, 1, freqs.size)), ["C3"], ["EMG_RF"])
    yield probability_figure({"probability_good": 0.6, "threshold": 0.5})
    yield window_timeline_figure([0.0, 10.0], [0.2, 0.8], signal_score=0.5)
    yield slice_probabilities_figure([1, 2], [0.2, 0.8], image_score=0.5)
    summary = attribution_summary(rng.standard_normal((1, 2, 40)), ["C3", "EMG_RF"], 20.0, 2)
    yield attribution_figure(summary)
    yield roc_figure([curve])
    yield calibration_figure([curve])
    yield learning_curves([{"event": "epoch", "member": "a", "epoch": 1, "train_loss": 1.0}])


def test_no_figure_uses_a_streamlit_theme_placeholder_colour(imaging_result, figure_strings):
    checked = 0
    for fig in _figures(imaging_result):
        colours = [c for text in figure_strings(fig) for c in _COLOUR.findall(text)]
        assert not [c for c in colours if is_theme_placeholder(c)], fig.layout.title.text
        checked += len(colours)
    assert checked > 50  # the figures do carry colours, and they were read


@pytest.mark.parametrize("colour", ["#000004", "#000011", "#000040", "rgb(0, 0, 4)"])
def test_the_placeholder_check_knows_the_theme_colours(colour):
    assert is_theme_placeholder(colour)

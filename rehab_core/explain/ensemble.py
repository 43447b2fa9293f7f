"""Explanations of an ensemble's prediction: the mean over its members.

A shipped bundle predicts with the mean of ``k`` models trained on different
folds, so its explanation is the mean of theirs:

* Grad-CAM: the mean of the members' heatmaps (each already scaled to [0, 1]
  per slice by :func:`~rehab_core.explain.gradcam`, so each member counts
  equally), then scaled again to [0, 1] per slice;
* Integrated Gradients: the mean of the members' attributions, which is the
  Integrated Gradients of the members' mean logit (IG is linear in the
  model), so completeness still holds for the ensemble's mean logit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

from rehab_core.explain.attribution import integrated_gradients
from rehab_core.explain.cam import gradcam

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "ensemble_gradcam",
    "ensemble_integrated_gradients",
    "recording_attribution",
    "spread_indices",
]


def _check_members(models: Sequence[nn.Module]) -> None:
    if len(models) == 0:
        raise ValueError("The ensemble has no members to explain.")


def ensemble_gradcam(
    models: Sequence[nn.Module],
    name: str,
    slices: np.ndarray,
    target: Literal["good", "poor"] = "good",
    *,
    batch_size: int = 16,
) -> np.ndarray:
    """Mean Grad-CAM of the ensemble's image models, one heatmap per slice.

    Parameters
    ----------
    models : sequence of torch.nn.Module
        The ensemble's image members (one registry model ``name``).
    name : str
        Registry name of the image backbone (names the target layer).
    slices : ndarray, shape (n_slices, 3, height, width), float
        Model inputs, as for :func:`rehab_core.explain.gradcam`.
    target : {"good", "poor"}
        Which outcome's evidence to show.
    batch_size : int
        Slices per forward/backward pass.

    Returns
    -------
    heatmaps : ndarray, shape (n_slices, height, width), float32
        In [0, 1], each slice scaled by its own maximum (all zeros where no
        member found supporting evidence).
    """
    _check_members(models)
    total = None
    for model in models:
        maps = gradcam(model, name, slices, target, batch_size=batch_size).astype(np.float64)
        total = maps if total is None else total + maps
    mean = total / len(models)
    peak = mean.max(axis=(1, 2), keepdims=True)
    scaled = np.divide(mean, peak, out=np.zeros_like(mean), where=peak > 0)
    return scaled.astype(np.float32)


def ensemble_integrated_gradients(
    models: Sequence[nn.Module],
    windows: np.ndarray,
    *,
    steps: int = 16,
    target: Literal["good", "poor"] = "good",
) -> np.ndarray:
    """Mean Integrated Gradients of the ensemble's signal models.

    Parameters
    ----------
    models : sequence of torch.nn.Module
        The ensemble's LSTMs.
    windows : ndarray, shape (n_windows, n_chans, n_times), float
        Preprocessed windows (zeros are the baseline).
    steps : int
        Trapezoid intervals per window.
    target : {"good", "poor"}
        Which outcome's logit to attribute.

    Returns
    -------
    attributions : ndarray, shape (n_windows, n_chans, n_times), float32
    """
    _check_members(models)
    total = None
    for model in models:
        attr = integrated_gradients(model, windows, steps=steps, target=target).astype(np.float64)
        total = attr if total is None else total + attr
    return (total / len(models)).astype(np.float32)


def spread_indices(n_items: int, n_pick: int) -> list[int]:
    """``n_pick`` indices spread evenly over ``range(n_items)`` (all of them if fewer).

    Used to explain a few windows from the start, middle and end of a
    recording rather than its first few.
    """
    if n_items <= 0 or n_pick <= 0:
        return []
    if n_items <= n_pick:
        return list(range(n_items))
    return sorted({int(round(v)) for v in np.linspace(0, n_items - 1, n_pick)})


def recording_attribution(
    models: Sequence[nn.Module],
    signals,
    *,
    sample_budget: int = 1000,
    steps: int = 16,
    n_bins: int = 20,
):
    """Ensemble Integrated Gradients on spread-out windows of one recording, summarised.

    Parameters
    ----------
    models : sequence of nn.Module
        The bundle's LSTMs.
    signals : SignalResult
        The recording's windows (what the models read).
    sample_budget : int
        Windows are picked evenly over the recording until their samples
        (``n_times`` each) reach this many (at least one window): the cost of
        IG grows with ``steps x windows x n_times``.
    steps : int
        Integration steps.
    n_bins : int
        Time bins of the summary (at most ``n_times``).

    Returns
    -------
    (AttributionSummary, list of float)
        The summary over channels and time, and the start (s) of each window used.
    """
    from rehab_core.explain.attribution import attribution_summary

    n_times = signals.windows.shape[-1]
    picked = spread_indices(signals.n_windows, max(1, sample_budget // n_times))
    attr = ensemble_integrated_gradients(models, signals.windows[picked], steps=steps)
    summary = attribution_summary(
        attr, signals.ch_names, float(signals.sfreq), min(n_bins, attr.shape[-1])
    )
    return summary, [float(signals.window_starts_s[i]) for i in picked]

"""Explanations of an ensemble: mean Grad-CAM and mean Integrated Gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rehab_core.explain import (
    ensemble_gradcam,
    ensemble_integrated_gradients,
    gradcam,
    integrated_gradients,
    recording_attribution,
    spread_indices,
)
from rehab_core.models import create_model


@pytest.fixture
def slices():
    return np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)


def test_ensemble_gradcam_is_the_rescaled_mean_of_the_members(slices):
    members = [create_model("shufflenet").eval() for _ in range(2)]
    maps = ensemble_gradcam(members, "shufflenet", slices)
    assert maps.shape == (2, 64, 64) and maps.dtype == np.float32
    mean = np.mean([gradcam(m, "shufflenet", slices) for m in members], axis=0)
    peak = mean.max(axis=(1, 2), keepdims=True)
    expected = np.divide(mean, peak, out=np.zeros_like(mean), where=peak > 0)
    np.testing.assert_allclose(maps, expected, atol=1e-6)
    assert maps.min() >= 0 and maps.max() <= 1


def test_ensemble_integrated_gradients_attribute_the_mean_logit():
    torch.manual_seed(0)
    members = [create_model("lstm", n_chans=3).eval() for _ in range(2)]
    windows = np.random.default_rng(1).standard_normal((2, 3, 30)).astype(np.float32)
    attr = ensemble_integrated_gradients(members, windows, steps=32)
    single = [integrated_gradients(m, windows, steps=32) for m in members]
    np.testing.assert_allclose(attr, np.mean(single, axis=0), atol=1e-6)
    with torch.no_grad():
        x = torch.from_numpy(windows)
        delta = np.mean([(m(x) - m(torch.zeros_like(x)))[:, 0].numpy() for m in members], axis=0)
    np.testing.assert_allclose(attr.sum(axis=(1, 2)), delta, rtol=0.02, atol=1e-5)


@pytest.mark.parametrize("explain", [ensemble_gradcam, ensemble_integrated_gradients])
def test_an_empty_ensemble_is_refused(explain):
    args = ([], "shufflenet", np.zeros((1, 3, 8, 8), np.float32))
    if explain is ensemble_integrated_gradients:
        args = ([], np.zeros((1, 2, 8), np.float32))
    with pytest.raises(ValueError, match="The ensemble has no members to explain."):
        explain(*args)


@pytest.mark.parametrize(
    ("n_items", "n_pick", "expected"),
    [(6, 3, [0, 2, 5]), (2, 4, [0, 1]), (10, 1, [0]), (0, 3, []), (54, 4, [0, 18, 35, 53])],
)
def test_spread_indices(n_items, n_pick, expected):
    assert spread_indices(n_items, n_pick) == expected


def test_recording_attribution_spends_its_sample_budget_on_spread_windows():
    from types import SimpleNamespace

    torch.manual_seed(0)
    members = [create_model("lstm", n_chans=3).eval() for _ in range(2)]
    windows = np.random.default_rng(2).standard_normal((6, 3, 25)).astype(np.float32)
    signals = SimpleNamespace(
        windows=windows,
        n_windows=6,
        ch_names=("C3", "Cz", "EMG_RF"),
        sfreq=2.5,
        window_starts_s=np.arange(6) * 10.0,
    )
    summary, starts = recording_attribution(members, signals, sample_budget=75, steps=8, n_bins=40)
    picked = spread_indices(6, 3)  # 75 samples // 25 per window
    assert starts == [10.0 * i for i in picked]
    assert summary.per_channel_bin.shape == (3, 25)  # bins capped at n_times
    direct = ensemble_integrated_gradients(members, windows[picked], steps=8)
    np.testing.assert_allclose(
        summary.signed_per_channel, direct.astype(np.float64).sum(axis=2).mean(axis=0), rtol=1e-6
    )

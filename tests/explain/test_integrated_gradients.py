"""Integrated Gradients for the signal model, and its summary."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from rehab_core.explain import attribution_summary, integrated_gradients
from rehab_core.models import create_model


class ChannelOne(nn.Module):
    """A hand-made model that looks only at channel 1: logit = 3 * mean(x[:, 1] ** 2)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(3.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * (x[:, 1] ** 2).mean(dim=-1, keepdim=True)


@pytest.fixture
def windows():
    return torch.randn(3, 4, 40, generator=torch.Generator().manual_seed(1))


def test_completeness_on_the_lstm(windows):
    model = create_model("lstm", n_chans=4)  # training mode: IG must switch dropout etc. off
    attr = integrated_gradients(model, windows, steps=32)
    assert attr.shape == (3, 4, 40) and attr.dtype == np.float32
    assert model.training
    model.eval()
    with torch.no_grad():
        delta = (model(windows) - model(torch.zeros_like(windows)))[:, 0].numpy()
    np.testing.assert_allclose(attr.sum(axis=(1, 2)), delta, rtol=0.02, atol=1e-5)
    assert all(p.grad is None for p in model.parameters())  # parameter gradients untouched


def test_poor_is_the_negation_and_baseline_is_used(windows):
    model = create_model("lstm", n_chans=4).eval()
    good = integrated_gradients(model, windows, steps=8)
    np.testing.assert_allclose(
        integrated_gradients(model, windows, steps=8, target="poor"), -good, atol=1e-6
    )
    # attributing a window against itself gives nothing
    np.testing.assert_allclose(
        integrated_gradients(model, windows, steps=8, baseline=windows), 0.0, atol=1e-7
    )
    # a baseline shared by all windows (n_chans, n_times) works too
    shared = integrated_gradients(
        model, windows, steps=8, baseline=np.zeros((4, 40), dtype=np.float32)
    )
    np.testing.assert_allclose(shared, good, atol=1e-6)


def test_batching_does_not_change_the_result(windows):
    model = create_model("lstm", n_chans=4).eval()
    np.testing.assert_allclose(
        integrated_gradients(model, windows, steps=8, batch_size=5),
        integrated_gradients(model, windows, steps=8, batch_size=64),
        atol=1e-6,
    )


def test_attribution_lands_on_the_channel_the_model_uses(windows):
    attr = integrated_gradients(ChannelOne(), windows, steps=16)
    per_channel = np.abs(attr).sum(axis=(0, 2))
    assert per_channel.argmax() == 1
    np.testing.assert_array_equal(per_channel[[0, 2, 3]], 0.0)
    # x ** 2 on a straight path from 0: the exact IG is the function's value (trapezoid on
    # a quadratic integrand is off by O(1 / steps ** 2))
    expected = 3.0 * windows[:, 1].numpy() ** 2 / 40
    np.testing.assert_allclose(attr[:, 1], expected, rtol=0.01)


def test_under_no_grad(windows):
    model = create_model("lstm", n_chans=4).eval()
    expected = integrated_gradients(model, windows, steps=4)
    with torch.no_grad():
        np.testing.assert_allclose(
            integrated_gradients(model, windows, steps=4), expected, atol=1e-7
        )
    with torch.inference_mode():
        np.testing.assert_allclose(
            integrated_gradients(model, windows.clone(), steps=4), expected, atol=1e-7
        )


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"windows": torch.zeros(4, 40)},
            ValueError,
            r"windows has shape \(4, 40\); expected a non-empty 3D array",
        ),
        (
            {"windows": np.zeros((1, 4, 40), dtype=np.int32)},
            TypeError,
            "windows must hold floating-point values",
        ),
        (
            {"windows": torch.full((1, 4, 40), float("inf"))},
            ValueError,
            "windows contains NaN or infinite values",
        ),
        (
            {"baseline": torch.zeros(4, 39)},
            ValueError,
            r"baseline has shape \(4, 39\); expected \(4, 40\) or \(3, 4, 40\)",
        ),
        ({"steps": 0}, ValueError, r"steps=0 must be at least 1"),
        (
            {"target": "fair"},
            ValueError,
            r"target='fair' is not allowed; choose one of 'good', 'poor'",
        ),
    ],
)
def test_bad_arguments_are_refused(windows, kwargs, error, message):
    model = create_model("lstm", n_chans=4)
    arguments = {"windows": windows, **kwargs}
    with pytest.raises(error, match=message):
        integrated_gradients(model, arguments.pop("windows"), **arguments)


def test_wrong_output_width_is_refused(windows):
    model = create_model("lstm", n_chans=4, n_outputs=3)
    with pytest.raises(
        ValueError, match=r"logits of shape \(\d+, 3\); Integrated Gradients for an outcome needs"
    ):
        integrated_gradients(model, windows, steps=2)


def test_summary():
    attr = np.zeros((2, 3, 10), dtype=np.float32)
    attr[:, 2, 8:] = 1.0  # all evidence on channel C at the end
    attr[0, 0, 0] = -2.0  # some counter-evidence on channel A at the start
    summary = attribution_summary(attr, ["A", "B", "C"], sfreq=5.0, n_bins=2)
    assert summary.ch_names == ("A", "B", "C")
    np.testing.assert_allclose(summary.bin_edges_s, [0.0, 1.0, 2.0])
    np.testing.assert_allclose(summary.per_channel, [2 / 6, 0.0, 4 / 6])
    np.testing.assert_allclose(summary.per_bin, [2 / 6, 4 / 6])
    np.testing.assert_allclose(summary.per_channel_bin, [[2 / 6, 0], [0, 0], [0, 4 / 6]])
    np.testing.assert_allclose(summary.signed_per_channel, [-1.0, 0.0, 2.0])
    single = attribution_summary(
        attr[0], ["A", "B", "C"], sfreq=5.0, n_bins=3
    )  # one window, uneven bins
    np.testing.assert_allclose(single.bin_edges_s, [0.0, 0.6, 1.2, 2.0])
    assert single.per_channel_bin.sum() == pytest.approx(1.0)


def test_summary_of_zero_attributions():
    summary = attribution_summary(np.zeros((3, 5)), ["a", "b", "c"], sfreq=1.0, n_bins=5)
    np.testing.assert_array_equal(summary.per_channel, 0.0)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"ch_names": ["A"]}, ValueError, "attr has 3 channels but 1 ch_names were given"),
        ({"n_bins": 11}, ValueError, r"n_bins=11 must be between 1 and 10"),
        ({"sfreq": 0.0}, ValueError, r"sfreq=0\.0 must be positive"),
        (
            {"attr": np.zeros((1, 1, 3, 10))},
            ValueError,
            r"attr has shape \(1, 1, 3, 10\); expected",
        ),
        ({"attr": np.zeros((3, 10), dtype=int)}, TypeError, "attr must hold floating-point values"),
        ({"attr": np.full((3, 10), np.nan)}, ValueError, "attr contains NaN or infinite values"),
    ],
)
def test_summary_refuses_bad_input(kwargs, error, message):
    arguments = {
        "attr": np.zeros((3, 10)),
        "ch_names": ["A", "B", "C"],
        "sfreq": 5.0,
        "n_bins": 2,
        **kwargs,
    }
    with pytest.raises(error, match=message):
        attribution_summary(**arguments)

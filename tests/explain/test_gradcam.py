"""Grad-CAM for every image backbone: shape, range, hooks released, grad mode."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rehab_core.explain import gradcam
from rehab_core.models import create_model, get_gradcam_layer, list_models


@pytest.fixture(scope="module")
def slices():
    """Small slices for the behaviour tests (Grad-CAM works at any size)."""
    return torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", list_models("image"))
def test_gradcam_every_image_model(name):
    model = create_model(name)  # in training mode, as create_model returns it
    slices = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    before = slices.clone()
    heatmaps = gradcam(
        model, name, slices, target="good", batch_size=1
    )  # two passes, one slice each
    assert heatmaps.shape == (2, 224, 224)
    assert heatmaps.dtype == np.float32
    assert np.isfinite(heatmaps).all()
    assert heatmaps.min() >= 0.0 and heatmaps.max() <= 1.0
    assert heatmaps.max() > 0.0  # a random network still has some positive evidence
    layer = get_gradcam_layer(model, name)
    assert (
        len(layer._forward_hooks) == 0 and len(layer._backward_hooks) == 0
    )  # released by the `with`
    assert model.training  # mode restored
    assert all(p.grad is None for p in model.parameters())  # gradients cleared
    torch.testing.assert_close(slices, before)  # input untouched


def test_gradcam_under_no_grad_and_inference_mode(slices):
    model = create_model("shufflenet").eval()
    expected = gradcam(model, "shufflenet", slices[:1])
    with torch.no_grad():
        np.testing.assert_allclose(gradcam(model, "shufflenet", slices[:1]), expected, atol=1e-5)
    with torch.inference_mode():
        frozen = slices[:1].clone()  # an inference tensor
        np.testing.assert_allclose(gradcam(model, "shufflenet", frozen), expected, atol=1e-5)
    assert not model.training


def test_gradcam_with_frozen_parameters_and_numpy_input(slices):
    model = create_model("shufflenet").eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    expected = gradcam(model, "shufflenet", slices[:1])
    from_numpy = gradcam(model, "shufflenet", slices[:1].numpy().astype(np.float64))
    np.testing.assert_allclose(from_numpy, expected, atol=1e-5)
    assert expected.max() > 0.0


def test_good_and_poor_are_opposite_evidence(slices):
    """For one logit, 'poor' is the negated logit: the raw CAMs are negatives of each other."""
    model = create_model("shufflenet").eval()
    good = gradcam(model, "shufflenet", slices[:1], target="good")
    poor = gradcam(model, "shufflenet", slices[:1], target="poor")
    assert not np.allclose(good, poor)
    # where 'good' has all its evidence (its peak), 'poor' has none of its peak
    peak = np.unravel_index(np.argmax(good[0]), good[0].shape)
    assert poor[0][peak] < 0.5


def test_two_logits_use_index_one_for_good(slices):
    model = create_model("shufflenet", n_outputs=2).eval()
    with torch.no_grad():
        # make logit 0 the negation of logit 1: poor on logit 0 == good on logit 1
        model.fc.weight[0] = -model.fc.weight[1]
        model.fc.bias[0] = -model.fc.bias[1]
    single = create_model("shufflenet").eval()
    single.load_state_dict(
        {**model.state_dict(), "fc.weight": model.fc.weight[1:], "fc.bias": model.fc.bias[1:]}
    )
    np.testing.assert_allclose(
        gradcam(model, "shufflenet", slices[:1], "good"),
        gradcam(single, "shufflenet", slices[:1], "good"),
        atol=1e-5,
    )


def test_more_than_two_logits_are_refused(slices):
    model = create_model("shufflenet", n_outputs=3)
    with pytest.raises(
        ValueError,
        match="The model returns 3 logits per slice; Grad-CAM for a good or poor outcome",
    ):
        gradcam(model, "shufflenet", slices[:1])
    assert len(model.conv5._forward_hooks) == 0  # released on errors too


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        (
            torch.zeros(1, 1, 32, 32),
            ValueError,
            r"slices has shape \(1, 1, 32, 32\); expected \(n_slices, 3, height",
        ),
        (torch.zeros(3, 32, 32), ValueError, r"slices has shape \(3, 32, 32\)"),
        (
            torch.zeros(1, 3, 8, 8, dtype=torch.uint8),
            TypeError,
            "slices must hold floating-point values",
        ),
        (
            np.zeros((1, 3, 8, 8), dtype=np.int16),
            TypeError,
            "slices must hold floating-point values, got dtype int16",
        ),
        ([[0.0]], TypeError, "slices must be a numpy array or a torch tensor, got list"),
        (
            torch.full((1, 3, 8, 8), float("nan")),
            ValueError,
            "slices contains NaN or infinite values",
        ),
    ],
)
def test_bad_slices_are_refused(bad, error, message):
    model = create_model("shufflenet")
    with pytest.raises(error, match=message):
        gradcam(model, "shufflenet", bad)


def test_bad_options_are_refused(slices):
    model = create_model("shufflenet")
    with pytest.raises(
        ValueError, match=r"target='bad' is not allowed; choose one of 'good', 'poor'"
    ):
        gradcam(model, "shufflenet", slices[:1], target="bad")
    with pytest.raises(ValueError, match=r"batch_size=0 must be at least 1"):
        gradcam(model, "shufflenet", slices[:1], batch_size=0)
    with pytest.raises(ValueError, match="'lstm' has no Grad-CAM layer"):
        gradcam(create_model("lstm"), "lstm", slices[:1])

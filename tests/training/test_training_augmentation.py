"""Slice augmentation on whole batches: each change does what it says, within its range, seeded."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rehab_core.training.augmentation import SliceAugmentation, augment_batch
from rehab_core.training.datasets import SliceDataset

N = 600  # slices per statistics batch
SIZE = 64


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _blob(n: int = N, *, sx: float = 6.0, sy: float = 6.0, floor: float = -1.0) -> torch.Tensor:
    """n copies of a Gaussian blob (3 channels, 64 x 64) on a background of ``floor``."""
    c = (SIZE - 1) / 2
    y, x = torch.meshgrid(torch.arange(float(SIZE)), torch.arange(float(SIZE)), indexing="ij")
    blob = torch.exp(-(((x - c) / sx) ** 2 + ((y - c) / sy) ** 2) / 2)
    img = floor + 2.0 * blob
    return img.expand(n, 3, SIZE, SIZE).clone()


def _moments(batch: torch.Tensor):
    """Centroid (x, y), second moments (mu20, mu02, mu11) of channel 0 above its minimum."""
    w = batch[:, 0] - batch[:, 0].amin(dim=(-2, -1), keepdim=True)
    y, x = torch.meshgrid(torch.arange(float(SIZE)), torch.arange(float(SIZE)), indexing="ij")
    total = w.sum(dim=(-2, -1))
    cx = (w * x).sum(dim=(-2, -1)) / total
    cy = (w * y).sum(dim=(-2, -1)) / total
    dx, dy = x - cx[:, None, None], y - cy[:, None, None]
    mu20 = (w * dx * dx).sum(dim=(-2, -1)) / total
    mu02 = (w * dy * dy).sum(dim=(-2, -1)) / total
    mu11 = (w * dx * dy).sum(dim=(-2, -1)) / total
    return cx, cy, mu20, mu02, mu11


def _uniform_like(values: torch.Tensor, half_width: float, *, centre: float = 0.0) -> None:
    """Values within [centre - hw, centre + hw], centred, spread like a uniform draw."""
    v = values.double()
    assert (
        float(v.min()) >= centre - half_width * 1.02
        and float(v.max()) <= centre + half_width * 1.02
    )
    assert abs(float(v.mean()) - centre) < 0.1 * half_width
    assert float(v.std()) == pytest.approx(half_width / math.sqrt(3), rel=0.12)


def test_rotation_angles_are_uniform_within_the_range():
    bar = _blob(sx=14.0, sy=3.0)
    out = augment_batch(bar, SliceAugmentation.only(max_rotation_deg=20.0), generator=_gen())
    _, _, mu20, mu02, mu11 = _moments(out)
    angle = 0.5 * torch.atan2(2 * mu11, mu20 - mu02)
    _uniform_like(torch.rad2deg(angle), 20.0)


def test_zoom_factors_are_uniform_within_the_range():
    out = augment_batch(_blob(), SliceAugmentation.only(max_scale=0.2), generator=_gen(1))
    _, _, mu20, mu02, _ = _moments(out)
    zoom = torch.sqrt((mu20 + mu02) / 2) / 6.0  # the blob's sigma, 6 px before
    _uniform_like(zoom, 0.2, centre=1.0)


def test_shifts_are_uniform_within_a_fraction_of_the_slice():
    out = augment_batch(_blob(), SliceAugmentation.only(max_shift=0.1), generator=_gen(2))
    cx, cy, _, _, _ = _moments(out)
    centre = (SIZE - 1) / 2
    for c in (cx, cy):
        _uniform_like(c - centre, 0.1 * SIZE)
    assert abs(float(torch.corrcoef(torch.stack([cx, cy]))[0, 1])) < 0.15  # independent axes


def test_flips_happen_with_their_probability_and_are_exact():
    img = torch.randn(N, 3, 8, 12, generator=_gen(3))
    out = augment_batch(img, SliceAugmentation.only(flip_probability=0.3), generator=_gen(4))
    flipped = torch.isclose(out, torch.flip(img, dims=(-1,)), atol=1e-5).flatten(1).all(1)
    same = torch.isclose(out, img, atol=1e-5).flatten(1).all(1)
    assert bool((flipped ^ same).all())  # each slice either flipped or left alone
    assert float(flipped.float().mean()) == pytest.approx(0.3, abs=0.06)


def test_intensity_scale_gamma_bias_and_noise_stay_in_their_ranges():
    ramp = torch.linspace(0.0, 1.0, SIZE).expand(N, 3, SIZE, SIZE).clone() - 0.5  # floor -0.5
    inside = ramp + 0.5 > 0.2  # away from the floor, where ratios are stable

    bright = augment_batch(ramp, SliceAugmentation.only(brightness=0.3), generator=_gen(5))
    ratio = (bright + 0.5)[inside.expand_as(bright)].view(N, -1) / (ramp + 0.5)[inside].view(N, -1)
    assert float((ratio.std(dim=1)).max()) < 1e-4  # one factor per slice
    _uniform_like(ratio[:, 0], 0.3, centre=1.0)
    torch.testing.assert_close(bright.amin(dim=(-2, -1)), torch.full((N, 3), -0.5))

    gam = augment_batch(ramp, SliceAugmentation.only(gamma=0.4), generator=_gen(6))
    x = (ramp + 0.5)[:, 0, 0, 20]  # one pixel of the ramp, value in (0, 1)
    exponent = torch.log(gam[:, 0, 0, 20] + 0.5) / torch.log(x)
    _uniform_like(torch.log(exponent), 0.4)
    assert torch.equal(gam[:, :, :, -1], ramp[:, :, :, -1])  # the maximum stays the maximum

    flat = torch.zeros(N, 3, SIZE, SIZE)
    flat[:, :, 1:-1, 1:-1] = 1.0  # a flat object on a 0 background: the field shows through
    biased = augment_batch(flat, SliceAugmentation.only(bias_field=0.2), generator=_gen(7))
    log_field = torch.log(biased[:, :, 1:-1, 1:-1])
    assert float(log_field.abs().max()) <= 0.2 + 1e-5
    assert float(log_field.flatten(1).std(dim=1).median()) > 0.02  # it varies across the slice
    torch.testing.assert_close(log_field[:, 0], log_field[:, 2])  # one field for every channel
    assert float(log_field.diff(dim=-1).abs().max()) < 0.4 * 2 / SIZE * 3  # smooth: no jumps
    assert torch.equal(biased[:, :, 0], flat[:, :, 0])  # background untouched

    img = torch.randn(N, 3, SIZE, SIZE, generator=_gen(8)) * 2.0 + 1.0
    noisy = augment_batch(img, SliceAugmentation.only(noise=0.1), generator=_gen(9))
    residual = (noisy - img).flatten(2).std(dim=-1) / img.flatten(2).std(dim=-1)
    assert float(residual.mean()) == pytest.approx(0.1, rel=0.02)


def test_the_default_keeps_the_background_and_the_input():
    img = _blob(32)
    before = img.clone()
    out = augment_batch(img, SliceAugmentation(), generator=_gen(10))
    torch.testing.assert_close(img, before, rtol=0, atol=0)  # not modified in place
    assert out.shape == img.shape and out.dtype == img.dtype and not out.requires_grad
    assert not torch.allclose(out, img)
    corners = out[:, :, :2, :2]  # background (or filled from outside the slice), plus noise
    assert float((corners - -1.0).abs().max()) < 0.2
    assert SliceAugmentation.from_dict(SliceAugmentation().to_dict()) == SliceAugmentation()


def test_everything_off_is_the_identity_and_paper_is_the_papers():
    img = torch.randn(4, 3, 16, 20, generator=_gen(11))
    torch.testing.assert_close(augment_batch(img, SliceAugmentation.only(), generator=_gen()), img)
    paper = SliceAugmentation.paper()
    assert (paper.max_rotation_deg, paper.flip_probability, paper.brightness) == (15.0, 0.5, 0.1)
    assert paper.max_scale == paper.max_shift == paper.gamma == paper.bias_field == 0
    assert paper.noise == 0


def test_non_square_slices_rotate_without_shearing():
    img = torch.zeros(200, 1, 40, 80)
    img[:, :, 15:25, 35:45] = 1.0  # a square in the middle of a wide slice
    out = augment_batch(img, SliceAugmentation.only(max_rotation_deg=45.0), generator=_gen(12))
    w = out[:, 0]
    y, x = torch.meshgrid(torch.arange(40.0), torch.arange(80.0), indexing="ij")
    m = w.sum(dim=(-2, -1))
    var_x = (w * (x - 39.5) ** 2).sum(dim=(-2, -1)) / m
    var_y = (w * (y - 19.5) ** 2).sum(dim=(-2, -1)) / m
    torch.testing.assert_close(var_x, var_y, rtol=0.08, atol=0.0)  # a square stays a square


def test_the_same_seed_gives_the_same_batch_and_another_seed_another():
    img = torch.randn(8, 3, 32, 32, generator=_gen(13))
    aug = SliceAugmentation()
    a = augment_batch(img, aug, generator=_gen(1))
    torch.testing.assert_close(augment_batch(img, aug, generator=_gen(1)), a, rtol=0, atol=0)
    assert not torch.allclose(augment_batch(img, aug, generator=_gen(2)), a)


def test_dataset_batches_are_seeded_by_epoch_batch_and_rank():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 3, 24, 24)).astype(np.float32)
    ds = SliceDataset(
        x, np.arange(8) % 4, {p: p % 2 for p in range(4)}, augmentation=SliceAugmentation(), seed=3
    )
    batch = torch.stack([ds.read_item(i)[0] for i in range(8)])
    torch.testing.assert_close(batch.numpy(), x)  # read_item never augments
    first = ds.augment_batch(batch, epoch=1, batch=1)
    torch.testing.assert_close(ds.augment_batch(batch, epoch=1, batch=1), first, rtol=0, atol=0)
    for other in (
        {"epoch": 2, "batch": 1},
        {"epoch": 1, "batch": 2},
        {"epoch": 1, "batch": 1, "rank": 1},
    ):
        assert not torch.allclose(ds.augment_batch(batch, **other), first)
    ds.eval()
    assert ds.augment_batch(batch, epoch=1, batch=1) is batch
    assert (
        SliceDataset(x, np.arange(8), np.zeros(8, int)).augment_batch(batch, epoch=1, batch=1)
        is batch
    )


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (
            torch.zeros(3, 8, 8),
            r"x must be a float tensor of shape \(batch, n_channels, height, width\)",
        ),
        (torch.zeros(2, 3, 8, 8, dtype=torch.int64), "got torch.int64 of shape"),
    ],
)
def test_bad_batches_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        augment_batch(bad, SliceAugmentation(), generator=_gen())


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_scale", 0.6), ("max_shift", -0.1), ("gamma", 1.5), ("bias_field", 2.0), ("noise", -1.0)],
)
def test_augmentation_ranges_are_checked(field, value):
    with pytest.raises(ValueError, match=f"{field}={value} must lie between"):
        SliceAugmentation(**{field: value})


@pytest.mark.gpu
def test_augmentation_runs_on_the_gpu():
    img = _blob(16).cuda()
    g = torch.Generator(device="cuda").manual_seed(0)
    out = augment_batch(img, SliceAugmentation(), generator=g)
    assert out.is_cuda and out.shape == img.shape and torch.isfinite(out).all()

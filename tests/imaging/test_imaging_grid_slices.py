"""Isotropic resampling, slice screening, robust scaling and 224x224 slice images."""

from __future__ import annotations

import numpy as np
import pytest

from rehab_core.imaging import (
    IMAGENET_MEAN,
    axial_slice_images,
    imagenet_denormalize,
    imagenet_normalize,
    isotropic_grid,
    resample_isotropic,
    scale_robust,
    screen_slices,
)


def _world_linear(shape, affine):
    """Image whose value is x + 2 y + 3 z of each voxel's world position (mm)."""
    ijk = np.indices(shape).reshape(3, -1)
    world = affine[:3, :3] @ ijk + affine[:3, 3:4]
    return (world[0] + 2 * world[1] + 3 * world[2]).reshape(shape)


def test_paper_grid_at_4_mm():
    affine = np.diag([3.4375, 3.4375, 4.0, 1.0])
    shape, grid_affine = isotropic_grid((64, 64, 35), affine, 4.0)
    assert shape == (55, 55, 35)
    np.testing.assert_allclose(np.diag(grid_affine), [4.0, 4.0, 4.0, 1.0])


def test_resampling_keeps_world_positions_of_an_lps_image():
    affine = np.diag([-3.0, -3.0, 4.0, 1.0])  # stored left-to-right flipped (LPS)
    affine[:3, 3] = [30.0, 25.0, -20.0]
    data = _world_linear((11, 9, 6), affine).astype(np.float32)
    before = data.copy()
    out, grid_affine = resample_isotropic(data, affine, 2.0)
    assert np.all(np.diag(grid_affine)[:3] > 0)  # RAS+ output
    np.testing.assert_allclose(out, _world_linear(out.shape, grid_affine), atol=1e-3)
    np.testing.assert_array_equal(data, before)
    assert out.dtype == np.float32


def test_resampling_an_oblique_image_fills_outside_with_zero_and_4d_matches_3d():
    angle = np.deg2rad(30.0)
    affine = np.eye(4)
    affine[:2, :2] = 3.0 * np.array(
        [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    )
    volume = np.ones((8, 8, 3), dtype=np.float32)
    out, _ = resample_isotropic(volume, affine, 3.0)
    assert out[0, 0, 0] == 0.0  # a bounding-box corner outside the rotated field of view
    assert np.isclose(out.max(), 1.0)
    run = np.stack([volume, 2 * volume], axis=-1)
    out4, _ = resample_isotropic(run, affine, 3.0)
    np.testing.assert_allclose(out4[..., 1], 2 * out, atol=1e-6)


def test_resampling_with_zero_motion_equals_the_plain_path():
    rng = np.random.default_rng(0)
    run = rng.random((7, 6, 5, 3)).astype(np.float32)
    affine = np.diag([3.0, 3.0, 4.0, 1.0])
    plain, _ = resample_isotropic(run, affine, 2.5)
    moved, _ = resample_isotropic(run, affine, 2.5, motion=np.zeros((3, 6)), centre_mm=np.zeros(3))
    np.testing.assert_allclose(moved, plain, atol=1e-5)


def test_resample_errors():
    affine = np.eye(4)
    with pytest.raises(TypeError, match="data must be a float array, got dtype int64"):
        resample_isotropic(np.zeros((3, 3, 3), dtype=np.int64), affine, 2.0)
    with pytest.raises(ValueError, match="data must be a 3D or 4D numpy array, got \\(3, 3\\)"):
        resample_isotropic(np.zeros((3, 3)), affine, 2.0)
    with pytest.raises(ValueError, match="motion must have shape \\(2, 6\\)"):
        resample_isotropic(
            np.zeros((3, 3, 3, 2)), affine, 2.0, motion=np.zeros((3, 6)), centre_mm=np.zeros(3)
        )
    with pytest.raises(ValueError, match="centre_mm is required with motion"):
        resample_isotropic(np.zeros((3, 3, 3, 2)), affine, 2.0, motion=np.zeros((2, 6)))
    with pytest.raises(ValueError, match="voxel_size_mm=0 must be positive"):
        isotropic_grid((3, 3, 3), affine, 0)


def test_screen_slices_by_area_and_tsnr():
    mask = np.zeros((10, 10, 6), dtype=bool)
    areas = [0, 10, 100, 100, 40, 100]
    for k, area in enumerate(areas):
        mask.reshape(100, 6)[:area, k] = True
    tsnr = np.where(mask, 60.0, 0.0)
    tsnr[:, :, 5] = np.where(mask[:, :, 5], 20.0, 0.0)
    kept, out = screen_slices(mask, tsnr, min_brain_fraction=0.3, min_slice_tsnr_fraction=0.5)
    np.testing.assert_array_equal(kept, [2, 3, 4])
    assert out[0] == "no brain in the slice"
    assert out[1] == "brain area 10 voxels < 30% of the largest slice (100 voxels)"
    assert out[5] == "median tSNR 20.0 < 50% of the whole-brain median (60.0)"
    kept, out = screen_slices(mask)  # without tSNR only the area counts
    np.testing.assert_array_equal(kept, [2, 3, 4, 5])
    with pytest.raises(ValueError, match="the brain mask is empty"):
        screen_slices(np.zeros((3, 3, 3), dtype=bool))
    with pytest.raises(ValueError, match="min_brain_fraction=1.5 must lie between 0.0 and 1.0"):
        screen_slices(mask, min_brain_fraction=1.5)


def test_scale_robust():
    volume = np.arange(101, dtype=np.float64).reshape(101, 1, 1) * np.ones((1, 2, 1))
    mask = np.ones(volume.shape, dtype=bool)
    mask[0, 0, 0] = False
    scaled = scale_robust(volume, mask, (10.0, 90.0))
    assert scaled.dtype == np.float32
    assert scaled[5, 1, 0] == 0.0 and scaled[95, 1, 0] == 1.0
    assert 0.45 < scaled[50, 1, 0] < 0.55
    assert scaled[0, 0, 0] == 0.0
    assert np.all(scale_robust(np.ones_like(volume), mask) == 0.0)


def test_slice_images_orientation_padding_and_resizing():
    volume = np.zeros((6, 4, 2), dtype=np.float32)  # x (left->right) 6, y (post->ant) 4
    volume[0, 3, 1] = 1.0  # patient's left, most anterior, slice 1
    same = axial_slice_images([volume], [1], size=6)
    assert same.shape == (1, 1, 6, 6)
    # padded from 4 to 6 rows, centred (row offset 1): anterior row first, left column first
    assert same[0, 0, 1, 0] == 1.0
    assert same.sum() == 1.0
    ramp = np.zeros((2, 2, 1), dtype=np.float32)
    ramp[1, :, 0] = 1.0  # right column 1, left column 0
    up = axial_slice_images([ramp, ramp, ramp], [0], size=4)
    np.testing.assert_allclose(up[0, 0, 0], [0.0, 0.25, 0.75, 1.0])
    assert axial_slice_images([volume], [], size=8).shape == (0, 1, 8, 8)
    with pytest.raises(ValueError, match="slice index 5 is out of range for 2 axial slices"):
        axial_slice_images([volume], [5])


def test_imagenet_normalisation_round_trip():
    rng = np.random.default_rng(1)
    images = rng.random((2, 3, 5, 5)).astype(np.float32)
    normed = imagenet_normalize(images)
    np.testing.assert_allclose(imagenet_denormalize(normed), images, atol=1e-6)
    flat = np.full((1, 3, 2, 2), IMAGENET_MEAN[0], dtype=np.float32)
    assert imagenet_normalize(flat)[0, 0, 0, 0] == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="images must have shape \\(n, 3, h, w\\)"):
        imagenet_normalize(images[:, :2])

"""Rigid head-motion estimate and framewise displacement."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from rehab_core.imaging import estimate_motion, framewise_displacement, rigid_transform


def test_framewise_displacement_math():
    params = np.zeros((4, 6))
    params[1, :3] = [0.1, -0.2, 0.3]  # 0.6 mm
    params[2] = params[1]
    params[2, 5] = 0.01  # 0.01 rad on a 50 mm sphere: 0.5 mm
    fd = framewise_displacement(params)
    np.testing.assert_allclose(fd, [0.0, 0.6, 0.5, 1.1])  # back to zero: 0.6 + 0.5
    assert framewise_displacement(params, head_radius_mm=80.0)[2] == pytest.approx(0.8)
    with pytest.raises(ValueError, match="params must have shape \\(t, 6\\), got \\(4, 3\\)"):
        framewise_displacement(params[:, :3])


def test_motion_detects_an_injected_shift(run_factory):
    data, affine, _ = run_factory(n_vols=20)
    for t in range(12, 20):
        data[..., t] = ndimage.shift(data[..., t], (1.0, 0.0, 0.0), order=1, mode="nearest")
    params, _ = estimate_motion(data, affine)
    fd = framewise_displacement(params)
    assert fd[12] == pytest.approx(4.0, abs=0.3)  # one 4-mm voxel along x
    assert np.delete(fd, 12).max() < 0.2
    assert params[15, 0] - params[5, 0] == pytest.approx(4.0, abs=0.3)


def test_motion_recovers_a_rotation(run_factory):
    data, affine, _ = run_factory(shape=(28, 28, 18), n_vols=6)
    truth = np.array([0.5, -1.0, 0.0, 0.0, 0.0, np.deg2rad(3.0)])
    centre = np.zeros(3)
    # volume(y) = reference(T^-1 y): voxel map out -> in is A^-1 M^-1 A
    voxel_map = np.linalg.inv(affine) @ np.linalg.inv(rigid_transform(truth, centre)) @ affine
    for t in range(3, 6):
        data[..., t] = ndimage.affine_transform(
            data[..., t], voxel_map[:3, :3], voxel_map[:3, 3], order=3, mode="nearest"
        )
    params, found_centre = estimate_motion(data, affine, reference_index=0)
    assert np.rad2deg(params[4, 5]) == pytest.approx(3.0, abs=0.3)
    assert np.abs(np.rad2deg(params[4, 3:5])).max() < 0.3
    # the translation about the estimate's own centre is the same rigid motion
    expected_t = truth[:3] + (rigid_transform(truth, centre)[:3, :3] - np.eye(3)) @ found_centre
    np.testing.assert_allclose(params[4, :3], expected_t, atol=0.3)
    np.testing.assert_allclose(params[:3], 0.0, atol=0.05)


def test_rigid_transform_is_identity_at_zero_and_rotates_about_the_centre():
    np.testing.assert_allclose(rigid_transform(np.zeros(6), np.array([1.0, 2.0, 3.0])), np.eye(4))
    matrix = rigid_transform(np.array([0, 0, 0, 0, 0, np.pi / 2]), np.array([10.0, 0.0, 0.0]))
    np.testing.assert_allclose(matrix @ [10.0, 0.0, 0.0, 1.0], [10.0, 0.0, 0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(matrix @ [11.0, 0.0, 0.0, 1.0], [10.0, 1.0, 0.0, 1.0], atol=1e-12)


def test_estimate_motion_errors(run_factory):
    data, affine, _ = run_factory(n_vols=5)
    with pytest.raises(ValueError, match="data must be a 4D \\(x, y, z, t\\) array"):
        estimate_motion(data[..., 0], affine)
    with pytest.raises(ValueError, match="reference_index=9 is out of range for 5 volumes"):
        estimate_motion(data, affine, reference_index=9)
    with pytest.raises(ValueError, match="affine must be a finite 4x4 matrix"):
        estimate_motion(data, np.eye(3))
    with pytest.raises(ValueError, match="affine is singular"):
        estimate_motion(data, np.zeros((4, 4)))

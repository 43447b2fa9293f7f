"""Registration to the MNI152 template (rehab_core.imaging.registration)."""

from __future__ import annotations

import json
import re

import nibabel
import numpy as np
import pytest

from rehab_core.imaging import (
    ImagingSettings,
    RegistrationError,
    claims_template_space,
    preprocess_fmri,
    register_to_template,
    rigid_transform,
    template_grid,
    template_on_grid,
)
from rehab_core.imaging.registration import GRID_BOX_MM, _failures, template_path

# corners of the brain's bounding box (MNI mm), where rotation and scaling errors are largest
CORNERS = np.vstack(
    [
        np.array(np.meshgrid([-70.0, 70.0], [-105.0, 70.0], [-50.0, 80.0], indexing="ij")).reshape(
            3, -1
        ),
        np.ones((1, 8)),
    ]
)


def corner_error_mm(a: np.ndarray, b: np.ndarray) -> float:
    """Largest displacement (mm) between two template -> scan maps at the box corners."""
    return float(np.linalg.norm((a @ CORNERS - b @ CORNERS)[:3], axis=0).max())


def mean_volume(img) -> np.ndarray:
    return np.asarray(img.dataobj, dtype=np.float32).mean(axis=3)


@pytest.fixture(scope="module")
def demo_registration(demo_bold):
    return register_to_template(mean_volume(demo_bold), demo_bold.affine)


@pytest.mark.slow
def test_template_is_nilearns_bundled_mni152_read_without_download():
    import nilearn
    from nilearn.datasets import load_mni152_brain_mask, load_mni152_template

    from rehab_core.imaging.registration import _template_1mm

    assert template_path().is_relative_to(nilearn.__path__[0])
    volume, affine = _template_1mm()
    expected = load_mni152_template(resolution=1)
    np.testing.assert_allclose(volume, expected.get_fdata(), atol=1e-6)
    np.testing.assert_array_equal(affine, expected.affine)
    mask = load_mni152_brain_mask(resolution=1).get_fdata() > 0
    np.testing.assert_array_equal(volume > 0.2, mask)


@pytest.mark.parametrize("voxel_size_mm", [4.0, 3.0, 2.5])
def test_template_grid_is_fixed_covers_the_brain_and_centres_a_voxel_on_mni_zero(voxel_size_mm):
    shape, affine = template_grid(voxel_size_mm)
    assert np.allclose(affine[:3, :3], np.eye(3) * voxel_size_mm)
    origin_voxel = np.linalg.inv(affine) @ [0.0, 0.0, 0.0, 1.0]
    np.testing.assert_allclose(origin_voxel[:3], np.round(origin_voxel[:3]), atol=1e-9)
    low = affine[:3, 3]
    high = low + voxel_size_mm * (np.array(shape) - 1)
    for axis, (lo, hi) in enumerate(GRID_BOX_MM):
        assert low[axis] <= lo and high[axis] >= hi
        assert low[axis] > lo - voxel_size_mm and high[axis] < hi + voxel_size_mm
    t1, mask = template_on_grid(voxel_size_mm)
    assert t1.shape == mask.shape == shape and not mask.flags.writeable
    # the whole brain lies inside, with a border of background
    assert not mask[0].any() and not mask[-1].any() and not mask[:, 0].any()
    assert mask.sum() * voxel_size_mm**3 / 1000 == pytest.approx(1880, rel=0.08)  # ml


def test_template_grid_at_4_mm_is_the_documented_one():
    shape, affine = template_grid(4.0)
    assert shape == (39, 49, 41)
    np.testing.assert_array_equal(affine[:3, 3], [-76.0, -112.0, -72.0])


def test_a_demo_scan_aligns_and_passes_the_checks(demo_registration):
    reg = demo_registration
    assert reg.passed and not reg.already_in_template_space
    # the demo brain is the template, same size, placed within 3 mm and 3 degrees per axis
    assert all(0.95 < s < 1.05 for s in reg.scales)
    assert reg.rotation_deg < 3.0 * np.sqrt(3)
    centre = np.array([0.0, -18.0, 16.0, 1.0])
    assert np.linalg.norm((reg.matrix @ centre - centre)[:3]) < 3.0 * np.sqrt(3)
    assert reg.similarity > reg.similarity_start and reg.similarity > 1.15
    assert reg.brain_overlap > 0.95 and reg.coverage > 0.9
    assert not reg.matrix.flags.writeable
    record = json.loads(json.dumps(reg.to_dict()))
    assert record["template"] == "MNI152NLin2009aSym" and record["passed"] is True
    assert len(record["template_to_scan_mm"]) == 4 and len(record["iterations"]) == 3
    assert record["parameters"]["library"].startswith("SimpleITK ")


def test_registration_is_reproducible(demo_bold, demo_registration):
    again = register_to_template(mean_volume(demo_bold), demo_bold.affine)
    np.testing.assert_array_equal(again.matrix, demo_registration.matrix)


@pytest.mark.parametrize(
    ("name", "angles_deg", "shift_mm", "scales"),
    [
        ("tilted and shifted", (12.0, -6.0, 8.0), (25.0, -20.0, 15.0), (1.0, 1.0, 1.0)),
        ("larger and flatter head", (-8.0, 0.0, 4.0), (-10.0, 10.0, -25.0), (1.12, 1.08, 0.9)),
        ("smaller head", (0.0, 10.0, -10.0), (5.0, 30.0, 0.0), (0.88, 0.9, 0.92)),
    ],
)
def test_registration_follows_a_known_change_of_the_head(
    demo_bold, demo_registration, name, angles_deg, shift_mm, scales
):
    """The same voxels under a header moved by M: the result must move by M (equivariance)."""
    change = rigid_transform([*shift_mm, *np.deg2rad(angles_deg)], np.zeros(3))
    change[:3, :3] = change[:3, :3] @ np.diag(scales)
    moved = register_to_template(mean_volume(demo_bold), change @ demo_bold.affine)
    assert moved.passed, name
    assert corner_error_mm(moved.matrix, change @ demo_registration.matrix) < 2.0, name
    np.testing.assert_allclose(sorted(moved.scales), sorted(scales), atol=0.05)


@pytest.mark.slow
def test_a_file_already_in_mni_space_is_not_registered_again(demo_bold, demo_registration):
    # resample the demo onto a standard 2-mm MNI grid with its own transform, as fMRIPrep would
    from rehab_core.imaging import resample_to_grid

    shape = (91, 109, 91)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = [-90.0, -126.0, -72.0]
    data = np.asarray(demo_bold.dataobj, dtype=np.float32)[..., :3]
    normalised, _ = resample_to_grid(
        data, demo_bold.affine, shape, affine, world_transform=demo_registration.matrix
    )
    img = nibabel.Nifti1Image(normalised, affine)
    img.set_sform(affine, code=4)
    assert claims_template_space(img.header, img.shape, img.affine)
    reg = register_to_template(normalised.mean(axis=3), affine, claims_template=True)
    assert reg.already_in_template_space and reg.passed
    np.testing.assert_array_equal(reg.matrix, np.eye(4))
    assert reg.iterations == () and reg.to_dict()["parameters"]["stages"] == []
    # a header that claims MNI space but is 30 mm off is checked and registered after all
    off = np.eye(4)
    off[:3, 3] = [0.0, 30.0, -20.0]
    wrong = register_to_template(normalised.mean(axis=3), off @ affine, claims_template=True)
    assert not wrong.already_in_template_space and wrong.passed
    assert corner_error_mm(wrong.matrix, off) < 3.0


def test_claims_template_space_reads_codes_and_standard_grids():
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = [-90.0, -126.0, -72.0]
    img = nibabel.Nifti1Image(np.zeros((91, 109, 91), np.float32), affine)
    img.set_sform(affine, code=1)
    img.set_qform(affine, code=1)
    assert claims_template_space(img.header, img.shape, img.affine)  # FSL's 2-mm grid
    scanner = np.diag([3.4, 3.4, 4.0, 1.0])
    scanner[:3, 3] = [-108.0, -108.0, -70.0]
    other = nibabel.Nifti1Image(np.zeros((64, 64, 35), np.float32), scanner)
    assert not claims_template_space(other.header, other.shape, other.affine)
    other.set_qform(scanner, code=4)
    assert claims_template_space(other.header, other.shape, other.affine)


@pytest.mark.parametrize(
    ("matrix", "similarity", "overlap", "match"),
    [
        (
            np.eye(4),
            1.02,
            0.95,
            "does not match the MNI152 template after alignment \\(similarity 1.020 < 1.05\\)",
        ),
        (np.eye(4), 1.2, 0.6, "overlaps the template's brain by only 60% after alignment"),
        (
            np.diag([1.6, 1.5, 1.5, 1.0]),
            1.2,
            0.95,
            "scales the brain by 1.50-1.60 x the template, outside the plausible 0.7-1.4",
        ),
        (np.diag([1.2, 0.8, 1.0, 1.0]), 1.2, 0.95, "stretches the brain 1.50 times more along one"),
        (np.diag([-1.0, 1.0, 1.0, 1.0]), 1.2, 0.95, "mirrors the brain"),
    ],
)
def test_each_failed_check_is_one_plain_sentence(matrix, similarity, overlap, match):
    failures = _failures(
        matrix,
        similarity,
        overlap,
        min_similarity=1.05,
        min_brain_overlap=0.85,
        scale_range=(0.7, 1.4),
        max_anisotropy=1.4,
    )
    assert len(failures) == 1
    assert re.search(match, failures[0]), failures[0]


@pytest.mark.slow
def test_pipeline_refuses_or_flags_an_implausible_registration(demo_bold):
    strict = ImagingSettings(registration_scale_range=(0.99, 1.01), image_size=32)
    with pytest.raises(RegistrationError, match="outside the plausible 0.99-1.01"):
        preprocess_fmri(demo_bold, strict)
    flagged = preprocess_fmri(demo_bold, strict.replace(on_registration_failure="flag"))
    assert flagged.qc["registration"]["passed"] is False
    assert "outside the plausible 0.99-1.01" in flagged.qc["flags"][-1]


def test_register_to_template_checks_its_arguments(demo_bold):
    mean = mean_volume(demo_bold)
    with pytest.raises(ValueError, match="mean must be a 3D \\(x, y, z\\) array"):
        register_to_template(mean[..., None], demo_bold.affine)
    with pytest.raises(ValueError, match="subject_brain has shape \\(2, 2, 2\\)"):
        register_to_template(mean, demo_bold.affine, subject_brain=np.ones((2, 2, 2), bool))
    with pytest.raises(ValueError, match="affine must be a finite 4x4 matrix"):
        register_to_template(mean, np.eye(3))

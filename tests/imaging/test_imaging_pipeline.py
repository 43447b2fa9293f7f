"""preprocess_fmri end to end on a tiny seeded synthetic run.

The tiny run is an ellipsoid, not a brain, so these tests use the scanner-space
grid (``normalization="none"``); template space is tested on demo brains in
``test_imaging_registration.py`` and ``test_imaging_invariance.py``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

from rehab_core.imaging import (
    ImagingResult,
    ImagingSettings,
    RegistrationError,
    imagenet_denormalize,
    preprocess_fmri,
)
from rehab_core.io import InputError

SCANNER = ImagingSettings(normalization="none")


def test_output_shapes_types_and_screening(run_factory, image_factory):
    data, affine, _ = run_factory()
    before = data.copy()
    result = preprocess_fmri(image_factory(data, affine), SCANNER)
    assert isinstance(result, ImagingResult)
    n = result.slice_index.size
    assert n > 0
    assert result.slices.shape == (n, 3, 224, 224)
    assert result.slices.dtype == np.float32
    assert not result.slices.flags.writeable
    np.testing.assert_array_equal(data, before)
    # the 4-mm input already lies on the 4-mm RAS grid
    assert result.mask.shape == (24, 24, 14)
    assert set(result.maps) == {"mean", "alff", "reho", "tsnr"}
    assert all(m.shape == (24, 24, 14) and m.dtype == np.float32 for m in result.maps.values())
    # empty top and bottom slices are screened out, with reasons; nothing is lost
    assert set(result.slice_index) | set(result.screened_out) == set(range(14))
    assert result.screened_out[0] == "no brain in the slice"
    assert result.screened_out[13] == "no brain in the slice"
    assert any(r.startswith("brain area") for r in result.screened_out.values())
    shown = imagenet_denormalize(result.slices)
    assert shown.min() >= -1e-5 and shown.max() <= 1 + 1e-5
    assert shown[:, :, 0, 0].max() < 1e-5  # background corner is black in every channel


def test_qc_and_json_summary(run_factory, image_factory):
    data, affine, _ = run_factory()
    result = preprocess_fmri(image_factory(data, affine), SCANNER)
    qc = result.qc
    assert qc["tr_s"] == 2.0
    assert qc["n_volumes"] == 64
    assert len(qc["fd_mm"]) == 64 and qc["fd_mm"][0] == 0.0
    assert qc["mean_fd_mm"] < 0.2
    assert qc["median_tsnr"] > 30.0
    assert qc["flags"] == []
    assert qc["space"] == "scanner" and qc["registration"] is None
    summary = json.loads(json.dumps(result.to_dict()))
    assert summary["n_slices"] == result.slices.shape[0]
    assert summary["slice_shape"] == [3, 224, 224]
    assert ImagingSettings.from_dict(summary["settings"]) == result.settings


def test_high_motion_is_flagged_and_realignment_helps(run_factory, image_factory):
    data, affine, _ = run_factory()
    for t in range(1, data.shape[3], 2):  # 4 mm back and forth every volume
        data[..., t] = ndimage.shift(data[..., t], (1.0, 0.0, 0.0), order=1, mode="nearest")
    img = image_factory(data, affine)
    plain = preprocess_fmri(img, SCANNER)
    assert plain.qc["mean_fd_mm"] == pytest.approx(4.0, abs=0.3)
    assert plain.qc["n_high_motion_frames"] == 63
    assert plain.qc["flags"][0].startswith("high motion: mean framewise displacement 4.")
    realigned = preprocess_fmri(img, SCANNER.replace(realign=True))
    assert realigned.qc["realigned"] is True
    assert realigned.qc["median_tsnr"] > 1.5 * plain.qc["median_tsnr"]


def test_repetition_time_units_override_and_dummies(run_factory, image_factory):
    data, affine, _ = run_factory()
    img = image_factory(data, affine, tr_s=2000.0)
    img.header.set_xyzt_units("mm", "msec")
    assert preprocess_fmri(img, SCANNER).qc["tr_s"] == pytest.approx(2.0)
    zero_tr = image_factory(data, affine, tr_s=0.0)
    with pytest.raises(ValueError, match="header gives TR = 0.0 sec; set ImagingSettings\\(tr_s"):
        preprocess_fmri(zero_tr)
    result = preprocess_fmri(zero_tr, SCANNER.replace(tr_s=2.0, n_dummy_volumes=4))
    assert result.qc["n_volumes"] == 60
    assert result.qc["n_dummy_dropped"] == 4


def test_preprocess_fmri_errors(run_factory, image_factory):
    data, affine, _ = run_factory(n_vols=8)
    with pytest.raises(
        ValueError,
        match="must be 4D \\(x, y, z, time\\) but has shape "
        "\\(24, 24, 14\\): a 3D image is a single volume",
    ):
        preprocess_fmri(image_factory(data[..., 0], affine))
    with pytest.raises(TypeError, match="img must be a nibabel image, got ndarray"):
        preprocess_fmri(data)
    nan = data.copy()
    nan[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="contains NaN or infinite values"):
        preprocess_fmri(image_factory(nan, affine))
    with pytest.raises(ValueError, match="has 8 volumes and 6 dummy volumes are dropped"):
        preprocess_fmri(image_factory(data, affine), ImagingSettings(n_dummy_volumes=6))
    with pytest.raises(ValueError, match="shorter than one period"):
        preprocess_fmri(image_factory(data, affine), SCANNER)
    with pytest.raises(TypeError, match="settings must be an ImagingSettings, got dict"):
        preprocess_fmri(image_factory(data, affine), {"realign": True})


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"voxel_size_mm": 0.0}, ValueError, "voxel_size_mm=0.0 must lie between 0.5 and 10.0"),
        ({"alff_band_hz": (0.08, 0.01)}, ValueError, "must be \\(low, high\\) with low < high"),
        ({"alff_band_hz": (0.01,)}, ValueError, "alff_band_hz must be a pair"),
        ({"robust_percentiles": (50.0, 10.0)}, ValueError, "0 <= low < high <= 100"),
        ({"image_size": 224.0}, TypeError, "image_size must be an int"),
        ({"n_dummy_volumes": -1}, ValueError, "n_dummy_volumes=-1 must be non-negative"),
        ({"realign": "yes"}, ValueError, "realign='yes' is not allowed"),
        ({"tr_s": 0.0}, ValueError, "tr_s=0.0 must be positive"),
        ({"normalization": "mni"}, ValueError, "normalization='mni' is not allowed.*'mni152'"),
        ({"on_registration_failure": "warn"}, ValueError, "on_registration_failure='warn'"),
        ({"min_brain_overlap": 1.5}, ValueError, "min_brain_overlap=1.5 must lie between"),
        ({"min_slice_coverage": -0.1}, ValueError, "min_slice_coverage=-0.1 must lie between"),
        (
            {"registration_scale_range": (1.1, 1.4)},
            ValueError,
            "must be \\(low, high\\) with 0 < low <= 1 <= high",
        ),
    ],
)
def test_settings_are_validated(kwargs, error, match):
    with pytest.raises(error, match=match):
        ImagingSettings(**kwargs)


def test_settings_json_round_trip():
    settings = ImagingSettings(voxel_size_mm=3.0, alff_band_hz=[0.01, 0.1], realign=True)
    assert settings.alff_band_hz == (0.01, 0.1)
    assert ImagingSettings.from_json(settings.to_json()) == settings
    assert ImagingSettings.from_dict(ImagingSettings().to_dict()) == ImagingSettings()


def test_a_non_brain_is_refused_in_template_space_or_flagged(run_factory, image_factory):
    data, affine, _ = run_factory()
    img = image_factory(data, affine)
    with pytest.raises(
        RegistrationError,
        match="^The fMRI could not be aligned with the MNI152 brain template: .*brain overlaps "
        "the template's brain by only .*; check that the file is a resting-state EPI",
    ) as err:
        preprocess_fmri(img)
    assert isinstance(err.value, InputError)
    flagged = preprocess_fmri(img, ImagingSettings(on_registration_failure="flag"))
    assert flagged.qc["registration"]["passed"] is False
    assert flagged.qc["flags"][-1].startswith("The fMRI could not be aligned")
    assert flagged.qc["space"] == "MNI152NLin2009aSym"

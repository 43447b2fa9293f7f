"""Metamorphic tests: the same brain, scanned or stored differently, gives the same slices.

With spatial normalisation, axial slice ``k`` is one height in the MNI152
brain whatever the head's position, tilt, the file's orientation, voxel size
or intensity unit. Each variant of one demo run is preprocessed in template
space and compared with the original: the kept slice indices must be equal
and the model's slices nearly so (Pearson correlation per channel over all
kept slices, in display units [0, 1]).

Every variant keeps the run's own repetition time (a variant that relabelled
it, e.g. to v1's 2 s on a 2.5-s site-B run, moves the 0.01-0.08 Hz ALFF band:
measured ALFF 0.947-0.985 on the header-only variants instead of 0.968-1.000).

Bounds, from measurements on this run (site A, seed 7, cohort v2,
``ImagingSettings(image_size=64)``):

* the floor: the registration is a local optimiser whose end point moves by
  0.8-1.6 mm at the brain's corners when its input changes by one float
  rounding (the mean volume x 1.0000001); that alone gives mean BOLD 0.999,
  ALFF 0.990-0.991 and ReHo 0.996 (sites A and B). ALFF is the roughest map
  (on the site-B run, adjacent 4-mm slices correlate 0.58 in ALFF, 0.86 in
  ReHo, 0.97 in mean BOLD), so it feels a sub-millimetre difference most;
* a variant that changes only the header or the unit (rotated, shifted, LPS,
  x1.7) leaves the voxel values as they are, so only the registration can
  differ: measured mean BOLD 0.9994-0.9997, ALFF 0.991-0.994, ReHo
  0.9954-0.9971, i.e. at that floor; bounds 0.995 (mean BOLD) and 0.985
  (ALFF, ReHo);
* a variant that re-interpolates the data (3-mm voxels; a grid tilted by
  8 degrees, as in issue 12) also smooths every time series once more, which
  changes ALFF and raises ReHo whatever the alignment: measured 0.997-0.998
  for the mean BOLD channel and 0.93-0.98 for ALFF and ReHo; bounds 0.98 and
  0.92.

In scanner space (no normalisation) the rotated and tilted variants give
different slices and a worst channel below 0.9, which the last test checks,
so these bounds do fail without the registration.
"""

from __future__ import annotations

from pathlib import Path

import nibabel
import numpy as np
import pytest

from rehab_core.imaging import (
    ImagingSettings,
    imagenet_denormalize,
    preprocess_fmri,
    repetition_time,
    resample_isotropic,
    resample_to_grid,
    rigid_transform,
)

pytestmark = pytest.mark.slow

SETTINGS = ImagingSettings(image_size=64)


def _image(data: np.ndarray, affine: np.ndarray, tr_s: float):
    img = nibabel.Nifti1Image(np.asarray(data, dtype=np.float32), affine)
    img.header.set_zooms((*np.linalg.norm(affine[:3, :3], axis=0), tr_s))
    img.header.set_xyzt_units("mm", "sec")
    return img


def _rotation(degrees: tuple[float, float, float]) -> np.ndarray:
    return rigid_transform([0.0, 0.0, 0.0, *np.deg2rad(degrees)], np.zeros(3))


def _variant(img, name: str):
    """The demo run as another scanner, position or storage would give it."""
    data = np.asarray(img.dataobj, dtype=np.float32)
    affine = img.affine
    tr_s = repetition_time(img)  # the same run: only space and unit change, never time
    if name == "rotated 10 deg":  # the head pitched 10 degrees: the same voxels, moved world
        return _image(data, _rotation((10.0, 0.0, 0.0)) @ affine, tr_s)
    if name == "shifted 20 mm":  # the head 20 mm higher in the scanner
        shift = np.eye(4)
        shift[2, 3] = 20.0
        return _image(data, shift @ affine, tr_s)
    if name == "LPS":
        current = nibabel.orientations.io_orientation(affine)
        to_lps = nibabel.orientations.ornt_transform(
            current, nibabel.orientations.axcodes2ornt(("L", "P", "S"))
        )
        flipped = nibabel.orientations.apply_orientation(data, to_lps)
        new_affine = affine @ nibabel.orientations.inv_ornt_aff(to_lps, data.shape[:3])
        assert nibabel.aff2axcodes(new_affine) == ("L", "P", "S")
        return _image(flipped, new_affine, tr_s)
    if name == "3 mm":
        resampled, new_affine = resample_isotropic(data, affine, 3.0)
        return _image(resampled, new_affine, tr_s)
    if name == "intensity x1.7":
        return _image(data * 1.7, affine, tr_s)
    if name == "tilted 8 deg grid":  # issue 12: stored on an oblique grid, data re-interpolated
        tilted = _rotation((8.0, 0.0, 5.0)) @ affine
        resampled, _ = resample_to_grid(data, affine, data.shape[:3], tilted)
        return _image(resampled, tilted, tr_s)
    raise AssertionError(name)


def _channel_correlations(a, b) -> list[float]:
    a, b = imagenet_denormalize(a.slices), imagenet_denormalize(b.slices)
    return [float(np.corrcoef(a[:, c].ravel(), b[:, c].ravel())[0, 1]) for c in range(3)]


@pytest.fixture(scope="module")
def reference(demo_bold):
    return preprocess_fmri(demo_bold, SETTINGS)


HEADER_ONLY = ["rotated 10 deg", "shifted 20 mm", "LPS", "intensity x1.7"]
RESAMPLED = ["3 mm", "tilted 8 deg grid"]


@pytest.mark.parametrize("name", HEADER_ONLY + RESAMPLED)
def test_same_brain_gives_the_same_template_space_slices(demo_bold, reference, name):
    result = preprocess_fmri(_variant(demo_bold, name), SETTINGS)
    assert result.qc["registration"]["passed"]
    np.testing.assert_array_equal(result.slice_index, reference.slice_index)
    assert result.slices.shape == reference.slices.shape
    mean_bold, alff, reho = _channel_correlations(reference, result)
    if name in HEADER_ONLY:
        assert mean_bold > 0.995 and min(alff, reho) > 0.985, (mean_bold, alff, reho)
    else:
        assert mean_bold > 0.98 and min(alff, reho) > 0.92, (mean_bold, alff, reho)


def test_the_registration_moves_with_the_head(demo_bold, reference):
    """Rotating the header by R must turn the template-to-scan transform into R @ T."""
    rotation = _rotation((10.0, 0.0, 0.0))
    moved = preprocess_fmri(_variant(demo_bold, "rotated 10 deg"), SETTINGS)
    before = np.array(reference.qc["registration"]["template_to_scan_mm"])
    after = np.array(moved.qc["registration"]["template_to_scan_mm"])
    corners = np.array(np.meshgrid([-70, 70], [-105, 70], [-50, 80], indexing="ij")).reshape(3, -1)
    corners = np.vstack([corners, np.ones((1, 8))])
    error = np.linalg.norm((after @ corners - rotation @ before @ corners)[:3], axis=0)
    assert error.max() < 1.5


@pytest.mark.parametrize("name", ["rotated 10 deg", "tilted 8 deg grid"])
def test_without_normalisation_the_same_variants_break_the_bounds(demo_bold, name):
    scanner = SETTINGS.replace(normalization="none")
    original = preprocess_fmri(demo_bold, scanner)
    result = preprocess_fmri(_variant(demo_bold, name), scanner)
    # slices are resized to the same square, so the first n of each compare directly
    n = min(original.slices.shape[0], result.slices.shape[0])
    a = imagenet_denormalize(original.slices[:n])
    b = imagenet_denormalize(result.slices[:n])
    worst = min(np.corrcoef(a[:, c].ravel(), b[:, c].ravel())[0, 1] for c in range(3))
    assert worst < 0.9


SHIPPED = Path(__file__).resolve().parents[2] / "weights" / "shufflenet_lstm"


@pytest.fixture(scope="module")
def shipped_prediction(demo_bold, tmp_path_factory):
    """The shipped model's fMRI-only prediction of a file: ``predict(image) -> P(good)``."""
    from rehab_core.prediction import FusionPredictor
    from rehab_core.workflows.predict import predict_patient

    predictor = FusionPredictor.load(SHIPPED)
    if predictor.manifest.preprocessing.imaging.get("normalization") != "mni152":
        pytest.skip("the shipped bundle takes its slices in scanner space (trained on cohort v1)")
    folder = tmp_path_factory.mktemp("variants")

    def predict(img, name: str) -> float:
        path = folder / f"{name.replace(' ', '_')}.nii.gz"
        nibabel.save(img, path)
        return predict_patient(predictor, None, path).prediction.probability_good

    return predict


_THREE_MM_OPEN = pytest.mark.xfail(
    strict=True,
    reason="open (issue 12): re-interpolating onto 3-mm voxels changes ALFF and ReHo enough to "
    "move the v2 bundle's probability by 0.096 (0.467 -> 0.372); the other variants move it by "
    "at most 0.015",
)


@pytest.mark.parametrize(
    "name",
    [*HEADER_ONLY, pytest.param("3 mm", marks=_THREE_MM_OPEN), "tilted 8 deg grid"],
)
def test_the_shipped_model_gives_the_same_patient_the_same_probability(
    demo_bold, shipped_prediction, name
):
    """Issue 12: rotated, shifted, LPS, 3-mm, x1.7: the fused probability within 0.05.

    The patient has no EEG-EMG, so the fused probability is the image branch's.
    Measured with the v2 bundle (original 0.467): rotated +0.007, shifted
    -0.010, LPS +0.012, x1.7 -0.015, tilted grid -0.000, 3 mm -0.096.
    """
    original = shipped_prediction(demo_bold, "original")
    variant = shipped_prediction(_variant(demo_bold, name), name)
    assert abs(variant - original) < 0.05, (name, original, variant)

"""read_fmri: NIfTI-1/2, .nii/.nii.gz, and every refused image."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from rehab_core.io import (
    MIN_FMRI_SECONDS,
    CorruptFileError,
    EmptyFileError,
    NonFiniteError,
    NotFourDimensionalError,
    TooShortError,
    UnknownFormatError,
    UnknownSamplingRateError,
    read_fmri,
)

SHAPE = (5, 4, 3, 60)  # 60 volumes at TR 2 s = 120 s
AFFINE = np.array([[-3.0, 0, 0, 90], [0, 3.0, 0, -126], [0, 0, 4.0, -72], [0, 0, 0, 1]])


@pytest.fixture
def bold() -> np.ndarray:
    rng = np.random.default_rng(7)
    return (1000 + 20 * rng.standard_normal(SHAPE)).astype(np.float32)


def _save(
    path: Path,
    data: np.ndarray,
    *,
    kind: type = nib.Nifti1Image,
    tr: float = 2.0,
    t_unit: str = "sec",
) -> Path:
    img = kind(data, AFFINE)
    if data.ndim >= 4:
        img.header.set_zooms((3.0, 3.0, 4.0, 1.0, *img.header.get_zooms()[4:]))
        img.header["pixdim"][4] = tr  # directly: set_zooms refuses the bad values tested here
    img.header.set_xyzt_units("mm", t_unit)
    nib.save(img, path)
    return path


@pytest.mark.parametrize("kind", [nib.Nifti1Image, nib.Nifti2Image], ids=["nifti1", "nifti2"])
@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_reads_nifti1_and_nifti2(tmp_path, bold, kind, suffix):
    path = _save(tmp_path / f"bold{suffix}", bold, kind=kind)
    img = read_fmri(str(path))
    assert type(img) is nib.Nifti1Image
    assert img.shape == SHAPE
    assert img.get_data_dtype() == np.float32
    data = np.asarray(img.dataobj)
    assert data.dtype == np.float32
    np.testing.assert_array_equal(data, bold)
    np.testing.assert_allclose(img.affine, AFFINE)
    assert img.header.get_zooms() == (3.0, 3.0, 4.0, 2.0)
    assert img.header.get_xyzt_units() == ("mm", "sec")


def test_scaled_integers_and_msec_tr(tmp_path, bold):
    img = nib.Nifti1Image(np.rint(bold).astype(np.int16), AFFINE)
    img.header.set_slope_inter(0.5, 10.0)
    img.header.set_zooms((3.0, 3.0, 4.0, 2000.0))
    img.header.set_xyzt_units("mm", "msec")
    nib.save(img, tmp_path / "scaled.nii.gz")
    out = read_fmri(tmp_path / "scaled.nii.gz")
    np.testing.assert_allclose(np.asarray(out.dataobj), np.rint(bold) * 0.5 + 10.0)
    assert out.header.get_zooms()[3] == 2.0
    assert out.header.get_xyzt_units()[1] == "sec"
    nib.save(out, tmp_path / "again.nii")  # scaling is not applied twice
    np.testing.assert_allclose(
        nib.load(tmp_path / "again.nii").get_fdata(), np.rint(bold) * 0.5 + 10.0
    )


def test_nifti1_fields_are_kept(tmp_path, bold):
    img = nib.Nifti1Image(bold, AFFINE)
    img.header.set_zooms((3.0, 3.0, 4.0, 2.0))
    img.header.set_xyzt_units("mm", "sec")
    img.header.set_dim_info(slice=2)
    img.header["descrip"] = b"resting state"
    img.header.set_slice_duration(0.05)
    img.set_sform(AFFINE, code="mni")
    nib.save(img, tmp_path / "bold.nii")
    out = read_fmri(tmp_path / "bold.nii")
    assert out.header["descrip"].tobytes().rstrip(b"\x00") == b"resting state"
    assert out.header.get_slice_duration() == pytest.approx(0.05)
    assert int(out.header["sform_code"]) == 4  # mni


def test_unknown_time_unit_is_read_as_seconds_and_extra_singleton_axis_dropped(tmp_path, bold):
    path = _save(tmp_path / "u.nii", bold[..., np.newaxis], t_unit="unknown")
    img = read_fmri(path)
    assert img.shape == SHAPE
    assert img.header.get_zooms()[3] == 2.0


def test_three_dimensional_volume_is_refused(tmp_path, bold):
    path = _save(tmp_path / "t1.nii.gz", bold[..., 0])
    with pytest.raises(
        NotFourDimensionalError,
        match=r"^t1.nii.gz is a single 3D volume \(5, 4, 3\); "
        r"resting-state analysis needs a 4D time series "
        r"\(e.g. 120 volumes\)\.$",
    ):
        read_fmri(path)


def test_two_and_five_dimensional_images_are_refused(tmp_path, bold):
    path = _save(tmp_path / "slice.nii", bold[:, :, 0, 0])
    with pytest.raises(
        NotFourDimensionalError, match=r"^slice.nii has 2 dimensions \(5, 4\); expected a 4D"
    ):
        read_fmri(path)
    path = _save(tmp_path / "five.nii", np.stack([bold, bold], axis=-1))
    with pytest.raises(
        NotFourDimensionalError, match=r"^five.nii has 5 dimensions \(5, 4, 3, 60, 2\)"
    ):
        read_fmri(path)


def test_too_few_volumes(tmp_path, bold):
    path = _save(tmp_path / "short.nii.gz", bold[..., :49])
    assert MIN_FMRI_SECONDS == 100.0
    with pytest.raises(
        TooShortError,
        match=r"^short.nii.gz holds 49 volumes \(98 s at TR 2 s\) "
        r"but at least 100 s \(50 volumes\) are needed",
    ):
        read_fmri(path)
    assert read_fmri(_save(tmp_path / "ok.nii.gz", bold[..., :50])).shape[3] == 50


@pytest.mark.parametrize(
    ("tr", "unit", "match"),
    [
        (
            0.0,
            "sec",
            r"^bold.nii has no repetition time \(pixdim\[4\] is 0\); expected the TR in seconds",
        ),
        (-2.0, "sec", r"^bold.nii has no repetition time \(pixdim\[4\] is -2\)"),
        (
            2000.0,
            "sec",
            r"^bold.nii gives a repetition time of 2000 sec \(2000 s\), "
            r"outside the plausible 0.1-10 s",
        ),
        (
            2.0,
            "msec",
            r"^bold.nii gives a repetition time of 2 msec \(0.002 s\), outside the plausible",
        ),
        (
            2.0,
            "hz",
            r"^bold.nii gives its fourth axis in hz, not time; "
            r"expected a repetition time in seconds",
        ),
    ],
)
def test_bad_repetition_time(tmp_path, bold, tr, unit, match):
    path = _save(tmp_path / "bold.nii", bold, tr=tr, t_unit=unit)
    with pytest.raises(UnknownSamplingRateError, match=match):
        read_fmri(path)


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_voxels(tmp_path, bold, value):
    data = bold.copy()
    data[1, 2, 0, 7] = value
    data[4, 3, 2, 59] = value
    path = _save(tmp_path / "nan.nii.gz", data)
    with pytest.raises(
        NonFiniteError,
        match=r"^nan.nii.gz holds 2 NaN or infinite voxel values \(first at \(1, 2, 0, 7\)\)",
    ):
        read_fmri(path)


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii"])
def test_truncated_file(tmp_path, bold, suffix):
    path = _save(tmp_path / f"cut{suffix}", bold)
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    with pytest.raises(
        CorruptFileError,
        match=rf"^cut{suffix} is truncated or corrupt \(.+\); expected the complete",
    ):
        read_fmri(path)


def test_garbage_empty_and_unknown(tmp_path):
    (tmp_path / "junk.nii").write_bytes(b"definitely not nifti " * 30)
    with pytest.raises(
        CorruptFileError, match=r"^junk.nii could not be read as NIfTI \(.+\); expected a NIfTI-1"
    ):
        read_fmri(tmp_path / "junk.nii")
    (tmp_path / "junk.nii.gz").write_bytes(b"not gzip at all " * 30)
    with pytest.raises(CorruptFileError, match=r"^junk.nii.gz could not be read as NIfTI"):
        read_fmri(tmp_path / "junk.nii.gz")
    (tmp_path / "empty.nii.gz").write_bytes(b"")
    with pytest.raises(EmptyFileError, match=r"^empty.nii.gz is empty \(0 bytes\)"):
        read_fmri(tmp_path / "empty.nii.gz")
    (tmp_path / "bold.img").write_bytes(b"x")
    with pytest.raises(
        UnknownFormatError,
        match=r"^bold.img is not a supported fMRI file; expected one of \.nii, \.nii\.gz\.$",
    ):
        read_fmri(tmp_path / "bold.img")
    with pytest.raises(FileNotFoundError, match=r"missing.nii"):
        read_fmri(tmp_path / "missing.nii")


def test_file_is_not_kept_open_or_mapped(tmp_path, bold):
    path = _save(tmp_path / "bold.nii", bold)
    img = read_fmri(path)
    path.unlink()
    assert float(np.asarray(img.dataobj).mean()) == pytest.approx(float(bold.mean()), rel=1e-6)

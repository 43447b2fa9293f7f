"""fMRI figures: orthogonal views, screened slices, motion, tSNR (rehab_core.viz.fmri)."""

from __future__ import annotations

import numpy as np
import pytest

from rehab_core.viz import (
    fmri_qc_table,
    motion_figure,
    orthogonal_views_figure,
    screened_slices,
    slice_profile,
    tsnr_figure,
)


@pytest.fixture
def volume():
    """A (6, 5, 4) volume whose every voxel value encodes its own index: 100x + 10y + z."""
    x, y, z = np.indices((6, 5, 4))
    return (100 * x + 10 * y + z).astype(np.float32)


def test_orthogonal_views_show_the_three_planes_through_the_voxel(volume):
    fig = orthogonal_views_figure(volume, (2.0, 2.0, 4.0), 3, 1, 2)
    axial, coronal, sagittal = (np.asarray(tr.z) for tr in fig.data)
    np.testing.assert_array_equal(axial, volume[:, :, 2].T)  # rows y, columns x
    np.testing.assert_array_equal(coronal, volume[:, 1, :].T)  # rows z, columns x
    np.testing.assert_array_equal(sagittal, volume[3, :, :].T)  # rows z, columns y
    assert [tr.type for tr in fig.data] == ["heatmap"] * 3
    assert {tr.coloraxis for tr in fig.data} == {"coloraxis"}
    # true voxel aspect: 4-mm slices are twice as tall as the 2-mm in-plane voxels
    assert fig.layout.yaxis.scaleratio == 1.0
    assert fig.layout.yaxis2.scaleratio == 2.0 and fig.layout.yaxis3.scaleratio == 2.0
    titles = [a.text for a in fig.layout.annotations]
    assert titles == ["axial z=2 - kept for the model", "coronal y=1", "sagittal x=3"]
    crosshairs = [(s.type, s.x0, s.y0, s.xref) for s in fig.layout.shapes]
    assert ("line", 3, 0, "x") in crosshairs  # vertical line at x=3 on the axial view
    assert len(fig.layout.shapes) == 6


def test_orthogonal_views_mark_screened_slices(volume):
    screened = {0: "no brain in the slice", 1: "too little brain", 3: "low tSNR"}
    fig = orthogonal_views_figure(
        volume, np.diag([2.0, 2.0, 4.0, 1.0]), 0, 0, 1, screened_out=screened
    )
    assert fig.layout.annotations[0].text == "axial z=1 - screened out: too little brain"
    bands = [(s.y0, s.y1, s.xref) for s in fig.layout.shapes if s.type == "rect"]
    # runs 0-1 and 3, on the coronal (x2) and the sagittal (x3) views
    assert sorted(bands) == [
        (-0.5, 1.5, "x2 domain"),
        (-0.5, 1.5, "x3 domain"),
        (2.5, 3.5, "x2 domain"),
        (2.5, 3.5, "x3 domain"),
    ]


def test_orthogonal_views_colour_range_ignores_the_background(volume):
    fig = orthogonal_views_figure(volume, (1.0, 1.0, 1.0), 0, 0, 0)
    nonzero = volume[volume != 0]
    assert fig.layout.coloraxis.cmin == pytest.approx(np.percentile(nonzero, 1))
    assert fig.layout.coloraxis.cmax == pytest.approx(np.percentile(nonzero, 99))
    fixed = orthogonal_views_figure(volume, (1.0, 1.0, 1.0), 0, 0, 0, value_range=(0.0, 5.0))
    assert (fixed.layout.coloraxis.cmin, fixed.layout.coloraxis.cmax) == (0.0, 5.0)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((6, 0, 0), {}, ValueError, r"x=6 is outside the volume, which has 6 sagittal slices"),
        ((0, 0, -1), {}, ValueError, r"z=-1 is outside the volume, which has 4 axial slices"),
        ((0, 1.5, 0), {}, TypeError, "y must be a whole number"),
        ((0, 0, 0), {"screened_out": {7: "x"}}, ValueError, "outside the volume's 4 axial"),
    ],
)
def test_orthogonal_views_explain_bad_positions(volume, args, kwargs, error, match):
    with pytest.raises(error, match=match):
        orthogonal_views_figure(volume, (1.0, 1.0, 1.0), *args, **kwargs)


@pytest.mark.parametrize(
    ("vol", "zooms", "match"),
    [
        (np.zeros((4, 4, 4, 3)), (1.0, 1.0, 1.0), "must be 3D"),
        (np.zeros((4, 4, 4)), (1.0, 1.0), "a 4x4 affine or three voxel sizes"),
        (np.zeros((4, 4, 4)), (1.0, 0.0, 1.0), "must be positive millimetres"),
    ],
)
def test_orthogonal_views_refuse_wrong_volumes(vol, zooms, match):
    with pytest.raises(ValueError, match=match):
        orthogonal_views_figure(vol, zooms, 0, 0, 0)


def test_screened_slices_rows_in_order_with_height():
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    affine[2, 3] = -6.0
    rows = screened_slices(np.array([1, 2]), {0: "no brain", 3: "low tSNR"}, affine=affine)
    assert rows == [
        {"slice": 0, "kept": False, "reason": "no brain", "z_mm": -6.0},
        {"slice": 1, "kept": True, "reason": "", "z_mm": -3.0},
        {"slice": 2, "kept": True, "reason": "", "z_mm": 0.0},
        {"slice": 3, "kept": False, "reason": "low tSNR", "z_mm": 3.0},
    ]
    with pytest.raises(ValueError, match=r"Slices \[2\] are listed as both kept and screened"):
        screened_slices([1, 2], {2: "x"})


def test_screened_slices_agree_with_the_preprocessing(imaging_result):
    rows = screened_slices(imaging_result.slice_index, imaging_result.screened_out)
    assert len(rows) == imaging_result.mask.shape[2]
    assert [r["slice"] for r in rows if r["kept"]] == list(imaging_result.slice_index)
    assert {r["slice"]: r["reason"] for r in rows if not r["kept"]} == imaging_result.screened_out


def test_slice_profile_and_tsnr_figure_explain_the_screening(imaging_result):
    res = imaging_result
    area, median = slice_profile(res.maps["tsnr"], res.mask)
    assert area[0] == 0 and np.isnan(median[0])
    k = int(res.slice_index[0])
    assert median[k] == pytest.approx(np.median(res.maps["tsnr"][:, :, k][res.mask[:, :, k]]))

    fig = tsnr_figure(
        res.maps["tsnr"],
        res.mask,
        res.slice_index,
        res.screened_out,
        min_slice_tsnr_fraction=0.5,
        min_brain_fraction=0.3,
    )
    assert [(tr.name, tr.yaxis) for tr in fig.data] == [
        ("kept", "y"),
        ("screened out", "y"),
        ("kept", "y2"),
        ("screened out", "y2"),
    ]
    assert list(fig.data[0].x) == list(res.slice_index)
    assert sorted(fig.data[1].x) == sorted(res.screened_out)
    assert list(fig.data[3].customdata) == [res.screened_out[k] for k in fig.data[3].x]
    np.testing.assert_array_equal(fig.data[2].y, area[res.slice_index])
    limits = sorted(s.y0 for s in fig.layout.shapes)
    brain_median = float(np.median(res.maps["tsnr"][res.mask]))
    assert limits == pytest.approx(sorted([brain_median, 0.5 * brain_median, 0.3 * area.max()]))


def test_slice_profile_refuses_a_mask_of_another_shape():
    with pytest.raises(ValueError, match="boolean volume of the tSNR map's shape"):
        slice_profile(np.ones((3, 3, 3)), np.ones((3, 3, 2), dtype=bool))


def test_motion_figure_traces_units_and_threshold():
    rng = np.random.default_rng(0)
    params = np.cumsum(rng.normal(0, 0.05, size=(20, 6)), axis=0)
    fd = np.abs(rng.normal(0.2, 0.3, size=20))
    fig = motion_figure(params, fd, tr_s=2.0, fd_threshold_mm=0.5)
    assert len(fig.data) == 7
    assert [tr.name for tr in fig.data][:3] == ["x (mm)", "y (mm)", "z (mm)"]
    np.testing.assert_allclose(fig.data[3].y, np.degrees(params[:, 3]))
    np.testing.assert_allclose(fig.data[6].y, fd)
    assert fig.data[0].x[-1] == 38.0  # seconds at TR 2 s
    threshold = fig.layout.shapes[0]
    assert threshold.y0 == 0.5
    n_high = int((fd > 0.5).sum())
    assert threshold.label.text == f"0.5 mm ({n_high} frames above)"


def test_motion_figure_from_the_preprocessing_qc(imaging_result):
    qc = imaging_result.qc
    fig = motion_figure(qc["motion_params"], qc["fd_mm"])
    assert fig.layout.xaxis3.title.text == "volume"
    assert len(fig.data[6].y) == qc["n_volumes"]


@pytest.mark.parametrize(
    ("params", "fd", "kwargs", "match"),
    [
        (np.zeros((5, 3)), np.zeros(5), {}, "one row of six numbers per volume"),
        (np.zeros((5, 6)), np.zeros(4), {}, "4 framewise displacements for 5 volumes"),
        (np.zeros((5, 6)), np.zeros(5), {"tr_s": 0.0}, "repetition time must be positive"),
    ],
)
def test_motion_figure_refuses_inconsistent_inputs(params, fd, kwargs, match):
    with pytest.raises(ValueError, match=match):
        motion_figure(params, fd, **kwargs)


def test_fmri_qc_table_reports_motion_tsnr_and_slices(imaging_result):
    rows = {r["item"]: r["value"] for r in fmri_qc_table(imaging_result)}
    qc = imaging_result.qc
    assert rows["repetition time"] == "2 s"
    assert rows["volumes used"] == "60 (0 dummy dropped)"
    assert rows["axial slices kept"] == f"{len(imaging_result.slice_index)} of 10"
    assert rows["mean framewise displacement"] == f"{qc['mean_fd_mm']:.3f} mm"
    assert rows["median tSNR"].startswith(f"{qc['median_tsnr']:.1f}")
    assert rows["flags"] == "none"

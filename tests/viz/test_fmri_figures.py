"""fMRI figures: orthogonal views, template alignment, screened slices, motion, tSNR."""

from __future__ import annotations

import numpy as np
import pytest

from rehab_core.viz import (
    FMRI_MAP_STYLES,
    fmri_map_figure,
    fmri_qc_table,
    motion_figure,
    orthogonal_views_figure,
    registration_figure,
    screened_slices,
    slice_profile,
    tsnr_figure,
)
from rehab_core.viz._plotly import is_theme_placeholder


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
    # true voxel aspect: the axes are in mm at one scale, so 4-mm slices are twice as tall
    # as the 2-mm in-plane voxels
    np.testing.assert_array_equal(fig.data[1].x, 2.0 * np.arange(6))
    np.testing.assert_array_equal(fig.data[1].y, 4.0 * np.arange(4))
    assert {fig.layout[f"yaxis{k}"].scaleratio for k in ("", "2", "3")} == {1.0}
    titles = [a.text for a in fig.layout.annotations]
    assert titles == [
        "axial slice 2 (z = 8 mm): kept for the model",
        "coronal slice 1 (y = 2 mm)",
        "sagittal slice 3 (x = 6 mm)",
    ]
    crosshairs = [(s.type, s.x0, s.y0, s.xref) for s in fig.layout.shapes]
    assert ("line", 6.0, 0, "x") in crosshairs  # vertical line at x=3 (6 mm) on the axial view
    assert len(fig.layout.shapes) == 6


def test_orthogonal_views_mark_screened_slices(volume):
    screened = {0: "no brain in the slice", 1: "too little brain", 3: "low tSNR"}
    fig = orthogonal_views_figure(
        volume, np.diag([2.0, 2.0, 4.0, 1.0]), 0, 0, 1, screened_out=screened
    )
    assert fig.layout.annotations[0].text == (
        "axial slice 1 (z = 4 mm): screened out, too little brain"
    )
    bands = [(s.y0, s.y1, s.xref) for s in fig.layout.shapes if s.type == "rect"]
    # runs 0-1 and 3 (in mm: 4-mm slices), on the coronal (x2) and the sagittal (x3) views
    assert sorted(bands) == [
        (-2.0, 6.0, "x2 domain"),
        (-2.0, 6.0, "x3 domain"),
        (10.0, 14.0, "x2 domain"),
        (10.0, 14.0, "x3 domain"),
    ]


def test_orthogonal_views_colour_range_ignores_the_background(volume):
    fig = orthogonal_views_figure(volume, (1.0, 1.0, 1.0), 0, 0, 0)
    nonzero = volume[volume != 0]
    assert fig.layout.coloraxis.cmin == pytest.approx(np.percentile(nonzero, 1))
    assert fig.layout.coloraxis.cmax == pytest.approx(np.percentile(nonzero, 99))
    fixed = orthogonal_views_figure(volume, (1.0, 1.0, 1.0), 0, 0, 0, value_range=(0.0, 5.0))
    assert (fixed.layout.coloraxis.cmin, fixed.layout.coloraxis.cmax) == (0.0, 5.0)


def _rgb(colour):
    from plotly.colors import hex_to_rgb, unlabel_rgb

    return hex_to_rgb(colour) if colour.startswith("#") else unlabel_rgb(colour)


@pytest.mark.parametrize("name", ["alff", "reho", "tsnr"])
def test_quantitative_maps_show_the_background_as_no_data_not_as_screened_red(imaging_result, name):
    """The clinicians saw the background of tSNR/ALFF/ReHo in the pink of "screened out"."""
    res = imaging_result
    shape = res.mask.shape
    z = int(res.slice_index[0])
    fig = fmri_map_figure(res, name, shape[0] // 2, shape[1] // 2, z)
    axial = np.asarray(fig.data[0].z, dtype=float)
    inside = res.mask[:, :, z].T
    # outside the brain: no value at all, so no colour of the scale; the plot shows black
    assert np.isnan(axial[~inside]).all() and np.isfinite(axial[inside]).all()
    assert fig.layout.plot_bgcolor == "#000000"
    stops = [colour for _, colour in fig.layout.coloraxis.colorscale]
    # Streamlit's theme recolours #000001-#000040 (Inferno's first stop #000004 became pink)
    assert not any(is_theme_placeholder(c) for c in stops)
    # and no stop of the scale is the red that marks screened-out slices
    assert not any(r > g + b for r, g, b in map(_rgb, stops))
    # the colour range is that of the brain
    brain = res.maps[name][res.mask]
    assert fig.layout.coloraxis.cmin == pytest.approx(np.percentile(brain, 1), rel=1e-5)
    assert FMRI_MAP_STYLES[name][0] in fig.layout.coloraxis.colorbar.title.text


def test_a_named_scale_with_a_theme_placeholder_colour_is_made_safe(volume):
    fig = orthogonal_views_figure(volume, (1.0, 1.0, 1.0), 0, 0, 0, colorscale="Inferno")
    stops = [colour for _, colour in fig.layout.coloraxis.colorscale]
    assert stops[0] == "#000000" and not any(is_theme_placeholder(c) for c in stops)
    assert is_theme_placeholder("#000004") and is_theme_placeholder("rgb(0, 0, 40)")
    assert not is_theme_placeholder("#000000") and not is_theme_placeholder("#0000ff")


def test_brain_views_are_large_with_millimetre_axes(imaging_result):
    res = imaging_result
    fig = fmri_map_figure(res, "mean", 3, 4, int(res.slice_index[0]))
    axes = [fig.layout[f"{a}axis{k}"] for k in ("", "2", "3") for a in "xy"]
    assert all(axis.title.text.split(":")[0].endswith("(mm)") for axis in axes)
    assert [fig.layout.xaxis.title.text, fig.layout.yaxis.title.text] == [
        "x (mm): left to right",
        "y (mm): posterior to anterior",
    ]
    # scanner coordinates of the voxel centres, from the affine
    i = np.arange(res.mask.shape[0])
    np.testing.assert_allclose(fig.data[0].x, res.affine[0, 0] * i + res.affine[0, 3])
    assert fig.layout.height >= 600
    # the axial view spans both rows: taller than either of the other two
    assert fig.layout.yaxis.domain[1] - fig.layout.yaxis.domain[0] > 0.9
    assert fig.layout.yaxis2.domain[1] - fig.layout.yaxis2.domain[0] < 0.5
    # only the voxel sizes: distances from the first voxel, still in mm
    plain = orthogonal_views_figure(res.maps["mean"], (3.0, 3.0, 3.0), 0, 0, 0)
    assert plain.layout.xaxis.title.text == "x (mm from the first voxel)"


def test_map_figure_refuses_an_unknown_map_and_a_mask_of_another_shape(imaging_result, volume):
    with pytest.raises(ValueError, match="name='bold' is not allowed; choose one of 'mean'"):
        fmri_map_figure(imaging_result, "bold", 0, 0, 0)
    with pytest.raises(ValueError, match="boolean volume of the map's shape"):
        orthogonal_views_figure(volume, (1.0, 1.0, 1.0), 0, 0, 0, mask=np.ones((6, 5, 3), bool))


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


def _tsnr(res):
    return tsnr_figure(
        res.maps["tsnr"],
        res.mask,
        res.slice_index,
        res.screened_out,
        min_slice_tsnr_fraction=0.5,
        min_brain_fraction=0.3,
    )


def test_slice_profile_and_tsnr_figure_explain_the_screening(imaging_result):
    res = imaging_result
    area, median = slice_profile(res.maps["tsnr"], res.mask)
    assert area[0] == 0 and np.isnan(median[0])
    k = int(res.slice_index[0])
    assert median[k] == pytest.approx(np.median(res.maps["tsnr"][:, :, k][res.mask[:, :, k]]))

    fig = _tsnr(res)
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


def test_tsnr_screening_limits_are_named_beside_the_bars(imaging_result):
    """The clinicians found the screening-limit label hidden under the bars."""
    res = imaging_result
    fig = _tsnr(res)
    assert all(not (s.label and s.label.text) for s in fig.layout.shapes)  # nothing on the bars
    labels = [a for a in fig.layout.annotations if a.yref in ("y", "y2")]
    brain_median = float(np.median(res.maps["tsnr"][res.mask]))
    area, _ = slice_profile(res.maps["tsnr"], res.mask)
    assert [(a.yref, a.y, a.text.split("<br>")[0]) for a in labels] == [
        ("y", pytest.approx(brain_median), "whole-brain"),
        ("y", pytest.approx(0.5 * brain_median), "screening limit"),
        ("y2", pytest.approx(0.3 * area.max()), "screening limit"),
    ]
    for label in labels:
        # right of the plot area, where there are no bars
        assert label.xref.endswith(" domain") and label.x >= 1.0 and label.xanchor == "left"
    assert [a.yanchor for a in labels[:2]] == ["bottom", "top"]  # apart from each other
    assert "50% of median" in labels[1].text and "30% of the largest" in labels[2].text
    assert fig.layout.margin.r >= 120


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
    assert n_high > 1 and threshold.label.text == f"0.5 mm ({n_high} frames above)"
    one = fd.copy()
    one[one > 0.5] = 0.1
    one[0] = 0.9
    fig = motion_figure(params, one, tr_s=2.0, fd_threshold_mm=0.5)
    assert fig.layout.shapes[0].label.text == "0.5 mm (1 frame above)"  # not '1 frames'


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
    assert rows["space"] == "scanner (not normalised to a template)"


def test_registration_figure_draws_the_template_outline_over_the_mean(registered_result):
    from rehab_core.imaging import template_on_grid

    result = registered_result
    fig = registration_figure(result)
    assert [tr.type for tr in fig.data] == ["heatmap"] * 3 + ["contour"] * 3
    _, template_mask = template_on_grid(result.settings.voxel_size_mm)
    # default planes through MNI (0, -18, 12): voxel indices on the template grid
    x, y, z = np.round(np.linalg.inv(result.affine) @ [0.0, -18.0, 12.0, 1.0])[:3].astype(int)
    np.testing.assert_array_equal(fig.data[0].z, result.maps["mean"][:, :, z].T)
    np.testing.assert_array_equal(fig.data[3].z, template_mask[:, :, z].T.astype(np.float32))
    np.testing.assert_array_equal(fig.data[4].z, template_mask[:, y, :].T.astype(np.float32))
    np.testing.assert_array_equal(fig.data[5].z, template_mask[x, :, :].T.astype(np.float32))
    assert fig.data[3].contours.start == fig.data[3].contours.end == 0.5
    # each outline lies on its view, in the same mm coordinates and the same subplot
    for view, outline in zip(fig.data[:3], fig.data[3:], strict=True):
        np.testing.assert_array_equal(outline.x, view.x)
        np.testing.assert_array_equal(outline.y, view.y)
        assert (outline.xaxis, outline.yaxis) == (view.xaxis, view.yaxis)
    reg = result.qc["registration"]
    assert fig.layout.title.text.startswith(
        f"Alignment with MNI152: similarity (NMI) {reg['similarity_nmi']:.3f}, brain overlap "
    )
    assert "FAILED" not in fig.layout.title.text
    other = registration_figure(result, z=int(result.slice_index[0]), title="mine")
    assert other.layout.title.text == "mine"
    assert other.layout.annotations[0].text.endswith("kept for the model")


def test_registration_figure_names_a_failure_and_refuses_scanner_space(
    registered_result, imaging_result
):
    import dataclasses

    reg = {
        **registered_result.qc["registration"],
        "passed": False,
        "failures": ["the scan's brain overlaps the template's brain by only 40%"],
    }
    failed = dataclasses.replace(
        registered_result, qc={**registered_result.qc, "registration": reg}
    )
    title = registration_figure(failed).layout.title.text
    assert title.endswith("- FAILED: the scan's brain overlaps the template's brain by only 40%")
    with pytest.raises(ValueError, match="in scanner space \\(normalization='none'\\)"):
        registration_figure(imaging_result)


def test_fmri_qc_table_reports_the_registration(registered_result):
    rows = {r["item"]: r["value"] for r in fmri_qc_table(registered_result)}
    reg = registered_result.qc["registration"]
    assert rows["space"] == "MNI152NLin2009aSym (template)"
    assert rows["registration"] == "passed"
    assert rows["similarity to the template"].startswith(f"{reg['similarity_nmi']:.3f} NMI")
    assert rows["registration transform"].startswith("affine, scales ")


def test_screened_slices_are_darkened_on_the_side_views_not_tinted_red(imaging_result):
    """Issue 15: with every second slice screened out, red bands made the whole brain pink."""
    res = imaging_result
    assert res.screened_out  # the fixture leaves some out
    shape = res.mask.shape
    fig = fmri_map_figure(res, "mean", shape[0] // 2, shape[1] // 2, int(res.slice_index[0]))
    bands = [s for s in fig.layout.shapes if s.name == "screened out"]
    assert bands
    for band in bands:
        r, g, b = _rgb(band.fillcolor)[:3]
        assert r == g == b  # grey: no hue that reads as 'rejected'
        assert band.line.width == 0

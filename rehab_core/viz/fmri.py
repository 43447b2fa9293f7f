"""Resting-state fMRI figures for the dashboard and the reductions behind them.

The volumes shown are the preprocessing's own maps on its resampled grid
(:class:`~rehab_core.imaging.ImagingResult`), so axial slice ``k`` here is
the slice ``k`` that was kept or screened out for the model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rehab_core._validation import check_int, check_option
from rehab_core.viz._plotly import (
    LABEL_MARGIN,
    MARGIN,
    axis_refs,
    band_shape,
    colour_scale,
    edge_label,
    line_shape,
    plotly,
)

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from rehab_core.imaging.pipeline import ImagingResult

__all__ = [
    "FMRI_MAP_STYLES",
    "fmri_map_figure",
    "fmri_qc_table",
    "motion_figure",
    "orthogonal_views_figure",
    "registration_figure",
    "screened_slices",
    "slice_profile",
    "tsnr_figure",
]

#: Screened-out axial slices are darkened on the side views, not tinted red: with every
#: second slice left out (the model's slice step) red bands turned the whole brain pink, so
#: the kept slices looked rejected too (issue 15). Grey, as in the slice-screening figure.
_SCREENED_FILL = "rgba(0, 0, 0, 0.6)"
#: Outside the brain mask: "no data", not a value of the colour scale.
_NO_DATA_COLOUR = "#000000"
_OUTLINE_COLOUR = "#00e5ff"
#: MNI point (mm) the registration figure's three planes pass through by default:
#: the lateral ventricles, thalami and internal capsules, where misalignment shows.
_REGISTRATION_VIEW_MNI = (0.0, -18.0, 12.0)
_KEPT_COLOUR = "#1f4e79"
_SCREENED_COLOUR = "#b0b0b0"
_AXIS_NAMES = ("x", "y", "z")
_VIEW_NAMES = ("sagittal", "coronal", "axial")
#: Scanner (RAS+) axes as a clinician reads them.
_WORLD_TITLES = (
    "x (mm): left to right",
    "y (mm): posterior to anterior",
    "z (mm): inferior to superior",
)


def _check_volume(volume: object, name: str = "volume") -> np.ndarray:
    if not isinstance(volume, np.ndarray):
        raise TypeError(f"The {name} must be a numpy array, got {type(volume).__name__}.")
    if volume.ndim != 3:
        raise ValueError(
            f"The {name} must be 3D (x, y, z), but it has shape {volume.shape}; for a 4D run "
            "show its mean over time."
        )
    if min(volume.shape) == 0:
        raise ValueError(f"The {name} is empty: shape {volume.shape}.")
    return volume


def _voxel_sizes(affine_or_zooms: np.ndarray | Sequence[float]) -> np.ndarray:
    """Voxel sizes in mm from a (4, 4) affine (column norms) or three zooms."""
    arr = np.asarray(affine_or_zooms, dtype=np.float64)
    if arr.shape == (4, 4):
        sizes = np.linalg.norm(arr[:3, :3], axis=0)
    elif arr.shape in ((3,), (4,)):
        sizes = arr[:3]
    else:
        raise ValueError(
            f"Give the voxel geometry as a 4x4 affine or three voxel sizes in mm, got an array "
            f"of shape {arr.shape}."
        )
    if not np.all(np.isfinite(sizes)) or np.any(sizes <= 0):
        raise ValueError(f"The voxel sizes must be positive millimetres, got {sizes.tolist()}.")
    return sizes


def _check_index(axis: int, value: object, size: int) -> int:
    name = _AXIS_NAMES[axis]
    value = check_int(name, value)
    if not 0 <= value < size:
        raise ValueError(
            f"{name}={value} is outside the volume, which has {size} {_VIEW_NAMES[axis]} "
            f"slices (0-{size - 1})."
        )
    return int(value)


def _runs(indices: Sequence[int]) -> list[tuple[int, int]]:
    """Consecutive runs of sorted integers as (first, last) pairs."""
    runs: list[tuple[int, int]] = []
    for k in sorted(indices):
        if runs and k == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], k)
        else:
            runs.append((k, k))
    return runs


def _grid_mm(
    affine_or_zooms: np.ndarray | Sequence[float], shape: tuple[int, ...]
) -> tuple[list[np.ndarray], tuple[str, str, str]]:
    """Millimetre coordinates of the voxel centres along each grid axis, and axis titles.

    An axis-aligned affine (the preprocessing's grids) gives scanner coordinates;
    voxel sizes alone, or an oblique affine, give the distance from the first voxel.
    """
    arr = np.asarray(affine_or_zooms, dtype=np.float64)
    sizes = _voxel_sizes(arr)
    if arr.shape == (4, 4) and np.allclose(arr[:3, :3], np.diag(np.diag(arr[:3, :3]))):
        coords = [arr[a, a] * np.arange(n) + arr[a, 3] for a, n in enumerate(shape[:3])]
        return coords, _WORLD_TITLES
    coords = [sizes[a] * np.arange(n) for a, n in enumerate(shape[:3])]
    return coords, tuple(f"{name} (mm from the first voxel)" for name in _AXIS_NAMES)


def _world(coords: np.ndarray, index: float) -> float:
    """mm position of a (possibly fractional) voxel index along one axis."""
    step = coords[1] - coords[0] if coords.size > 1 else 1.0
    return float(coords[0] + step * index)


def _check_screened(screened_out: Mapping[int, str] | None, n_axial: int) -> dict[int, str]:
    """The screened-out axial slices, refused when they are not slices of this volume."""
    screened = dict(screened_out or {})
    outside = [k for k in screened if not 0 <= int(k) < n_axial]
    if outside:
        raise ValueError(
            f"Screened-out slices {outside} are outside the volume's {n_axial} axial "
            "slices; give the map and the screening of the same grid."
        )
    return screened


def _masked(
    volume: np.ndarray, mask: np.ndarray | None, value_range: tuple[float, float] | None
) -> tuple[np.ndarray, tuple[float, float]]:
    """The volume with voxels outside ``mask`` as NaN, and its colour range.

    The range, when not given, is the 1st-99th percentile of the voxels in
    ``mask`` (of the non-zero voxels without one).
    """
    if mask is not None:
        if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.shape != volume.shape:
            raise ValueError(
                f"The brain mask must be a boolean volume of the map's shape {volume.shape}."
            )
        volume = np.where(mask, volume, np.nan)
    if value_range is None:
        shown = volume[np.isfinite(volume)] if mask is not None else volume[volume != 0]
        shown = shown[np.isfinite(shown)]
        low, high = np.percentile(shown, [1.0, 99.0]) if shown.size else (0.0, 1.0)
        value_range = (float(low), float(high) if high > low else float(low) + 1.0)
    return volume, value_range


def _mm_axes(fig: go.Figure, axes, cells, coords, axis_titles) -> None:
    """Each view's axes in mm, half a voxel beyond the first and last, true aspect ratio."""
    for k, ((h_axis, v_axis), (row, col)) in enumerate(zip(axes, cells, strict=True)):
        half = [abs(_world(coords[a], 0.5) - _world(coords[a], 0.0)) for a in (h_axis, v_axis)]
        h_span = sorted(float(v) for v in coords[h_axis][[0, -1]])
        v_span = sorted(float(v) for v in coords[v_axis][[0, -1]])
        fig.update_xaxes(
            title_text=axis_titles[h_axis],
            range=[h_span[0] - half[0], h_span[1] + half[0]],
            constrain="domain",
            showgrid=False,
            zeroline=False,
            row=row,
            col=col,
        )
        fig.update_yaxes(
            title_text=axis_titles[v_axis],
            range=[v_span[0] - half[1], v_span[1] + half[1]],
            scaleanchor="x" if k == 0 else f"x{k + 1}",
            scaleratio=1.0,
            constrain="domain",
            showgrid=False,
            zeroline=False,
            row=row,
            col=col,
        )


def _crosshairs_and_screening(fig: go.Figure, cells, where, z_coords, screened) -> list[dict]:
    """Crosshairs at the other two planes; screened-out axial slices outlined on the side views."""
    cross = "rgba(255, 215, 0, 0.8)"
    shapes = []
    for (row, col), (h_axis, v_axis) in zip(cells, ((0, 1), (0, 2), (1, 2)), strict=True):
        refs = axis_refs(fig, row, col)
        shapes.append(line_shape(refs, x=where[h_axis], colour=cross, dash="solid"))
        shapes.append(line_shape(refs, y=where[v_axis], colour=cross, dash="solid"))
    for first, last in _runs(int(k) for k in screened):
        z_span = sorted((_world(z_coords, first - 0.5), _world(z_coords, last + 0.5)))
        for row, col in cells[1:]:  # coronal and sagittal: z is their vertical axis
            band = band_shape(axis_refs(fig, row, col), y=tuple(z_span), fill=_SCREENED_FILL)
            band.update(layer="above", name="screened out", line=dict(width=0))
            shapes.append(band)
    return shapes


def orthogonal_views_figure(
    volume: np.ndarray,
    affine_or_zooms: np.ndarray | Sequence[float],
    x: int,
    y: int,
    z: int,
    *,
    mask: np.ndarray | None = None,
    screened_out: Mapping[int, str] | None = None,
    value_range: tuple[float, float] | None = None,
    colorscale: str = "Gray",
    value_label: str = "",
    title: str | None = None,
) -> go.Figure:
    """Axial, coronal and sagittal slices through one voxel, with crosshairs, in mm.

    Axial slice ``z`` (``volume[:, :, z]``) large on the left, coronal ``y``
    and sagittal ``x`` stacked on the right, with millimetre axes (scanner
    coordinates for an axis-aligned affine, otherwise the distance from the
    first voxel) and the true aspect ratio; the crosshairs mark the other two
    planes. Voxels outside ``mask`` are left out of the colour scale and shown
    black, as "no data". Screened-out axial slices (not given to the model) are
    darkened on the coronal and sagittal views and named in the
    axial title. Neurological convention on a RAS+ grid: the patient's left is
    on the left.

    Parameters
    ----------
    volume : ndarray, shape (x, y, z)
        The map to show (e.g. ``ImagingResult.maps["mean"]``).
    affine_or_zooms : ndarray (4, 4) or sequence of 3 float
        The grid's affine or voxel sizes in mm.
    x, y, z : int
        Voxel indices of the sagittal, coronal and axial planes.
    mask : ndarray, shape (x, y, z), bool, or None
        The brain (``ImagingResult.mask``); ``None`` shows every voxel.
    screened_out : mapping of int to str or None
        Axial index -> reason (``ImagingResult.screened_out``).
    value_range : (float, float) or None
        Colour range; the 1st-99th percentile of the voxels in ``mask`` (of the
        non-zero voxels without one) when ``None``.
    colorscale : str
        Plotly colour scale name (stops that Streamlit's theme would recolour are
        made safe, see :func:`rehab_core.viz._plotly.colour_scale`).
    value_label : str
        Colour bar title (the map and its unit).
    title : str or None

    Returns
    -------
    plotly.graph_objects.Figure
        Three heatmap traces (axial, coronal, sagittal) sharing one colour
        axis, x and y in mm; crosshair and screened-slice shapes.
    """
    go, make_subplots = plotly()
    volume = _check_volume(volume)
    coords, axis_titles = _grid_mm(affine_or_zooms, volume.shape)
    x, y, z = (_check_index(a, v, volume.shape[a]) for a, v in enumerate((x, y, z)))
    screened = _check_screened(screened_out, volume.shape[2])
    volume, value_range = _masked(volume, mask, value_range)

    where = [_world(coords[a], v) for a, v in enumerate((x, y, z))]
    axial_note = f": screened out, {screened[z]}" if z in screened else ": kept for the model"
    fig = make_subplots(
        rows=2,
        cols=2,
        specs=[[{"rowspan": 2}, {}], [None, {}]],
        column_widths=[0.52, 0.48],
        horizontal_spacing=0.07,
        vertical_spacing=0.17,
        subplot_titles=(
            f"axial slice {z} (z = {where[2]:.0f} mm){axial_note}",
            f"coronal slice {y} (y = {where[1]:.0f} mm)",
            f"sagittal slice {x} (x = {where[0]:.0f} mm)",
        ),
    )
    # (image rows x cols, horizontal axis, vertical axis) for each view
    views = (
        (volume[:, :, z].T, 0, 1),
        (volume[:, y, :].T, 0, 2),
        (volume[x, :, :].T, 1, 2),
    )
    cells = ((1, 1), (1, 2), (2, 2))
    heatmaps = [
        go.Heatmap(
            x=coords[h_axis],
            y=coords[v_axis],
            z=np.asarray(image, dtype=np.float32),
            coloraxis="coloraxis",
            hoverongaps=False,
            hovertemplate=(
                f"{_AXIS_NAMES[h_axis]} %{{x:.0f}} mm, {_AXIS_NAMES[v_axis]} %{{y:.0f}} mm: "
                "%{z:.3g}<extra></extra>"
            ),
        )
        for image, h_axis, v_axis in views
    ]
    fig.add_traces(heatmaps, rows=[r for r, _ in cells], cols=[c for _, c in cells])
    _mm_axes(fig, [(h, v) for _, h, v in views], cells, coords, axis_titles)
    shapes = _crosshairs_and_screening(fig, cells, where, coords[2], screened)
    fig.update_annotations(yshift=8)  # the view titles, clear of the images' top edge
    fig.update_layout(
        title=title,
        shapes=shapes,
        coloraxis=dict(
            colorscale=colour_scale(colorscale),
            cmin=value_range[0],
            cmax=value_range[1],
            colorbar=dict(title=dict(text=value_label, side="right")),
        ),
        plot_bgcolor=_NO_DATA_COLOUR,
        height=640,
        margin=dict(l=10, r=10, t=60 if title else 40, b=40),
    )
    return fig


def registration_figure(
    result: ImagingResult,
    *,
    x: int | None = None,
    y: int | None = None,
    z: int | None = None,
    title: str | None = None,
) -> go.Figure:
    """The registered mean volume with the MNI152 template's brain outline, in three planes.

    The mean EPI in template space (``result.maps["mean"]``) in axial,
    coronal and sagittal views (:func:`orthogonal_views_figure`), with the
    edge of the template's brain mask drawn over each view: a person can
    see at a glance whether the scan's brain fills the outline. The title
    gives the registration's similarity (normalised mutual information),
    brain overlap and scaling, or why it failed.

    Parameters
    ----------
    result : ImagingResult
        A result in template space (``settings.normalization="mni152"``).
    x, y, z : int or None
        Voxel indices of the planes; ``None`` passes through MNI
        (0, -18, 12) mm (ventricles, thalami, internal capsules).
    title : str or None
        Replaces the default title.

    Returns
    -------
    plotly.graph_objects.Figure
        The three heatmaps of :func:`orthogonal_views_figure`, then three
        ``contour`` traces (the outline, one per view).
    """
    from rehab_core.imaging import template_on_grid

    registration = result.qc.get("registration")
    if registration is None:
        raise ValueError(
            "This fMRI result is in scanner space (normalization='none'): there is no "
            "alignment with the template to show."
        )
    _, template_mask = template_on_grid(float(result.settings.voxel_size_mm))
    volume = np.asarray(result.maps["mean"])
    if template_mask.shape != volume.shape:
        raise ValueError(
            f"The result's grid {volume.shape} is not the template grid {template_mask.shape} "
            f"of {result.settings.voxel_size_mm:g} mm; was it made by another version?"
        )
    centre = np.linalg.inv(np.asarray(result.affine)) @ np.array([*_REGISTRATION_VIEW_MNI, 1.0])
    default = [
        int(np.clip(round(c), 0, n - 1)) for c, n in zip(centre[:3], volume.shape, strict=True)
    ]
    x, y, z = (default[i] if v is None else v for i, v in enumerate((x, y, z)))
    if title is None:
        title = _registration_title(registration)
    inside = volume[template_mask]
    low, high = np.percentile(inside, [1.0, 99.0]) if inside.size else (0.0, 1.0)
    fig = orthogonal_views_figure(
        volume,
        result.affine,
        x,
        y,
        z,
        screened_out=result.screened_out,
        value_range=(float(low), float(high) if high > low else float(low) + 1.0),
        value_label="mean BOLD",
        title=title,
    )
    go, _ = plotly()
    x, y, z = (_check_index(a, v, volume.shape[a]) for a, v in enumerate((x, y, z)))
    coords, _ = _grid_mm(result.affine, volume.shape)
    # (outline, horizontal axis, vertical axis) in the cells orthogonal_views_figure uses
    outlines = (
        (template_mask[:, :, z].T, 0, 1, (1, 1)),
        (template_mask[:, y, :].T, 0, 2, (1, 2)),
        (template_mask[x, :, :].T, 1, 2, (2, 2)),
    )
    for k, (outline, h_axis, v_axis, (row, col)) in enumerate(outlines):
        fig.add_trace(
            go.Contour(
                x=coords[h_axis],
                y=coords[v_axis],
                z=outline.astype(np.float32),
                contours=dict(start=0.5, end=0.5, size=1.0, coloring="none"),
                line=dict(color=_OUTLINE_COLOUR, width=1.5),
                showscale=False,
                hoverinfo="skip",
                name="MNI152 brain outline",
                showlegend=k == 0,
            ),
            row=row,
            col=col,
        )
    # above the views, clear of the colour bar
    fig.update_layout(legend=dict(orientation="h", x=1.0, xanchor="right", y=1.14))
    return fig


def _registration_title(registration: Mapping[str, Any]) -> str:
    if registration.get("already_in_template_space"):
        how = "already in MNI152 space (not registered again)"
    else:
        scales = registration.get("scales") or [1.0, 1.0, 1.0]
        how = (
            f"scaled {min(scales):.2f}-{max(scales):.2f}, "
            f"rotated {registration.get('rotation_deg', 0.0):.1f} deg"
        )
    text = (
        f"Alignment with MNI152: similarity (NMI) {registration['similarity_nmi']:.3f}, "
        f"brain overlap {registration['brain_overlap_dice']:.0%}, {how}"
    )
    if not registration.get("passed", True):
        text += " - FAILED: " + "; ".join(registration.get("failures", []))
    return text


# --- one preprocessed map, as the Signals page shows it -----------------------------------------

#: How each map of ``ImagingResult.maps`` is shown: colour-bar title with its unit, colour
#: scale, and whether voxels outside the brain are left out. Quantitative maps use a scale
#: without red, which the pages keep for "rejected".
FMRI_MAP_STYLES: dict[str, tuple[str, str, bool]] = {
    "mean": ("mean BOLD (scanner units)", "Gray", False),
    "alff": ("ALFF (scanner units)", "Viridis", True),
    "reho": ("ReHo (Kendall's W, 0-1)", "Viridis", True),
    "tsnr": ("tSNR (mean / SD over time)", "Viridis", True),
}


def fmri_map_figure(
    result: ImagingResult, name: str, x: int, y: int, z: int, *, title: str | None = None
) -> go.Figure:
    """One preprocessed map in three orthogonal views, styled for that map.

    :func:`orthogonal_views_figure` of ``result.maps[name]`` on the result's
    grid, with the screened-out slices, the map's unit on the colour bar, a
    colour scale without red for the quantitative maps (ALFF, ReHo, tSNR) and,
    for them, the background outside the brain mask shown as "no data" (they
    are zero there by construction, not low).

    Parameters
    ----------
    result : ImagingResult
    name : {"mean", "alff", "reho", "tsnr"}
    x, y, z : int
        Voxel indices of the sagittal, coronal and axial planes.
    title : str or None
    """
    check_option("name", name, tuple(FMRI_MAP_STYLES))
    label, colorscale, masked = FMRI_MAP_STYLES[name]
    return orthogonal_views_figure(
        result.maps[name],
        result.affine,
        x,
        y,
        z,
        mask=result.mask if masked else None,
        screened_out=result.screened_out,
        colorscale=colorscale,
        value_label=label,
        title=title,
    )


def screened_slices(
    slice_index: Sequence[int] | np.ndarray,
    screened_out: Mapping[int, str],
    *,
    affine: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """Every axial slice of the grid: kept for the model or screened out, and why.

    Parameters
    ----------
    slice_index : sequence of int
        Kept axial indices (``ImagingResult.slice_index``).
    screened_out : mapping of int to str
        Dropped axial index -> reason (``ImagingResult.screened_out``).
    affine : ndarray, shape (4, 4), or None
        The grid's affine, to add each slice's height ``z_mm`` (world z of the
        slice centre).

    Returns
    -------
    list of dict
        One row per axial slice in order: ``slice``, ``kept`` (bool),
        ``reason`` ("" when kept) and, with ``affine``, ``z_mm``.
    """
    kept = {int(k) for k in np.asarray(slice_index).ravel()}
    dropped = {int(k): str(v) for k, v in screened_out.items()}
    both = kept & set(dropped)
    if both:
        raise ValueError(f"Slices {sorted(both)} are listed as both kept and screened out.")
    rows = []
    for k in sorted(kept | set(dropped)):
        row: dict[str, Any] = {"slice": k, "kept": k in kept, "reason": dropped.get(k, "")}
        if affine is not None:
            world = np.asarray(affine, dtype=np.float64) @ np.array([0.0, 0.0, k, 1.0])
            row["z_mm"] = round(float(world[2]), 1)
        rows.append(row)
    return rows


def slice_profile(tsnr: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per axial slice: brain area (voxels) and median tSNR within the brain.

    The two numbers slice screening judges (:func:`rehab_core.imaging.screen_slices`).

    Returns
    -------
    area : ndarray, shape (n_z,), int
    median_tsnr : ndarray, shape (n_z,), float64
        NaN for a slice without brain.
    """
    tsnr = _check_volume(tsnr, "tSNR map")
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.shape != tsnr.shape:
        raise ValueError(
            f"The brain mask must be a boolean volume of the tSNR map's shape {tsnr.shape}."
        )
    area = mask.sum(axis=(0, 1)).astype(int)
    median = np.full(mask.shape[2], np.nan)
    for k in np.flatnonzero(area):
        median[k] = float(np.median(tsnr[:, :, k][mask[:, :, k]]))
    return area, median


def tsnr_figure(
    tsnr: np.ndarray,
    mask: np.ndarray,
    slice_index: Sequence[int] | np.ndarray,
    screened_out: Mapping[int, str],
    *,
    min_slice_tsnr_fraction: float | None = None,
    min_brain_fraction: float | None = None,
    title: str | None = None,
) -> go.Figure:
    """Per-slice median tSNR and brain area, kept and screened-out slices coloured.

    Top: the median temporal SNR within the brain of each axial slice, with
    the whole-brain median and (given ``min_slice_tsnr_fraction``) the
    screening limit. Bottom: the brain area of each slice and (given
    ``min_brain_fraction``) its limit. Kept slices are blue, screened-out
    ones grey with the reason on hover.

    Parameters
    ----------
    tsnr : ndarray, shape (x, y, z)
        ``ImagingResult.maps["tsnr"]``.
    mask : ndarray, shape (x, y, z), bool
        ``ImagingResult.mask``.
    slice_index, screened_out
        As :func:`screened_slices`.
    min_slice_tsnr_fraction, min_brain_fraction : float or None
        The screening settings (``ImagingSettings``), drawn as limits.
    title : str or None

    Returns
    -------
    plotly.graph_objects.Figure
        Four bar traces: (kept, screened out) x (tSNR, area).
    """
    go, make_subplots = plotly()
    area, median = slice_profile(tsnr, mask)
    rows = screened_slices(slice_index, screened_out)
    n_z = mask.shape[2]
    if rows and rows[-1]["slice"] >= n_z:
        raise ValueError(
            f"Slice {rows[-1]['slice']} is outside the map's {n_z} axial slices; give the map "
            "and the screening of the same grid."
        )
    kept = np.zeros(n_z, dtype=bool)
    kept[[r["slice"] for r in rows if r["kept"]]] = True
    reasons = np.array([str(screened_out.get(k, "")) for k in range(n_z)], dtype=object)
    brain_median = float(np.median(tsnr[mask])) if mask.any() else float("nan")
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.1,
        subplot_titles=("median tSNR within the brain", "brain area"),
    )
    ks = np.arange(n_z)
    bars, rows_of_bars = [], []
    for row, values, unit in ((1, np.nan_to_num(median), ""), (2, area, " voxels")):
        for is_kept, name, colour in (
            (True, "kept", _KEPT_COLOUR),
            (False, "screened out", _SCREENED_COLOUR),
        ):
            sel = kept == is_kept
            rows_of_bars.append(row)
            bars.append(
                go.Bar(
                    x=ks[sel],
                    y=values[sel],
                    name=name,
                    marker_color=colour,
                    customdata=reasons[sel],
                    legendgroup=name,
                    showlegend=row == 1,
                    hovertemplate=f"slice %{{x}}: %{{y:.3g}}{unit}"
                    + ("" if is_kept else "<br>%{customdata}")
                    + "<extra></extra>",
                )
            )
    fig.add_traces(bars, rows=rows_of_bars, cols=1)
    # the lines are named in the right margin, where no bar can cover the words
    shapes, labels = [], []
    tsnr_refs, area_refs = axis_refs(fig, 1, 1), axis_refs(fig, 2, 1)
    if np.isfinite(brain_median):
        shapes.append(line_shape(tsnr_refs, y=brain_median, dash="solid"))
        labels.append(
            edge_label(tsnr_refs, y=brain_median, text=f"whole-brain<br>median {brain_median:.1f}")
        )
        if min_slice_tsnr_fraction is not None:
            limit = min_slice_tsnr_fraction * brain_median
            text = f"screening limit<br>{limit:.1f} ({min_slice_tsnr_fraction:.0%} of median)"
            shapes.append(line_shape(tsnr_refs, y=limit))
            labels.append(edge_label(tsnr_refs, y=limit, text=text, above=False))
    if min_brain_fraction is not None and area.max() > 0:
        limit = min_brain_fraction * area.max()
        text = f"screening limit<br>{limit:.0f} voxels<br>({min_brain_fraction:.0%} of the largest)"
        shapes.append(line_shape(area_refs, y=limit))
        labels.append(edge_label(area_refs, y=limit, text=text))
    fig.update_xaxes(title_text="axial slice", row=2, col=1)
    fig.update_yaxes(title_text="tSNR", row=1, col=1)
    fig.update_yaxes(title_text="voxels", row=2, col=1)
    fig.update_layout(
        title=title,
        shapes=shapes,
        annotations=[*fig.layout.annotations, *labels],
        barmode="overlay",
        height=480,
        margin={**MARGIN, "r": LABEL_MARGIN + 20},
        legend=dict(orientation="h", x=1.0, xanchor="right", y=1.0, yanchor="bottom"),
    )
    return fig


def motion_figure(
    motion_params: np.ndarray | Sequence[Sequence[float]],
    fd_mm: np.ndarray | Sequence[float],
    *,
    tr_s: float | None = None,
    fd_threshold_mm: float | None = None,
    title: str | None = None,
) -> go.Figure:
    """Head motion over the run: translations, rotations and framewise displacement.

    Parameters
    ----------
    motion_params : array, shape (n_volumes, 6)
        Rigid-body parameters per volume (``ImagingResult.qc["motion_params"]``):
        translations x, y, z in mm, then rotations in radians (shown in degrees).
    fd_mm : array, shape (n_volumes,)
        Framewise displacement in mm (``qc["fd_mm"]``).
    tr_s : float or None
        Repetition time; the x axis is in seconds when given, volumes otherwise.
    fd_threshold_mm : float or None
        High-motion limit (``ImagingSettings.fd_threshold_mm``), drawn as a line.
    title : str or None

    Returns
    -------
    plotly.graph_objects.Figure
        Three panels; seven line traces (3 translations, 3 rotations, FD).
    """
    go, make_subplots = plotly()
    params = np.asarray(motion_params, dtype=np.float64)
    fd = np.asarray(fd_mm, dtype=np.float64)
    if params.ndim != 2 or params.shape[1] != 6:
        raise ValueError(
            f"The motion parameters must be one row of six numbers per volume, got shape "
            f"{params.shape}."
        )
    if fd.shape != (params.shape[0],):
        raise ValueError(
            f"There are {fd.size} framewise displacements for {params.shape[0]} volumes; give "
            "both from the same run."
        )
    t = np.arange(params.shape[0], dtype=np.float64)
    x_title = "volume"
    if tr_s is not None:
        if not tr_s > 0:
            raise ValueError(f"The repetition time must be positive, got {tr_s} s.")
        t = t * tr_s
        x_title = "time (s)"
    fig = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.07,
        subplot_titles=("translation", "rotation", "framewise displacement"),
    )
    traces = [
        go.Scatter(x=t, y=params[:, j], mode="lines", name=f"{axis} (mm)")
        for j, axis in enumerate("xyz")
    ]
    traces += [
        go.Scatter(x=t, y=np.degrees(params[:, 3 + j]), mode="lines", name=f"{axis} (°)")
        for j, axis in enumerate(("pitch (x)", "roll (y)", "yaw (z)"))
    ]
    traces.append(go.Scatter(x=t, y=fd, mode="lines+markers", marker=dict(size=3), name="FD (mm)"))
    fig.add_traces(traces, rows=[1, 1, 1, 2, 2, 2, 3], cols=1)
    shapes = []
    if fd_threshold_mm is not None:
        n_high = int(np.count_nonzero(fd > fd_threshold_mm))
        limit_text = f"{fd_threshold_mm:g} mm ({n_high} frame{'' if n_high == 1 else 's'} above)"
        refs = axis_refs(fig, 3, 1)
        shapes.append(line_shape(refs, y=fd_threshold_mm, text=limit_text, colour="#c62828"))
    fig.update_yaxes(title_text="mm", row=1, col=1)
    fig.update_yaxes(title_text="degrees", row=2, col=1)
    fig.update_yaxes(title_text="mm", rangemode="tozero", row=3, col=1)
    fig.update_xaxes(title_text=x_title, row=3, col=1)
    fig.update_layout(title=title, shapes=shapes, height=560, margin=MARGIN)
    return fig


def fmri_qc_table(result: ImagingResult) -> list[dict[str, str]]:
    """The fMRI quality record as ``{"item", "value"}`` rows a table can show."""
    qc = result.qc
    s = result.settings
    n_total = int(result.mask.shape[2])
    rows = [
        {"item": "repetition time", "value": f"{qc['tr_s']:g} s"},
        {
            "item": "volumes used",
            "value": f"{qc['n_volumes']} ({qc['n_dummy_dropped']} dummy dropped)",
        },
        {
            "item": "input grid",
            "value": " x ".join(str(v) for v in qc["input_shape"][:3])
            + " voxels of "
            + " x ".join(f"{v:.3g}" for v in qc["input_zooms_mm"])
            + " mm",
        },
        {
            "item": "analysis grid",
            "value": " x ".join(str(v) for v in qc["grid_shape"])
            + f" voxels of {qc['voxel_size_mm']:g} mm"
            + (", realigned" if qc.get("realigned") else ", not realigned"),
        },
        {"item": "mean framewise displacement", "value": f"{qc['mean_fd_mm']:.3f} mm"},
        {"item": "max framewise displacement", "value": f"{qc['max_fd_mm']:.3f} mm"},
        {
            "item": "high-motion frames",
            "value": f"{qc['n_high_motion_frames']} above {s.fd_threshold_mm:g} mm",
        },
        {
            "item": "median tSNR",
            "value": f"{qc['median_tsnr']:.1f} (flagged below {s.min_median_tsnr:g})",
        },
        {"item": "brain voxels", "value": str(qc["n_mask_voxels"])},
        *_registration_rows(qc.get("registration")),
        {"item": "axial slices kept", "value": f"{qc['n_slices_kept']} of {n_total}"},
        {"item": "flags", "value": "; ".join(qc["flags"]) if qc["flags"] else "none"},
    ]
    return rows


def _registration_rows(registration: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """QC rows of the spatial normalisation (none in scanner space)."""
    if registration is None:
        return [{"item": "space", "value": "scanner (not normalised to a template)"}]
    if registration["already_in_template_space"]:
        transform = "none: the file is already in MNI152 space"
    else:
        scales = " x ".join(f"{v:.2f}" for v in registration["scales"])
        transform = f"affine, scales {scales}, rotation {registration['rotation_deg']:.1f} deg"
    return [
        {"item": "space", "value": f"{registration['template']} (template)"},
        {"item": "registration", "value": "passed" if registration["passed"] else "FAILED"},
        {"item": "registration transform", "value": transform},
        {
            "item": "similarity to the template",
            "value": f"{registration['similarity_nmi']:.3f} NMI "
            f"(start {registration['similarity_nmi_start']:.3f})",
        },
        {"item": "brain overlap", "value": f"{registration['brain_overlap_dice']:.0%} (Dice)"},
        {
            "item": "template brain in the field of view",
            "value": f"{registration['template_brain_in_field_of_view']:.0%}",
        },
    ]

"""Figures of one prediction and of a model's evaluation (plotly), and the Grad-CAM overlay.

Inputs are the plain values a prediction stores (``Prediction.to_dict()``),
the arrays of :mod:`rehab_core.explain` and the curve dicts of
:func:`rehab_core.evaluation.roc_points` / :func:`~rehab_core.evaluation.calibration_bins`.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rehab_core.io.channels import channel_label, montage_order
from rehab_core.viz._plotly import LABEL_MARGIN, MARGIN, edge_label, line_shape, plotly

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from rehab_core.explain import AttributionSummary

__all__ = [
    "attribution_figure",
    "calibration_figure",
    "gradcam_figure",
    "gradcam_overlay",
    "png_bytes",
    "probability_figure",
    "roc_figure",
    "slice_probabilities_figure",
    "window_timeline_figure",
]

GOOD_COLOUR = "#2e7d32"
POOR_COLOUR = "#c62828"
BORDERLINE_COLOUR = "#b26a00"  # amber: neither side's colour for a call that is neither
_NEUTRAL = "#1f4e79"
_BAYES_COLOUR = "#555555"
_GROUP_COLOURS = {"fusion": "#1f4e79", "image": "#ef6c00", "signal": "#6a1b9a"}
# fusion drawn wide and solid, the single modalities dashed on top: identical curves stay visible
_GROUP_LINES = {"fusion": ("solid", 3.0), "image": ("dash", 2.0), "signal": ("dashdot", 2.0)}
_SLICE_CHANNELS = ("mean BOLD", "ALFF", "ReHo")


def _outcome_colours(values: np.ndarray, threshold: float) -> list[str]:
    return [GOOD_COLOUR if v >= threshold else POOR_COLOUR for v in values]


def _empty(message: str, height: int = 220) -> go.Figure:
    go, _ = plotly()
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_layout(
        height=height,
        margin=MARGIN,
        xaxis=dict(visible=False),
        yaxis=dict(visible=False),
    )
    return fig


def _score_layout(
    fig: go.Figure,
    threshold: float,
    score: tuple[str, float | None],
    *,
    title: str,
    xaxis: dict[str, Any],
) -> go.Figure:
    """Threshold and mean-score lines and the common layout of the per-item score charts.

    The two lines are named in the right margin, where no bar can cover the words;
    the higher line's name sits above it and the lower one's below, so the two
    never overlap however close the score is to the threshold.
    """
    label, value = score
    refs = ("x", "y")
    shapes = [line_shape(refs, y=threshold, colour="#333", dash="dash")]
    score_above = value is not None and float(value) >= threshold
    labels = [
        edge_label(refs, y=threshold, text=f"threshold {threshold:.2f}", above=not score_above)
    ]
    if value is not None:
        shapes.append(line_shape(refs, y=float(value), colour=_NEUTRAL, dash="solid"))
        shapes[-1]["line"]["width"] = 2
        text = f"{label} {float(value):.2f}"
        labels.append(
            edge_label(refs, y=float(value), text=text, colour=_NEUTRAL, above=score_above)
        )
    fig.update_layout(
        title=title,
        height=280,
        margin={**MARGIN, "r": LABEL_MARGIN},
        showlegend=False,
        shapes=shapes,
        annotations=labels,
        xaxis=xaxis,
        yaxis=dict(title="P(good outcome)", range=[0, 1]),
    )
    return fig


def _height_with_legend(n_entries: int, *, per_row: int) -> int:
    """Figure height (px) keeping a square plot of about 400 px above a legend of n entries.

    Plotly takes the legend below the plot out of the figure's height, so with
    13 models in half the page the ROC square shrank to 150 px (issue 15).
    """
    rows = -(-n_entries // per_row)
    return max(500, 420 + 20 * rows)


def probability_figure(prediction: Mapping[str, Any], *, borderline: bool = False) -> go.Figure:
    """The probability of a good outcome on a 0-1 bar, with its interval and the threshold.

    Parameters
    ----------
    prediction : mapping
        ``Prediction.to_dict()``: ``probability_good``, ``interval``,
        ``threshold`` and ``member_probabilities`` (shown as ticks).
    borderline : bool
        The call is borderline (:func:`rehab_core.report.prediction_call`):
        the diamond is amber and the title says so, rather than the green or
        red of the side it happens to fall on (a firm call in colour).

    Returns
    -------
    plotly.graph_objects.Figure
        Poor (left of the threshold) and good (right) zones shaded, the
        probability as a diamond with the model-spread interval as error bar.
    """
    go, _ = plotly()
    p = float(prediction["probability_good"])
    low, high = (float(v) for v in prediction.get("interval") or (p, p))
    threshold = float(prediction.get("threshold", 0.5))
    members = [float(v) for v in prediction.get("member_probabilities") or []]
    fig = go.Figure()
    for x0, x1, colour, text in (
        (0.0, threshold, POOR_COLOUR, "poor"),
        (threshold, 1.0, GOOD_COLOUR, "good"),
    ):
        fig.add_shape(
            type="rect", x0=x0, x1=x1, y0=0, y1=1, fillcolor=colour, opacity=0.12, line_width=0
        )
        fig.add_annotation(
            x=(x0 + x1) / 2, y=0.92, text=text, showarrow=False, font=dict(color=colour)
        )
    fig.add_vline(
        x=threshold,
        line=dict(dash="dash", color="#333", width=1),
        annotation_text=f"threshold {threshold:.2f}",
        annotation_position="bottom right",
    )
    if members:
        fig.add_trace(
            go.Scatter(
                x=members,
                y=[0.5] * len(members),
                mode="markers",
                marker=dict(symbol="line-ns-open", size=16, color="#777"),
                name="ensemble members",
                hovertemplate="member: %{x:.3f}<extra></extra>",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=[p],
            y=[0.5],
            mode="markers",
            marker=dict(
                symbol="diamond",
                size=16,
                color=BORDERLINE_COLOUR
                if borderline
                else (GOOD_COLOUR if p >= threshold else POOR_COLOUR),
            ),
            error_x=dict(type="data", symmetric=False, array=[high - p], arrayminus=[p - low]),
            name="P(good outcome)",
            hovertemplate=f"P(good) {p:.3f} (model spread {low:.3f}-{high:.3f})<extra></extra>",
        )
    )
    fig.update_layout(
        height=170,
        margin=dict(l=10, r=10, t=30, b=30),
        showlegend=False,
        xaxis=dict(range=[0, 1], title="probability of a good outcome", dtick=0.1),
        yaxis=dict(visible=False, range=[0, 1]),
        title=dict(
            text=f"P(good outcome) = {p:.2f} (model spread {low:.2f}-{high:.2f})"
            + (": borderline" if borderline else "")
        ),
    )
    return fig


def window_timeline_figure(
    window_starts_s: Sequence[float],
    window_probabilities: Sequence[float],
    *,
    window_s: float = 10.0,
    threshold: float = 0.5,
    signal_score: float | None = None,
) -> go.Figure:
    """Each kept EEG-EMG window's probability of a good outcome along the recording.

    Parameters
    ----------
    window_starts_s : sequence of float, shape (n_windows,)
        Start of every scored window in seconds (``Prediction.window_starts_s``).
    window_probabilities : sequence of float, shape (n_windows,)
        Mean over the ensemble's LSTMs per window.
    window_s : float
        Window length in seconds (bar width).
    threshold : float
        Decision threshold (dashed line).
    signal_score : float or None
        The signal score (mean window probability), drawn as a line.
    """
    go, _ = plotly()
    starts = np.asarray(window_starts_s, dtype=np.float64)
    probs = np.asarray(window_probabilities, dtype=np.float64)
    if probs.size == 0:
        return _empty("No EEG-EMG window was scored (image-only prediction).")
    if starts.shape != probs.shape:
        raise ValueError(
            f"{starts.size} window starts but {probs.size} window probabilities; "
            "give one start per window."
        )
    fig = go.Figure(
        go.Bar(
            x=starts + window_s / 2,
            y=probs,
            width=window_s * 0.92,
            marker_color=_outcome_colours(probs, threshold),
            customdata=np.stack([starts, starts + window_s], axis=1),
            hovertemplate="%{customdata[0]:.0f}-%{customdata[1]:.0f} s: P(good) %{y:.3f}"
            "<extra></extra>",
            name="window",
        )
    )
    return _score_layout(
        fig,
        threshold,
        ("EEG-EMG score", signal_score),
        title=f"EEG-EMG windows ({probs.size} windows of {window_s:g} s)",
        xaxis=dict(title="time in the recording (s)", range=[0, float(starts.max() + window_s)]),
    )


def slice_probabilities_figure(
    slice_index: Sequence[int],
    slice_probabilities: Sequence[float],
    *,
    threshold: float = 0.5,
    image_score: float | None = None,
    selected: int | None = None,
) -> go.Figure:
    """The image models' probability of a good outcome per kept axial slice.

    Parameters
    ----------
    slice_index : sequence of int, shape (n_slices,)
        Axial index of each kept slice on the resampled grid.
    slice_probabilities : sequence of float, shape (n_slices,)
        Mean over the ensemble's image models per slice.
    threshold : float
        Decision threshold (dashed line).
    image_score : float or None
        The image score (mean slice probability), drawn as a line.
    selected : int or None
        Axial index to outline (the slice shown beside the chart).
    """
    go, _ = plotly()
    index = np.asarray(slice_index, dtype=np.int64)
    probs = np.asarray(slice_probabilities, dtype=np.float64)
    if probs.size == 0:
        return _empty("No fMRI slice was scored.")
    if index.shape != probs.shape:
        raise ValueError(
            f"{index.size} slice indices but {probs.size} slice probabilities; "
            "give one index per slice."
        )
    outline = [2.5 if int(k) == selected else 0 for k in index]
    fig = go.Figure(
        go.Bar(
            x=index,
            y=probs,
            marker=dict(
                color=_outcome_colours(probs, threshold),
                line=dict(color="#000", width=outline),
            ),
            hovertemplate="axial slice %{x}: P(good) %{y:.3f}<extra></extra>",
            name="slice",
        )
    )
    return _score_layout(
        fig,
        threshold,
        ("fMRI score", image_score),
        title=f"fMRI slices ({probs.size} kept)",
        xaxis=dict(title="axial slice (inferior → superior)"),
    )


def gradcam_overlay(
    slice_image: np.ndarray,
    heatmap: np.ndarray,
    *,
    alpha: float = 0.4,
    channel: int = 0,
    cmap: str = "jet",
) -> np.ndarray:
    """A slice with its Grad-CAM heatmap blended over it, as RGB.

    Parameters
    ----------
    slice_image : ndarray, shape (3, height, width) or (height, width)
        A model input slice (channels mean BOLD, ALFF, ReHo) or one 2D map.
    heatmap : ndarray, shape (height, width)
        Grad-CAM values in [0, 1].
    alpha : float
        Heatmap weight in [0, 1] (0: the slice alone).
    channel : int
        Which channel of a 3-channel slice to show underneath (0: mean BOLD,
        the anatomy).
    cmap : str
        Matplotlib colormap of the heatmap.

    Returns
    -------
    ndarray, shape (height, width, 3), uint8
    """
    from rehab_core.explain import overlay_heatmap

    image = np.asarray(slice_image)
    if image.ndim == 3:
        if not 0 <= channel < image.shape[0]:
            raise ValueError(f"channel={channel} but the slice has {image.shape[0]} channels.")
        image = image[channel]
    return overlay_heatmap(image, heatmap, alpha=alpha, cmap=cmap)


def gradcam_figure(
    slice_image: np.ndarray,
    heatmap: np.ndarray,
    *,
    alpha: float = 0.4,
    channel: int = 0,
    title: str | None = None,
) -> go.Figure:
    """The Grad-CAM overlay of one slice as a figure (neurological view: left on the left).

    Parameters are those of :func:`gradcam_overlay`; ``title`` defaults to
    naming the underlying channel.
    """
    go, _ = plotly()
    rgb = gradcam_overlay(slice_image, heatmap, alpha=alpha, channel=channel)
    name = _SLICE_CHANNELS[channel] if np.asarray(slice_image).ndim == 3 else "slice"
    fig = go.Figure(go.Image(z=rgb, hoverinfo="skip"))
    height, width = rgb.shape[:2]
    for x, text in ((0.02, "L"), (0.98, "R")):
        fig.add_annotation(
            x=x,
            y=0.02,
            xref="paper",
            yref="paper",
            text=text,
            showarrow=False,
            font=dict(color="white", size=14),
        )
    fig.update_layout(
        title=title or f"Grad-CAM over {name} (heatmap weight {alpha:.0%})",
        height=420,
        margin=dict(l=10, r=10, t=50, b=10),
        xaxis=dict(visible=False, range=[-0.5, width - 0.5]),
        yaxis=dict(visible=False, range=[height - 0.5, -0.5], scaleanchor="x"),
    )
    return fig


def png_bytes(rgb: np.ndarray) -> bytes:
    """An RGB uint8 image ``(height, width, 3)`` as PNG bytes (for the PDF report)."""
    from PIL import Image

    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(
            f"Expected an RGB uint8 image of shape (height, width, 3), got {rgb.dtype} {rgb.shape}."
        )
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def attribution_figure(summary: AttributionSummary) -> go.Figure:
    """Where in the windows the LSTM's evidence lies: channels x time bins, and per channel.

    Parameters
    ----------
    summary : AttributionSummary
        From :func:`rehab_core.explain.attribution_summary` (shares of the
        absolute Integrated-Gradients attribution, pooled over windows).

    Returns
    -------
    plotly.graph_objects.Figure
        Left: a heatmap of the share (%) per channel and time bin; right: the
        share per channel, coloured by the sign of its summed attribution
        (green: towards a good outcome, red: towards a poor one). Channels
        run from the top in montage order (:func:`rehab_core.io.montage_order`),
        a paper muscle by its name.
    """
    go, make_subplots = plotly()
    codes = list(summary.ch_names)
    index = {name: i for i, name in enumerate(codes)}
    order = [index[name] for name in montage_order(codes)]
    shares = 100 * np.asarray(summary.per_channel_bin, dtype=np.float64)[order]
    edges = np.asarray(summary.bin_edges_s, dtype=np.float64)
    centres = (edges[:-1] + edges[1:]) / 2
    names = [channel_label(codes[i]) for i in order]
    signed = np.asarray(summary.signed_per_channel, dtype=np.float64)[order]
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        column_widths=[0.78, 0.22],
        horizontal_spacing=0.02,
        subplot_titles=("share of attribution per channel and time (%)", "per channel (%)"),
    )
    fig.add_trace(
        go.Heatmap(
            z=shares,
            x=centres,
            y=names,
            colorscale="Viridis",
            colorbar=dict(title="%", x=1.01, len=0.9, thickness=12),
            hovertemplate="%{y}, %{x:.1f} s: %{z:.2f} %<extra></extra>",
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Bar(
            x=100 * np.asarray(summary.per_channel, dtype=np.float64)[order],
            y=names,
            orientation="h",
            marker_color=[GOOD_COLOUR if s >= 0 else POOR_COLOUR for s in signed],
            customdata=signed,
            hovertemplate="%{y}: %{x:.1f} % (signed sum %{customdata:.3g})<extra></extra>",
        ),
        row=1,
        col=2,
    )
    fig.update_yaxes(autorange="reversed", row=1, col=1)
    fig.update_xaxes(title_text="time within the window (s)", row=1, col=1)
    fig.update_layout(height=120 + 18 * len(names), margin=MARGIN, showlegend=False)
    return fig


def _group_line(group: str) -> dict[str, Any]:
    """Line style of a model group (the Bayes-optimal reference: grey, dotted)."""
    if group == "bayes":
        return dict(color=_BAYES_COLOUR, dash="dot", width=2.0)
    dash, width = _GROUP_LINES.get(group, ("solid", 2.0))
    return dict(color=_GROUP_COLOURS.get(group, _NEUTRAL), dash=dash, width=width)


def _fusion_first(curves: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Fusion curves first, so the single-modality curves are drawn over them."""
    return sorted(curves, key=lambda c: c.get("group") != "fusion")


def roc_figure(
    curves: Sequence[Mapping[str, Any]],
    *,
    bayes: Mapping[str, Any] | None = None,
    patients: str = "held-out patients",
) -> go.Figure:
    """ROC curves of several models, the chance diagonal and the Bayes-optimal curve.

    Parameters
    ----------
    curves : sequence of mappings
        Each with ``name``, ``group`` (colour) and ``roc`` (a
        :func:`rehab_core.evaluation.roc_points` dict: ``fpr``, ``tpr``,
        ``auc``); optionally ``n`` (patients).
    bayes : mapping or None
        The generator's Bayes-optimal probabilities on the same patients as a
        ``roc_points`` dict (synthetic cohorts only), drawn dotted.
    patients : str
        Which patients the scores are of, for the title ("held-out patients",
        "out-of-fold scores").
    """
    go, _ = plotly()
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dash", color="#bbb"), name="chance"
        )
    )
    if bayes is not None:
        fig.add_trace(
            go.Scatter(
                x=bayes["fpr"],
                y=bayes["tpr"],
                mode="lines",
                line=_group_line("bayes"),
                name=f"Bayes-optimal ceiling (AUC {bayes['auc']:.2f})",
            )
        )
    for curve in _fusion_first(curves):
        roc = curve["roc"]
        n = f", n={curve['n']}" if curve.get("n") else ""
        fig.add_trace(
            go.Scatter(
                x=roc["fpr"],
                y=roc["tpr"],
                mode="lines+markers",
                line=_group_line(curve.get("group", "")),
                marker=dict(size=4),
                name=f"{curve['name']} (AUC {roc['auc']:.2f}{n})",
            )
        )
    fig.update_layout(
        title=f"ROC curves ({patients})",
        height=_height_with_legend(len(fig.data), per_row=1),
        margin=MARGIN,
        xaxis=dict(title="1 - specificity (false-positive rate)", range=[0, 1], constrain="domain"),
        yaxis=dict(title="sensitivity (true-positive rate)", range=[0, 1], scaleanchor="x"),
        legend=dict(orientation="h", x=0, y=-0.2, xanchor="left", yanchor="top"),
    )
    return fig


def calibration_figure(
    curves: Sequence[Mapping[str, Any]],
    *,
    bayes: Mapping[str, Any] | None = None,
    patients: str = "held-out patients",
) -> go.Figure:
    """Reliability diagram: observed fraction of good outcomes against the predicted probability.

    Parameters
    ----------
    curves : sequence of mappings
        Each with ``name``, ``group`` and ``calibration`` (a
        :func:`rehab_core.evaluation.calibration_bins` dict); marker size
        grows with the patients in a bin.
    bayes : mapping or None
        ``calibration_bins`` of the Bayes-optimal probabilities (dotted).
    patients : str
        Which patients the scores are of, for the title.
    """
    go, _ = plotly()
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            line=dict(dash="dash", color="#bbb"),
            name="perfect calibration",
        )
    )
    entries = [(c["name"], c.get("group", ""), c["calibration"]) for c in _fusion_first(curves)]
    if bayes is not None:
        entries.insert(0, ("Bayes-optimal", "bayes", bayes))
    for name, group, bins in entries:
        count = np.asarray(bins["count"], dtype=np.float64)
        line = _group_line(group)
        colour = line["color"]
        fig.add_trace(
            go.Scatter(
                x=bins["mean_predicted"],
                y=bins["observed_fraction"],
                mode="lines+markers",
                line=line,
                marker=dict(size=6 + 3 * np.sqrt(count), color=colour),
                customdata=count,
                name=f"{name} (ECE {bins['ece']:.2f})",
                hovertemplate="predicted %{x:.2f}, observed %{y:.2f}, "
                "%{customdata:.0f} patients<extra></extra>",
            )
        )
    fig.update_layout(
        title=f"Calibration ({patients})",
        height=_height_with_legend(len(fig.data), per_row=2),
        margin=MARGIN,
        xaxis=dict(title="mean predicted P(good)", range=[0, 1], constrain="domain"),
        yaxis=dict(title="observed fraction good", range=[-0.02, 1.02], scaleanchor="x"),
        legend=dict(orientation="h", x=0, y=-0.2, xanchor="left", yanchor="top"),
    )
    return fig

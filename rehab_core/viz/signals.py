"""EEG-EMG figures for the dashboard.

Every builder takes arrays (or a :class:`~rehab_core.signals.SignalResult`)
and returns a ``plotly.graph_objects.Figure``; none reads files or keeps
state, so the page decides what is cached and the tests check real numbers.
The reductions behind them (which windows were kept, spectra, coherence) are
in :mod:`rehab_core.signals`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rehab_core.io.channels import channel_label, montage_order
from rehab_core.signals._checks import check_ch_names, check_ch_types, check_data
from rehab_core.signals.spectra import BETA_BAND_HZ, coherence_confidence_limit
from rehab_core.signals.windows import rejected_intervals
from rehab_core.viz._plotly import (
    LEGEND_ENTRY_PX,
    LEGEND_GROUP_PX,
    MARGIN,
    axis_refs,
    band_shape,
    line_shape,
    log_axis_ticks,
    plotly,
)

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from rehab_core.signals.pipeline import SignalResult

__all__ = [
    "coherence_figure",
    "psd_figure",
    "signal_qc_table",
    "signal_traces_figure",
]

_COLOURS = {"eeg": "#1f4e79", "emg": "#2e7d32"}
_BAD_COLOUR = "#c62828"
_REJECTED_FILL = "rgba(198, 40, 40, 0.13)"
_UNUSED_FILL = "rgba(120, 120, 120, 0.18)"


def _nice(value: float) -> float:
    """The smallest 1-2-5 number (x 10^k) at least ``value`` (a scale bar a reader can read)."""
    if not value > 0 or not math.isfinite(value):
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1.0, 2.0, 5.0, 10.0):
        if step * 10**exponent >= value * (1 - 1e-9):
            return step * 10**exponent
    return 10.0 ** (exponent + 1)  # pragma: no cover - the loop always returns


# --- traces -------------------------------------------------------------------------------------


def _display_order(ch_names: Sequence[str], ch_types: Sequence[str]) -> list[int]:
    """Row indices in montage order (:func:`rehab_core.io.montage_order`)."""
    index = {name: i for i, name in enumerate(ch_names)}
    return [index[name] for name in montage_order(ch_names, ch_types)]


def _hover_name(name: str) -> str:
    """A channel as hover text: the muscle and its code for a paper EMG channel."""
    label = channel_label(name)
    return name if label == name else f"{label} ({name})"


def _row_scales(
    values: np.ndarray,
    ch_types: Sequence[str],
    bad: Mapping[str, str],
    ch_names: Sequence[str],
    scalings: Mapping[str, float] | None,
) -> dict[str, float]:
    """µV per row height for each channel type: given, or 2.5 x the median half-range."""
    scales: dict[str, float] = {}
    for kind in dict.fromkeys(ch_types):
        if scalings is not None and kind in scalings:
            scales[kind] = float(scalings[kind])
            if not scales[kind] > 0:
                raise ValueError(f"The {kind.upper()} scale must be positive, got {scales[kind]}.")
            continue
        rows = [i for i, t in enumerate(ch_types) if t == kind and ch_names[i] not in bad] or [
            i for i, t in enumerate(ch_types) if t == kind
        ]
        low, high = np.percentile(values[rows], [1.0, 99.0], axis=1)
        scales[kind] = _nice(2.5 * float(np.median((high - low) / 2.0)))
    return scales


def _trace_rows(go, times, values, ch_names, ch_types, bad, scales) -> tuple[list, list[str]]:
    """One line per channel, first on top, centred on its median; and the row labels."""
    n_chans = len(ch_names)
    centred = values - np.median(values, axis=1, keepdims=True)
    traces, tick_text = [], []
    for i, name in enumerate(ch_names):
        kind = ch_types[i]
        offset = n_chans - 1 - i
        is_bad = name in bad
        traces.append(
            # SVG, not Scattergl: the view is already ~2 points per pixel, and WebGL on a
            # browser without a GPU (software GL) took ~6 s per redraw (bench/bench_ui.py)
            go.Scatter(
                # float32 halves the JSON; its step is < 0.25 ms for recordings under 1 h
                x=times[i].astype(np.float32),
                y=(offset + centred[i] / scales[kind]).astype(np.float32),
                mode="lines",
                name=f"{name} (bad: {bad[name]})" if is_bad else name,
                line=dict(
                    width=1,
                    color=_BAD_COLOUR if is_bad else _COLOURS[kind],
                    dash="dash" if is_bad else "solid",
                ),
                hovertemplate=f"{_hover_name(name)}<br>%{{x:.3f}} s<extra></extra>",
                showlegend=False,
            )
        )
        # plain words, no symbol: a browser without the glyph would draw an empty box
        label = f"{channel_label(name)} ({kind.upper()}{', bad' if is_bad else ''})"
        tick_text.append(f"<span style='color:{_BAD_COLOUR}'>{label}</span>" if is_bad else label)
    return traces, tick_text


def _shading(
    rejected: Sequence[Mapping[str, Any]],
    unused: tuple[float, float] | None,
    x_range: tuple[float, float],
) -> list[dict[str, Any]]:
    """Red bands for the rejected windows and a grey one for the unused tail, in the view."""
    shapes = [
        band_shape(
            ("x", "y"),
            x=(r["start_s"], r["end_s"]),
            fill=_REJECTED_FILL,
            text=f"rejected: {r['reason']}",
            text_colour=_BAD_COLOUR,
        )
        for r in rejected
        if r["end_s"] > x_range[0] and r["start_s"] < x_range[1]
    ]
    if unused is not None and unused[1] > x_range[0] and unused[0] < x_range[1]:
        shapes.append(
            band_shape(
                ("x", "y"), x=unused, fill=_UNUSED_FILL, text="not used (shorter than a window)"
            )
        )
    return shapes


def signal_traces_figure(
    times: np.ndarray,
    values: np.ndarray,
    ch_names: Sequence[str],
    ch_types: Sequence[str] | None = None,
    *,
    bad_channels: Mapping[str, str] | None = None,
    rejected: Sequence[Mapping[str, Any]] = (),
    unused: tuple[float, float] | None = None,
    view: tuple[float, float] | None = None,
    scalings: Mapping[str, float] | None = None,
    title: str | None = None,
) -> go.Figure:
    """Stacked multi-channel traces, rejected windows shaded, bad channels marked.

    Each channel is drawn on its own row, in montage order from the top (EEG
    front to back and left to right, then the leg muscles, see
    :func:`rehab_core.io.montage_order`), named on the y axis (a paper EMG
    channel by its muscle), centred on its median in the view and scaled by
    its type's µV-per-row (one scale for all EEG, one for all EMG, so
    amplitudes compare within a type). Bad channels are drawn dashed in red
    and their names marked "bad"; rejected windows are red bands labelled with
    the reason; the unused tail (shorter than a window) is a grey band.

    Parameters
    ----------
    times, values : ndarray, shape (n_chans, n_points)
        From :func:`rehab_core.viz.view_slice` (seconds, µV).
    ch_names : sequence of str, length n_chans
    ch_types : sequence of {"eeg", "emg"} or None
        ``None`` means all EEG.
    bad_channels : mapping of str to str or None
        Channel name -> reason (``SignalResult.qc["bad_channels"]``).
    rejected : sequence of mapping
        From :func:`rehab_core.signals.rejected_intervals`; only those inside the view are drawn.
    unused : (float, float) or None
        From :func:`rehab_core.signals.unused_tail`.
    view : (float, float) or None
        The x range in seconds; the data's own range when ``None``.
    scalings : mapping of str to float or None
        µV per row height by type (``{"eeg": 100, "emg": 1000}``); automatic
        (2.5 times the median 1-99 % half-range, rounded to 1-2-5) for a type
        left out.
    title : str or None

    Returns
    -------
    plotly.graph_objects.Figure
        One ``scatter`` (SVG) trace per channel, in display order, named by
        its code; one shape per rejected window (and the unused tail) in the
        view.
    """
    go, _ = plotly()
    values = check_data(values, "values")
    times = np.asarray(times, dtype=np.float64)
    n_chans = values.shape[0]
    if times.shape != values.shape:
        raise ValueError(
            f"times has shape {times.shape} but values has {values.shape}; give both from "
            "view_slice."
        )
    ch_names = check_ch_names(ch_names, n_chans)
    ch_types = check_ch_types(ch_types if ch_types is not None else ["eeg"] * n_chans, n_chans)
    bad = dict(bad_channels or {})
    unknown = sorted(set(bad) - set(ch_names))
    if unknown:
        raise ValueError(f"Bad channels {', '.join(unknown)} are not among the channels shown.")
    scales = _row_scales(values, ch_types, bad, ch_names, scalings)
    order = _display_order(ch_names, ch_types)
    times, values = times[order], values[order]
    ch_names, ch_types = [ch_names[i] for i in order], [ch_types[i] for i in order]

    traces, tick_text = _trace_rows(go, times, values, ch_names, ch_types, bad, scales)
    x_range = view if view is not None else (float(times.min()), float(times.max()))
    shapes = _shading(rejected, unused, x_range)
    fig = go.Figure(data=traces)
    scale_text = ", ".join(f"{k.upper()} {v:g} µV" for k, v in scales.items())
    fig.update_layout(
        title=title,
        shapes=shapes,
        height=int(90 + 26 * n_chans),
        margin=dict(l=10, r=10, t=50 if title else 30, b=40),
        xaxis=dict(title="time (s)", range=list(x_range)),
        yaxis=dict(
            title=f"one row = {scale_text}",
            tickmode="array",
            tickvals=[n_chans - 1 - i for i in range(n_chans)],
            ticktext=tick_text,
            range=[-0.8, n_chans - 0.2],
            fixedrange=True,
            zeroline=False,
            showgrid=False,
        ),
        meta={"row_scale_uv": scales},
    )
    return fig


# --- spectra ------------------------------------------------------------------------------------


def psd_figure(
    freqs: np.ndarray,
    psd: np.ndarray,
    ch_names: Sequence[str],
    ch_types: Sequence[str] | None = None,
    *,
    bad_channels: Mapping[str, str] | None = None,
    band: tuple[float, float] | None = None,
    notch_freqs: Sequence[float] = (),
    title: str | None = None,
) -> go.Figure:
    """Power spectral density of every channel, EEG and EMG side by side, log scale.

    Both power axes are in µV²/Hz with ticks at whole decades written as plain
    numbers (:func:`log_axis_ticks`). Channels are listed in montage order
    (:func:`rehab_core.io.montage_order`; a paper EMG channel by its muscle)
    and the figure is tall enough for its legend to show every channel.

    Parameters
    ----------
    freqs : ndarray, shape (n_freqs,)
        Frequencies in Hz (from :func:`rehab_core.signals.power_spectra`).
    psd : ndarray, shape (n_chans, n_freqs)
        Power in µV²/Hz.
    ch_names, ch_types : sequence of str
        ``ch_types`` ``None`` means all EEG.
    bad_channels : mapping of str to str or None
        Bad channels are drawn dashed in red, marked "bad" in the legend, with
        the reason on hover.
    band : (float, float) or None
        The pass band actually used (``SignalResult.qc["band_hz"]``), drawn
        as two dotted lines.
    notch_freqs : sequence of float
        Notch centres (``qc["notch_freqs_hz"]``) within the plotted range,
        drawn as faint lines.
    title : str or None

    Returns
    -------
    plotly.graph_objects.Figure
        One trace per channel in montage order, one panel per channel type present.
    """
    go, make_subplots = plotly()
    psd = check_data(psd, "psd")
    freqs = np.asarray(freqs, dtype=np.float64)
    if freqs.shape != (psd.shape[1],):
        raise ValueError(
            f"freqs has {freqs.size} values but psd has {psd.shape[1]} frequencies per channel."
        )
    ch_names = check_ch_names(ch_names, psd.shape[0])
    ch_types = check_ch_types(
        ch_types if ch_types is not None else ["eeg"] * psd.shape[0], psd.shape[0]
    )
    bad = dict(bad_channels or {})
    kinds = list(dict.fromkeys(ch_types))
    fig = make_subplots(
        rows=1,
        cols=len(kinds),
        subplot_titles=[f"{k.upper()} power spectra" for k in kinds],
        horizontal_spacing=0.1,
    )
    order = _display_order(ch_names, ch_types)
    traces = []
    for i in order:
        name = ch_names[i]
        is_bad = name in bad
        line = dict(width=1, dash="dash" if is_bad else "solid")
        if is_bad:
            line["color"] = _BAD_COLOUR
        hover = _hover_name(name) + (f" (bad: {bad[name]})" if is_bad else "")
        traces.append(
            go.Scatter(
                x=freqs,
                # a zeroed channel has no power; a log axis cannot show 0: "no value" instead
                y=np.where(psd[i] > 0, psd[i], np.nan),
                mode="lines",
                name=f"{channel_label(name)} (bad)" if is_bad else channel_label(name),
                line=line,
                legendgroup=ch_types[i],
                legendgrouptitle_text=ch_types[i].upper(),
                hovertemplate=f"{hover}<br>%{{x:.1f}} Hz: %{{y:.3g}} µV²/Hz<extra></extra>",
            )
        )
    fig.add_traces(traces, rows=1, cols=[kinds.index(ch_types[i]) + 1 for i in order])
    fmax = float(freqs.max()) if freqs.size else 0.0
    shapes = []
    for col, kind in enumerate(kinds, start=1):
        refs = axis_refs(fig, 1, col)
        shapes += [line_shape(refs, x=edge) for edge in band or () if edge <= fmax]
        shapes += [
            line_shape(refs, x=f, colour="rgba(0,0,0,0.15)", dash="solid")
            for f in notch_freqs
            if f <= fmax
        ]
        tickvals, ticktext = log_axis_ticks(psd[[i for i, t in enumerate(ch_types) if t == kind]])
        fig.update_xaxes(title_text="frequency (Hz)", row=1, col=col)
        fig.update_yaxes(
            type="log",
            title_text="power (µV²/Hz)",
            tickmode="array",
            tickvals=tickvals,
            ticktext=ticktext,
            row=1,
            col=col,
        )
    margin = dict(MARGIN)
    legend_px = LEGEND_ENTRY_PX * len(ch_names) + LEGEND_GROUP_PX * len(kinds)
    fig.update_layout(
        title=title,
        shapes=shapes,
        # the plot area holds the whole legend: nothing cut off at 22 or 40 channels
        height=max(420, margin["t"] + margin["b"] + legend_px),
        margin=margin,
        legend=dict(groupclick="toggleitem", tracegroupgap=12),
    )
    return fig


def _band_mean_heatmap(go, band_mean, eeg_labels, emg_labels, map_domain):
    """The site x muscle map of the band-mean coherence, its colour bar under it."""
    return go.Heatmap(
        z=band_mean.T,
        x=eeg_labels,
        y=emg_labels,
        zmin=0.0,
        zmax=max(0.1, float(band_mean.max())),
        colorscale="Viridis",
        texttemplate="%{z:.2f}",
        # under the map, as wide as it: a colour bar beside the map ran into the
        # spectrum's axis title ("coherence0.1")
        colorbar=dict(
            title=dict(text="mean coherence", side="top"),
            orientation="h",
            x=(map_domain[0] + map_domain[1]) / 2,
            xanchor="center",
            len=map_domain[1] - map_domain[0],
            lenmode="fraction",
            y=-0.16,
            yanchor="top",
            thickness=12,
        ),
        hovertemplate="%{y} - %{x}: %{z:.3f}<extra></extra>",
        name="band mean",
    )


def coherence_figure(
    freqs: np.ndarray,
    coh: np.ndarray,
    eeg_names: Sequence[str],
    emg_names: Sequence[str],
    *,
    band: tuple[float, float] = BETA_BAND_HZ,
    n_segments: int | None = None,
    bad_channels: Mapping[str, str] | None = None,
    title: str | None = None,
) -> go.Figure:
    """Corticomuscular coherence: a muscle x site map of the band mean and the spectra.

    Left: the mean coherence within ``band`` for every EMG channel (rows, a
    paper muscle by its name) and EEG site (columns), both in montage order
    (:func:`rehab_core.io.montage_order`), with its colour bar underneath,
    clear of the spectrum's axis. Right: the coherence spectrum of each EMG
    channel, averaged over the EEG sites, with ``band`` shaded and, given
    ``n_segments``, the 95 % confidence limit of independent signals (named
    in the legend, not over the curves).

    Parameters
    ----------
    freqs : ndarray, shape (n_freqs,)
    coh : ndarray, shape (n_eeg, n_emg, n_freqs)
    eeg_names, emg_names : sequence of str
    band : (float, float)
        Band to average and shade in Hz (beta by default); needs a frequency in it.
    n_segments : int or None
        Independent segments behind the estimate (:class:`~rehab_core.signals.MotorCoherence`).
    bad_channels : mapping of str to str or None
        Names marked "(bad)" on the map.
    title : str or None

    Returns
    -------
    plotly.graph_objects.Figure
        A heatmap trace (rows EMG, columns EEG) and one line per EMG channel.
    """
    go, make_subplots = plotly()
    freqs = np.asarray(freqs, dtype=np.float64)
    coh = np.asarray(coh, dtype=np.float64)
    if coh.ndim != 3 or coh.shape != (len(eeg_names), len(emg_names), freqs.size):
        raise ValueError(
            f"coh has shape {coh.shape} but {len(eeg_names)} EEG sites, {len(emg_names)} EMG "
            f"channels and {freqs.size} frequencies were given."
        )
    low, high = band
    in_band = (freqs >= low) & (freqs <= high)
    if not in_band.any():
        raise ValueError(
            f"The band {low:g}-{high:g} Hz holds none of the frequencies "
            f"{freqs.min():g}-{freqs.max():g} Hz; compute the coherence over a range that "
            "includes it."
        )
    bad = dict(bad_channels or {})

    def label(name: str) -> str:
        return f"{channel_label(name)} (bad)" if name in bad else channel_label(name)

    eeg_order = _display_order(eeg_names, ["eeg"] * len(eeg_names))
    emg_order = _display_order(emg_names, ["emg"] * len(emg_names))
    coh = coh[eeg_order][:, emg_order]
    eeg_names = [eeg_names[i] for i in eeg_order]
    emg_names = [emg_names[j] for j in emg_order]

    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.42, 0.58],
        horizontal_spacing=0.1,
        subplot_titles=(
            f"mean coherence {low:g}-{high:g} Hz",
            "coherence spectrum (mean over the EEG sites)",
        ),
    )
    heatmap = _band_mean_heatmap(
        go,
        coh[:, :, in_band].mean(axis=2),
        [label(n) for n in eeg_names],
        [label(n) for n in emg_names],
        fig.layout.xaxis.domain,
    )
    fig.add_trace(heatmap, row=1, col=1)
    mean_over_eeg = coh.mean(axis=0)
    lines = [
        go.Scatter(
            x=freqs,
            y=mean_over_eeg[j],
            mode="lines",
            name=label(name),
            hovertemplate=f"{_hover_name(name)}<br>%{{x:.1f}} Hz: %{{y:.3f}}<extra></extra>",
        )
        for j, name in enumerate(emg_names)
    ]
    fig.add_traces(lines, rows=1, cols=2)
    refs = axis_refs(fig, 1, 2)
    band_text = "beta" if (low, high) == BETA_BAND_HZ else f"{low:g}-{high:g} Hz"
    shapes = [band_shape(refs, x=(low, high), fill="rgba(255, 193, 7, 0.2)", text=band_text)]
    top = float(np.nanmax(mean_over_eeg)) if mean_over_eeg.size else 0.1
    if n_segments is not None:
        limit = coherence_confidence_limit(n_segments)
        top = max(top, limit)
        limit_line = line_shape(refs, y=limit)
        limit_line.update(showlegend=True, name=f"95 % limit of independent signals ({limit:.3f})")
        shapes.append(limit_line)
    fig.update_yaxes(autorange="reversed", row=1, col=1)
    fig.update_xaxes(title_text="frequency (Hz)", row=1, col=2)
    # the limit stays inside the panel even when every curve is below it
    fig.update_yaxes(title_text="coherence", range=[0.0, 1.1 * top], row=1, col=2)
    fig.update_layout(
        title=title,
        shapes=shapes,
        height=440 + 12 * max(0, len(emg_names) - 6),
        margin={**MARGIN, "b": 110},
    )
    return fig


# --- QC -----------------------------------------------------------------------------------------


def signal_qc_table(result: SignalResult) -> dict[str, list[dict[str, Any]]]:
    """The preprocessing's quality record as rows a table can show.

    Parameters
    ----------
    result : SignalResult

    Returns
    -------
    dict
        ``summary``: rows ``{"item", "value"}`` (duration, rates, band,
        notches, windows kept); ``bad_channels``: rows ``{"channel",
        "type", "reason", "action"}``; ``rejected_windows``: rows
        ``{"window", "start_s", "end_s", "reason"}``. Empty lists when there
        is nothing to report.
    """
    qc = result.qc
    band = qc["band_hz"]
    notches = qc.get("notch_freqs_hz") or []
    band_text = f"{band[0]:g}-{band[1]:g} Hz"
    if qc.get("h_freq_clamped"):
        band_text += f" (low-pass lowered from {result.settings.h_freq:g} Hz for this rate)"
    summary = [
        {"item": "duration", "value": f"{qc['duration_s']:.1f} s"},
        {"item": "sampling rate", "value": f"{qc['input_sfreq']:g} Hz"},
        {"item": "effective band", "value": band_text},
        {
            "item": "mains notches",
            "value": ", ".join(f"{f:g}" for f in notches) + " Hz" if notches else "none",
        },
        {
            "item": "windows used",
            "value": f"{qc['n_usable_windows']} of {qc['n_windows_total']} "
            f"({result.settings.window_s:g} s each)",
        },
        {"item": "windows rejected", "value": str(qc["n_rejected"])},
        {
            "item": "bad channels",
            "value": ", ".join(map(channel_label, qc["bad_channels"]))
            if qc["bad_channels"]
            else "none",
        },
        {"item": "unused tail", "value": f"{qc['dropped_tail_s']:.1f} s"},
        {"item": "model input rate", "value": f"{qc['output_sfreq']:g} Hz"},
    ]
    types = dict(zip(result.ch_names, result.ch_types, strict=True))
    actions = qc.get("bad_channel_actions", {})
    bad_rows = [
        {
            "channel": channel_label(name),
            "type": types.get(name, "?").upper(),
            "reason": reason,
            "action": actions.get(name, ""),
        }
        for name, reason in qc["bad_channels"].items()
    ]
    rejected_rows = [
        {
            "window": r["window"],
            "start_s": round(r["start_s"], 3),
            "end_s": round(r["end_s"], 3),
            "reason": r["reason"],
        }
        for r in rejected_intervals(result)
    ]
    return {"summary": summary, "bad_channels": bad_rows, "rejected_windows": rejected_rows}

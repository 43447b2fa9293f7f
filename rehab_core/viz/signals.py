"""EEG-EMG figures for the dashboard and the reductions behind them.

Every builder takes arrays (or a :class:`~rehab_core.signals.SignalResult`)
and returns a ``plotly.graph_objects.Figure``; none reads files or keeps
state, so the page decides what is cached and the tests check real numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from rehab_core.io.channels import channel_label, montage_order
from rehab_core.signals._checks import check_ch_names, check_ch_types, check_data, check_sfreq
from rehab_core.signals.spectra import coherence
from rehab_core.signals.windows import window_n_times
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
    import mne
    import plotly.graph_objects as go

    from rehab_core.signals.pipeline import SignalResult

__all__ = [
    "BETA_BAND_HZ",
    "MOTOR_EEG_CHANNELS",
    "MotorCoherence",
    "coherence_confidence_limit",
    "coherence_figure",
    "kept_window_data",
    "motor_coherence",
    "psd_figure",
    "recording_arrays",
    "rejected_intervals",
    "signal_qc_table",
    "signal_spectra",
    "signal_traces_figure",
    "unused_tail",
]

#: Corticomuscular coherence with the leg muscles is usually reported in the beta band.
BETA_BAND_HZ = (13.0, 30.0)

#: EEG sites over the leg and foot area of the motor cortex (the vertex, where the lower
#: limb is represented) and the hand knobs C3/C4 next to it, in display order; only those
#: present in a recording are used (the paper's 16 sites have no Cz).
MOTOR_EEG_CHANNELS = ("Cz", "C1", "C2", "CPz", "CP1", "CP2", "FCz", "FC1", "FC2", "C3", "C4")

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


def recording_arrays(
    raw: mne.io.BaseRaw,
) -> tuple[np.ndarray, float, tuple[str, ...], tuple[str, ...]]:
    """The EEG and EMG channels of a Raw as the signal pipeline sees them.

    Same picks and units as :func:`rehab_core.signals.preprocess_raw`, so the
    viewer shows exactly the samples the preprocessing read.

    Parameters
    ----------
    raw : mne.io.BaseRaw
        A recording, e.g. from :func:`rehab_core.io.read_signals`.

    Returns
    -------
    data : ndarray, shape (n_chans, n_times), float64
        Signals in µV.
    sfreq : float
        Sampling rate in Hz.
    ch_names, ch_types : tuple of str
        One entry per row of ``data``.
    """
    import mne

    picks = mne.pick_types(raw.info, eeg=True, emg=True, exclude=[])
    if len(picks) == 0:
        raise ValueError("The recording has no EEG or EMG channel to show.")
    ch_types = tuple(raw.get_channel_types(picks=picks))
    data = raw.get_data(picks=picks, units={t: "uV" for t in set(ch_types)})
    ch_names = tuple(raw.ch_names[i] for i in picks)
    return data, float(raw.info["sfreq"]), ch_names, ch_types


# --- what the preprocessing kept and dropped ----------------------------------------------------


def _input_window(result: SignalResult) -> tuple[float, int]:
    sfreq_in = float(result.qc["input_sfreq"])
    return sfreq_in, window_n_times(result.settings.window_s, sfreq_in)


def rejected_intervals(result: SignalResult) -> list[dict[str, Any]]:
    """Every rejected 10-s window as a time interval with its reason.

    Parameters
    ----------
    result : SignalResult
        From :func:`rehab_core.signals.preprocess_signals`.

    Returns
    -------
    list of dict
        ``window`` (index among the candidate windows), ``start_s``,
        ``end_s`` (seconds from the first sample) and ``reason``, in time
        order; empty when no window was rejected.
    """
    sfreq_in, n_in = _input_window(result)
    reasons = result.qc.get("reasons", {})
    out = []
    for w in np.flatnonzero(np.asarray(result.rejected)):
        w = int(w)
        out.append(
            {
                "window": w,
                "start_s": w * n_in / sfreq_in,
                "end_s": (w + 1) * n_in / sfreq_in,
                "reason": str(reasons.get(str(w), "rejected")),
            }
        )
    return out


def unused_tail(result: SignalResult) -> tuple[float, float] | None:
    """The end of the recording shorter than a window, which no window covers.

    Returns ``(start_s, end_s)``, or ``None`` when the recording is a whole
    number of windows.
    """
    sfreq_in, n_in = _input_window(result)
    start = result.n_windows_total * n_in / sfreq_in
    end = float(result.qc["duration_s"])
    return (start, end) if end - start > 1e-9 else None


def kept_window_data(data: np.ndarray, result: SignalResult) -> np.ndarray:
    """The samples of the windows the model saw, end to end, at the input rate.

    Parameters
    ----------
    data : ndarray, shape (n_chans, n_times), float32 or float64
        The recording (raw or filtered) that ``result`` was computed from.
    result : SignalResult
        Its preprocessing result.

    Returns
    -------
    ndarray, shape (n_chans, n_kept_windows * n_times_window), same dtype as ``data``
        Rejected windows and the unused tail left out.
    """
    data = check_data(data)
    sfreq_in, n_in = _input_window(result)
    if data.shape[0] != len(result.ch_names) or data.shape[1] < result.n_windows_total * n_in:
        raise ValueError(
            f"The data ({data.shape[0]} channels, {data.shape[1] / sfreq_in:g} s) are not the "
            f"recording this result describes ({len(result.ch_names)} channels, "
            f"{result.qc['duration_s']:g} s)."
        )
    kept = np.flatnonzero(~np.asarray(result.rejected))
    windows = data[:, : result.n_windows_total * n_in].reshape(data.shape[0], -1, n_in)
    return windows[:, kept, :].reshape(data.shape[0], -1)


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
        From :func:`rejected_intervals`; only those inside the view are drawn.
    unused : (float, float) or None
        From :func:`unused_tail`.
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

    x_range = view if view is not None else (float(times.min()), float(times.max()))
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


class MotorCoherence(NamedTuple):
    """EEG-EMG coherence over the motor cortex (from :func:`motor_coherence`).

    ``freqs`` (n_freqs,) in Hz; ``coh`` (n_eeg, n_emg, n_freqs) in [0, 1];
    ``eeg_names``, ``emg_names``; ``n_segments`` (independent segments, for
    the confidence limit).
    """

    freqs: np.ndarray
    coh: np.ndarray
    eeg_names: tuple[str, ...]
    emg_names: tuple[str, ...]
    n_segments: int


def motor_coherence(
    data: np.ndarray,
    sfreq: float,
    ch_names: Sequence[str],
    ch_types: Sequence[str],
    *,
    band: tuple[float, float] = (2.0, 45.0),
    segment_s: float = 1.0,
    eeg_channels: Sequence[str] = MOTOR_EEG_CHANNELS,
) -> MotorCoherence:
    """Coherence of the motor-cortex EEG sites with every EMG channel.

    Picks the ``eeg_channels`` present (case-insensitive, in that order) and
    every EMG channel, then calls :func:`rehab_core.signals.coherence`
    (rectified EMG, Welch, 1-s Hann segments by default).

    Parameters
    ----------
    data : ndarray, shape (n_chans, n_times)
        Signals in µV, typically :func:`kept_window_data` of the filtered recording.
    sfreq : float
        Sampling rate in Hz.
    ch_names, ch_types : sequence of str
    band : (float, float)
        Frequencies to keep in Hz (wider than beta, so the beta band is seen in
        context); the upper edge is lowered to the Nyquist frequency if needed.
    segment_s : float
        Welch segment length in seconds.
    eeg_channels : sequence of str
        EEG sites to use.

    Returns
    -------
    MotorCoherence
    """
    data = check_data(data)
    sfreq = check_sfreq(sfreq)
    ch_names = check_ch_names(ch_names, data.shape[0])
    ch_types = check_ch_types(ch_types, data.shape[0])
    by_lower = {n.lower(): i for i, n in enumerate(ch_names) if ch_types[i] == "eeg"}
    eeg_idx = [by_lower[c.lower()] for c in eeg_channels if c.lower() in by_lower]
    emg_idx = [i for i, t in enumerate(ch_types) if t == "emg"]
    if not eeg_idx:
        raise ValueError(
            f"The recording has none of the motor-cortex EEG sites {', '.join(eeg_channels)}, "
            "so corticomuscular coherence cannot be shown."
        )
    if not emg_idx:
        raise ValueError("The recording has no EMG channel, so coherence cannot be shown.")
    band = (float(band[0]), min(float(band[1]), sfreq / 2.0))  # a slow recording ends lower
    freqs, coh = coherence(data[eeg_idx], data[emg_idx], sfreq, band=band, segment_s=segment_s)
    n_per_segment = max(2, int(round(segment_s * sfreq)))
    return MotorCoherence(
        freqs=freqs,
        coh=coh,
        eeg_names=tuple(ch_names[i] for i in eeg_idx),
        emg_names=tuple(ch_names[i] for i in emg_idx),
        n_segments=int(data.shape[1] // n_per_segment),
    )


def coherence_confidence_limit(n_segments: int, alpha: float = 0.05) -> float:
    """Coherence that independent signals exceed with probability ``alpha``.

    ``1 - alpha ** (1 / (L - 1))`` for ``L`` disjoint segments (Rosenberg et
    al. 1989); Welch's 50 % overlap adds segments that are not independent,
    so counting disjoint ones keeps the limit conservative.
    """
    if n_segments < 2:
        raise ValueError(
            f"A coherence confidence limit needs at least 2 segments, got {n_segments}."
        )
    if not 0 < alpha < 1:
        raise ValueError(f"alpha={alpha} must lie between 0 and 1.")
    return float(1.0 - alpha ** (1.0 / (n_segments - 1)))


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
        Independent segments behind the estimate (:class:`MotorCoherence`).
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
    band_mean = coh[:, :, in_band].mean(axis=2)
    map_domain = fig.layout.xaxis.domain
    fig.add_trace(
        go.Heatmap(
            z=band_mean.T,
            x=[label(n) for n in eeg_names],
            y=[label(n) for n in emg_names],
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
        ),
        row=1,
        col=1,
    )
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
            "value": ", ".join(qc["bad_channels"]) if qc["bad_channels"] else "none",
        },
        {"item": "unused tail", "value": f"{qc['dropped_tail_s']:.1f} s"},
        {"item": "model input rate", "value": f"{qc['output_sfreq']:g} Hz"},
    ]
    types = dict(zip(result.ch_names, result.ch_types, strict=True))
    actions = qc.get("bad_channel_actions", {})
    bad_rows = [
        {
            "channel": name,
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


def signal_spectra(
    filtered: np.ndarray,
    sfreq: float,
    result: SignalResult,
    ch_names: Sequence[str],
    ch_types: Sequence[str],
    *,
    fmax: float = 160.0,
) -> dict[str, Any]:
    """Welch spectra and motor-cortex coherence of the filtered windows the model kept.

    Returns ``freqs`` and ``psd`` (None when every window was rejected) and
    ``coherence``: a :class:`MotorCoherence` as a tuple, or the plain sentence
    saying why none can be computed (no motor-cortex site, no EMG).
    """
    from rehab_core.signals.spectra import power_spectra

    if result.n_windows == 0:
        return {"freqs": None, "psd": None, "coherence": None}
    kept = kept_window_data(filtered, result)
    freqs, psd = power_spectra(kept, sfreq, fmax=min(fmax, sfreq / 2))
    try:
        coh: Any = tuple(motor_coherence(kept, sfreq, ch_names, ch_types))
    except ValueError as err:
        coh = str(err)
    return {"freqs": freqs, "psd": psd, "coherence": coh}

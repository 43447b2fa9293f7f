"""Artifact handling: bad channels, window rejection and mains-noise QC.

Pure functions on ``(n_chans, n_times)`` or ``(n_windows, n_chans, n_times)``
float arrays in µV; ``ch_types`` entries are ``"eeg"`` or ``"emg"``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from rehab_core._validation import check_option, check_positive
from rehab_core.signals._checks import (
    check_ch_names,
    check_ch_types,
    check_data,
    check_sfreq,
    check_windows,
)
from rehab_core.signals.filters import bandpass_filter
from rehab_core.signals.settings import BAD_CHANNEL_POLICIES

__all__ = [
    "detect_bad_channels",
    "line_noise_ratio",
    "reject_windows",
    "repair_bad_channels",
    "robust_std",
]

#: Samples per channel used for robust statistics; longer data is strided.
_MAX_ROBUST_SAMPLES = 100_000
#: Floor of the robust spread of log features, so that channels within about
#: +-10 % of each other are never "outliers" when all channels are alike.
_MIN_LOG_SCALE = 0.1
_MAD_TO_STD = 1.4826


def robust_std(data: np.ndarray) -> np.ndarray:
    """Robust standard deviation of each channel: 1.4826 x median absolute deviation.

    Channels longer than 100,000 samples are strided down to about that many
    samples first (the estimate does not need more and this keeps it fast).

    Parameters
    ----------
    data : ndarray, shape (n_chans, n_times), float32 or float64
        Signals in any unit.

    Returns
    -------
    ndarray, shape (n_chans,), float64
        Robust standard deviation in the unit of ``data``.
    """
    data = check_data(data)
    step = max(1, data.shape[1] // _MAX_ROBUST_SAMPLES)
    x = data[:, ::step].astype(np.float64)
    median = np.median(x, axis=1, keepdims=True)
    return _MAD_TO_STD * np.median(np.abs(x - median), axis=1)


def _robust_z(values: np.ndarray) -> np.ndarray:
    median = np.median(values)
    scale = max(_MAD_TO_STD * float(np.median(np.abs(values - median))), _MIN_LOG_SCALE)
    return (values - median) / scale


def detect_bad_channels(
    data: np.ndarray,
    sfreq: float,
    ch_types: Sequence[str],
    *,
    flat_std_uv: float = 0.5,
    noisy_z: float = 5.0,
    hf_split: float = 50.0,
) -> dict[int, str]:
    """Find flat and noisy channels, each judged against the channels of its own type.

    * flat: robust standard deviation below ``flat_std_uv``;
    * noisy (amplitude): robust z-score of the log robust standard deviation
      above ``noisy_z`` among the non-flat channels of the same type;
    * noisy (high frequency): robust z-score of the log ratio of the robust
      standard deviation above ``hf_split`` Hz to that below it (muscle,
      electrode or amplifier noise; the PREP pipeline's "noisiness") above
      ``noisy_z``.

    The noisy tests need at least three non-flat channels of a type and
    are skipped for types with fewer; the high-frequency test is skipped
    when ``hf_split`` is not below Nyquist. Robust z-scores use
    ``(x - median) / max(1.4826 MAD, 0.1)`` on log values.

    Parameters
    ----------
    data : ndarray, shape (n_chans, n_times), float32 or float64
        Band-passed (and notched) signals in µV.
    sfreq : float
        Sampling rate in Hz.
    ch_types : sequence of {"eeg", "emg"}, length n_chans
        Type of each channel.
    flat_std_uv : float
        Flat threshold in µV.
    noisy_z : float
        Robust z-score above which a channel is noisy.
    hf_split : float
        Frequency in Hz that separates "signal" from "high-frequency noise".

    Returns
    -------
    dict of int to str
        Index of each bad channel and a one-line reason, in channel order.
    """
    data = check_data(data)
    sfreq = check_sfreq(sfreq)
    ch_types = check_ch_types(ch_types, data.shape[0])
    check_positive("flat_std_uv", flat_std_uv, strict=False)
    check_positive("noisy_z", noisy_z)
    check_positive("hf_split", hf_split)

    std = robust_std(data)
    bad: dict[int, str] = {}
    for idx in np.flatnonzero(std < flat_std_uv):
        bad[int(idx)] = (
            f"flat: almost no signal (typical amplitude {std[idx]:.2g} µV, "
            f"below {flat_std_uv:g} µV)"
        )

    hf_ratio = None
    if hf_split < sfreq / 2.0:
        low = bandpass_filter(data, sfreq, None, hf_split)
        low_std = robust_std(low)
        high_std = robust_std(data - low)
        with np.errstate(divide="ignore", invalid="ignore"):
            hf_ratio = high_std / low_std

    for ch_type in sorted(set(ch_types)):
        idx = np.array(
            [i for i, t in enumerate(ch_types) if t == ch_type and i not in bad], dtype=int
        )
        if idx.size < 3:
            continue
        z_amp = _robust_z(np.log(np.maximum(std[idx], 1e-12)))
        median_std = float(np.median(std[idx]))
        for i, z in zip(idx, z_amp, strict=True):
            if z > noisy_z:
                bad[int(i)] = (
                    f"noisy: amplitude far above the other {ch_type.upper()} channels "
                    f"(typical {std[i]:.3g} µV against their median {median_std:.3g} µV; "
                    f"z={z:.1f} > {noisy_z:g} among {idx.size})"
                )
        if hf_ratio is None:
            continue
        usable = np.isfinite(hf_ratio[idx]) & (hf_ratio[idx] > 0)
        if np.count_nonzero(usable) < 3:
            continue
        z_hf = _robust_z(np.log(hf_ratio[idx][usable]))
        for i, z in zip(idx[usable], z_hf, strict=True):
            if z > noisy_z and int(i) not in bad:
                bad[int(i)] = (
                    f"noisy: high-frequency (> {hf_split:g} Hz) ratio z={z:.1f} > {noisy_z:g} "
                    f"among {idx.size} {ch_type.upper()} channels (ratio {hf_ratio[i]:.3g})"
                )
    return {i: bad[i] for i in sorted(bad)}


def repair_bad_channels(
    data: np.ndarray,
    ch_types: Sequence[str],
    bad: Iterable[int],
    policy: str = "zero",
) -> tuple[np.ndarray, dict[int, str]]:
    """Replace bad channels so that the array keeps its shape.

    Parameters
    ----------
    data : ndarray, shape (n_chans, n_times), float32 or float64
        Signals in µV.
    ch_types : sequence of {"eeg", "emg"}, length n_chans
        Type of each channel.
    bad : iterable of int
        Indices of the bad channels.
    policy : {"zero", "mean", "keep"}
        ``"zero"`` sets them to 0; ``"mean"`` sets each to the mean of the good
        channels of its type (or to 0 when its type has no good channel left,
        which the returned action says); ``"keep"`` leaves them unchanged.

    Returns
    -------
    repaired : ndarray, shape (n_chans, n_times), float64
        A new array in µV.
    actions : dict of int to str
        What was done to each bad channel.
    """
    data = check_data(data)
    ch_types = check_ch_types(ch_types, data.shape[0])
    check_option("policy", policy, BAD_CHANNEL_POLICIES)
    bad = sorted({int(i) for i in bad})
    for i in bad:
        if not 0 <= i < data.shape[0]:
            raise ValueError(f"bad channel index {i} is out of range for {data.shape[0]} channels.")
    out = data.astype(np.float64, copy=True)
    actions: dict[int, str] = {}
    for i in bad:
        if policy == "keep":
            actions[i] = "kept unchanged (flagged only)"
            continue
        good = [j for j, t in enumerate(ch_types) if t == ch_types[i] and j not in bad]
        if policy == "mean" and good:
            out[i] = data[good].mean(axis=0)
            actions[i] = f"replaced by the mean of {len(good)} good {ch_types[i].upper()} channels"
        else:
            out[i] = 0.0
            actions[i] = (
                "set to zero"
                if policy == "zero"
                else f"set to zero (no good {ch_types[i].upper()} channel left to average)"
            )
    return out, actions


def reject_windows(
    windows: np.ndarray,
    ch_types: Sequence[str],
    *,
    eeg_ptp_uv: float = 200.0,
    emg_ptp_uv: float = 5000.0,
    flat_ptp_uv: float = 1.0,
    flat_windows: np.ndarray | None = None,
    exclude: Iterable[int] = (),
    ch_names: Sequence[str] | None = None,
) -> tuple[np.ndarray, dict[int, str]]:
    """Mark windows with an out-of-range or flat peak-to-peak amplitude.

    A window is rejected when, on any channel not in ``exclude``, its
    peak-to-peak amplitude in ``windows`` exceeds the limit for the channel's
    type, or its peak-to-peak amplitude in ``flat_windows`` is below
    ``flat_ptp_uv``.

    Parameters
    ----------
    windows : ndarray, shape (n_windows, n_chans, n_times), float32 or float64
        Filtered (not z-scored) windows in µV.
    ch_types : sequence of {"eeg", "emg"}, length n_chans
        Type of each channel.
    eeg_ptp_uv, emg_ptp_uv : float
        Peak-to-peak limits in µV for EEG and EMG channels.
    flat_ptp_uv : float
        Peak-to-peak amplitude in µV under which a channel counts as flat.
    flat_windows : ndarray, shape (n_windows, n_chans, n_times), or None
        Windows on which flatness is judged; ``None`` (default) for
        ``windows``. The pipeline passes the unfiltered windows here: there a
        flat-lined channel is exactly flat, whereas filter ringing from the
        neighbouring windows leaks a few µV into its filtered edges.
    exclude : iterable of int
        Channels to ignore (for example the bad channels).
    ch_names : sequence of str or None
        Names used in the reasons; ``CH1``, ``CH2`` ... when ``None``.

    Returns
    -------
    rejected : ndarray, shape (n_windows,), bool
        True for each rejected window.
    reasons : dict of int to str
        One line per rejected window, naming the worst channel.
    """
    windows = check_windows(windows)
    n_chans = windows.shape[1]
    ch_types = check_ch_types(ch_types, n_chans)
    ch_names = check_ch_names(ch_names, n_chans)
    check_positive("eeg_ptp_uv", eeg_ptp_uv)
    check_positive("emg_ptp_uv", emg_ptp_uv)
    check_positive("flat_ptp_uv", flat_ptp_uv, strict=False)
    used = np.ones(n_chans, dtype=bool)
    for i in exclude:
        if not 0 <= int(i) < n_chans:
            raise ValueError(f"exclude index {i} is out of range for {n_chans} channels.")
        used[int(i)] = False
    limits = np.array([eeg_ptp_uv if t == "eeg" else emg_ptp_uv for t in ch_types])

    ptp = np.ptp(windows, axis=-1).astype(np.float64)  # (n_windows, n_chans)
    if flat_windows is None:
        flat_ptp = ptp
    else:
        flat_windows = check_windows(flat_windows, "flat_windows")
        if flat_windows.shape != windows.shape:
            raise ValueError(
                f"flat_windows has shape {flat_windows.shape} but windows has {windows.shape}."
            )
        flat_ptp = np.ptp(flat_windows, axis=-1).astype(np.float64)
    too_big = (ptp > limits) & used
    too_flat = (flat_ptp < flat_ptp_uv) & used
    rejected = too_big.any(axis=1) | too_flat.any(axis=1)
    reasons: dict[int, str] = {}
    for w in np.flatnonzero(rejected):
        if too_big[w].any():
            excess = np.where(too_big[w], ptp[w] / limits, -np.inf)
            c = int(np.argmax(excess))
            n_more = int(too_big[w].sum()) - 1
            reason = (
                f"peak-to-peak {ptp[w, c]:.0f} µV on {ch_names[c]} ({ch_types[c].upper()}) "
                f"exceeds {limits[c]:g} µV"
            )
        else:
            c = int(np.flatnonzero(too_flat[w])[0])
            n_more = int(too_flat[w].sum()) - 1
            reason = (
                f"flat: peak-to-peak {flat_ptp[w, c]:.3g} µV on {ch_names[c]} "
                f"({ch_types[c].upper()}) below {flat_ptp_uv:g} µV"
            )
        if n_more:
            reason += f" (and {n_more} more channel{'s' if n_more > 1 else ''})"
        reasons[int(w)] = reason
    return rejected, reasons


def line_noise_ratio(data: np.ndarray, sfreq: float, line_freq: float = 50.0) -> np.ndarray:
    """Mains-noise ratio of each channel: PSD at the mains frequency / PSD beside it.

    The power spectral density is estimated with Welch's method (2-s Hann
    segments without overlap, 0.5 Hz resolution). The ratio is the largest PSD within
    ``line_freq ± 1`` Hz divided by the median PSD over ``line_freq ± 2..6``
    Hz. About 1 means no visible mains noise; 10 means 10 dB above the
    neighbouring background. Compute it before the notch filter.

    Parameters
    ----------
    data : ndarray, shape (n_chans, n_times), float32 or float64
        Signals in µV.
    sfreq : float
        Sampling rate in Hz; ``line_freq + 6`` must lie below Nyquist.
    line_freq : float
        Mains frequency in Hz.

    Returns
    -------
    ndarray, shape (n_chans,), float64
        Dimensionless ratio; NaN for a channel with no power beside the mains
        frequency (a flat channel).
    """
    from scipy import signal

    data = check_data(data)
    sfreq = check_sfreq(sfreq)
    check_positive("line_freq", line_freq)
    if line_freq + 6.0 >= sfreq / 2.0:
        raise ValueError(
            f"line_freq={line_freq} Hz is too close to the Nyquist frequency {sfreq / 2.0} Hz "
            f"of {sfreq=} Hz to measure mains noise."
        )
    nperseg = min(data.shape[1], int(round(2.0 * sfreq)))
    freqs, psd = signal.welch(data, fs=sfreq, nperseg=nperseg, noverlap=0, axis=-1)
    distance = np.abs(freqs - line_freq)
    peak_bins = distance <= 1.0
    side_bins = (distance >= 2.0) & (distance <= 6.0)
    if not peak_bins.any() or not side_bins.any():
        raise ValueError(
            f"data has n_times={data.shape[1]}, too short to resolve {line_freq} Hz; "
            "give at least 1 s."
        )
    peak = psd[:, peak_bins].max(axis=1)
    background = np.median(psd[:, side_bins], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(background > 0, peak / background, np.nan)
    return ratio

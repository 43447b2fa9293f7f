"""The EEG-EMG preprocessing pipeline of Shi et al. 2025 (Methods 2.5) as one call."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from rehab_core.signals._checks import check_ch_names, check_ch_types, check_data, check_sfreq
from rehab_core.signals.artifacts import (
    detect_bad_channels,
    line_noise_ratio,
    reject_windows,
    repair_bad_channels,
)
from rehab_core.signals.envelopes import envelope_features, envelope_n_frames
from rehab_core.signals.filters import effective_band, filter_signals, line_harmonics, resample
from rehab_core.signals.settings import SignalSettings
from rehab_core.signals.windows import make_windows, window_n_times, zscore_windows

if TYPE_CHECKING:
    import mne

__all__ = ["SignalResult", "preprocess_raw", "preprocess_signals", "recording_arrays"]

#: The steps of :func:`preprocess_signals`, in order (saved in the QC record).
PIPELINE_STEPS = (
    "line_noise_ratio (before any filter)",
    "band-pass (zero-phase Butterworth)",
    "mains notch at all harmonics below Nyquist",
    "bad-channel detection (flat / noisy, per type)",
    "window rejection (peak-to-peak, flat) on good channels",
    "bad-channel repair (policy)",
    "anti-aliased resampling",
    "non-overlapping windows, remainder dropped",
    "per-window, per-channel z-score",
)

#: The extra step of ``representation="envelope"``.
ENVELOPE_STEP = "per-frame log envelopes (EEG beta power re window mean, EMG linear envelope)"


def _window_view(data: np.ndarray, n_windows: int, n_times: int) -> np.ndarray:
    """Read-only (n_windows, n_chans, n_times) view of the first windows of ``data``."""
    view = data[:, : n_windows * n_times].reshape(data.shape[0], n_windows, n_times)
    view = view.transpose(1, 0, 2)
    view.flags.writeable = False
    return view


def _readonly(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


@dataclass(frozen=True)
class SignalResult:
    """What :func:`preprocess_signals` returns (arrays are read-only).

    Attributes
    ----------
    windows : ndarray, shape (n_windows, n_chans, n_times_window), float32
        The kept windows, each channel z-scored within the window.
    window_starts_s : ndarray, shape (n_windows,), float64
        Start of each kept window in seconds from the first sample.
    rejected : ndarray, shape (n_windows_total,), bool
        For every candidate window, whether it was rejected.
    n_windows_total : int
        Number of candidate windows (whole windows in the recording).
    sfreq : float
        Sampling rate of ``windows`` in Hz.
    ch_names, ch_types : tuple of str
        One entry per channel, in the order of ``windows``.
    qc : dict
        JSON-ready quality record: ``bad_channels`` (name -> reason),
        ``bad_channel_actions`` (name -> what was done), ``line_noise_ratio``
        (name -> ratio before the notch, None for a flat channel),
        ``n_rejected``, ``reasons`` (window index -> reason), ``band_hz``
        (the band actually used), ``h_freq_clamped``, ``notch_freqs_hz``,
        ``input_sfreq``, ``output_sfreq``, ``duration_s``,
        ``dropped_tail_s``, ``n_usable_windows`` and ``steps``.
    settings : SignalSettings
        The settings that produced this result.
    """

    windows: np.ndarray
    window_starts_s: np.ndarray
    rejected: np.ndarray
    n_windows_total: int
    sfreq: float
    ch_names: tuple[str, ...]
    ch_types: tuple[str, ...]
    qc: dict[str, Any]
    settings: SignalSettings

    @property
    def n_windows(self) -> int:
        """Number of kept windows."""
        return int(self.windows.shape[0])

    @property
    def n_times_window(self) -> int:
        """Samples per window at :attr:`sfreq`."""
        return int(self.windows.shape[2])

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready summary (no window data) to store beside a prediction."""
        return {
            "n_windows": self.n_windows,
            "n_windows_total": int(self.n_windows_total),
            "n_chans": len(self.ch_names),
            "n_times_window": self.n_times_window,
            "sfreq": float(self.sfreq),
            "ch_names": list(self.ch_names),
            "ch_types": list(self.ch_types),
            "window_starts_s": [float(s) for s in self.window_starts_s],
            "rejected": [bool(r) for r in self.rejected],
            "qc": self.qc,
            "settings": self.settings.to_dict(),
        }


def preprocess_signals(
    data: np.ndarray,
    sfreq: float,
    ch_types: Sequence[str],
    settings: SignalSettings | None = None,
    ch_names: Sequence[str] | None = None,
) -> SignalResult:
    """Filter, clean, window and normalise one synchronised EEG-EMG recording.

    Steps (all on a float64 copy; ``data`` is never modified):

    1. mains-noise ratio per channel on the raw data (:func:`line_noise_ratio`);
    2. zero-phase band-pass ``settings.l_freq``-``settings.h_freq`` Hz, the
       high edge clamped below Nyquist for slow recordings, then mains notches
       (:func:`filter_signals`);
    3. flat and noisy channels per type (:func:`detect_bad_channels`);
    4. candidate windows of ``settings.window_s`` at the input rate; those
       with an out-of-range peak-to-peak amplitude on a good filtered
       channel, or a flat (unfiltered) good channel, are rejected
       (:func:`reject_windows`); rejection is judged before resampling, so a
       short spike is not smoothed below the limit;
    5. bad channels repaired by ``settings.bad_channel_policy``
       (:func:`repair_bad_channels`), keeping ``n_chans`` fixed;
    6. anti-aliased resampling of the continuous data to
       ``settings.resample_sfreq`` (:func:`resample`);
    7. the same windows cut at the output rate, rejected ones dropped, each
       channel of each window z-scored (:func:`zscore_windows`), float32;
    8. with ``settings.representation == "envelope"`` only: per-frame log
       envelopes of each window (:func:`envelope_features`); ``sfreq`` of the
       result is then the frame rate.

    Parameters
    ----------
    data : ndarray, shape (n_chans, n_times), float32 or float64
        Synchronised EEG and EMG in µV (not volts).
    sfreq : float
        Sampling rate in Hz (1000 in the paper).
    ch_types : sequence of {"eeg", "emg"}, length n_chans
        Type of each channel.
    settings : SignalSettings or None
        Processing settings; ``None`` means ``SignalSettings()``.
    ch_names : sequence of str or None
        Channel names; ``CH1``, ``CH2`` ... when ``None``.

    Returns
    -------
    SignalResult
        Windows of shape ``(n_windows, n_chans, window_s * output sfreq)``
        plus the QC record. When every window is rejected, ``windows`` has
        ``n_windows == 0`` and ``qc["n_usable_windows"] == 0``.
    """
    settings = SignalSettings() if settings is None else settings
    if not isinstance(settings, SignalSettings):
        raise TypeError(f"settings must be a SignalSettings, got {type(settings).__name__}.")
    data = check_data(data)
    sfreq = check_sfreq(sfreq)
    n_chans, n_times = data.shape
    ch_types = check_ch_types(ch_types, n_chans)
    ch_names = check_ch_names(ch_names, n_chans)
    n_times_in, out_sfreq = _window_lengths(n_times, sfreq, settings)

    noise = _line_noise(data, sfreq, settings, ch_names)
    band = effective_band(sfreq, settings)
    filtered = filter_signals(data, sfreq, settings)

    bad = detect_bad_channels(
        filtered, sfreq, ch_types, flat_std_uv=settings.flat_std_uv, noisy_z=settings.noisy_z
    )
    n_windows_total = n_times // n_times_in
    rejected, reasons = reject_windows(
        _window_view(filtered, n_windows_total, n_times_in),
        ch_types,
        eeg_ptp_uv=settings.eeg_reject_ptp_uv,
        emg_ptp_uv=settings.emg_reject_ptp_uv,
        flat_ptp_uv=settings.flat_ptp_uv,
        flat_windows=_window_view(data, n_windows_total, n_times_in),
        exclude=bad,
        ch_names=ch_names,
    )
    repaired, actions = repair_bad_channels(filtered, ch_types, bad, settings.bad_channel_policy)
    del filtered
    resampled = resample(repaired, sfreq, out_sfreq)
    del repaired
    windows, starts_s = make_windows(
        resampled, out_sfreq, settings.window_s, n_windows=n_windows_total
    )
    kept = ~rejected
    windows = zscore_windows(windows[kept], min_std=settings.zscore_min_std_uv)
    windows, window_sfreq, steps = _represent(windows, out_sfreq, ch_types, settings)

    qc: dict[str, Any] = {
        "bad_channels": {ch_names[i]: reason for i, reason in bad.items()},
        "bad_channel_actions": {ch_names[i]: action for i, action in actions.items()},
        "line_noise_ratio": noise,
        "n_windows_total": int(n_windows_total),
        "n_rejected": int(rejected.sum()),
        "n_usable_windows": int(kept.sum()),
        "reasons": {str(w): reason for w, reason in reasons.items()},
        "band_hz": [band[0], band[1]],
        "h_freq_clamped": bool(band[1] < settings.h_freq),
        "notch_freqs_hz": _notch_freqs(sfreq, settings),
        "input_sfreq": sfreq,
        "output_sfreq": out_sfreq,
        "n_times_window": int(windows.shape[2]),
        "representation": settings.representation,
        "duration_s": n_times / sfreq,
        "dropped_tail_s": (n_times - n_windows_total * n_times_in) / sfreq,
        "steps": steps,
    }
    return SignalResult(
        windows=_readonly(windows),
        window_starts_s=_readonly(starts_s[kept]),
        rejected=_readonly(rejected),
        n_windows_total=int(n_windows_total),
        sfreq=window_sfreq,
        ch_names=ch_names,
        ch_types=ch_types,
        qc=qc,
        settings=settings,
    )


def _window_lengths(n_times: int, sfreq: float, settings: SignalSettings) -> tuple[int, float]:
    """Samples per window at the input rate, and the output rate.

    Refuses a recording shorter than one window, or an envelope frame the
    output rate cannot hold, before any heavy work.
    """
    n_times_in = window_n_times(settings.window_s, sfreq)
    out_sfreq = sfreq if settings.resample_sfreq is None else float(settings.resample_sfreq)
    n_times_out = window_n_times(settings.window_s, out_sfreq)
    if settings.representation == "envelope":
        envelope_n_frames(n_times_out, out_sfreq, settings.envelope_frame_s)
    if n_times < n_times_in:
        raise ValueError(
            f"the recording lasts {n_times / sfreq:g} s ({n_times} samples at {sfreq:g} Hz), "
            f"shorter than one {settings.window_s:g}-s window; give a longer recording."
        )
    return n_times_in, out_sfreq


def _line_noise(
    data: np.ndarray, sfreq: float, settings: SignalSettings, ch_names: Sequence[str]
) -> dict[str, float | None]:
    """Mains-noise ratio per channel on the raw data; None where mains is near Nyquist."""
    if settings.line_freq + 6.0 >= sfreq / 2.0:
        return {n: None for n in ch_names}
    ratios = line_noise_ratio(data, sfreq, settings.line_freq)
    return {n: (None if math.isnan(r) else float(r)) for n, r in zip(ch_names, ratios, strict=True)}


def _notch_freqs(sfreq: float, settings: SignalSettings) -> list[float]:
    """The mains harmonics the notch filters took out (Hz); none without a notch."""
    if not settings.notch:
        return []
    return [float(f) for f in line_harmonics(settings.line_freq, sfreq, settings.notch_width)]


def _represent(
    windows: np.ndarray, sfreq: float, ch_types: Sequence[str], settings: SignalSettings
) -> tuple[np.ndarray, float, list[str]]:
    """The model's input: the z-scored windows, or their per-frame log envelopes.

    Returns the windows, their rate (the frame rate for envelopes) and the
    pipeline's steps.
    """
    if settings.representation != "envelope":
        return windows, sfreq, list(PIPELINE_STEPS)
    envelopes = envelope_features(
        windows,
        sfreq,
        ch_types,
        frame_s=settings.envelope_frame_s,
        eeg_band=settings.envelope_eeg_band,
    )
    return envelopes, 1.0 / settings.envelope_frame_s, [*PIPELINE_STEPS, ENVELOPE_STEP]


def preprocess_raw(raw: mne.io.BaseRaw, settings: SignalSettings | None = None) -> SignalResult:
    """Run :func:`preprocess_signals` on the EEG and EMG channels of an MNE Raw.

    Channels of other types (stimulus, EOG, misc ...) are left out; channels
    listed in ``raw.info["bads"]`` are kept (so ``n_chans`` stays fixed) and
    judged by the pipeline's own bad-channel detection. The data are read in
    volts (MNE's convention) and converted to µV.

    Parameters
    ----------
    raw : mne.io.BaseRaw
        A recording with preloaded or loadable data.
    settings : SignalSettings or None
        Processing settings; ``None`` means ``SignalSettings()``.

    Returns
    -------
    SignalResult
    """
    import mne

    if not isinstance(raw, mne.io.BaseRaw):
        raise TypeError(f"raw must be an mne.io.BaseRaw, got {type(raw).__name__}.")
    data, sfreq, ch_names, ch_types = recording_arrays(raw)
    return preprocess_signals(data, sfreq, list(ch_types), settings, list(ch_names))


def recording_arrays(
    raw: mne.io.BaseRaw,
) -> tuple[np.ndarray, float, tuple[str, ...], tuple[str, ...]]:
    """The EEG and EMG channels of a Raw as the signal pipeline sees them.

    The picks and units of :func:`preprocess_raw` (which calls it), so a
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
        raise ValueError(
            f"the recording has no EEG or EMG channel (types: "
            f"{sorted(set(raw.get_channel_types()))}); set the channel types first."
        )
    ch_types = tuple(raw.get_channel_types(picks=picks))
    # a str unit is refused by MNE for mixed channel types, so name each type
    data = raw.get_data(picks=picks, units={t: "uV" for t in set(ch_types)})
    ch_names = tuple(raw.ch_names[i] for i in picks)
    return data, float(raw.info["sfreq"]), ch_names, ch_types

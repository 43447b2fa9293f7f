"""Spectral summaries: Welch power spectra and EEG-EMG (corticomuscular) coherence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from rehab_core._validation import check_positive
from rehab_core.signals._checks import check_ch_names, check_ch_types, check_data, check_sfreq
from rehab_core.signals.windows import kept_window_data

if TYPE_CHECKING:
    from rehab_core.signals.pipeline import SignalResult

__all__ = [
    "BETA_BAND_HZ",
    "MOTOR_EEG_CHANNELS",
    "CoherenceUnavailable",
    "MotorCoherence",
    "SignalSpectra",
    "coherence",
    "coherence_confidence_limit",
    "motor_coherence",
    "power_spectra",
    "signal_spectra",
]

#: Corticomuscular coherence with the leg muscles is usually reported in the beta band.
BETA_BAND_HZ = (13.0, 30.0)

#: EEG sites over the leg and foot area of the motor cortex (the vertex, where the lower
#: limb is represented) and the hand knobs C3/C4 next to it, in display order; only those
#: present in a recording are used (the paper's 16 sites have no Cz).
MOTOR_EEG_CHANNELS = ("Cz", "C1", "C2", "CPz", "CP1", "CP2", "FCz", "FC1", "FC2", "C3", "C4")


def _segment(sfreq: float, n_times: int, segment_s: float) -> int:
    check_positive("segment_s", segment_s)
    return max(2, min(n_times, int(round(segment_s * sfreq))))


def power_spectra(
    data: np.ndarray,
    sfreq: float,
    *,
    segment_s: float = 2.0,
    fmax: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Power spectral density of each channel (Welch, Hann window, 50 % overlap).

    Parameters
    ----------
    data : ndarray, shape (n_chans, n_times), float32 or float64
        Signals in µV.
    sfreq : float
        Sampling rate in Hz.
    segment_s : float
        Welch segment length in seconds; the resolution is ``1 / segment_s`` Hz.
    fmax : float or None
        Highest frequency to return in Hz; ``None`` for up to Nyquist.

    Returns
    -------
    freqs : ndarray, shape (n_freqs,), float64
        Frequencies in Hz.
    psd : ndarray, shape (n_chans, n_freqs), float64
        Power spectral density in µV²/Hz.
    """
    from scipy import signal

    data = check_data(data)
    sfreq = check_sfreq(sfreq)
    nperseg = _segment(sfreq, data.shape[1], segment_s)
    freqs, psd = signal.welch(data.astype(np.float64), fs=sfreq, nperseg=nperseg, axis=-1)
    if fmax is not None:
        check_positive("fmax", fmax)
        keep = freqs <= fmax
        freqs, psd = freqs[keep], psd[:, keep]
    return freqs, psd


def coherence(
    eeg: np.ndarray,
    emg: np.ndarray,
    sfreq: float,
    band: tuple[float, float] = (13.0, 30.0),
    *,
    segment_s: float = 1.0,
    rectify_emg: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Magnitude-squared coherence between every EEG and every EMG channel.

    Corticomuscular coherence, the same estimate as ``scipy.signal.coherence``
    (Welch's method, Hann segments with 50 % overlap) but computed per channel
    rather than per channel pair, restricted to ``band``; the default is the beta band
    where corticomuscular coupling during sustained contraction is usually
    reported. EMG is full-wave rectified first by default, the common
    practice that exposes the motor-unit firing envelope.

    Parameters
    ----------
    eeg : ndarray, shape (n_eeg, n_times) or (n_times,), float32 or float64
        EEG in µV.
    emg : ndarray, shape (n_emg, n_times) or (n_times,), float32 or float64
        EMG in µV, recorded synchronously with ``eeg``.
    sfreq : float
        Sampling rate of both in Hz.
    band : tuple of float
        ``(low, high)`` in Hz, ``high`` at most Nyquist.
    segment_s : float
        Welch segment length in seconds (resolution ``1 / segment_s`` Hz).
    rectify_emg : bool
        Take ``abs(emg - mean(emg))`` before the coherence.

    Returns
    -------
    freqs : ndarray, shape (n_freqs,), float64
        Frequencies in Hz within ``band``.
    coh : ndarray, shape (n_eeg, n_emg, n_freqs), float64
        Magnitude-squared coherence in [0, 1]; average over the last axis for a
        single number per pair.
    """
    eeg = check_data(_as_channels(eeg), "eeg")
    emg = check_data(_as_channels(emg), "emg")
    sfreq = check_sfreq(sfreq)
    if eeg.shape[1] != emg.shape[1]:
        raise ValueError(
            f"eeg has n_times={eeg.shape[1]} but emg has n_times={emg.shape[1]}; "
            "they must be the same synchronised recording."
        )
    low, high = (float(b) for b in band)
    check_positive("band[0]", low, strict=False)
    if not low < high <= sfreq / 2.0:
        raise ValueError(
            f"band={band} must satisfy low < high <= {sfreq / 2.0} Hz (Nyquist of {sfreq:g} Hz)."
        )
    y = emg.astype(np.float64)
    if rectify_emg:
        y = np.abs(y - y.mean(axis=1, keepdims=True))
    nperseg = _segment(sfreq, eeg.shape[1], segment_s)
    freqs = np.fft.rfftfreq(nperseg, d=1.0 / sfreq)
    keep = (freqs >= low) & (freqs <= high)
    if not keep.any():
        raise ValueError(
            f"band={band} contains no frequency bin at a {sfreq / nperseg:g} Hz resolution; "
            "widen the band or lengthen segment_s."
        )
    fx = _segment_spectra(eeg, nperseg, keep)
    fy = _segment_spectra(y, nperseg, keep)
    n_segments = fx.shape[1]
    pxy = np.einsum("isf,jsf->ijf", fx, np.conj(fy)) / n_segments
    pxx = np.mean(np.abs(fx) ** 2, axis=1)  # (n_eeg, n_freqs)
    pyy = np.mean(np.abs(fy) ** 2, axis=1)  # (n_emg, n_freqs)
    denominator = pxx[:, np.newaxis, :] * pyy[np.newaxis, :, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        coh = np.where(denominator > 0, np.abs(pxy) ** 2 / denominator, 0.0)
    return freqs[keep], coh


def _as_channels(x: object) -> object:
    """A 1-D array as one channel, (1, n_times); anything else unchanged (checked later)."""
    return x[np.newaxis] if isinstance(x, np.ndarray) and x.ndim == 1 else x


def _segment_spectra(x: np.ndarray, nperseg: int, keep: np.ndarray) -> np.ndarray:
    """Hann-windowed, mean-removed FFTs of half-overlapping segments, only bins in ``keep``.

    Equivalent to the segments ``scipy.signal.coherence`` averages (its
    defaults: Hann window, ``noverlap = nperseg // 2``, constant detrend),
    computed per channel rather than per channel pair and in chunks, so a
    16 x 6 coherence of a 9-min 1000 Hz recording needs a few MB, not GB.
    Returns shape (n_chans, n_segments, keep.sum()), complex128.
    """
    from scipy import signal

    step = nperseg - nperseg // 2
    segments = np.lib.stride_tricks.sliding_window_view(x, nperseg, axis=-1)[:, ::step, :]
    window = signal.get_window("hann", nperseg)
    out = np.empty((x.shape[0], segments.shape[1], int(keep.sum())), dtype=np.complex128)
    chunk = 256
    for start in range(0, segments.shape[1], chunk):
        seg = segments[:, start : start + chunk, :]
        seg = (seg - seg.mean(axis=-1, keepdims=True)) * window
        out[:, start : start + chunk, :] = np.fft.rfft(seg, axis=-1)[..., keep]
    return out


class CoherenceUnavailable(ValueError):
    """The recording lacks what corticomuscular coherence needs (a motor-cortex site, an EMG)."""


@dataclass(frozen=True)
class MotorCoherence:
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

    Raises
    ------
    CoherenceUnavailable
        The recording has none of ``eeg_channels`` or no EMG channel (one
        sentence saying which).
    """
    data = check_data(data)
    sfreq = check_sfreq(sfreq)
    ch_names = check_ch_names(ch_names, data.shape[0])
    ch_types = check_ch_types(ch_types, data.shape[0])
    by_lower = {n.lower(): i for i, n in enumerate(ch_names) if ch_types[i] == "eeg"}
    eeg_idx = [by_lower[c.lower()] for c in eeg_channels if c.lower() in by_lower]
    emg_idx = [i for i, t in enumerate(ch_types) if t == "emg"]
    if not eeg_idx:
        raise CoherenceUnavailable(
            f"The recording has none of the motor-cortex EEG sites {', '.join(eeg_channels)}, "
            "so corticomuscular coherence cannot be shown."
        )
    if not emg_idx:
        raise CoherenceUnavailable(
            "The recording has no EMG channel, so coherence cannot be shown."
        )
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


@dataclass(frozen=True)
class SignalSpectra:
    """What :func:`signal_spectra` computes from the windows the model kept.

    ``freqs`` (n_freqs,) in Hz and ``psd`` (n_chans, n_freqs) in µV²/Hz are
    ``None`` when every window was rejected; ``coherence`` is ``None`` then
    too, or when the recording lacks a motor-cortex site or an EMG, and
    ``coherence_missing`` says why in one sentence (``None`` when there is a
    coherence).
    """

    freqs: np.ndarray | None
    psd: np.ndarray | None
    coherence: MotorCoherence | None
    coherence_missing: str | None = None


def signal_spectra(
    filtered: np.ndarray,
    sfreq: float,
    result: SignalResult,
    ch_names: Sequence[str],
    ch_types: Sequence[str],
    *,
    fmax: float = 160.0,
) -> SignalSpectra:
    """Welch spectra and motor-cortex coherence of the filtered windows the model kept.

    Parameters
    ----------
    filtered : ndarray, shape (n_chans, n_times)
        The band-passed recording (µV) that ``result`` was computed from.
    sfreq : float
        Its sampling rate in Hz.
    result : SignalResult
        Its preprocessing result (which windows were kept).
    ch_names, ch_types : sequence of str
    fmax : float
        Highest frequency of the spectra in Hz (at most Nyquist).

    Returns
    -------
    SignalSpectra
        Spectra of the kept windows (``None`` when every window was
        rejected) and their coherence, or the sentence saying why there is
        none (:class:`CoherenceUnavailable`).
    """
    if result.n_windows == 0:
        return SignalSpectra(None, None, None, "Every window was rejected.")
    kept = kept_window_data(filtered, result)
    freqs, psd = power_spectra(kept, sfreq, fmax=min(fmax, sfreq / 2))
    try:
        coh = motor_coherence(kept, sfreq, ch_names, ch_types)
    except CoherenceUnavailable as err:
        return SignalSpectra(freqs, psd, None, str(err))
    return SignalSpectra(freqs, psd, coh)

"""Spectral summaries for the dashboard: Welch power spectra and EEG-EMG coherence."""

from __future__ import annotations

import numpy as np

from rehab_core._validation import check_positive
from rehab_core.signals._checks import check_data, check_sfreq

__all__ = ["coherence", "power_spectra"]


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

"""Zero-phase band-pass and mains notch filters, and anti-aliased resampling.

All functions are pure: they take a ``(n_chans, n_times)`` float array in µV
and the sampling rate ``sfreq`` in Hz, and return a new float64 array.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from rehab_core._validation import check_positive
from rehab_core.signals._checks import check_data, check_sfreq
from rehab_core.signals.settings import SignalSettings

__all__ = [
    "bandpass_filter",
    "effective_band",
    "filter_signals",
    "line_harmonics",
    "notch_filter",
    "resample",
]


def _padlen(n_times: int, sfreq: float, l_freq: float | None) -> int:
    """Samples of odd-reflection padding: ~3 time constants of the slowest pole."""
    slowest = l_freq if l_freq is not None else 1.0
    return int(min(n_times - 1, round(3.0 * sfreq / slowest)))


def bandpass_filter(
    data: np.ndarray,
    sfreq: float,
    l_freq: float | None = 0.5,
    h_freq: float | None = 150.0,
    *,
    order: int = 4,
) -> np.ndarray:
    """Band-pass (or high-/low-pass) ``data`` with a zero-phase Butterworth filter.

    The Butterworth filter of ``order`` is designed as second-order sections
    and applied forwards and backwards (``scipy.signal.sosfiltfilt``), so the
    output has no phase shift, an effective order of ``2 * order`` and -6 dB
    at each edge. The ends are padded by odd reflection over about three time
    constants of the high-pass edge, which keeps edge transients out of the
    first and last window.

    Parameters
    ----------
    data : ndarray, shape (n_chans, n_times), float32 or float64
        Signals in µV.
    sfreq : float
        Sampling rate in Hz.
    l_freq : float or None
        High-pass edge in Hz; ``None`` for a low-pass only.
    h_freq : float or None
        Low-pass edge in Hz, below ``sfreq / 2``; ``None`` for a high-pass only.
    order : int
        Butterworth order of one pass.

    Returns
    -------
    ndarray, shape (n_chans, n_times), float64
        Filtered signals in µV.
    """
    from scipy import signal

    data = check_data(data)
    sfreq = check_sfreq(sfreq)
    nyquist = sfreq / 2.0
    if l_freq is None and h_freq is None:
        raise ValueError("bandpass_filter needs l_freq, h_freq or both; both are None.")
    if l_freq is not None:
        check_positive("l_freq", l_freq)
    if h_freq is not None:
        check_positive("h_freq", h_freq)
        if h_freq >= nyquist:
            raise ValueError(
                f"h_freq={h_freq} Hz must be below the Nyquist frequency {nyquist} Hz "
                f"of {sfreq=} Hz; lower h_freq."
            )
    if l_freq is not None and h_freq is not None and l_freq >= h_freq:
        raise ValueError(f"l_freq={l_freq} Hz must be below h_freq={h_freq} Hz.")
    if l_freq is None:
        sos = signal.butter(order, h_freq, btype="lowpass", fs=sfreq, output="sos")
    elif h_freq is None:
        sos = signal.butter(order, l_freq, btype="highpass", fs=sfreq, output="sos")
    else:
        sos = signal.butter(order, [l_freq, h_freq], btype="bandpass", fs=sfreq, output="sos")
    x = data.astype(np.float64, copy=True)
    if x.shape[1] < 2:
        raise ValueError(f"data has n_times={x.shape[1]}; filtering needs at least 2 samples.")
    return signal.sosfiltfilt(
        sos, x, axis=-1, padtype="odd", padlen=_padlen(x.shape[1], sfreq, l_freq)
    )


def line_harmonics(line_freq: float, sfreq: float, width: float = 2.0) -> tuple[float, ...]:
    """Return the mains frequency and its harmonics below Nyquist (Hz).

    A harmonic is kept only when its whole notch (``f ± width / 2``) lies
    below the Nyquist frequency ``sfreq / 2``.
    """
    check_positive("line_freq", line_freq)
    sfreq = check_sfreq(sfreq)
    check_positive("width", width)
    n_harmonics = int(np.floor((sfreq / 2.0 - width / 2.0) / line_freq))
    harmonics = [line_freq * k for k in range(1, n_harmonics + 1)]
    return tuple(f for f in harmonics if f + width / 2.0 < sfreq / 2.0)


def notch_filter(
    data: np.ndarray,
    sfreq: float,
    freqs: Sequence[float],
    *,
    width: float = 2.0,
) -> np.ndarray:
    """Remove narrow bands around ``freqs`` with zero-phase IIR notches.

    Each frequency gets a second-order notch (``scipy.signal.iirnotch`` with
    ``Q = f0 / width``); all notches are cascaded as second-order sections and
    applied forwards and backwards in one ``sosfiltfilt`` pass.

    Parameters
    ----------
    data : ndarray, shape (n_chans, n_times), float32 or float64
        Signals in µV.
    sfreq : float
        Sampling rate in Hz.
    freqs : sequence of float
        Centre frequencies in Hz, each below ``sfreq / 2``. Use
        :func:`line_harmonics` for mains noise.
    width : float
        -3 dB width of each notch in Hz.

    Returns
    -------
    ndarray, shape (n_chans, n_times), float64
        Filtered signals in µV (a copy of ``data`` when ``freqs`` is empty).
    """
    from scipy import signal

    data = check_data(data)
    sfreq = check_sfreq(sfreq)
    check_positive("width", width)
    freqs = tuple(float(f) for f in freqs)
    x = data.astype(np.float64, copy=True)
    if not freqs:
        return x
    sections = []
    for f0 in freqs:
        check_positive("freqs[i]", f0)
        if f0 >= sfreq / 2.0:
            raise ValueError(
                f"notch frequency {f0} Hz must be below the Nyquist frequency "
                f"{sfreq / 2.0} Hz of {sfreq=} Hz."
            )
        b, a = signal.iirnotch(f0, f0 / width, fs=sfreq)
        sections.append(signal.tf2sos(b, a))
    sos = np.concatenate(sections, axis=0)
    padlen = int(min(x.shape[1] - 1, round(3.0 * sfreq / width)))
    return signal.sosfiltfilt(sos, x, axis=-1, padtype="odd", padlen=padlen)


def effective_band(sfreq: float, settings: SignalSettings | None = None) -> tuple[float, float]:
    """Return the band ``(l_freq, h_freq)`` in Hz actually used at ``sfreq``.

    ``h_freq`` is clamped to ``settings.max_h_freq_fraction`` of the Nyquist
    frequency when the recording is sampled too slowly for it. ``settings``
    defaults to ``SignalSettings()``.
    """
    settings = SignalSettings() if settings is None else settings
    sfreq = check_sfreq(sfreq)
    h_freq = min(settings.h_freq, settings.max_h_freq_fraction * sfreq / 2.0)
    if settings.l_freq >= h_freq:
        raise ValueError(
            f"{sfreq=} Hz is too low for the band: the low-pass edge clamps to {h_freq} Hz, "
            f"not above l_freq={settings.l_freq} Hz."
        )
    return float(settings.l_freq), float(h_freq)


def filter_signals(
    data: np.ndarray, sfreq: float, settings: SignalSettings | None = None
) -> np.ndarray:
    """Return the continuous data after the pipeline's band-pass and mains notch.

    This is what the signal viewer shows and what bad-channel detection and
    window rejection see: :func:`bandpass_filter` with :func:`effective_band`,
    then (if ``settings.notch``) :func:`notch_filter` at
    :func:`line_harmonics`.

    Parameters
    ----------
    data : ndarray, shape (n_chans, n_times), float32 or float64
        Signals in µV.
    sfreq : float
        Sampling rate in Hz.
    settings : SignalSettings or None
        Filter settings; ``None`` means ``SignalSettings()``.

    Returns
    -------
    ndarray, shape (n_chans, n_times), float64
        Filtered signals in µV.
    """
    settings = SignalSettings() if settings is None else settings
    l_freq, h_freq = effective_band(sfreq, settings)
    out = bandpass_filter(data, sfreq, l_freq, h_freq, order=settings.filter_order)
    if settings.notch:
        freqs = line_harmonics(settings.line_freq, sfreq, settings.notch_width)
        out = notch_filter(out, sfreq, freqs, width=settings.notch_width)
    return out


def resample(data: np.ndarray, sfreq: float, new_sfreq: float) -> np.ndarray:
    """Resample ``data`` from ``sfreq`` to ``new_sfreq`` with an anti-aliasing filter.

    Uses polyphase filtering (``scipy.signal.resample_poly``, Kaiser window
    with beta 5), which low-passes at the lower of the two Nyquist
    frequencies before decimating, so content above ``new_sfreq / 2`` does
    not fold back into the band. The rate ratio must be a fraction with a
    denominator of at most 1000 (for example 1000 -> 250 Hz is 1/4,
    1024 -> 250 Hz is 125/512).

    Parameters
    ----------
    data : ndarray, shape (n_chans, n_times), float32 or float64
        Signals in µV.
    sfreq : float
        Current sampling rate in Hz.
    new_sfreq : float
        Wanted sampling rate in Hz.

    Returns
    -------
    ndarray, shape (n_chans, ceil(n_times * new_sfreq / sfreq)), float64
        Resampled signals in µV (a float64 copy when the rates are equal).
    """
    from scipy import signal

    data = check_data(data)
    sfreq = check_sfreq(sfreq)
    new_sfreq = check_sfreq(new_sfreq, "new_sfreq")
    x = data.astype(np.float64, copy=True)
    if new_sfreq == sfreq:
        return x
    ratio = Fraction(new_sfreq / sfreq).limit_denominator(1000)
    if abs(float(ratio) * sfreq - new_sfreq) > 1e-9 * new_sfreq:
        raise ValueError(
            f"cannot resample from {sfreq=} Hz to {new_sfreq=} Hz: the ratio is not a "
            "fraction with a denominator of at most 1000; choose a rate such as "
            f"{float(Fraction(new_sfreq / sfreq).limit_denominator(1000)) * sfreq:g} Hz."
        )
    return signal.resample_poly(x, ratio.numerator, ratio.denominator, axis=-1)

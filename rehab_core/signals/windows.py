"""Cutting continuous signals into fixed windows, normalising them, and which ones were kept."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from rehab_core._validation import check_int, check_positive
from rehab_core.signals._checks import check_data, check_sfreq, check_windows

if TYPE_CHECKING:
    from rehab_core.signals.pipeline import SignalResult

__all__ = [
    "kept_window_data",
    "make_windows",
    "rejected_intervals",
    "unused_tail",
    "window_n_times",
    "zscore_windows",
]


def window_n_times(window_s: float, sfreq: float) -> int:
    """Return the number of samples in a ``window_s``-second window at ``sfreq`` Hz.

    Raises ``ValueError`` when ``window_s * sfreq`` is not a whole number, so
    window boundaries fall on the same instants at every sampling rate.
    """
    check_positive("window_s", window_s)
    sfreq = check_sfreq(sfreq)
    n = window_s * sfreq
    if abs(n - round(n)) > 1e-6 or round(n) < 1:
        raise ValueError(
            f"window_s={window_s} s at {sfreq=} Hz is {n:g} samples, not a whole number; "
            "choose a window length that is a multiple of 1/sfreq."
        )
    return int(round(n))


def make_windows(
    data: np.ndarray,
    sfreq: float,
    window_s: float = 10.0,
    *,
    n_windows: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cut ``data`` into non-overlapping windows; the incomplete remainder is dropped.

    Parameters
    ----------
    data : ndarray, shape (n_chans, n_times), float32 or float64
        Continuous signals (any unit).
    sfreq : float
        Sampling rate in Hz.
    window_s : float
        Window length in seconds; ``window_s * sfreq`` must be a whole number.
    n_windows : int or None
        Number of windows to cut from the start; ``None`` (default) for as
        many as fit, ``n_times // (window_s * sfreq)``.

    Returns
    -------
    windows : ndarray, shape (n_windows, n_chans, window_s * sfreq), dtype of data
        A new array (not a view of ``data``).
    starts_s : ndarray, shape (n_windows,), float64
        Start time of each window in seconds from the first sample.
    """
    data = check_data(data)
    sfreq = check_sfreq(sfreq)
    n_times_window = window_n_times(window_s, sfreq)
    n_fit = data.shape[1] // n_times_window
    if n_fit == 0:
        raise ValueError(
            f"data lasts {data.shape[1] / sfreq:g} s ({data.shape[1]} samples at {sfreq:g} Hz), "
            f"shorter than one {window_s:g}-s window; give a longer recording."
        )
    if n_windows is None:
        n_windows = n_fit
    elif not 1 <= check_int("n_windows", n_windows) <= n_fit:
        raise ValueError(f"{n_windows=} but only {n_fit} whole {window_s:g}-s windows fit.")
    n_windows = int(n_windows)
    used = data[:, : n_windows * n_times_window]
    windows = used.reshape(data.shape[0], n_windows, n_times_window).transpose(1, 0, 2).copy()
    starts_s = np.arange(n_windows, dtype=np.float64) * (n_times_window / sfreq)
    return windows, starts_s


def zscore_windows(windows: np.ndarray, *, min_std: float = 1e-3) -> np.ndarray:
    """Normalise every channel of every window to zero mean and unit variance.

    Parameters
    ----------
    windows : ndarray, shape (n_windows, n_chans, n_times), float32 or float64
        Windows in µV.
    min_std : float
        A channel whose standard deviation within a window is below this (in
        the unit of ``windows``) becomes all zeros rather than amplified noise.

    Returns
    -------
    ndarray, shape (n_windows, n_chans, n_times), float32
        Dimensionless z-scores (population standard deviation, ``ddof=0``).
    """
    windows = check_windows(windows)
    check_positive("min_std", min_std, strict=False)
    x = windows.astype(np.float64)
    mean = x.mean(axis=-1, keepdims=True)
    std = x.std(axis=-1, keepdims=True)
    usable = std > min_std
    out = np.where(usable, (x - mean) / np.where(usable, std, 1.0), 0.0)
    return out.astype(np.float32)


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

"""Min-max decimation: a long recording as few points as the screen has pixels.

A 9-min, 1000 Hz channel has 540,000 samples; a chart 1,500 pixels wide can
show at most two values per pixel column (the lowest and the highest), so
sending more only costs bandwidth and browser time. Keeping exactly the
minimum and the maximum of every pixel bucket (not a mean, not every k-th
sample) draws the same envelope as the full data: a 300 µV spike stays a
300 µV spike at any zoom.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rehab_core._validation import check_int
from rehab_core.signals._checks import check_data, check_sfreq

__all__ = ["decimate_minmax", "view_slice"]


def _check_n_pixels(n_pixels: object) -> int:
    n_pixels = check_int("n_pixels", n_pixels)
    if n_pixels < 1:
        raise ValueError(f"n_pixels={n_pixels} must be at least 1 (the chart's width in pixels).")
    return int(n_pixels)


def decimate_minmax(
    data: np.ndarray,
    n_pixels: int,
    *,
    sfreq: float = 1.0,
    t0: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Keep the minimum and the maximum of every pixel bucket of every channel.

    The samples are cut into at most ``n_pixels`` consecutive buckets of
    ``ceil(n_times / n_pixels)`` samples (the last one may be shorter); each
    bucket contributes its minimum and its maximum, in the order they occur,
    at their own sample times. A channel's global minimum and maximum, and
    every local extreme wider than a bucket, are therefore kept exactly.
    When ``n_times <= 2 * n_pixels`` nothing is gained and every sample is
    returned unchanged.

    Parameters
    ----------
    data : ndarray, shape (n_chans, n_times), float32 or float64
        Signals (any unit; returned in the same unit and dtype).
    n_pixels : int
        Width of the chart in pixels (the number of buckets).
    sfreq : float
        Sampling rate in Hz, to turn sample indices into seconds.
    t0 : float
        Time of the first sample in seconds.

    Returns
    -------
    times : ndarray, shape (n_chans, n_points), float64
        Time of each kept sample in seconds (``t0 + index / sfreq``); each
        channel has its own times because its extremes fall on its own samples.
    values : ndarray, shape (n_chans, n_points), same dtype as ``data``
        The kept samples; ``n_points <= 2 * n_pixels``.
    """
    data = check_data(data)
    n_pixels = _check_n_pixels(n_pixels)
    sfreq = check_sfreq(sfreq)
    n_chans, n_times = data.shape
    if n_times <= 2 * n_pixels:
        index = np.broadcast_to(np.arange(n_times), (n_chans, n_times))
        return t0 + index / sfreq, data.copy()

    bucket = -(-n_times // n_pixels)  # ceil: at most n_pixels buckets
    n_full = n_times // bucket
    full = data[:, : n_full * bucket].reshape(n_chans, n_full, bucket)
    i_min = full.argmin(axis=2) + np.arange(n_full) * bucket
    i_max = full.argmax(axis=2) + np.arange(n_full) * bucket
    if n_full * bucket < n_times:  # the shorter last bucket
        tail = data[:, n_full * bucket :]
        i_min = np.concatenate([i_min, tail.argmin(axis=1)[:, None] + n_full * bucket], axis=1)
        i_max = np.concatenate([i_max, tail.argmax(axis=1)[:, None] + n_full * bucket], axis=1)
    first = np.minimum(i_min, i_max)
    second = np.maximum(i_min, i_max)
    index = np.stack([first, second], axis=2).reshape(n_chans, -1)
    values = np.take_along_axis(data, index, axis=1)
    return t0 + index / sfreq, values


def view_slice(
    data: np.ndarray,
    sfreq: float,
    t0: float,
    t1: float,
    n_pixels: int,
    *,
    picks: Sequence[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Decimate the part of a recording between ``t0`` and ``t1`` seconds for display.

    The view is clipped to the recording (a view running past the end shows
    what there is); samples ``floor(t0 * sfreq)`` up to ``ceil(t1 * sfreq)``
    (exclusive) of the ``picks`` rows go through :func:`decimate_minmax`.
    Only the view is copied, so the cost follows the view, not the recording.

    Parameters
    ----------
    data : ndarray, shape (n_chans, n_times), float32 or float64
        The whole recording.
    sfreq : float
        Sampling rate in Hz.
    t0, t1 : float
        Start and end of the view in seconds from the first sample, ``t0 < t1``.
    n_pixels : int
        Width of the chart in pixels.
    picks : sequence of int or None
        Rows (channels) to show, in this order; all when ``None``.

    Returns
    -------
    times, values : ndarray, shape (n_picks, n_points)
        As :func:`decimate_minmax`, times in seconds from the recording's start.
    """
    data = check_data(data)
    sfreq = check_sfreq(sfreq)
    duration = data.shape[1] / sfreq
    t0, t1 = float(t0), float(t1)
    if not (np.isfinite(t0) and np.isfinite(t1)):
        raise ValueError(f"The view {t0:g}-{t1:g} s must have finite start and end times.")
    if t1 <= t0:
        raise ValueError(
            f"The view must end after it starts, but it runs from {t0:g} s to {t1:g} s."
        )
    if t0 >= duration or t1 <= 0:
        raise ValueError(
            f"The view {t0:g}-{t1:g} s lies outside the recording, which lasts "
            f"{duration:g} s; choose a start between 0 and {duration:g} s."
        )
    i0 = max(0, int(np.floor(t0 * sfreq)))
    i1 = min(data.shape[1], int(np.ceil(t1 * sfreq)))
    i1 = max(i1, i0 + 1)
    view = data[:, i0:i1]
    if picks is not None:
        picks = [int(p) for p in picks]
        wrong = [p for p in picks if not 0 <= p < data.shape[0]]
        if not picks or wrong:
            raise ValueError(
                f"Choose at least one channel among the {data.shape[0]} of the recording"
                + (f"; rows {wrong} do not exist." if wrong else ".")
            )
        view = view[picks]
    return decimate_minmax(view, n_pixels, sfreq=sfreq, t0=i0 / sfreq)

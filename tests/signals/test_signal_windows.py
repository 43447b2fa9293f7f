"""Windowing and per-window z-scoring."""

from __future__ import annotations

import numpy as np
import pytest

from rehab_core.signals import (
    kept_window_data,
    make_windows,
    rejected_intervals,
    unused_tail,
    window_n_times,
    zscore_windows,
)


def test_95_s_gives_9_windows_and_drops_the_remainder():
    sfreq = 100.0
    data = np.arange(2 * 9500, dtype=np.float64).reshape(2, 9500)
    windows, starts = make_windows(data, sfreq, 10.0)
    assert windows.shape == (9, 2, 1000)
    np.testing.assert_array_equal(starts, np.arange(9) * 10.0)
    np.testing.assert_array_equal(windows[3, 1], data[1, 3000:4000])
    assert not np.shares_memory(windows, data)


def test_make_windows_with_fixed_count():
    data = np.zeros((1, 5000))
    assert make_windows(data, 100.0, 10.0, n_windows=3)[0].shape == (3, 1, 1000)
    with pytest.raises(ValueError, match="n_windows=6 but only 5 whole 10-s windows fit"):
        make_windows(data, 100.0, 10.0, n_windows=6)
    with pytest.raises(TypeError, match="n_windows must be a whole number"):
        make_windows(data, 100.0, 10.0, n_windows=2.0)


def test_make_windows_errors():
    with pytest.raises(ValueError, match="data lasts 5 s .* shorter than one 10-s window"):
        make_windows(np.zeros((2, 500)), 100.0, 10.0)
    with pytest.raises(ValueError, match="not a whole number"):
        window_n_times(10.0001, 1000.0)
    with pytest.raises(ValueError, match="window_s=0 must be positive"):
        window_n_times(0, 1000.0)


def test_zscore_windows_per_window_per_channel():
    rng = np.random.default_rng(0)
    windows = 50.0 + 20.0 * rng.standard_normal((4, 3, 500))
    windows[2, 1] = 7.0  # zero variance
    before = windows.copy()
    z = zscore_windows(windows)
    assert z.dtype == np.float32
    np.testing.assert_array_equal(windows, before)
    keep = np.ones((4, 3), dtype=bool)
    keep[2, 1] = False
    np.testing.assert_allclose(z.mean(axis=-1)[keep], 0.0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=-1)[keep], 1.0, atol=1e-5)
    np.testing.assert_array_equal(z[2, 1], 0.0)


def test_zscore_windows_refuses_wrong_input():
    with pytest.raises(ValueError, match="must have shape \\(n_windows, n_chans, n_times\\)"):
        zscore_windows(np.zeros((3, 100)))
    with pytest.raises(TypeError, match="got dtype int64"):
        zscore_windows(np.zeros((1, 3, 100), dtype=np.int64))


# --- what the preprocessing kept (moved from tests/viz) ------------------------------------------


def test_rejected_intervals_and_tail_come_from_the_result(signal_result):
    intervals = rejected_intervals(signal_result)
    assert [(r["window"], r["start_s"], r["end_s"]) for r in intervals] == [(1, 10.0, 20.0)]
    assert "C3" in intervals[0]["reason"] and "exceeds 200 µV" in intervals[0]["reason"]
    assert unused_tail(signal_result) == (30.0, 35.0)


def test_nothing_rejected_means_no_intervals_and_no_tail(clean_result):
    assert rejected_intervals(clean_result) == []
    assert unused_tail(clean_result) is None


def test_kept_window_data_leaves_out_rejected_windows_and_the_tail(recording, signal_result):
    kept = kept_window_data(recording, signal_result)
    n = int(10 * signal_result.qc["input_sfreq"])
    assert kept.shape == (7, 2 * n)
    np.testing.assert_array_equal(kept[:, :n], recording[:, :n])
    np.testing.assert_array_equal(kept[:, n:], recording[:, 2 * n : 3 * n])


def test_kept_window_data_refuses_another_recording(signal_result):
    with pytest.raises(ValueError, match="are not the recording this result describes"):
        kept_window_data(np.zeros((7, 100)), signal_result)

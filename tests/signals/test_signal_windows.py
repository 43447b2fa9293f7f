"""Windowing and per-window z-scoring."""

from __future__ import annotations

import numpy as np
import pytest

from rehab_core.signals import make_windows, window_n_times, zscore_windows


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

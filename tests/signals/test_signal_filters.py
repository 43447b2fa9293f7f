"""Band-pass, notch and resampling: frequency response, phase, rates, input checks."""

from __future__ import annotations

import numpy as np
import pytest

from rehab_core.signals import (
    SignalSettings,
    bandpass_filter,
    effective_band,
    filter_signals,
    line_harmonics,
    notch_filter,
    resample,
)

SFREQ = 1000.0


def _sine(freq: float, seconds: float, sfreq: float = SFREQ, amp: float = 10.0) -> np.ndarray:
    t = np.arange(int(seconds * sfreq)) / sfreq
    return (amp * np.sin(2 * np.pi * freq * t))[np.newaxis, :]


def _middle_rms(x: np.ndarray) -> float:
    n = x.shape[-1]
    return float(np.sqrt(np.mean(x[..., n // 4 : 3 * n // 4] ** 2)))


@pytest.mark.parametrize(
    ("freq", "low", "high"),
    [
        (0.1, 0.0, 0.01),
        (300.0, 0.0, 0.01),
        (10.0, 0.99, 1.01),
        (60.0, 0.99, 1.01),
        # Butterworth droop: |H|^2 = 1 / (1 + (100/150)^8) = 0.96 after the two passes
        (100.0, 0.95, 0.99),
    ],
)
def test_bandpass_gain(freq, low, high):
    x = _sine(freq, 40.0)
    gain = _middle_rms(bandpass_filter(x, SFREQ, 0.5, 150.0)) / _middle_rms(x)
    assert low <= gain <= high


def test_bandpass_is_zero_phase():
    t = np.arange(4000) / SFREQ
    pulse = 50.0 * np.exp(-0.5 * ((t - 2.0) / 0.02) ** 2)
    out = bandpass_filter(pulse[np.newaxis], SFREQ, 0.5, 150.0)[0]
    assert abs(int(np.argmax(out)) - 2000) <= 1
    # symmetric in, symmetric out: the response mirrors around the pulse centre
    np.testing.assert_allclose(out[2000 - 300 : 2000], out[2001:2301][::-1], atol=1e-3)


def test_bandpass_highpass_and_lowpass_only():
    x = _sine(0.1, 40.0) + _sine(300.0, 40.0)
    high_only = bandpass_filter(x, SFREQ, 1.0, None)
    low_only = bandpass_filter(x, SFREQ, None, 50.0)
    assert _middle_rms(high_only) == pytest.approx(_middle_rms(_sine(300.0, 40.0)), rel=0.01)
    assert _middle_rms(low_only) == pytest.approx(_middle_rms(_sine(0.1, 40.0)), rel=0.02)


def test_notch_removes_mains_and_keeps_neighbours():
    mains = notch_filter(_sine(50.0, 20.0), SFREQ, [50.0])
    near = notch_filter(_sine(40.0, 20.0), SFREQ, [50.0])
    assert _middle_rms(mains) < 0.01 * _middle_rms(_sine(50.0, 20.0))
    assert _middle_rms(near) > 0.97 * _middle_rms(_sine(40.0, 20.0))


def test_filter_signals_notches_harmonics():
    x = _sine(50.0, 20.0) + _sine(100.0, 20.0) + _sine(10.0, 20.0)
    out = filter_signals(x, SFREQ)
    assert _middle_rms(out - _sine(10.0, 20.0)) < 0.02 * _middle_rms(_sine(10.0, 20.0))


def test_line_harmonics_below_nyquist():
    assert line_harmonics(50.0, 1000.0) == (
        50.0,
        100.0,
        150.0,
        200.0,
        250.0,
        300.0,
        350.0,
        400.0,
        450.0,
    )
    assert line_harmonics(60.0, 500.0) == (60.0, 120.0, 180.0, 240.0)
    assert line_harmonics(50.0, 200.0) == (50.0,)


def test_effective_band_clamps_below_nyquist():
    settings = SignalSettings()
    assert effective_band(1000.0, settings) == (0.5, 150.0)
    assert effective_band(500.0, settings) == (0.5, 150.0)
    assert effective_band(250.0, settings) == (0.5, pytest.approx(112.5))
    with pytest.raises(ValueError, match="too low for the band"):
        effective_band(1.0, settings)


def test_filters_leave_input_untouched():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5000)).astype(np.float32)
    before = x.copy()
    for out in (
        bandpass_filter(x, SFREQ),
        notch_filter(x, SFREQ, [50.0]),
        filter_signals(x, SFREQ),
        resample(x, SFREQ, 250.0),
    ):
        assert out.dtype == np.float64
        assert not np.shares_memory(out, x)
    np.testing.assert_array_equal(x, before)


def test_resample_rate_length_and_antialiasing():
    x = _sine(20.0, 10.0) + _sine(200.0, 10.0)
    out = resample(x, SFREQ, 250.0)
    assert out.shape == (1, 2500)
    # 200 Hz would alias to 50 Hz at 250 Hz; only the 20 Hz tone may remain
    expected = _sine(20.0, 10.0, sfreq=250.0)
    assert _middle_rms(out - expected) < 0.01 * _middle_rms(expected)
    assert resample(x, SFREQ, SFREQ).shape == x.shape
    assert resample(_sine(5.0, 10.0, sfreq=1024.0), 1024.0, 250.0).shape == (1, 2500)


def test_resample_refuses_irrational_ratio():
    with pytest.raises(ValueError, match="denominator of at most 1000"):
        resample(_sine(5.0, 1.0), SFREQ, 333.3333)


def test_bandpass_errors():
    x = _sine(10.0, 2.0)
    with pytest.raises(ValueError, match="below the Nyquist frequency 250.0 Hz"):
        bandpass_filter(x, 500.0, 0.5, 250.0)
    with pytest.raises(ValueError, match="l_freq=40.0 Hz must be below h_freq=30.0 Hz"):
        bandpass_filter(x, SFREQ, 40.0, 30.0)
    with pytest.raises(ValueError, match="both are None"):
        bandpass_filter(x, SFREQ, None, None)
    with pytest.raises(ValueError, match="notch frequency 600.0 Hz must be below"):
        notch_filter(x, SFREQ, [600.0])


@pytest.mark.parametrize(
    ("bad", "error", "match"),
    [
        (
            np.ones((2, 100), dtype=np.int16),
            TypeError,
            "float32 or float64 array in µV, got dtype int16",
        ),
        (np.ones((2, 100), dtype=np.float16), TypeError, "got dtype float16"),
        (
            [[1.0, 2.0]],
            TypeError,
            "must be a numpy array of shape \\(n_chans, n_times\\), got list",
        ),
        (np.ones(100), ValueError, "must have shape \\(n_chans, n_times\\), got 1 dimension"),
        (np.full((2, 100), np.nan), ValueError, "200 NaN or infinite value"),
        (np.ones((0, 100)), ValueError, "is empty"),
    ],
)
def test_wrong_arrays_are_refused(bad, error, match):
    with pytest.raises(error, match=match):
        bandpass_filter(bad, SFREQ)


def test_wrong_sfreq_is_refused():
    with pytest.raises(ValueError, match="sfreq=-1.0 must be positive"):
        bandpass_filter(_sine(10.0, 1.0), -1.0)
    with pytest.raises(TypeError, match="sfreq must be a number, got str"):
        bandpass_filter(_sine(10.0, 1.0), "1000")

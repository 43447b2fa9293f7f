"""Welch spectra and EEG-EMG coherence for the dashboard."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from rehab_core.signals import (
    CoherenceUnavailable,
    coherence,
    coherence_confidence_limit,
    filter_signals,
    kept_window_data,
    motor_coherence,
    power_spectra,
    signal_spectra,
)

SFREQ = 250.0


def test_power_spectra_peak_and_units():
    rng = np.random.default_rng(0)
    t = np.arange(int(20 * SFREQ)) / SFREQ
    data = np.vstack([10.0 * np.sin(2 * np.pi * 12.0 * t), rng.standard_normal(t.size)])
    freqs, psd = power_spectra(data, SFREQ, fmax=60.0)
    assert psd.shape == (2, freqs.size)
    assert freqs[-1] <= 60.0
    assert freqs[np.argmax(psd[0])] == pytest.approx(12.0)
    # white noise of unit variance: one-sided density 2 / sfreq µV²/Hz
    assert np.median(psd[1]) == pytest.approx(2.0 / SFREQ, rel=0.2)


def test_coherence_matches_scipy_and_finds_coupling():
    rng = np.random.default_rng(1)
    eeg = rng.standard_normal((3, 5000))
    emg = rng.standard_normal((2, 5000))
    emg[0] += 2.0 * eeg[1]
    freqs, coh = coherence(eeg, emg, SFREQ, (5.0, 40.0), rectify_emg=False)
    ref_freqs, ref = signal.coherence(eeg[:, None], emg[None], fs=SFREQ, nperseg=250)
    keep = (ref_freqs >= 5.0) & (ref_freqs <= 40.0)
    np.testing.assert_allclose(freqs, ref_freqs[keep])
    np.testing.assert_allclose(coh, ref[..., keep], atol=1e-12)
    assert coh.shape == (3, 2, freqs.size)
    assert coh[1, 0].mean() > 0.6
    assert coh[0, 0].mean() < 0.2


def test_coherence_accepts_single_channels_and_checks_input():
    rng = np.random.default_rng(2)
    x = rng.standard_normal(2500)
    freqs, coh = coherence(x, x, SFREQ)
    assert coh.shape == (1, 1, freqs.size)
    with pytest.raises(ValueError, match="eeg has n_times=2500 but emg has n_times=100"):
        coherence(x, x[:100], SFREQ)
    with pytest.raises(ValueError, match="must satisfy low < high <= 125.0 Hz"):
        coherence(x, x, SFREQ, (10.0, 200.0))
    with pytest.raises(TypeError, match="eeg must be a float32 or float64 array"):
        coherence(x.astype(int), x, SFREQ)


# --- motor-cortex coherence and the viewer's spectra (moved from tests/viz) ---------------


def test_motor_coherence_picks_motor_sites_and_emg(recording, signal_result, chans):
    filtered = filter_signals(recording, chans.sfreq, signal_result.settings)
    mc = motor_coherence(
        kept_window_data(filtered, signal_result), chans.sfreq, chans.names, chans.types
    )
    assert mc.eeg_names == ("C1", "CP1", "FC2", "C3")
    assert mc.emg_names == ("EMG_RF", "EMG_VM", "EMG_ST")
    assert mc.coh.shape == (4, 3, mc.freqs.size)
    assert mc.freqs.min() >= 2.0 and mc.freqs.max() <= 45.0
    assert mc.n_segments == 20


@pytest.mark.parametrize(("n_segments", "expected"), [(2, 0.95), (21, 1 - 0.05 ** (1 / 20))])
def test_coherence_confidence_limit(n_segments, expected):
    assert coherence_confidence_limit(n_segments) == pytest.approx(expected)


def test_motor_coherence_stops_at_nyquist_for_a_slow_recording():
    rng = np.random.default_rng(0)
    data = rng.standard_normal((2, 8000))
    mc = motor_coherence(data, 80.0, ["Cz", "EMG_RF"], ["eeg", "emg"])
    assert mc.freqs.max() == 40.0 and mc.freqs.min() == 2.0


@pytest.mark.parametrize(
    ("names", "types", "match"),
    [
        (["O1", "EMG_RF"], ["eeg", "emg"], "none of the motor-cortex EEG sites"),
        (["C3", "C4"], ["eeg", "eeg"], "has no EMG channel"),
    ],
)
def test_motor_coherence_says_what_is_missing(names, types, match):
    with pytest.raises(ValueError, match=match):
        motor_coherence(np.ones((2, 1000)), 250.0, names, types)
    with pytest.raises(CoherenceUnavailable, match=match):  # a ValueError, typed
        motor_coherence(np.ones((2, 1000)), 250.0, names, types)


def test_coherence_confidence_limit_needs_two_segments():
    with pytest.raises(ValueError, match="at least 2 segments"):
        coherence_confidence_limit(1)


def test_signal_spectra_are_those_of_the_kept_windows(recording, signal_result, chans):
    out = signal_spectra(recording, chans.sfreq, signal_result, chans.names, chans.types, fmax=80)
    kept = kept_window_data(recording, signal_result)
    freqs, psd = power_spectra(kept, chans.sfreq, fmax=80)
    np.testing.assert_array_equal(out.freqs, freqs)
    np.testing.assert_array_equal(out.psd, psd)
    expected = motor_coherence(kept, chans.sfreq, chans.names, chans.types)
    np.testing.assert_array_equal(out.coherence.freqs, expected.freqs)
    np.testing.assert_array_equal(out.coherence.coh, expected.coh)
    assert out.coherence_missing is None


def test_signal_spectra_without_windows_or_emg(recording, signal_result, chans):
    from dataclasses import replace

    empty = replace(signal_result, windows=signal_result.windows[:0])
    none = signal_spectra(recording, chans.sfreq, empty, chans.names, chans.types)
    assert (none.freqs, none.psd, none.coherence) == (None, None, None)
    assert none.coherence_missing == "Every window was rejected."
    eeg_only = ["eeg"] * len(chans.types)
    out = signal_spectra(recording, chans.sfreq, signal_result, chans.names, eeg_only)
    assert out.psd is not None and out.coherence is None
    assert "no EMG channel" in out.coherence_missing

"""Welch spectra and EEG-EMG coherence for the dashboard."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from rehab_core.signals import coherence, power_spectra

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

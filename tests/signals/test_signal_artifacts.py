"""Bad channels, window rejection, channel repair and the mains-noise ratio."""

from __future__ import annotations

import numpy as np
import pytest

from rehab_core.signals import (
    bandpass_filter,
    detect_bad_channels,
    line_noise_ratio,
    reject_windows,
    repair_bad_channels,
    robust_std,
)

SFREQ = 1000.0


def _eeg_like(n_chans: int, seconds: float, seed: int, std_uv: float = 10.0) -> np.ndarray:
    """Band-limited (1-40 Hz) noise with a small white floor, ``std_uv`` µV."""
    rng = np.random.default_rng(seed)
    low = bandpass_filter(rng.standard_normal((n_chans, int(seconds * SFREQ))), SFREQ, 1.0, 40.0)
    low *= std_uv / low.std(axis=1, keepdims=True)
    return low + 0.3 * rng.standard_normal(low.shape)


def test_robust_std_matches_gaussian_std_and_ignores_spikes():
    rng = np.random.default_rng(1)
    x = 5.0 * rng.standard_normal((2, 200_000))
    x[1, ::100] = 1e4  # 1 % huge spikes barely move the robust estimate
    np.testing.assert_allclose(robust_std(x), [5.0, 5.0], rtol=0.05)


def test_detects_flat_noisy_and_high_frequency_channels():
    data = _eeg_like(10, 20.0, seed=2)
    rng = np.random.default_rng(3)
    data[1] = 0.01 * rng.standard_normal(data.shape[1])  # flat
    data[4] *= 40.0  # noisy: huge amplitude
    data[7] += 8.0 * rng.standard_normal(data.shape[1])  # noisy: broadband white noise
    bad = detect_bad_channels(data, SFREQ, ["eeg"] * 10)
    assert sorted(bad) == [1, 4, 7]
    assert bad[1].startswith("flat: almost no signal (typical amplitude ")
    assert bad[4].startswith("noisy: amplitude far above the other EEG channels (typical ")
    assert bad[7].startswith("noisy: high-frequency (> 50 Hz) ratio z=")


def test_channels_are_judged_within_their_type():
    eeg = _eeg_like(6, 10.0, seed=4, std_uv=10.0)
    emg = _eeg_like(4, 10.0, seed=5, std_uv=300.0)  # 30x larger, but normal for EMG
    data = np.concatenate([eeg, emg])
    assert detect_bad_channels(data, SFREQ, ["eeg"] * 6 + ["emg"] * 4) == {}
    # the same array called all-EEG flags the large channels
    assert sorted(detect_bad_channels(data, SFREQ, ["eeg"] * 10)) == [6, 7, 8, 9]


def test_noisy_test_needs_three_channels_of_a_type():
    data = _eeg_like(2, 10.0, seed=6)
    data[1] *= 100.0
    assert detect_bad_channels(data, SFREQ, ["emg", "emg"]) == {}


def _windows(seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 10.0 * rng.standard_normal((5, 3, 2000))


def test_rejects_spike_and_flat_windows_with_reasons():
    windows = _windows()
    windows[1, 0, 1000:1010] += 1000.0  # 1000 µV spike on EEG channel 0
    windows[3, 1, :] = 0.0  # flat EEG channel 1 in window 3
    windows[4, 2, 500:510] += 1000.0  # 1000 µV on EMG: below its 5000 µV limit
    rejected, reasons = reject_windows(windows, ["eeg", "eeg", "emg"], ch_names=["C3", "C4", "RF"])
    np.testing.assert_array_equal(rejected, [False, True, False, True, False])
    assert reasons[1].startswith("peak-to-peak 10")
    assert "on C3 (EEG) exceeds 200 µV" in reasons[1]
    assert reasons[3] == "flat: peak-to-peak 0 µV on C4 (EEG) below 1 µV"


def test_reject_windows_excludes_bad_channels_and_judges_flatness_separately():
    windows = _windows()
    windows[:, 1, :] = 0.0
    rejected, _ = reject_windows(windows, ["eeg", "eeg", "emg"], exclude=[1])
    assert not rejected.any()
    flat_source = windows.copy()
    flat_source[2, 0, :] = 3.0
    rejected, reasons = reject_windows(
        windows, ["eeg", "eeg", "emg"], exclude=[1], flat_windows=flat_source
    )
    np.testing.assert_array_equal(rejected, [False, False, True, False, False])
    assert reasons[2].startswith("flat: peak-to-peak 0 µV on CH1")


def test_reject_windows_counts_other_offending_channels():
    windows = _windows()
    windows[0, :2, 100] += 2000.0
    _, reasons = reject_windows(windows, ["eeg", "eeg", "emg"])
    assert reasons[0].endswith("(and 1 more channel)")


def test_reject_windows_errors():
    with pytest.raises(ValueError, match="got 2 dimension"):
        reject_windows(np.zeros((3, 100)), ["eeg"] * 3)
    with pytest.raises(ValueError, match="len\\(ch_types\\)=2 but data has n_chans=3"):
        reject_windows(_windows(), ["eeg", "eeg"])
    with pytest.raises(ValueError, match="ch_types\\[i\\]='eog' is not allowed"):
        reject_windows(_windows(), ["eeg", "eog", "emg"])
    with pytest.raises(ValueError, match="exclude index 5 is out of range"):
        reject_windows(_windows(), ["eeg", "eeg", "emg"], exclude=[5])
    with pytest.raises(ValueError, match="flat_windows has shape"):
        reject_windows(_windows(), ["eeg", "eeg", "emg"], flat_windows=np.zeros((1, 3, 2000)))


def test_repair_policies():
    data = np.array([[1.0, 2.0], [3.0, 4.0], [100.0, 100.0], [7.0, 8.0]])
    types = ["eeg", "eeg", "eeg", "emg"]
    zeroed, actions = repair_bad_channels(data, types, [2], "zero")
    np.testing.assert_array_equal(zeroed[2], [0.0, 0.0])
    assert actions == {2: "set to zero"}
    mean, actions = repair_bad_channels(data, types, [2], "mean")
    np.testing.assert_array_equal(mean[2], [2.0, 3.0])
    assert actions == {2: "replaced by the mean of 2 good EEG channels"}
    kept, actions = repair_bad_channels(data, types, [2], "keep")
    np.testing.assert_array_equal(kept, data)
    _, actions = repair_bad_channels(data, types, [3], "mean")
    assert actions == {3: "set to zero (no good EMG channel left to average)"}
    assert data[2, 0] == 100.0  # input untouched
    with pytest.raises(ValueError, match="policy='interpolate' is not allowed"):
        repair_bad_channels(data, types, [2], "interpolate")
    with pytest.raises(ValueError, match="bad channel index 9 is out of range"):
        repair_bad_channels(data, types, [9])


def test_line_noise_ratio():
    rng = np.random.default_rng(8)
    t = np.arange(int(20 * SFREQ)) / SFREQ
    data = rng.standard_normal((3, t.size))
    data[0] += 5.0 * np.sin(2 * np.pi * 50.0 * t)
    data[2] = 0.0
    ratio = line_noise_ratio(data, SFREQ, 50.0)
    assert ratio[0] > 100.0
    assert 0.3 < ratio[1] < 3.0
    assert np.isnan(ratio[2])
    with pytest.raises(ValueError, match="too close to the Nyquist frequency"):
        line_noise_ratio(data, 100.0, 50.0)

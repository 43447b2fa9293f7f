"""preprocess_signals / preprocess_raw end to end on a tiny seeded recording."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rehab_core.signals import SignalResult, SignalSettings, preprocess_raw, preprocess_signals

SFREQ = 1000.0
TYPES = ["eeg"] * 4 + ["emg"] * 2
NAMES = ["C3", "C4", "P3", "P4", "EMG_RF", "EMG_BFL"]


def _recording(seconds: float = 45.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * SFREQ)
    t = np.arange(n) / SFREQ
    data = 10.0 * rng.standard_normal((6, n))
    data[:4] += 15.0 * np.sin(2 * np.pi * 10.0 * t)
    data[4:] *= 8.0
    data += 20.0 * np.sin(2 * np.pi * 50.0 * t)  # mains
    data += 300.0  # electrode offset
    return data


def test_output_shapes_rate_and_zscores():
    result = preprocess_signals(_recording(), SFREQ, TYPES, ch_names=NAMES)
    assert isinstance(result, SignalResult)
    assert result.windows.shape == (4, 6, 2500)
    assert result.windows.dtype == np.float32
    assert result.sfreq == 250.0
    assert result.n_windows_total == 4
    np.testing.assert_array_equal(result.window_starts_s, [0.0, 10.0, 20.0, 30.0])
    np.testing.assert_allclose(result.windows.mean(axis=-1), 0.0, atol=1e-5)
    np.testing.assert_allclose(result.windows.std(axis=-1), 1.0, atol=1e-4)
    assert result.ch_names == tuple(NAMES)
    assert result.qc["dropped_tail_s"] == pytest.approx(5.0)
    assert result.qc["notch_freqs_hz"][:3] == [50.0, 100.0, 150.0]
    assert result.qc["line_noise_ratio"]["C3"] > 10.0
    assert not result.windows.flags.writeable


def test_spike_and_flat_windows_are_rejected_and_bad_channel_zeroed():
    data = _recording()
    data[2, 12_000:12_010] += 1000.0  # 10-ms 1000 µV spike in window 1 on P3
    data[0, 30_000:40_000] = 300.0  # C3 flat-lined during window 3
    data[5] = 300.0  # EMG_BFL disconnected for the whole recording
    before = data.copy()
    result = preprocess_signals(data, SFREQ, TYPES, ch_names=NAMES)
    np.testing.assert_array_equal(data, before)
    np.testing.assert_array_equal(result.rejected, [False, True, False, True])
    np.testing.assert_array_equal(result.window_starts_s, [0.0, 20.0])
    assert result.qc["n_rejected"] == 2
    assert "on P3 (EEG) exceeds 200 µV" in result.qc["reasons"]["1"]
    assert result.qc["reasons"]["3"].startswith("flat: peak-to-peak 0 µV on C3 (EEG)")
    assert list(result.qc["bad_channels"]) == ["EMG_BFL"]
    assert result.qc["bad_channels"]["EMG_BFL"].startswith("flat")
    assert result.qc["bad_channel_actions"] == {"EMG_BFL": "set to zero"}
    assert result.windows.shape == (2, 6, 2500)
    np.testing.assert_array_equal(result.windows[:, 5], 0.0)


def test_all_windows_rejected_gives_empty_windows():
    data = _recording(25.0)
    data[1] = 300.0
    data[1, ::2000] = 2000.0  # a flat channel with spikes: flagged, so excluded ...
    settings = SignalSettings(eeg_reject_ptp_uv=1.0)  # ... but every good channel exceeds 1 µV
    result = preprocess_signals(data, SFREQ, TYPES, settings)
    assert result.windows.shape == (0, 6, 2500)
    assert result.qc["n_usable_windows"] == 0
    assert result.rejected.all()


def test_no_resampling_and_500_hz_recording():
    rng = np.random.default_rng(2)
    data = 10.0 * rng.standard_normal((6, 10_000))
    result = preprocess_signals(data, 500.0, TYPES, SignalSettings(resample_sfreq=None))
    assert result.windows.shape == (2, 6, 5000)
    assert result.sfreq == 500.0
    assert result.qc["band_hz"] == [0.5, 150.0]
    assert result.qc["h_freq_clamped"] is False


def test_slow_recording_clamps_the_low_pass_edge():
    rng = np.random.default_rng(3)
    data = 10.0 * rng.standard_normal((6, 5000))
    result = preprocess_signals(data, 250.0, TYPES)
    assert result.qc["band_hz"] == [0.5, pytest.approx(112.5)]
    assert result.qc["h_freq_clamped"] is True
    assert result.qc["notch_freqs_hz"] == [50.0, 100.0]
    assert result.windows.shape == (2, 6, 2500)


def test_to_dict_is_json_and_settings_round_trip():
    settings = SignalSettings(line_freq=60, bad_channel_policy="mean", resample_sfreq=None)
    result = preprocess_signals(_recording(25.0), SFREQ, TYPES, settings, NAMES)
    summary = json.loads(json.dumps(result.to_dict()))
    assert summary["n_windows"] == 2
    assert summary["settings"]["kind"] == "SignalSettings"
    assert SignalSettings.from_dict(summary["settings"]) == settings
    assert SignalSettings.from_json(SignalSettings().to_json()) == SignalSettings()
    assert "windows" not in summary


def test_preprocess_raw_matches_arrays_in_microvolts():
    mne = pytest.importorskip("mne")
    data = _recording(25.0)
    info = mne.create_info(NAMES + ["STI"], SFREQ, TYPES + ["stim"])
    raw = mne.io.RawArray(
        np.vstack([data * 1e-6, np.zeros((1, data.shape[1]))]), info, verbose=False
    )
    from_raw = preprocess_raw(raw)
    from_array = preprocess_signals(data, SFREQ, TYPES, ch_names=NAMES)
    assert from_raw.ch_names == tuple(NAMES)
    assert from_raw.ch_types == tuple(TYPES)
    np.testing.assert_allclose(from_raw.windows, from_array.windows, atol=1e-4)
    with pytest.raises(TypeError, match="raw must be an mne.io.BaseRaw, got ndarray"):
        preprocess_raw(data)
    stim_only = mne.io.RawArray(
        np.zeros((1, 100)), mne.create_info(["STI"], SFREQ, ["stim"]), verbose=False
    )
    with pytest.raises(ValueError, match="has no EEG or EMG channel"):
        preprocess_raw(stim_only)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"line_freq": 55}, ValueError, "line_freq=55 is not allowed; choose one of 50, 60"),
        ({"l_freq": 200.0}, ValueError, "l_freq=200.0 must be below h_freq=150.0"),
        ({"bad_channel_policy": "zeros"}, ValueError, "Did you mean 'zero'"),
        ({"resample_sfreq": 0.0}, ValueError, "resample_sfreq=0.0 must be positive"),
        ({"filter_order": 4.0}, TypeError, "filter_order must be a whole number"),
        ({"window_s": -10.0}, ValueError, "window_s=-10.0 must be positive"),
    ],
)
def test_settings_are_validated(kwargs, error, match):
    with pytest.raises(error, match=match):
        SignalSettings(**kwargs)


def test_preprocess_signals_errors():
    data = _recording(25.0)
    with pytest.raises(ValueError, match="recording lasts 5 s .* shorter than one 10-s window"):
        preprocess_signals(data[:, :5000], SFREQ, TYPES)
    with pytest.raises(ValueError, match="len\\(ch_types\\)=5 but data has n_chans=6"):
        preprocess_signals(data, SFREQ, TYPES[:5])
    with pytest.raises(ValueError, match="len\\(ch_names\\)=2 but data has n_chans=6"):
        preprocess_signals(data, SFREQ, TYPES, ch_names=["a", "b"])
    with pytest.raises(TypeError, match="got dtype int32"):
        preprocess_signals(data.astype(np.int32), SFREQ, TYPES)
    with pytest.raises(ValueError, match="must have shape \\(n_chans, n_times\\)"):
        preprocess_signals(data[np.newaxis], SFREQ, TYPES)
    with pytest.raises(TypeError, match="settings must be a SignalSettings, got dict"):
        preprocess_signals(data, SFREQ, TYPES, {"l_freq": 1.0})


def test_recording_arrays_are_the_eeg_and_emg_the_pipeline_reads():
    """The viewer's samples: EEG and EMG picked, in µV, other channel types left out."""
    import mne

    from rehab_core.signals import recording_arrays

    info = mne.create_info(["C3", "EMG_RF", "STI"], 100.0, ["eeg", "emg", "stim"])
    volts = np.vstack([np.full(200, 2e-5), np.full(200, -1e-4), np.ones(200)])
    data, sfreq, names, types = recording_arrays(mne.io.RawArray(volts, info, verbose=False))
    assert (sfreq, names, types) == (100.0, ("C3", "EMG_RF"), ("eeg", "emg"))
    np.testing.assert_allclose(data, [np.full(200, 20.0), np.full(200, -100.0)])
    stim_only = mne.io.RawArray(np.ones((1, 10)), mne.create_info(["STI"], 100.0, ["stim"]))
    with pytest.raises(ValueError, match=r"has no EEG or EMG channel \(types: \['stim'\]\)"):
        recording_arrays(stim_only)

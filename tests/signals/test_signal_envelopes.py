"""Per-frame log envelopes (the LSTM's default input in ``rehab train``)."""

import numpy as np
import pytest

from rehab_core.signals import (
    SignalSettings,
    envelope_features,
    envelope_n_frames,
    preprocess_signals,
    zscore_windows,
)

SFREQ = 250.0


def _bursty_emg(rng, contrast: float, n_times: int = 2500) -> np.ndarray:
    """Noise whose amplitude alternates between 1 (tone) and ``contrast`` (bursts) every 2 s."""
    t = np.arange(n_times) / SFREQ
    amp = np.where((t // 2) % 2 == 0, 1.0, contrast)
    return amp * rng.standard_normal(n_times)


def test_shapes_rate_and_dtype():
    rng = np.random.default_rng(0)
    w = zscore_windows(rng.standard_normal((3, 4, 2500)))
    out = envelope_features(w, SFREQ, ["eeg", "eeg", "emg", "emg"], frame_s=0.4)
    assert out.shape == (3, 4, 25)
    assert out.dtype == np.float32
    assert np.isfinite(out).all()
    assert envelope_n_frames(2500, SFREQ, 0.4) == (100, 25)


def test_eeg_rows_are_centred_emg_rows_are_not():
    rng = np.random.default_rng(1)
    w = zscore_windows(rng.standard_normal((2, 2, 2500)))
    out = envelope_features(w, SFREQ, ["eeg", "emg"])
    np.testing.assert_allclose(out[:, 0].mean(-1), 0.0, atol=1e-5)
    # |N(0, 1)| averages sqrt(2 / pi): the log linear envelope of white z-scored noise
    assert out[:, 1].mean() == pytest.approx(np.log(np.sqrt(2 / np.pi)), abs=0.05)


def test_emg_contrast_is_kept_after_zscoring():
    """Burst-to-tone contrast survives the per-window z-score as a spread of the envelope."""
    rng = np.random.default_rng(2)
    spreads = []
    for contrast in (1.5, 4.0, 20.0):
        w = zscore_windows(_bursty_emg(rng, contrast)[None, None])
        env = envelope_features(w, SFREQ, ["emg"])[0, 0]
        spreads.append(env.std())
    assert spreads[0] < spreads[1] < spreads[2]


def test_beta_desynchronisation_shows_as_a_dip():
    """Beta that vanishes for 2 s gives frames well below the window mean there."""
    rng = np.random.default_rng(3)
    t = np.arange(2500) / SFREQ
    gate = np.where((t >= 4) & (t < 6), 0.1, 1.0)
    eeg = gate * np.sin(2 * np.pi * 20 * t) + 0.05 * rng.standard_normal(t.size)
    env = envelope_features(zscore_windows(eeg[None, None]), SFREQ, ["eeg"])[0, 0]
    frames_t = (np.arange(env.size) + 0.5) * 0.4
    inside = (frames_t > 4.4) & (frames_t < 5.6)
    assert env[inside].max() < env[~inside].min()


def test_zeroed_channel_stays_finite():
    w = np.zeros((1, 2, 2500), dtype=np.float32)
    out = envelope_features(w, SFREQ, ["eeg", "emg"])
    assert np.isfinite(out).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"frame_s": 0.001}, "under two samples"),
        ({"frame_s": 20.0}, "longer than the 10-s window"),
        ({"eeg_band": (30.0, 15.0)}, "0 < low < high"),
        ({"eeg_band": (15.0, 200.0)}, "Nyquist"),
    ],
)
def test_refuses_bad_parameters(kwargs, match):
    w = np.zeros((1, 1, 2500), dtype=np.float32)
    with pytest.raises(ValueError, match=match):
        envelope_features(w, SFREQ, ["eeg"], **kwargs)


def test_pipeline_envelope_representation_is_recorded():
    rng = np.random.default_rng(4)
    data = rng.standard_normal((3, 30 * 1000)) * 10.0
    settings = SignalSettings(representation="envelope", envelope_frame_s=0.5)
    res = preprocess_signals(data, 1000.0, ["eeg", "eeg", "emg"], settings)
    assert res.windows.shape == (3, 3, 20)
    assert res.sfreq == pytest.approx(2.0)
    assert res.qc["representation"] == "envelope"
    assert res.qc["n_times_window"] == 20
    assert "log envelopes" in res.qc["steps"][-1]
    assert SignalSettings.from_dict(settings.to_dict()) == settings


def test_pipeline_refuses_a_bad_frame_before_filtering():
    data = np.zeros((2, 20 * 1000))
    settings = SignalSettings(representation="envelope", envelope_frame_s=0.001)
    with pytest.raises(ValueError, match="under two samples"):
        preprocess_signals(data, 1000.0, ["eeg", "emg"], settings)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"representation": "spectrogram"}, "representation"),
        ({"envelope_eeg_band": (30.0, 10.0)}, "envelope_eeg_band"),
        ({"envelope_frame_s": 0.0}, "envelope_frame_s"),
    ],
)
def test_settings_refuse_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SignalSettings(**kwargs)

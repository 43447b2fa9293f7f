"""Array-level generators and the per-modality summaries."""

from __future__ import annotations

import numpy as np
import pytest

from rehab_core.demo import (
    CHANNELS,
    EEG_CHANNELS,
    GRID_AFFINE,
    GRID_SHAPE,
    PHASES,
    TR_S,
    fmri_summary,
    signal_summary,
    simulate_bold,
    simulate_eeg_emg,
)
from rehab_core.io import PAPER_CHANNELS

SFREQ = 1000.0


def _signals(c, seed=0, side="right", minutes=0.25, **kw):
    return simulate_eeg_emg(
        np.random.default_rng(seed), c=c, affected_side=side, minutes=minutes, sfreq=SFREQ, **kw
    )


def test_channel_set_is_the_papers():
    assert CHANNELS == PAPER_CHANNELS
    assert len(CHANNELS) == 22


def test_eeg_emg_shape_units_and_events():
    data, events, truth = _signals(0.0)
    assert data.shape == (22, 15_000)
    assert data.dtype == np.float64 and np.isfinite(data).all()
    eeg_sd = data[:16].std(axis=1)
    assert np.all((eeg_sd > 3) & (eeg_sd < 200))  # µV, not volts
    phases = [e[2] for e in events]
    assert phases[:4] == list(PHASES)
    assert all(1.7 < d < 2.3 for _, d, _ in events)
    assert events[-1][0] + events[-1][1] <= 15.0
    assert truth["erd_depth_lesioned"] > 0 and truth["n_blinks"] >= 0


def test_eeg_emg_is_reproducible_and_seed_dependent():
    a, _, _ = _signals(0.3, seed=5)
    b, _, _ = _signals(0.3, seed=5)
    c, _, _ = _signals(0.3, seed=6)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_integrity_sets_erd_cmc_and_emg():
    low = _signals(-1.5, seed=3)[2]
    high = _signals(1.5, seed=3)[2]
    for key in ("erd_depth_lesioned", "cmc_coupling", "emg_burst_ratio", "emg_selectivity"):
        assert high[key] > low[key], key
    assert high["erd_depth_contralesional"] < low["erd_depth_contralesional"]
    assert high["emg_onset_delay_s"] < low["emg_onset_delay_s"]


def test_bad_channels_are_made_and_recorded():
    data, _, truth = _signals(0.0, seed=2, p_flat_channel=1.0, p_noisy_channel=0.0)
    name, kind = truth["bad_channels"].split(":")
    assert kind == "flat"
    assert data[EEG_CHANNELS.index(name)].std() < 0.5
    data, _, truth = _signals(0.0, seed=2, p_flat_channel=0.0, p_noisy_channel=1.0)
    name, kind = truth["bad_channels"].split(":")
    assert kind == "noisy"
    assert data[EEG_CHANNELS.index(name)].std() > 50
    _, _, truth = _signals(0.0, seed=2, p_flat_channel=0.0, p_noisy_channel=0.0)
    assert truth["bad_channels"] == ""


def test_signal_summary_moves_with_integrity():
    low = signal_summary(
        _signals(-1.5, seed=4, minutes=0.5)[0], SFREQ, CHANNELS, affected_side="right"
    )
    high = signal_summary(
        _signals(1.5, seed=4, minutes=0.5)[0], SFREQ, CHANNELS, affected_side="right"
    )
    for key in ("beta_erd_laterality", "cmc_beta", "emg_burst_log_ratio", "erd_lesioned"):
        assert high[key] > low[key], key


def test_signal_summary_does_not_modify_input():
    data = _signals(0.0)[0]
    before = data.copy()
    signal_summary(data, SFREQ, CHANNELS, affected_side="left")
    assert np.array_equal(data, before)


def test_signal_summary_refuses_bad_input():
    data = _signals(0.0)[0]
    with pytest.raises(ValueError, match="2-D float array"):
        signal_summary(data.astype(np.int32), SFREQ, CHANNELS, affected_side="left")
    with pytest.raises(ValueError, match="len\\(ch_names\\)=21 but data has 22 channels"):
        signal_summary(data, SFREQ, CHANNELS[:-1], affected_side="left")
    with pytest.raises(ValueError, match="missing C1"):
        signal_summary(
            data, SFREQ, ("X1", *CHANNELS[1:14], "X2", *CHANNELS[15:]), affected_side="left"
        )
    with pytest.raises(ValueError, match="affected_side='up' is not allowed"):
        signal_summary(data, SFREQ, CHANNELS, affected_side="up")
    with pytest.raises(ValueError, match="sfreq=0 must be positive"):
        signal_summary(data, 0, CHANNELS, affected_side="left")


@pytest.fixture(scope="module")
def bold_pair():
    """Same seed, severe (n=-2) and mild (n=+2) damage, lesion on the left."""
    out = {}
    for n in (-2.0, 2.0):
        out[n] = simulate_bold(np.random.default_rng(11), n=n, affected_side="right", n_volumes=16)
    return out


def test_bold_shape_dtype_affine(bold_pair):
    data, affine, truth = bold_pair[2.0]
    assert data.shape == (*GRID_SHAPE, 16)
    assert data.dtype == np.int16
    assert np.array_equal(affine, GRID_AFFINE)
    assert np.allclose(np.abs(np.diag(affine)[:3]), (3.4, 3.4, 4.0))
    brain = data.mean(axis=-1)
    assert 100 < np.percentile(brain, 95) < 400  # grey/white matter, not background
    assert np.percentile(brain, 10) < 10  # background outside the head


def test_bold_lesion_follows_damage_and_side(bold_pair):
    severe, mild = bold_pair[-2.0][2], bold_pair[2.0][2]
    assert severe["lesion_hemisphere"] == "left"
    assert severe["lesion_center_x_mm"] < 0
    assert severe["lesion_volume_ml"] > 5 * mild["lesion_volume_ml"]
    assert severe["motor_coupling"] < mild["motor_coupling"]
    assert severe["mean_fd_mm"] >= 0 and severe["n_motion_spikes"] >= 0


def test_fmri_summary_moves_with_damage(bold_pair):
    severe = fmri_summary(bold_pair[-2.0][0], GRID_AFFINE, TR_S, affected_side="right")
    mild = fmri_summary(bold_pair[2.0][0], GRID_AFFINE, TR_S, affected_side="right")
    assert mild["healthy_fraction"] > severe["healthy_fraction"]


def test_fmri_summary_refuses_bad_input(bold_pair):
    data = bold_pair[2.0][0]
    with pytest.raises(ValueError, match="4-D array"):
        fmri_summary(data[..., 0], GRID_AFFINE, TR_S, affected_side="left")
    with pytest.raises(ValueError, match="at least 8 volumes, got 4"):
        fmri_summary(data[..., :4], GRID_AFFINE, TR_S, affected_side="left")
    with pytest.raises(ValueError, match="affected_side='middle' is not allowed"):
        fmri_summary(data, GRID_AFFINE, TR_S, affected_side="middle")


def test_generators_refuse_bad_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="affected_side='both' is not allowed"):
        simulate_eeg_emg(rng, c=0.0, affected_side="both", minutes=0.2)
    with pytest.raises(ValueError, match="sfreq=250.0 must lie between 500.0 and 20000.0"):
        simulate_eeg_emg(rng, c=0.0, affected_side="left", minutes=0.2, sfreq=250.0)
    with pytest.raises(ValueError, match="minutes=0.01 is too short"):
        simulate_eeg_emg(rng, c=0.0, affected_side="left", minutes=0.01)
    with pytest.raises(ValueError, match="n_volumes=3 must lie between 8 and 2000"):
        simulate_bold(rng, n=0.0, affected_side="left", n_volumes=3)
    with pytest.raises(TypeError, match="n_volumes must be an int, got float"):
        simulate_bold(rng, n=0.0, affected_side="left", n_volumes=20.0)
    with pytest.raises(
        ValueError, match="affected_side='Left' is not allowed.*Did you mean 'left'"
    ):
        simulate_bold(rng, n=0.0, affected_side="Left", n_volumes=20)

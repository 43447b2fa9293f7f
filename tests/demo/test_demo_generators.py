"""Array-level generators, the anatomy and its true transform, and the per-modality summaries."""

from __future__ import annotations

import numpy as np
import pytest

from rehab_core.demo import (
    CHANNELS,
    EEG_CHANNELS,
    EEGEMG_MARKERS,
    EMG_CHANNELS,
    FMRI_MARKERS,
    PHASES,
    SITES,
    HeadModel,
    fmri_summary,
    signal_summary,
    simulate_bold,
    simulate_eeg_emg,
    true_mni_to_scanner,
    true_scanner_to_mni,
)
from rehab_core.io import PAPER_CHANNELS

SFREQ = 1000.0


def _eeg_markers(value: float) -> dict[str, float]:
    return dict.fromkeys(EEGEMG_MARKERS, value)


def _fmri_markers(value: float) -> dict[str, float]:
    return dict.fromkeys(FMRI_MARKERS, value)


def _signals(value, seed=0, side="right", minutes=0.25, **kw):
    return simulate_eeg_emg(
        np.random.default_rng(seed),
        markers=_eeg_markers(value),
        affected_side=side,
        minutes=minutes,
        sfreq=SFREQ,
        **kw,
    )


def _voxel_to_mni(bold) -> np.ndarray:
    """Voxel -> MNI affine of a simulated run: its file affine then the best-fit true affine."""
    return np.asarray(bold.transform["affine_fit_scanner_to_mni"]) @ bold.affine


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


def test_markers_set_erd_cmc_and_emg():
    low = _signals(-1.5, seed=3)[2]
    high = _signals(1.5, seed=3)[2]
    for key in (
        "erd_depth_lesioned",
        "cmc_coupling",
        "emg_burst_uV",
        "emg_burst_ratio",
        "emg_selectivity",
    ):
        assert high[key] > low[key], key
    assert high["erd_depth_contralesional"] < low["erd_depth_contralesional"]
    assert high["emg_onset_delay_s"] < low["emg_onset_delay_s"]
    assert high["emg_tone_uV"] < low["emg_tone_uV"]


_EFFECT = {
    "erd": "erd_depth_lesioned",
    "cmc": "cmc_coupling",
    "emg_burst": "emg_burst_uV",
    "emg_tone": "emg_tone_uV",
    "emg_selectivity": "emg_selectivity",
}


@pytest.mark.parametrize("name", EEGEMG_MARKERS)
def test_each_eeg_emg_marker_moves_its_own_physiology_only(name):
    out = {
        value: simulate_eeg_emg(
            np.random.default_rng(8),
            markers={**_eeg_markers(0.0), name: value},
            affected_side="left",
            minutes=0.2,
        )[2]
        for value in (-1.0, 1.0)
    }
    for marker, key in _EFFECT.items():
        if marker == name:
            assert out[1.0][key] != out[-1.0][key], key
        else:
            assert out[1.0][key] == out[-1.0][key], key


def test_emg_spectra_and_tone_vary_between_patients_and_muscles():
    """Same markers, other patients: another spectrum; within a patient the muscles differ."""
    from scipy.signal import welch

    peaks, resting = [], []
    for seed in (1, 2, 3):
        data, events, truth = _signals(0.0, seed=seed, minutes=0.5, p_flat_channel=0.0)
        emg = data[len(EEG_CHANNELS) :]
        f, pxx = welch(emg, fs=SFREQ, nperseg=1024)
        band = (f > 20) & (f < 400)
        peaks.append((f[band] * pxx[:, band]).sum(axis=1) / pxx[:, band].sum(axis=1))
        rest = np.zeros(data.shape[1], bool)
        for onset, dur, phase in events:
            if phase == "rest":
                rest[int((onset + 0.8) * SFREQ) : int((onset + dur) * SFREQ)] = True
        resting.append(emg[:, rest].std(axis=1))
        assert truth["emg_tone_uV"] == pytest.approx(5.0)  # the patient-level tone at marker 0
    peaks = np.array(peaks)
    assert np.ptp(np.median(peaks, axis=1)) > 3.0  # Hz between patients
    assert all(np.ptp(p) > 5.0 for p in peaks)  # Hz between muscles of one patient
    for r in resting:
        assert r.max() / r.min() > 1.3  # resting tone differs between muscles
    assert len(EMG_CHANNELS) == peaks.shape[1]


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


def test_signal_summary_moves_with_the_markers():
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
    """Same seed and patient, severe (markers -2) and mild (+2) damage, lesion on the left."""
    return {
        v: simulate_bold(
            np.random.default_rng(11),
            markers=_fmri_markers(v),
            affected_side="right",
            age=60,
            sex="F",
            site="A",
            n_volumes=16,
        )
        for v in (-2.0, 2.0)
    }


def test_bold_is_in_scanner_space_with_the_sites_grid(bold_pair):
    import nibabel as nib

    bold = bold_pair[2.0]
    protocol = SITES["A"]
    assert bold.data.shape == (*protocol.shape, 16)
    assert bold.data.dtype == np.int16
    assert nib.aff2axcodes(bold.affine) == tuple(protocol.orientation)
    assert np.allclose(np.linalg.norm(bold.affine[:3, :3], axis=0), protocol.zooms)
    centre = bold.affine @ np.r_[(np.array(protocol.shape) - 1) / 2.0, 1.0]
    assert np.linalg.norm(centre[:3]) < 40.0  # near the isocentre, not at MNI (0, -18, 16)
    brain = bold.data.mean(axis=-1)
    assert 100 < np.percentile(brain, 95) < 500  # grey/white matter, not background
    assert np.percentile(brain, 10) < 10  # background outside the head


def test_bold_lesion_follows_markers_and_side(bold_pair):
    severe, mild = bold_pair[-2.0].truth, bold_pair[2.0].truth
    assert severe["lesion_hemisphere"] == "left"
    assert severe["lesion_center_x_mm"] < 0
    assert severe["lesion_volume_ml"] > 5 * mild["lesion_volume_ml"]
    assert severe["cst_lesion_load_ml"] > 5 * max(mild["cst_lesion_load_ml"], 0.01)
    assert severe["motor_coupling"] < mild["motor_coupling"]
    assert severe["motor_alff_ratio"] < mild["motor_alff_ratio"]
    assert severe["mean_fd_mm"] >= 0 and severe["n_motion_spikes"] >= 0


def test_fmri_summary_moves_with_damage(bold_pair):
    severe = fmri_summary(
        bold_pair[-2.0].data, _voxel_to_mni(bold_pair[-2.0]), 2.0, affected_side="right"
    )
    mild = fmri_summary(
        bold_pair[2.0].data, _voxel_to_mni(bold_pair[2.0]), 2.0, affected_side="right"
    )
    assert mild["healthy_fraction"] > severe["healthy_fraction"]


@pytest.mark.parametrize("site", list(SITES))
def test_each_site_has_its_protocol_orientation_and_intensity(site):
    import nibabel as nib

    protocol = SITES[site]
    bold = simulate_bold(
        np.random.default_rng(3),
        markers=_fmri_markers(0.0),
        affected_side="left",
        site=site,
        n_volumes=8,
    )
    assert bold.protocol is protocol
    assert bold.data.shape == (*protocol.shape, 8)
    assert nib.aff2axcodes(bold.affine) == tuple(protocol.orientation)
    assert (bold.truth["oblique_deg"] > 0.5) == protocol.oblique
    assert bold.truth["tr_s"] == protocol.tr_s and bold.truth["site"] == site
    stored = np.percentile(bold.data.mean(axis=-1), 99) * protocol.scl_slope
    assert 0.5 * protocol.intensity < stored < 2.5 * protocol.intensity
    assert 3.0 <= min(protocol.zooms) and max(protocol.zooms) <= 4.0
    assert 2.0 <= protocol.tr_s <= 3.0 and 100 <= protocol.n_volumes <= 240


def _mask_dice(bold, transform) -> float:
    """Overlap of the image's brain with the template's brain mapped through ``transform``."""
    from rehab_core.demo._anatomy import sample_tissue

    mean = bold.data.mean(axis=-1).astype(float)
    image_brain = mean > 0.3 * np.percentile(mean, 98)
    ijk = np.indices(mean.shape).reshape(3, -1).astype(float)
    scanner = bold.affine[:3, :3] @ ijk + bold.affine[:3, 3:4]
    mni = true_scanner_to_mni(scanner, transform)
    template_brain = (sample_tissue(mni)["mask"] > 0.5).reshape(mean.shape)
    inter = (image_brain & template_brain).sum()
    return 2.0 * inter / (image_brain.sum() + template_brain.sum())


def test_true_transform_describes_the_image(bold_pair):
    """The record maps the file's scanner space onto the template; a wrong one does not."""
    bold = bold_pair[2.0]
    good = _mask_dice(bold, bold.transform)
    head = dict(bold.transform["head"])
    shifted = np.asarray(head["linear_scanner_to_mni"])
    shifted[1, 3] += 12.0
    wrong = {**bold.transform, "head": {**head, "linear_scanner_to_mni": shifted.tolist()}}
    assert good > 0.85
    assert _mask_dice(bold, wrong) < good - 0.05


def test_true_transform_inverse_and_landmarks(bold_pair):
    transform = bold_pair[-2.0].transform
    names = list(transform["landmarks_mni_mm"])
    mni = np.array([transform["landmarks_mni_mm"][k] for k in names]).T
    scanner = np.array([transform["landmarks_scanner_mm"][k] for k in names]).T
    assert np.abs(true_scanner_to_mni(scanner, transform) - mni).max() < 0.01
    assert np.abs(true_mni_to_scanner(mni, transform) - scanner).max() < 0.01
    fit = np.asarray(transform["affine_fit_scanner_to_mni"])
    residual = np.linalg.norm(fit[:3, :3] @ scanner + fit[:3, 3:4] - mni, axis=0)
    assert np.median(residual) < 3 * transform["affine_fit_rms_mm"]
    assert 0.5 < transform["affine_fit_rms_mm"] < 6.0  # a warp an affine cannot undo
    head = HeadModel.from_dict(transform["head"])
    assert np.array_equal(head.linear, np.asarray(transform["head"]["linear_scanner_to_mni"]))


def test_heads_vary_with_sex_and_age():
    from rehab_core.demo._anatomy import draw_head

    rng = np.random.default_rng(0)
    men = [draw_head(rng, age=60, sex="M").head_scale for _ in range(200)]
    women = [draw_head(rng, age=60, sex="F").head_scale for _ in range(200)]
    assert np.mean(men) > np.mean(women) + 0.03
    assert 0.03 < np.std(men) < 0.1
    young = [draw_head(rng, age=42, sex="M") for _ in range(100)]
    old = [draw_head(rng, age=78, sex="M") for _ in range(100)]
    for key in ("ventricle_expansion", "gm_atrophy"):
        assert np.mean([getattr(h, key) for h in old]) > np.mean([getattr(h, key) for h in young])


def test_fmri_summary_refuses_bad_input(bold_pair):
    data, affine = bold_pair[2.0].data, _voxel_to_mni(bold_pair[2.0])
    with pytest.raises(ValueError, match="4-D array"):
        fmri_summary(data[..., 0], affine, 2.0, affected_side="left")
    with pytest.raises(ValueError, match="at least 8 volumes, got 4"):
        fmri_summary(data[..., :4], affine, 2.0, affected_side="left")
    with pytest.raises(ValueError, match="affected_side='middle' is not allowed"):
        fmri_summary(data, affine, 2.0, affected_side="middle")


def test_generators_refuse_bad_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="affected_side='both' is not allowed"):
        simulate_eeg_emg(rng, markers=_eeg_markers(0.0), affected_side="both", minutes=0.2)
    with pytest.raises(ValueError, match="sfreq=250.0 must lie between 500.0 and 20000.0"):
        simulate_eeg_emg(
            rng, markers=_eeg_markers(0.0), affected_side="left", minutes=0.2, sfreq=250.0
        )
    with pytest.raises(ValueError, match="minutes=0.01 is too short"):
        simulate_eeg_emg(rng, markers=_eeg_markers(0.0), affected_side="left", minutes=0.01)
    with pytest.raises(ValueError, match="markers lacks the EEG-EMG marker\\(s\\) cmc"):
        simulate_eeg_emg(
            rng,
            markers={k: 0.0 for k in EEGEMG_MARKERS if k != "cmc"},
            affected_side="left",
            minutes=0.2,
        )
    fmri = _fmri_markers(0.0)
    with pytest.raises(ValueError, match="n_volumes=3 must be between 8 and 2000"):
        simulate_bold(rng, markers=fmri, affected_side="left", n_volumes=3)
    with pytest.raises(TypeError, match="n_volumes must be a whole number, got 20.0"):
        simulate_bold(rng, markers=fmri, affected_side="left", n_volumes=20.0)
    with pytest.raises(
        ValueError, match="affected_side='Left' is not allowed.*Did you mean 'left'"
    ):
        simulate_bold(rng, markers=fmri, affected_side="Left", n_volumes=20)
    with pytest.raises(ValueError, match="site='E' is not allowed"):
        simulate_bold(rng, markers=fmri, affected_side="left", site="E", n_volumes=20)
    with pytest.raises(ValueError, match="markers lacks the fMRI marker\\(s\\) motor_alff"):
        simulate_bold(
            rng,
            markers={k: 0.0 for k in FMRI_MARKERS if k != "motor_alff"},
            affected_side="left",
            n_volumes=20,
        )
    with pytest.raises(ValueError, match="must be finite"):
        simulate_bold(rng, markers={**fmri, "lesion_load": np.nan}, affected_side="left")


@pytest.mark.slow
def test_realised_lesion_load_correlates_moderately_with_corticospinal_integrity():
    """Not v1's r ~ 0.98: the tract load in the infarcts drawn for 150 patients, r about -0.57."""
    from scipy.stats import pearsonr

    from rehab_core.demo import CohortSettings, draw_latents
    from rehab_core.demo._bold import _draw_lesion

    lat = draw_latents(np.random.default_rng(0), 150, CohortSettings())
    rng = np.random.default_rng(1)
    load, volume = [], []
    for i in range(150):
        markers = {k: lat[f"marker_{k}"][i] for k in ("lesion_load", "lesion_volume")}
        truth = _draw_lesion(rng, markers, 1.0)[1]
        load.append(truth["cst_lesion_load_ml"])
        volume.append(truth["lesion_volume_ml"])
    r_load = pearsonr(load, lat["c"])[0]
    assert -0.75 < r_load < -0.4
    assert -0.5 < pearsonr(np.log(volume), lat["n"])[0] < -0.2

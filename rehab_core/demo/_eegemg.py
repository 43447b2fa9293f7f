"""Synthetic synchronised EEG + leg EMG of the hip/knee flexion-extension task.

One trial has four phases, preparation, flexion, rest and extension, each
2 s nominal (jittered by up to +/- 0.25 s), so a trial lasts about 8 s. The
EEG-EMG markers (:data:`rehab_core.demo.EEGEMG_MARKERS`, each a noisy mix of
both latents) set:

* ``erd``: beta (13-30 Hz) event-related desynchronisation (ERD) depth over the
  lesioned hemisphere, its onset delay and the post-movement rebound;
* ``cmc``: the beta modulation of the EMG drive (corticomuscular coherence);
* ``emg_burst``: EMG burst amplitude; ``emg_tone``: resting tone (spasticity);
* ``emg_selectivity``: muscle selectivity (co-contraction) and burst onset delay.

Each patient's overall ERD depth, muscle gains, tone and EMG spectra vary
between patients and muscles independently of the latents; so do
background, alpha, amplitudes and artefacts. See ``docs/synthetic_cohort.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from rehab_core.io.channels import PAPER_CHANNELS, PAPER_EEG_CHANNELS, PAPER_EMG_CHANNELS

__all__ = [
    "EEG_CHANNELS",
    "EMG_CHANNELS",
    "CHANNELS",
    "PHASES",
    "simulate_eeg_emg",
    "hemisphere_motor_channels",
]

EEG_CHANNELS: tuple[str, ...] = PAPER_EEG_CHANNELS
"""The paper's 16 EEG sites, in the model's order (from :mod:`rehab_core.io`)."""
EMG_CHANNELS: tuple[str, ...] = PAPER_EMG_CHANNELS
"""The six EMG channels of the paretic leg, in the model's order."""
CHANNELS: tuple[str, ...] = PAPER_CHANNELS
PHASES: tuple[str, ...] = ("preparation", "flexion", "rest", "extension")

# Approximate flat scalp positions (x: left -> right, y: posterior -> anterior).
_POS: dict[str, tuple[float, float]] = {
    "F3": (-0.4, 0.5),
    "F4": (0.4, 0.5),
    "FC5": (-0.6, 0.25),
    "FC1": (-0.2, 0.25),
    "FC2": (0.2, 0.25),
    "FC6": (0.6, 0.25),
    "C3": (-0.4, 0.0),
    "C1": (-0.2, 0.0),
    "C2": (0.2, 0.0),
    "C4": (0.4, 0.0),
    "CP5": (-0.6, -0.25),
    "CP1": (-0.2, -0.25),
    "CP2": (0.2, -0.25),
    "CP6": (0.6, -0.25),
    "P3": (-0.4, -0.5),
    "P4": (0.4, -0.5),
}
_MOTOR = {"left": ("C1", "C3", "CP1", "FC1"), "right": ("C2", "C4", "CP2", "FC2")}

# Muscle activation per movement phase (flexion, extension), 0-1, from the
# muscles' roles in a supine hip/knee flexion-extension (heel slide).
_MUSCLE_ROLE: dict[str, tuple[float, float]] = {
    "EMG_RF": (0.8, 0.5),  # hip flexor and knee extensor
    "EMG_VM": (0.15, 1.0),  # knee extensor
    "EMG_BFL": (0.7, 0.6),  # knee flexor, hip extensor
    "EMG_GMAX": (0.1, 1.0),  # hip extensor
    "EMG_ST": (0.7, 0.5),  # knee flexor, hip extensor
    "EMG_RFP": (1.0, 0.3),  # proximal rectus femoris: hip flexion
}
_MARKER_NAMES = ("erd", "cmc", "emg_burst", "emg_tone", "emg_selectivity")
_PHASE_S = 2.0
_PHASE_JITTER_S = 0.25
_FIRST_TRIAL_S = 1.0
_ENV_RATE = 100.0  # Hz; slow profiles (ERD, bursts) are built at this rate, then interpolated


def hemisphere_motor_channels(hemisphere: str) -> tuple[str, ...]:
    """EEG channels over the leg/trunk motor area of one hemisphere.

    Parameters
    ----------
    hemisphere : {"left", "right"}

    Returns
    -------
    tuple of str
        ``("C1", "C3", "CP1", "FC1")`` for left, ``("C2", "C4", "CP2", "FC2")``
        for right.
    """
    from rehab_core._validation import check_option

    check_option("hemisphere", hemisphere, ("left", "right"))
    return _MOTOR[hemisphere]


def _shaped_noise(
    rng: np.random.Generator, n_rows: int, n_times: int, sfreq: float, gain
) -> np.ndarray:
    """Gaussian noise with amplitude spectrum ``gain(f)``, unit RMS per row."""
    white = rng.standard_normal((n_rows, n_times))
    spec = np.fft.rfft(white, axis=-1)
    freqs = np.fft.rfftfreq(n_times, 1.0 / sfreq)
    spec *= gain(freqs)
    out = np.fft.irfft(spec, n=n_times, axis=-1)
    out /= out.std(axis=-1, keepdims=True) + 1e-12
    return out


def _band(center: float, width: float):
    return lambda f: np.exp(-0.5 * ((f - center) / width) ** 2)


def _schedule(rng: np.random.Generator, duration_s: float) -> list[tuple[float, float, str]]:
    """Phase onsets/durations (s) covering the recording."""
    events = []
    t = _FIRST_TRIAL_S
    while True:
        for phase in PHASES:
            d = _PHASE_S + rng.uniform(-_PHASE_JITTER_S, _PHASE_JITTER_S)
            if t + d > duration_s:
                return events
            events.append((t, d, phase))
            t += d


def _phase_codes(events, n_times: int, sfreq: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample phase code (-1 outside trials) and time since phase onset (s)."""
    code = np.full(n_times, -1, dtype=np.int8)
    since = np.zeros(n_times)
    for onset, dur, phase in events:
        i0, i1 = int(round(onset * sfreq)), int(round((onset + dur) * sfreq))
        code[i0:i1] = PHASES.index(phase)
        since[i0:i1] = np.arange(i1 - i0) / sfreq
    return code, since


def _beta_envelope(code, since, rate, depth, rebound, delay_s):
    """Relative beta amplitude on a coarse grid: 1 at baseline, ``1 - depth`` while moving.

    Pre-movement ERD ramps in over the last second of preparation; the
    post-movement rebound peaks 0.8 s into rest. The profile is shifted by
    ``delay_s`` (later ERD onset and recovery with damage) and smoothed
    (Gaussian, 0.15 s). ``code``/``since`` are sampled at ``rate`` Hz.
    """
    from scipy.ndimage import gaussian_filter1d

    level = np.ones(code.size)
    moving = (code == 1) | (code == 3)
    level[moving] = 1.0 - depth
    prep = code == 0
    ramp = np.clip(since[prep] - 1.0, 0.0, 1.0)
    level[prep] = 1.0 - 0.5 * depth * ramp
    rest = code == 2
    level[rest] = 1.0 + rebound * np.exp(-0.5 * ((since[rest] - 0.8) / 0.35) ** 2)
    return gaussian_filter1d(_delay(level, delay_s * rate, 1.0), 0.15 * rate, mode="nearest")


def _delay(x: np.ndarray, shift: float, fill: float) -> np.ndarray:
    """``x`` delayed by ``round(shift)`` samples, padded with ``fill``."""
    k = int(round(shift))
    return np.concatenate([np.full(k, fill), x[: x.size - k]]) if k > 0 else x


def _burst_profile(code, phase_code, rate, delay_s):
    """Smoothed 0-1 indicator of one movement phase, delayed by ``delay_s`` (coarse grid)."""
    from scipy.ndimage import gaussian_filter1d

    on = (code == phase_code).astype(float)
    return gaussian_filter1d(_delay(on, delay_s * rate, 0.0), 0.08 * rate, mode="nearest")


def _upsample(x: np.ndarray, rate: float, n_times: int, sfreq: float) -> np.ndarray:
    """Linear interpolation of a ``rate``-Hz profile onto ``n_times`` samples at ``sfreq``."""
    return np.interp(np.arange(n_times) / sfreq, np.arange(x.size) / rate, x)


def simulate_eeg_emg(
    rng: np.random.Generator,
    *,
    markers: Mapping[str, float],
    affected_side: str,
    minutes: float,
    sfreq: float = 1000.0,
    p_flat_channel: float = 0.05,
    p_noisy_channel: float = 0.08,
) -> tuple[np.ndarray, list[tuple[float, float, str]], dict[str, Any]]:
    """Simulate one EEG-EMG recording of the flexion-extension task.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    markers : mapping of str to float
        The EEG-EMG markers ``erd``, ``cmc``, ``emg_burst``, ``emg_tone``,
        ``emg_selectivity`` (standard normal; higher is better).
    affected_side : {"left", "right"}
        Paretic body side; the lesion (and weaker ERD) is in the opposite
        hemisphere and the EMG is of this leg.
    minutes : float
        Recording length (min).
    sfreq : float
        Sampling rate (Hz).
    p_flat_channel, p_noisy_channel : float
        Probability that one EEG channel is flat / noisy in this recording.

    Returns
    -------
    data : ndarray, shape (22, n_times), float64
        Signals in µV, channels in :data:`CHANNELS` order.
    events : list of (onset_s, duration_s, phase)
        The task phases.
    truth : dict
        Physiological parameters and nuisances (for ``ground_truth.tsv``):
        ``erd_depth_lesioned``, ``erd_depth_contralesional``,
        ``erd_delay_s``, ``cmc_coupling``, ``emg_burst_uV``, ``emg_tone_uV``,
        ``emg_burst_ratio`` (median over muscles), ``emg_selectivity``,
        ``emg_onset_delay_s``, ``emg_peak_hz`` (median over muscles),
        ``bad_channels``, ``n_blinks``, ``n_pops``, ``mains_uV``.
    """
    from scipy.special import ndtr

    n_times = _checked_eeg_emg_inputs(
        markers, affected_side, minutes, sfreq, p_flat_channel, p_noisy_channel
    )
    lesion_hemi = "left" if affected_side == "right" else "right"
    contra_hemi = "right" if lesion_hemi == "left" else "left"
    # Marker percentiles, 0-1 (uniform over the population; higher is better).
    g_erd, g_cmc, g_burst, g_tone, g_sel = (float(ndtr(markers[k])) for k in _MARKER_NAMES)
    events = _schedule(rng, n_times / sfreq)
    rate = _ENV_RATE
    code, since = _phase_codes(events, int(np.ceil(n_times * rate / sfreq)) + 1, rate)
    n_eeg = len(EEG_CHANNELS)
    xy = np.array([_POS[ch] for ch in EEG_CHANNELS])

    eeg = _eeg_background(rng, xy, n_times, sfreq)
    depth, delay, beta_src = _add_beta(
        rng, eeg, xy, code, since, n_times, sfreq, g_erd, lesion_hemi, contra_hemi
    )
    emg, emg_truth = _paretic_emg(
        rng, beta_src[lesion_hemi], code, n_times, sfreq, g_cmc, g_burst, g_tone, g_sel
    )
    data = np.concatenate([eeg, emg], axis=0)

    # --- Nuisances.
    mains, hum = _add_drift_and_mains(rng, data, n_eeg, n_times, sfreq)
    n_blinks = _add_blinks(rng, data, xy, minutes, sfreq)
    n_pops = _add_pops(rng, data, n_eeg, minutes, sfreq)
    bad = _add_bad_channels(rng, data, hum, p_flat_channel, p_noisy_channel)

    truth = {
        "erd_depth_lesioned": depth[lesion_hemi],
        "erd_depth_contralesional": depth[contra_hemi],
        "erd_delay_s": delay[lesion_hemi],
        **emg_truth,
        "bad_channels": ";".join(bad),
        "n_blinks": n_blinks,
        "n_pops": n_pops,
        "mains_uV": float(np.median(mains)),
    }
    return data, events, truth


def _checked_eeg_emg_inputs(
    markers: Mapping[str, float],
    affected_side: str,
    minutes: float,
    sfreq: float,
    p_flat_channel: float,
    p_noisy_channel: float,
) -> int:
    """The recording's sample count, after refusing options or markers it cannot use."""
    from rehab_core._validation import check_option, check_positive, check_range

    check_option("affected_side", affected_side, ("left", "right"))
    check_positive("minutes", minutes)
    check_range("sfreq", sfreq, 500.0, 20_000.0)  # EMG content and 150-Hz mains need >= 500 Hz
    check_range("p_flat_channel", p_flat_channel, 0.0, 1.0)
    check_range("p_noisy_channel", p_noisy_channel, 0.0, 1.0)
    n_times = int(round(minutes * 60.0 * sfreq))
    if n_times < 2 * sfreq:
        raise ValueError(
            f"minutes={minutes!r} is too short; simulate at least 2 s (one trial phase)."
        )
    missing = sorted(set(_MARKER_NAMES) - set(markers))
    if missing:
        raise ValueError(f"markers lacks the EEG-EMG marker(s) {', '.join(missing)}.")
    if not all(np.isfinite(float(markers[k])) for k in _MARKER_NAMES):
        raise ValueError(f"markers={dict(markers)!r} must be finite values.")
    return n_times


def _eeg_background(
    rng: np.random.Generator, xy: np.ndarray, n_times: int, sfreq: float
) -> np.ndarray:
    """EEG background (1/f^alpha noise, spatially mixed) plus the posterior alpha rhythm."""
    # 1/f^alpha noise, spatially mixed (volume conduction).
    exponent = rng.uniform(1.2, 1.8)
    bg = _shaped_noise(
        rng, len(xy), n_times, sfreq, lambda f: 1.0 / np.maximum(f, 0.5) ** (exponent / 2)
    )
    dist = np.linalg.norm(xy[:, None, :] - xy[None, :, :], axis=-1)
    mix = np.exp(-dist / 0.35)
    mix /= np.linalg.norm(mix, axis=1, keepdims=True)
    eeg = rng.uniform(7.0, 12.0) * (mix @ bg)

    # Alpha (posterior) and mu (central) rhythms with waxing/waning.
    f_alpha = rng.uniform(8.5, 11.5)
    slow = _shaped_noise(rng, 2, n_times, sfreq, lambda f: (f < 0.3).astype(float))
    alpha = _shaped_noise(rng, 1, n_times, sfreq, _band(f_alpha, 1.0))[0] * np.exp(0.4 * slow[0])
    w_alpha = np.exp(-((xy[:, 1] + 0.6) ** 2) / (2 * 0.3**2))
    eeg += rng.uniform(4.0, 9.0) * w_alpha[:, None] * alpha
    return eeg


def _add_beta(
    rng: np.random.Generator,
    eeg: np.ndarray,
    xy: np.ndarray,
    code: np.ndarray,
    since: np.ndarray,
    n_times: int,
    sfreq: float,
    g_erd: float,
    lesion_hemi: str,
    contra_hemi: str,
) -> tuple[dict[str, float], dict[str, float], dict[str, np.ndarray]]:
    """Add sensorimotor beta to ``eeg`` in place: one source per hemisphere near the leg area.

    Each patient's overall modulation depth varies; the lesioned side is shallower,
    later and rebounds less with a low ``erd`` marker. Returns the depth and delay per
    hemisphere and each hemisphere's source signal.
    """
    rate = _ENV_RATE
    f_beta = rng.uniform(17.0, 23.0)
    depth0 = rng.uniform(0.45, 0.75)
    depth = {
        lesion_hemi: depth0 * (0.15 + 0.85 * g_erd),
        contra_hemi: depth0 * (0.6 + 0.3 * (1.0 - g_erd)),
    }
    rebound = {lesion_hemi: 0.4 * g_erd, contra_hemi: 0.25}
    delay = {lesion_hemi: 0.4 * (1.0 - g_erd), contra_hemi: 0.0}
    carriers = _shaped_noise(rng, 2, n_times, sfreq, _band(f_beta, 2.5))
    a_beta = rng.uniform(4.0, 6.5)
    beta_src = {}
    for k, hemi in enumerate(("left", "right")):
        env = _upsample(
            _beta_envelope(code, since, rate, depth[hemi], rebound[hemi], delay[hemi]),
            rate,
            n_times,
            sfreq,
        )
        beta_src[hemi] = carriers[k] * env
        x0 = -0.25 if hemi == "left" else 0.25
        w = np.exp(-((xy[:, 0] - x0) ** 2 + xy[:, 1] ** 2) / (2 * 0.22**2))
        eeg += a_beta * w[:, None] * beta_src[hemi][None, :]
    return depth, delay, beta_src


def _paretic_emg(
    rng: np.random.Generator,
    lesioned_beta: np.ndarray,
    code: np.ndarray,
    n_times: int,
    sfreq: float,
    g_cmc: float,
    g_burst: float,
    g_tone: float,
    g_sel: float,
) -> tuple[np.ndarray, dict[str, float]]:
    """EMG of the paretic leg, and its ground-truth parameters.

    Patient-level burst amplitude, tone, selectivity and coupling (to the lesioned
    hemisphere's beta) from the markers; per-muscle gains, tone and spectra vary as
    nuisances.
    """
    rate = _ENV_RATE
    n_emg = len(EMG_CHANNELS)
    selectivity = g_sel
    onset_delay = 0.08 + 0.35 * (1.0 - g_sel)
    tone = 2.0 + 6.0 * (1.0 - g_tone)
    burst_amp = 15.0 + 120.0 * g_burst
    cmc = 0.6 * g_cmc
    conduction = 0.03 * sfreq  # cortex -> thigh, ~30 ms
    drive = _delay(lesioned_beta, conduction, 0.0)
    drive_mod = np.clip(1.0 + cmc * drive, 0.0, None)
    flex = _upsample(_burst_profile(code, 1, rate, onset_delay), rate, n_times, sfreq)
    ext = _upsample(_burst_profile(code, 3, rate, onset_delay), rate, n_times, sfreq)
    # Spectrum per muscle: high-pass corner ~30 Hz and low-pass ~200 Hz scaled together
    # (fibre-type mix, conduction velocity, electrode distance), peak near 80 Hz.
    corner = 30.0 * np.exp(rng.normal(0.0, 0.15) + rng.normal(0.0, 0.1, n_emg))
    emg_carrier = np.vstack(
        [
            _shaped_noise(
                rng,
                1,
                n_times,
                sfreq,
                lambda f, f0=f0: (f / f0) ** 2 / (1 + (f / f0) ** 2) / (1 + (f / (6.7 * f0)) ** 2),
            )
            for f0 in corner
        ]
    )
    emg = np.empty((n_emg, n_times))
    gains = np.exp(rng.normal(0.0, 0.3, n_emg))  # skin and adipose tissue per muscle
    activation = np.exp(rng.normal(0.0, 0.2, n_emg))  # how much each muscle is recruited
    tones = tone * np.exp(rng.normal(0.0, 0.3, n_emg))  # spasticity differs between muscles
    ratios = []
    for j, ch in enumerate(EMG_CHANNELS):
        w_f, w_e = _MUSCLE_ROLE[ch]
        w_f = selectivity * w_f + (1.0 - selectivity) * 0.6
        w_e = selectivity * w_e + (1.0 - selectivity) * 0.6
        envelope = tones[j] + burst_amp * activation[j] * (w_f * flex + w_e * ext)
        emg[j] = gains[j] * envelope * drive_mod * emg_carrier[j]
        peak = tones[j] + burst_amp * activation[j] * max(w_f, w_e)
        ratios.append(peak / np.hypot(tones[j], 1.5 / gains[j]))
    emg += 1.5 * rng.standard_normal((n_emg, n_times))  # amplifier floor
    return emg, {
        "cmc_coupling": cmc,
        "emg_burst_uV": burst_amp,
        "emg_tone_uV": tone,
        "emg_burst_ratio": float(np.median(ratios)),
        "emg_selectivity": selectivity,
        "emg_onset_delay_s": onset_delay,
        "emg_peak_hz": float(np.median(corner) * np.sqrt(6.7)),
    }


def _add_drift_and_mains(
    rng: np.random.Generator, data: np.ndarray, n_eeg: int, n_times: int, sfreq: float
) -> tuple[np.ndarray, np.ndarray]:
    """Add slow electrode drift and 50/150-Hz mains hum in place; return the hum's
    per-channel amplitudes and its waveform."""
    drift = _shaped_noise(
        rng, len(data), n_times, sfreq, lambda f: 1.0 / np.maximum(f, 0.01) * (f < 0.2)
    )
    data[:n_eeg] += rng.uniform(8.0, 20.0) * drift[:n_eeg]
    data[n_eeg:] += 2.0 * drift[n_eeg:]
    mains = np.exp(rng.normal(np.log(2.0), 0.5, len(data)))
    phase = rng.uniform(0, 2 * np.pi)
    t = np.arange(n_times) / sfreq
    hum = np.sin(2 * np.pi * 50.0 * t + phase) + 0.3 * np.sin(2 * np.pi * 150.0 * t + 3 * phase)
    data += mains[:, None] * hum[None, :]
    return mains, hum


def _add_blinks(
    rng: np.random.Generator, data: np.ndarray, xy: np.ndarray, minutes: float, sfreq: float
) -> int:
    """Add eye blinks (frontal) to the EEG rows of ``data`` in place; return their count."""
    n_eeg, n_times = len(xy), data.shape[1]
    n_blinks = int(rng.poisson(12.0 * minutes))
    blink_w = np.exp(-((xy[:, 1] - 0.6) ** 2) / (2 * 0.3**2))
    kernel_t = np.arange(int(0.5 * sfreq)) / sfreq
    blink_shape = (kernel_t / 0.1) ** 2 * np.exp(-kernel_t / 0.05)
    blink_shape /= blink_shape.max()
    for onset in rng.uniform(0, max(n_times - kernel_t.size, 1), n_blinks).astype(int):
        seg = slice(onset, onset + kernel_t.size)
        data[:n_eeg, seg] += (
            rng.uniform(60, 150) * blink_w[:, None] * blink_shape[None, : n_times - onset]
        )
    return n_blinks


def _add_pops(
    rng: np.random.Generator, data: np.ndarray, n_eeg: int, minutes: float, sfreq: float
) -> int:
    """Add electrode pops (step and exponential decay) to EEG channels in place; return
    their count."""
    n_times = data.shape[1]
    n_pops = int(rng.poisson(0.4 * minutes))
    for _ in range(n_pops):
        ch = int(rng.integers(n_eeg))
        i0 = int(rng.integers(n_times))
        tau = rng.uniform(0.3, 1.0) * sfreq
        data[ch, i0:] += (
            rng.choice([-1, 1]) * rng.uniform(40, 150) * np.exp(-np.arange(n_times - i0) / tau)
        )
    return n_pops


def _add_bad_channels(
    rng: np.random.Generator,
    data: np.ndarray,
    hum: np.ndarray,
    p_flat_channel: float,
    p_noisy_channel: float,
) -> list[str]:
    """Maybe make one EEG channel flat and one noisy, in place; return them as
    ``"NAME:flat"`` / ``"NAME:noisy"``."""
    n_eeg, n_times = len(EEG_CHANNELS), data.shape[1]
    bad = []
    if rng.random() < p_flat_channel:
        ch = int(rng.integers(n_eeg))
        data[ch] = 0.05 * rng.standard_normal(n_times)
        bad.append(f"{EEG_CHANNELS[ch]}:flat")
    if rng.random() < p_noisy_channel:
        ch = int(rng.integers(n_eeg))
        if f"{EEG_CHANNELS[ch]}:flat" not in bad:
            data[ch] += 60.0 * rng.standard_normal(n_times) + 25.0 * hum
            bad.append(f"{EEG_CHANNELS[ch]}:noisy")
    return bad

"""Hand-made per-modality summaries: a transparent baseline for the deep models.

Each summary reads what a file holds (no ground truth) plus the paretic side
from ``participants.tsv``, and returns a few numbers that, by construction of
the generator, move with that modality's markers:

* :func:`signal_summary` (EEG-EMG): beta ERD laterality, corticomuscular beta
  coherence, EMG burst-to-tone ratio;
* :func:`fmri_summary` (BOLD, given a voxel-to-MNI affine: the synthetic files
  are in scanner space, so pass an estimated or the true registration):
  hemispheric and motor-region ALFF asymmetry, interhemispheric motor
  connectivity and the hyperintense (lesion) fraction of the lesioned
  hemisphere.

Every feature is oriented so that larger means better integrity.
"""

from __future__ import annotations

import numpy as np

from rehab_core._validation import check_option, check_positive

__all__ = ["signal_summary", "fmri_summary", "SIGNAL_FEATURES", "FMRI_FEATURES"]

SIGNAL_FEATURES: tuple[str, ...] = ("beta_erd_laterality", "cmc_beta", "emg_burst_log_ratio")
FMRI_FEATURES: tuple[str, ...] = (
    "alff_hemisphere_log_ratio",
    "alff_motor_log_ratio",
    "motor_interhemispheric_z",
    "healthy_fraction",
)


def _lesioned(affected_side: str) -> tuple[str, str]:
    check_option("affected_side", affected_side, ("left", "right"))
    return ("left", "right") if affected_side == "right" else ("right", "left")


def signal_summary(
    data: np.ndarray, sfreq: float, ch_names: list[str] | tuple[str, ...], *, affected_side: str
) -> dict[str, float]:
    """Summarise an EEG-EMG recording of the flexion-extension task.

    Movement periods are found from the EMG (rectified, smoothed, above 30 %
    of its 5-95 % range); no event file is needed.

    Parameters
    ----------
    data : ndarray, shape (n_chans, n_times)
        Signals in µV (float). Not modified.
    sfreq : float
        Sampling rate (Hz).
    ch_names : sequence of str
        Channel names; must include ``C1 C3 CP1 FC1 C2 C4 CP2 FC2`` and at
        least one ``EMG_*`` channel.
    affected_side : {"left", "right"}
        Paretic body side (the lesion is in the opposite hemisphere).

    Returns
    -------
    dict of str to float
        ``beta_erd_laterality``: ERD (1 - beta power moving / still, median
        of the four motor channels) of the lesioned minus the contralesional
        hemisphere; ``cmc_beta``: median over EMG channels of the 15-30 Hz
        magnitude-squared coherence between the lesioned-hemisphere motor
        EEG (mean of its four channels) and the rectified EMG divided by its
        0.2-s envelope (so bursts do not outweigh the rest of the task);
        ``emg_burst_log_ratio``: median over EMG channels of
        ``log(P95 / P5)`` of the EMG envelope. Also ``erd_lesioned`` and
        ``erd_contralesional``.
    """
    from scipy.ndimage import uniform_filter1d
    from scipy.signal import butter, coherence, sosfiltfilt

    from rehab_core.demo._eegemg import hemisphere_motor_channels

    if (
        not isinstance(data, np.ndarray)
        or data.ndim != 2
        or not np.issubdtype(data.dtype, np.floating)
    ):
        raise ValueError("data must be a 2-D float array (n_chans, n_times) in µV.")
    check_positive("sfreq", sfreq)
    if len(ch_names) != data.shape[0]:
        raise ValueError(f"{len(ch_names)=} but data has {data.shape[0]} channels.")
    les, con = _lesioned(affected_side)
    index = {name: i for i, name in enumerate(ch_names)}
    need = hemisphere_motor_channels("left") + hemisphere_motor_channels("right")
    missing = [ch for ch in need if ch not in index]
    emg_idx = [i for i, name in enumerate(ch_names) if name.upper().startswith("EMG")]
    if missing or not emg_idx:
        what = ", ".join(missing) if missing else "any EMG_* channel"
        raise ValueError(f"signal_summary needs the motor EEG channels and EMG; missing {what}.")

    hp = butter(4, 20.0, btype="highpass", fs=sfreq, output="sos")
    emg = np.abs(sosfiltfilt(hp, data[emg_idx], axis=-1))
    env = uniform_filter1d(emg, int(0.2 * sfreq), axis=-1)
    lo, hi = np.percentile(env, [5, 95], axis=-1)
    burst = np.log((hi + 1e-9) / (lo + 1e-9))
    total = (env - lo[:, None]) / (hi - lo + 1e-9)[:, None]
    moving = total.mean(axis=0) > 0.3

    beta = butter(4, (15.0, 28.0), btype="bandpass", fs=sfreq, output="sos")
    erd = {}
    for hemi in (les, con):
        chans = [index[ch] for ch in hemisphere_motor_channels(hemi)]
        power = sosfiltfilt(beta, data[chans], axis=-1) ** 2
        power = uniform_filter1d(power, int(0.25 * sfreq), axis=-1)
        move = np.median(power[:, moving], axis=-1)
        still = np.median(power[:, ~moving], axis=-1)
        erd[hemi] = float(np.median(1.0 - move / (still + 1e-12)))

    eeg_hp = butter(4, 5.0, btype="highpass", fs=sfreq, output="sos")
    motor = sosfiltfilt(
        eeg_hp, data[[index[ch] for ch in hemisphere_motor_channels(les)]], axis=-1
    ).mean(axis=0)
    nper = int(sfreq)
    coh = []
    whitened = emg / (env + 1e-9)  # equal weight to bursts and tone
    for row in whitened:
        f, cxy = coherence(motor, row - row.mean(), fs=sfreq, nperseg=nper)
        coh.append(cxy[(f >= 15.0) & (f <= 30.0)].mean())
    return {
        "beta_erd_laterality": erd[les] - erd[con],
        "cmc_beta": float(np.median(coh)),
        "emg_burst_log_ratio": float(np.median(burst)),
        "erd_lesioned": erd[les],
        "erd_contralesional": erd[con],
    }


def fmri_summary(
    data: np.ndarray, affine: np.ndarray, tr: float, *, affected_side: str
) -> dict[str, float]:
    """Summarise a resting-state BOLD run by lesion and motor-network asymmetry.

    Parameters
    ----------
    data : ndarray, shape (X, Y, Z, T)
        BOLD intensities (any real dtype). Not modified.
    affine : ndarray, shape (4, 4)
        Voxel-to-MNI affine (mm), e.g. ``affine_fit_scanner_to_mni @ file affine``
        from a synthetic patient's true transform; the file's own affine only
        for files already in MNI space.
    tr : float
        Repetition time (s).
    affected_side : {"left", "right"}
        Paretic body side (the lesion is in the opposite hemisphere).

    Returns
    -------
    dict of str to float
        ``alff_hemisphere_log_ratio``: log of mean ALFF (0.01-0.08 Hz
        amplitude) in the lesioned over the contralesional hemisphere;
        ``alff_motor_log_ratio``: the same within the motor regions of
        :data:`rehab_core.demo.MOTOR_ROIS`; ``motor_interhemispheric_z``:
        Fisher z of the correlation between the two hemispheres' motor-region
        time series after removing the global signal;
        ``healthy_fraction``: 1 minus the fraction of lesioned-hemisphere
        brain voxels that look infarcted: brighter than 1.25 x their mirror
        voxel and quiet (ALFF / mean below 0.6 x the brain median).
    """
    from scipy.signal import detrend

    from rehab_core.demo._bold import MOTOR_ROIS, roi_mask

    if not isinstance(data, np.ndarray) or data.ndim != 4:
        raise ValueError("data must be a 4-D array (X, Y, Z, T).")
    if data.shape[-1] < 8:
        raise ValueError(f"fmri_summary needs at least 8 volumes, got {data.shape[-1]}.")
    check_positive("tr", tr)
    les, _ = _lesioned(affected_side)
    sign = -1.0 if les == "left" else 1.0
    x = np.asarray(data, dtype=np.float32)
    shape = x.shape[:3]
    mean = x.mean(axis=-1)
    brain = mean > 0.25 * np.percentile(mean, 99)
    series = detrend(x[brain], axis=-1, type="linear")
    spec = np.abs(np.fft.rfft(series, axis=-1))
    f = np.fft.rfftfreq(x.shape[-1], tr)
    band = (f >= 0.01) & (f <= 0.08)
    if not band.any():
        band[1] = True
    alff = np.zeros(shape, np.float32)
    alff[brain] = spec[:, band].mean(axis=-1)

    ijk = np.indices(shape).reshape(3, -1).astype(float)
    xyz = (affine[:3, :3] @ ijk + affine[:3, 3:4]).reshape(3, *shape)
    ipsi = brain & (xyz[0] * sign > 2.0)
    contra = brain & (xyz[0] * sign < -2.0)
    hemi_ratio = np.log(alff[ipsi].mean() / alff[contra].mean())

    motor = {side: np.zeros(shape, bool) for side in (sign, -sign)}
    for center, radius in MOTOR_ROIS.values():
        for side in (sign, -sign):
            motor[side] |= roi_mask((center[0] * side, center[1], center[2]), radius, affine, shape)
    m_ipsi, m_con = motor[sign] & brain, motor[-sign] & brain
    motor_ratio = np.log(alff[m_ipsi].mean() / alff[m_con].mean())

    full = np.zeros((*shape, x.shape[-1]), np.float32)
    full[brain] = series
    glob = series.mean(axis=0)
    ts = []
    for m in (m_ipsi, m_con):
        s = full[m].mean(axis=0)
        s = s - glob * (s @ glob) / (glob @ glob + 1e-12)
        ts.append(s)
    r = float(np.corrcoef(ts[0], ts[1])[0, 1])
    z = float(np.arctanh(np.clip(r, -0.999, 0.999)))

    mirror_xyz = xyz.reshape(3, -1).copy()
    mirror_xyz[0] *= -1.0
    vox = np.linalg.inv(affine) @ np.vstack([mirror_xyz, np.ones(mirror_xyz.shape[1])])
    mi = np.clip(np.rint(vox[:3]).astype(int), 0, np.array(shape)[:, None] - 1)
    mirrored = mean[mi[0], mi[1], mi[2]].reshape(shape)
    rel_alff = np.zeros(shape, np.float32)
    rel_alff[brain] = alff[brain] / mean[brain]
    quiet = rel_alff < 0.6 * np.median(rel_alff[brain])
    lesion_like = ipsi & quiet & (mean > 1.25 * mirrored)
    return {
        "alff_hemisphere_log_ratio": float(hemi_ratio),
        "alff_motor_log_ratio": float(motor_ratio),
        "motor_interhemispheric_z": z,
        "healthy_fraction": float(1.0 - lesion_like.sum() / max(int(ipsi.sum()), 1)),
    }

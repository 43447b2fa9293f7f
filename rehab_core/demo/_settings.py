"""The settings that determine a synthetic cohort, byte for byte.

The lowest module of :mod:`rehab_core.demo`: the latent model, the generators
and the writer all import it, and it imports none of them (no circle).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from rehab_core._config import Settings
from rehab_core._validation import check_positive, check_range

__all__ = ["DEFAULT_MINUTES", "DEFAULT_VOLUMES", "GENERATOR_VERSION", "CohortSettings"]

GENERATOR_VERSION = 2
"""Version of the generative model (``docs/synthetic_cohort.md``); recorded in every cohort."""
DEFAULT_MINUTES = 9.0
"""Default EEG-EMG length (min): the paper's 9 minutes of the flexion-extension task."""
DEFAULT_VOLUMES: int | None = None
"""Default rs-fMRI length: ``None``, each site's own protocol (the paper's site: 120
volumes at TR 2 s). An int gives every patient that many volumes (tests use 50, the
shortest series :func:`rehab_core.io.read_fmri` accepts at TR 2 s)."""

_OPTIONAL_INT = {"volumes"}


@dataclasses.dataclass(frozen=True)
class CohortSettings(Settings):
    """Everything that determines a synthetic cohort, byte for byte.

    Parameters
    ----------
    n_patients : int
        Patients (all have rs-fMRI), 1-9999.
    n_with_signals : int
        How many of them also have EEG-EMG (a random subset).
    seed : int
        Root seed (non-negative).
    minutes : float
        EEG-EMG length per patient (min); the paper recorded 9.
    volumes : int or None
        rs-fMRI volumes per patient; None keeps each site's protocol
        (100-240 volumes, TR 2-3 s). :func:`rehab_core.io.read_fmri` needs
        at least 100 s (50 volumes at TR 2 s).
    latent_correlation : float
        Correlation ``rho`` of the two latents ``c`` and ``n``.
    weight_c, weight_n : float
        Positive weights of ``c`` and ``n`` in the recovery score.
    outcome_offset : float
        Shift of the recovery score; 0 gives half good, half poor.
    outcome_noise_sd : float
        ``sigma`` of the outcome noise; sets the latents' AUC (~0.92).
    baseline_noise_sd : float
        Noise of the baseline FMA-LE around the recovery score.
    baseline_days_effect : float
        Shift of the baseline state between day 0 and day 14 after stroke
        (early spontaneous recovery), in recovery-score units.
    fma_scale : float
        Slope ``k`` of the logistic map from latent score to FMA points.
    baseline_fma_mean : float
        Baseline FMA-LE of a patient with recovery score 0 on day 7 (points).
    marker_reliability : float
        Multiplies the share of every marker's variance that the latents
        explain (1 = the documented model; lower = noisier markers, lower
        per-modality ceilings). 0.05-1.5, and no marker above 0.95.
    p_flat_channel, p_noisy_channel : float
        Per-recording probability of one flat / one noisy EEG channel.
    """

    n_patients: int = 102
    n_with_signals: int = 86
    seed: int = 0
    minutes: float = DEFAULT_MINUTES
    volumes: int | None = DEFAULT_VOLUMES
    latent_correlation: float = 0.3
    weight_c: float = 0.9
    weight_n: float = 1.0
    outcome_offset: float = 0.0
    outcome_noise_sd: float = 0.85
    baseline_noise_sd: float = 1.3
    baseline_days_effect: float = 0.4
    fma_scale: float = 0.8
    baseline_fma_mean: float = 13.0
    marker_reliability: float = 1.0
    p_flat_channel: float = 0.05
    p_noisy_channel: float = 0.08

    def __post_init__(self) -> None:
        # Normalise numeric types so the JSON record (and thus the bytes of
        # cohort_settings.json) does not depend on 1 versus 1.0 or numpy scalars.
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None and f.name in _OPTIONAL_INT:
                continue
            if isinstance(value, bool) or not isinstance(
                value, (int, float, np.integer, np.floating)
            ):
                raise TypeError(f"{f.name} must be a number, got {type(value).__name__}.")
            if f.type == "int" or f.name in _OPTIONAL_INT:
                if not isinstance(value, (int, np.integer)):
                    raise TypeError(f"{f.name} must be an int, got {type(value).__name__}.")
                object.__setattr__(self, f.name, int(value))
            else:
                object.__setattr__(self, f.name, float(value))
        check_range("n_patients", self.n_patients, 1, 9999)
        check_range("n_with_signals", self.n_with_signals, 0, self.n_patients)
        check_positive("seed", self.seed, strict=False)
        check_positive("minutes", self.minutes)
        check_range("minutes", self.minutes, 1.0 / 6.0, 60.0)
        if self.volumes is not None:
            check_range("volumes", self.volumes, 8, 2000)
        check_range("latent_correlation", self.latent_correlation, -0.95, 0.95)
        check_positive("weight_c", self.weight_c)
        check_positive("weight_n", self.weight_n)
        check_positive("outcome_noise_sd", self.outcome_noise_sd)
        check_positive("baseline_noise_sd", self.baseline_noise_sd)
        check_range("baseline_days_effect", self.baseline_days_effect, -3.0, 3.0)
        check_positive("fma_scale", self.fma_scale)
        check_range("baseline_fma_mean", self.baseline_fma_mean, 1.0, 33.0)
        check_range("marker_reliability", self.marker_reliability, 0.05, 1.5)
        check_range("p_flat_channel", self.p_flat_channel, 0.0, 1.0)
        check_range("p_noisy_channel", self.p_noisy_channel, 0.0, 1.0)
        check_range("outcome_offset", self.outcome_offset, -10.0, 10.0)

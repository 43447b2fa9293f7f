"""The synthetic stroke cohort with known ground truth.

The paper's patients are not public, so the product ships a cohort anyone can
regenerate, with a documented generative model (``docs/synthetic_cohort.md``)
that says what every metric can at best reach:

* two correlated latent factors per patient, corticospinal integrity ``c``
  (encoded in the EEG-EMG) and motor-network integrity ``n`` (encoded in the
  rs-fMRI), set the 3-month lower-limb Fugl-Meyer through Gaussian noise;
* ``ground_truth.tsv`` holds the latents and the Bayes-optimal
  ``P(good | c, n)`` (AUC about 0.90 for the default model; about 0.80 from
  ``c`` alone and 0.82 from ``n`` alone).

Entry points
------------
generate_cohort(out_dir, *, n_patients=102, n_with_signals=86, seed=0, ...)
    Write the whole cohort (BIDS-like) and return a :class:`CohortInfo`.
generate_patient(out_dir, *, seed, participant_id="sub-demo", ...)
    Write one patient (the dashboard's one-click demo).
simulate_eeg_emg / simulate_bold
    The array-level generators behind them.
signal_summary / fmri_summary
    Hand-made per-modality features; a transparent baseline.
latent_auc_ceiling
    Monte-Carlo AUC ceilings of the generative model.

Importing this package imports only numpy; scipy, nibabel and nilearn are
imported when a generator runs.
"""

from __future__ import annotations

from rehab_core.demo._bold import (
    GRID_AFFINE,
    GRID_SHAPE,
    GRID_ZOOMS,
    LESION_SITES,
    MOTOR_ROIS,
    TR_S,
    simulate_bold,
)
from rehab_core.demo._cohort import (
    DEFAULT_MINUTES,
    DEFAULT_VOLUMES,
    CohortInfo,
    CohortSettings,
    PatientFiles,
    generate_cohort,
    generate_patient,
)
from rehab_core.demo._eegemg import CHANNELS, EEG_CHANNELS, EMG_CHANNELS, PHASES, simulate_eeg_emg
from rehab_core.demo._latent import (
    draw_latents,
    integrity_percentile,
    latent_auc_ceiling,
    p_good_given_latents,
)
from rehab_core.demo._summaries import FMRI_FEATURES, SIGNAL_FEATURES, fmri_summary, signal_summary

__all__ = [
    "generate_cohort",
    "generate_patient",
    "CohortSettings",
    "CohortInfo",
    "PatientFiles",
    "DEFAULT_MINUTES",
    "DEFAULT_VOLUMES",
    "draw_latents",
    "p_good_given_latents",
    "latent_auc_ceiling",
    "integrity_percentile",
    "simulate_eeg_emg",
    "simulate_bold",
    "signal_summary",
    "fmri_summary",
    "SIGNAL_FEATURES",
    "FMRI_FEATURES",
    "CHANNELS",
    "EEG_CHANNELS",
    "EMG_CHANNELS",
    "PHASES",
    "GRID_SHAPE",
    "GRID_ZOOMS",
    "GRID_AFFINE",
    "TR_S",
    "MOTOR_ROIS",
    "LESION_SITES",
]

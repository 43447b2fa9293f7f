"""The synthetic stroke cohort with known ground truth (generator v2).

The paper's patients are not public, so the product ships a cohort anyone can
regenerate, with a documented generative model (``docs/synthetic_cohort.md``)
that says what every metric can at best reach:

* two correlated latent factors per patient, corticospinal integrity ``c``
  and motor-network integrity ``n``, set the 3-month lower-limb Fugl-Meyer
  through Gaussian noise;
* each modality sees the latents only through noisy **markers** (lesion load
  and volume, motor connectivity and ALFF for the fMRI; ERD, corticomuscular
  coupling, EMG bursts, tone and selectivity for the EEG-EMG), each a mix of
  both latents with its own noise; the baseline FMA-LE has its own noise too;
* every brain is the MNI152 template deformed (size, shape, warp, ageing)
  and imaged in scanner space at one of four sites (matrix, voxel size, TR,
  volumes, orientation, slab angulation, intensity, bias, noise);
* ``ground_truth.tsv`` holds the latents, the markers and the exact
  probabilities ``P(good | ...)`` given the latents, each modality's markers,
  both, the clinical fields and everything: each table row's ceiling.

Entry points
------------
generate_cohort(out_dir, *, n_patients=102, n_with_signals=86, seed=0, ...)
    Write the whole cohort (BIDS-like) and return a :class:`CohortInfo`.
generate_patient(out_dir, *, seed, participant_id="sub-demo", ...)
    Write one patient (the dashboard's one-click demo).
draw_cohort(settings)
    The latents, markers and ceilings a cohort would get, without files.
read_true_transform / true_scanner_to_mni / true_mni_to_scanner
    Each patient's true scanner-to-MNI mapping (to score registration).
simulate_eeg_emg / simulate_bold
    The array-level generators behind them.
signal_summary / fmri_summary
    Hand-made per-modality features; a transparent baseline.
latent_auc_ceiling
    Monte-Carlo population AUCs of every ceiling.

Importing this package imports only numpy; scipy, nibabel and nilearn's
template files are used when a generator runs.
"""

from __future__ import annotations

from rehab_core.demo._anatomy import (
    LANDMARKS,
    MNI_SPACE,
    SITES,
    HeadModel,
    ScannerProtocol,
    true_mni_to_scanner,
    true_scanner_to_mni,
)
from rehab_core.demo._bold import (
    CST_PATH,
    LESION_SITES,
    MOTOR_ROIS,
    SimulatedBold,
    simulate_bold,
)
from rehab_core.demo._cohort import (
    CohortInfo,
    PatientFiles,
    draw_cohort,
    generate_cohort,
    generate_patient,
    read_true_transform,
)
from rehab_core.demo._eegemg import CHANNELS, EEG_CHANNELS, EMG_CHANNELS, PHASES, simulate_eeg_emg
from rehab_core.demo._latent import (
    EEGEMG_MARKERS,
    FMRI_MARKERS,
    MARKERS,
    SITE_PROBABILITIES,
    Marker,
    draw_latents,
    integrity_percentile,
    latent_auc_ceiling,
    marker_loadings,
    p_good_given_clinical,
    p_good_given_latents,
    p_good_given_markers,
)
from rehab_core.demo._settings import (
    DEFAULT_MINUTES,
    DEFAULT_VOLUMES,
    GENERATOR_VERSION,
    CohortSettings,
)
from rehab_core.demo._summaries import FMRI_FEATURES, SIGNAL_FEATURES, fmri_summary, signal_summary

__all__ = [
    "generate_cohort",
    "generate_patient",
    "draw_cohort",
    "CohortSettings",
    "CohortInfo",
    "PatientFiles",
    "DEFAULT_MINUTES",
    "DEFAULT_VOLUMES",
    "GENERATOR_VERSION",
    "MARKERS",
    "FMRI_MARKERS",
    "EEGEMG_MARKERS",
    "Marker",
    "marker_loadings",
    "draw_latents",
    "p_good_given_latents",
    "p_good_given_markers",
    "p_good_given_clinical",
    "latent_auc_ceiling",
    "integrity_percentile",
    "SITES",
    "SITE_PROBABILITIES",
    "ScannerProtocol",
    "HeadModel",
    "MNI_SPACE",
    "LANDMARKS",
    "read_true_transform",
    "true_scanner_to_mni",
    "true_mni_to_scanner",
    "simulate_eeg_emg",
    "simulate_bold",
    "SimulatedBold",
    "signal_summary",
    "fmri_summary",
    "SIGNAL_FEATURES",
    "FMRI_FEATURES",
    "CHANNELS",
    "EEG_CHANNELS",
    "EMG_CHANNELS",
    "PHASES",
    "MOTOR_ROIS",
    "LESION_SITES",
    "CST_PATH",
]

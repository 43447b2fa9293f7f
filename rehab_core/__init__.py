"""rehab_core: the science behind the stroke lower-limb recovery dashboard.

Predicts a good (> 17 of 34) or poor lower-limb Fugl-Meyer score three months
after ischaemic stroke from synchronised EEG + EMG and resting-state fMRI,
after Shi et al. 2025 (Front. Neurosci. 19:1616957).

Subpackages (imported lazily, so ``import rehab_core`` stays fast):

io          readers for EEG-EMG text/EDF/BDF/BrainVision/FIF/EEGLAB and NIfTI
signals     filtering, artifact handling, windowing, z-scoring, QC
imaging     fMRI resampling, slice screening, derived maps, 224x224 slices, QC
demo        the synthetic cohort with known ground truth
models      the five image backbones, the LSTM and fusion
training    splits, loops, schedules, early stopping
evaluation  metrics with bootstrap intervals, ROC, calibration, tables
explain     Grad-CAM overlays and signal attributions
storage     patient records, uploads, predictions
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBPACKAGES = (
    "io", "signals", "imaging", "demo", "models", "training",
    "evaluation", "explain", "storage", "fusion",
)

__all__ = ["__version__", *_SUBPACKAGES]


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"rehab_core.{name}")
    raise AttributeError(f"module 'rehab_core' has no attribute {name!r}")

"""Late fusion of the EEG-EMG and fMRI scores, and what is built on the fused score.

LateFusion          p_good = w * signal + (1 - w) * image, w by stratified CV (scikit-learn API)
FMARegressor        continuous 3-month FMA-LE with a conformal-style interval (beyond the paper)
predict_fma         its prediction for many patients, NaN where an input is missing
ensemble_interval   per-patient mean and percentile interval over fold/bootstrap/MC-dropout members
ClinicalLogistic    the clinical comparator (baseline FMA-LE, age, days since stroke) and,
                    with score_feature, "fusion + clinical"
out_of_fold_predict each patient's prediction from the given fold that held it out (fold_indices)
"""

from __future__ import annotations

from rehab_core.fusion._clinical import (
    CLINICAL_FEATURES,
    ClinicalLogistic,
    fold_indices,
    out_of_fold_predict,
)
from rehab_core.fusion._ensemble import EnsembleInterval, ensemble_interval
from rehab_core.fusion._late import LateFusion
from rehab_core.fusion._regressor import FMA_MAX, FMARegressor, predict_fma

__all__ = [
    "CLINICAL_FEATURES",
    "FMA_MAX",
    "ClinicalLogistic",
    "EnsembleInterval",
    "FMARegressor",
    "LateFusion",
    "ensemble_interval",
    "fold_indices",
    "out_of_fold_predict",
    "predict_fma",
]

"""Metrics with bootstrap intervals, ROC and calibration curves, paper-style tables.

Pure numpy / scikit-learn; every output is made of Python builtins so it can
be written as JSON beside the predictions it describes.  The positive class
is the good outcome (3-month lower-limb Fugl-Meyer > 17 of 34, label 1).

Functions
---------
binary_metrics       accuracy, recall, precision, F1, ROC AUC, specificity, ... (= sklearn)
bootstrap_metrics    the same with stratified percentile bootstrap intervals
regression_metrics   MAE (with interval), RMSE, R^2, Spearman of a continuous FMA-LE prediction
roc_auc              the package's one ROC AUC (NaN with a single outcome class)
roc_points           ROC curve as lists
calibration_bins     reliability diagram bins and expected calibration error
evaluate_model       one model's record -> ModelEvaluation
paper_tables         Tables 1-3 of Shi et al. 2025 with intervals; to_markdown / to_json
scored_patients      one table row's per-patient scores (the input of ROC curves)
bayes_ceiling_auc    AUC of a synthetic cohort's Bayes-optimal probabilities (its ceiling)
bayes_probabilities  those probabilities per patient
"""

from __future__ import annotations

from rehab_core.evaluation._curves import calibration_bins, roc_points
from rehab_core.evaluation._metrics import (
    METRIC_NAMES,
    binary_metrics,
    bootstrap_metrics,
    regression_metrics,
    roc_auc,
)
from rehab_core.evaluation._report import (
    GROUPS,
    EvaluationSettings,
    ModelEvaluation,
    ModelResult,
    evaluate_model,
)
from rehab_core.evaluation._scores import (
    bayes_ceiling_auc,
    bayes_probabilities,
    scored_patients,
)
from rehab_core.evaluation._tables import (
    CEILING_LABEL,
    FUSION_MODELS,
    IMAGE_MODELS,
    SIGNAL_MODELS,
    TABLE_COLUMNS,
    format_interval,
    paper_tables,
    to_json,
    to_markdown,
)

__all__ = [
    "CEILING_LABEL",
    "FUSION_MODELS",
    "GROUPS",
    "IMAGE_MODELS",
    "METRIC_NAMES",
    "SIGNAL_MODELS",
    "TABLE_COLUMNS",
    "EvaluationSettings",
    "ModelEvaluation",
    "ModelResult",
    "bayes_ceiling_auc",
    "bayes_probabilities",
    "binary_metrics",
    "bootstrap_metrics",
    "calibration_bins",
    "evaluate_model",
    "format_interval",
    "paper_tables",
    "regression_metrics",
    "roc_auc",
    "roc_points",
    "scored_patients",
    "to_json",
    "to_markdown",
]

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
calibration_slope_intercept
                     logistic recalibration slope and calibration-in-the-large, with intervals
decision_curve       net benefit of a model, of treating all and of treating none
row_diagnostics      calibration slope/intercept and decision curve of every table row
paired_bootstrap_auc AUC difference of two scores on the same patients, paired bootstrap
delong_test          the same by DeLong's test (fast midrank algorithm of Sun & Xu 2014)
ceiling_column       which ground-truth column is the ceiling of a table row
ceiling_probabilities  that column's values for the row's patients
ceiling_fraction     (AUC - 0.5) / (ceiling - 0.5) with an interval from the same resamples
repeated_cv_summary  mean and SD of AUC over repeated cross-validation, pooled interval
repeated_cv_rows     a rehab repeated-cv summary as rows of text cells (file and page)
compare_runs         two runs differing in one choice, row by row: AUCs, ceiling, paired difference
seed_summary         mean and SD of metrics over external cohorts (generator seeds)
external_summary     every table row and paired difference over several unseen cohorts
external_tables      that summary as rows of text cells (the Evaluation page)
evaluate_model       one model's record -> ModelEvaluation
paper_tables         Tables 1-3 of Shi et al. 2025 with intervals; to_markdown / to_json
paired_differences   the table of paired AUC differences between rows (default_pairs)
scored_patients      one table row's per-patient scores (the input of ROC curves)
bayes_ceiling_auc    AUC of a synthetic cohort's Bayes-optimal probabilities (its ceiling)
bayes_probabilities  those probabilities per patient
"""

from __future__ import annotations

from rehab_core.evaluation._calibration import calibration_slope_intercept
from rehab_core.evaluation._ceiling import (
    CEILING_COLUMNS,
    CLINICAL_MODEL,
    CLINICAL_SUFFIX,
    ceiling_column,
    ceiling_fraction,
    ceiling_probabilities,
)
from rehab_core.evaluation._comparisons import (
    COMPARISON_FAMILIES,
    default_pairs,
    holm_adjust,
    paired_differences,
)
from rehab_core.evaluation._curves import calibration_bins, roc_points
from rehab_core.evaluation._decision import DEFAULT_THRESHOLDS, decision_curve
from rehab_core.evaluation._diagnostics import (
    NET_BENEFIT_THRESHOLDS,
    diagnostics_markdown,
    row_diagnostics,
)
from rehab_core.evaluation._external import (
    external_markdown,
    external_summary,
    external_tables,
)
from rehab_core.evaluation._metrics import (
    METRIC_NAMES,
    binary_metrics,
    bootstrap_metrics,
    regression_metrics,
    roc_auc,
)
from rehab_core.evaluation._paired import delong_test, paired_bootstrap_auc
from rehab_core.evaluation._repeats import repeated_cv_rows, repeated_cv_summary, seed_summary
from rehab_core.evaluation._report import (
    GROUPS,
    EvaluationSettings,
    ModelEvaluation,
    ModelResult,
    evaluate_model,
)
from rehab_core.evaluation._runs import compare_runs, compare_runs_markdown
from rehab_core.evaluation._scores import (
    bayes_ceiling_auc,
    bayes_probabilities,
    scored_patients,
)
from rehab_core.evaluation._tables import (
    CEILING_LABEL,
    FUSION_CLINICAL_MODELS,
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
    "CEILING_COLUMNS",
    "CEILING_LABEL",
    "CLINICAL_MODEL",
    "CLINICAL_SUFFIX",
    "COMPARISON_FAMILIES",
    "DEFAULT_THRESHOLDS",
    "FUSION_CLINICAL_MODELS",
    "FUSION_MODELS",
    "GROUPS",
    "IMAGE_MODELS",
    "METRIC_NAMES",
    "NET_BENEFIT_THRESHOLDS",
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
    "calibration_slope_intercept",
    "ceiling_column",
    "ceiling_fraction",
    "ceiling_probabilities",
    "compare_runs",
    "compare_runs_markdown",
    "decision_curve",
    "default_pairs",
    "delong_test",
    "diagnostics_markdown",
    "evaluate_model",
    "format_interval",
    "holm_adjust",
    "paired_bootstrap_auc",
    "paired_differences",
    "paper_tables",
    "regression_metrics",
    "repeated_cv_rows",
    "repeated_cv_summary",
    "roc_auc",
    "roc_points",
    "row_diagnostics",
    "scored_patients",
    "seed_summary",
    "external_summary",
    "external_markdown",
    "external_tables",
    "to_json",
    "to_markdown",
]

"""The clinical comparators of every table: "Clinical" and "<fusion> + clinical" (issue 13).

"Clinical" is a logistic model on baseline FMA-LE, age and days since stroke
(:class:`~rehab_core.fusion.ClinicalLogistic`); "<fusion> + clinical" adds the
fused probability as one more input. Both are fitted on the *same*
development folds as the deep models: a development patient's score comes
from the fold that held it out, and a held-out test patient's from the model
fitted on all development patients, so no comparator ever sees a patient it
is judged on. Patients without a clinical value take no part in these rows
(the count is stated); a cohort where too few have them gets no clinical row,
with the reason.

Fitted with a mild L2 penalty (``C=1`` on standardised inputs): the
unpenalised model has no finite fit when a small fold's outcomes are
separated by the baseline FMA-LE alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "CLINICAL_C",
    "ClinicalScores",
    "apply_state",
    "comparator_rows",
    "clinical_inputs",
    "fit_comparator",
    "fit_external",
]

#: Inverse L2 penalty of both comparators (standardised inputs).
CLINICAL_C = 1.0


def clinical_inputs(cohort: Any) -> dict[str, dict[str, float]]:
    """Per participant, each clinical feature of ``participants.tsv`` (NaN when absent or n/a)."""
    from rehab_core.fusion import CLINICAL_FEATURES

    out: dict[str, dict[str, float]] = {}
    for patient in cohort.patients:
        row = {}
        for feature in CLINICAL_FEATURES:
            try:
                value = float(patient.clinical.get(feature))
            except (TypeError, ValueError):
                value = math.nan
            row[feature] = value if math.isfinite(value) else math.nan
        if not 0.0 <= row.get("fma_le_baseline", 0.0) <= 34.0:
            row["fma_le_baseline"] = math.nan
        out[patient.participant_id] = row
    return out


def _complete(clinical: dict[str, dict[str, float]], ids: Any, score: Any = None) -> np.ndarray:
    """Which of ``ids`` have every clinical value (and a finite score, if one is given)."""
    ok = np.array(
        [p in clinical and all(math.isfinite(v) for v in clinical[p].values()) for p in ids],
        dtype=bool,
    )
    if score is not None:
        ok &= np.isfinite(np.asarray(score, dtype=float))
    return ok


def _columns(clinical, ids, score=None, score_feature=None) -> dict[str, np.ndarray]:
    from rehab_core.fusion import CLINICAL_FEATURES

    X = {f: np.array([clinical[p][f] for p in ids], dtype=float) for f in CLINICAL_FEATURES}
    if score_feature is not None:
        X[score_feature] = np.asarray(score, dtype=float)
    return X


def _model(score_feature: str | None) -> Any:
    from rehab_core.fusion import ClinicalLogistic

    return ClinicalLogistic(score_feature=score_feature, C=CLINICAL_C)


@dataclass(frozen=True)
class ClinicalScores:
    """One comparator's scores: out of fold on the development patients, and on the evaluated.

    ``model`` is fitted on every development patient with clinical data (its
    JSON state goes into the bundle for an external evaluation).
    """

    dev_ids: np.ndarray
    dev_oof: np.ndarray
    eval_ids: np.ndarray
    p_eval: np.ndarray
    model: Any
    n_eval_without: int


def fit_comparator(
    clinical: dict[str, dict[str, float]],
    plan: Any,
    targets: Any,
    *,
    score_dev: Any = None,
    score_eval: Any = None,
    score_feature: str | None = None,
) -> ClinicalScores:
    """Fit one comparator on the plan's development folds; score the evaluated patients.

    Parameters
    ----------
    clinical : dict
        :func:`clinical_inputs` of the cohort.
    plan : SplitPlan
        Its ``folds`` (patient ids ``train``/``score``) are the deep models' folds.
    targets : CohortTargets
    score_dev, score_eval : array-like, optional
        The fused probability of ``plan.dev_ids`` (out of fold) and of
        ``plan.eval_ids``, for "fusion + clinical" (``score_feature="p_fused"``).

    Raises
    ------
    ValueError
        Too few development patients with clinical data, or a fold without
        both outcomes: one sentence.
    """
    from rehab_core.fusion import fold_indices, out_of_fold_predict

    dev_mask = _complete(clinical, plan.dev_ids, score_dev)
    dev_ids = np.asarray(plan.dev_ids)[dev_mask]
    y_dev = targets.y(dev_ids)
    if len(dev_ids) < 4 or y_dev.all() or not y_dev.any():
        raise ValueError(
            f"only {len(dev_ids)} development patients have fma_le_baseline, age and "
            "days_since_stroke (with both outcomes needed)"
        )
    score_dev_ok = None if score_dev is None else np.asarray(score_dev, dtype=float)[dev_mask]
    X_dev = _columns(clinical, dev_ids, score_dev_ok, score_feature)
    kept = set(dev_ids)
    folds = []
    for fold in plan.folds:
        train = [p for p in fold.train if p in kept]
        score = [p for p in fold.score if p in kept]
        if score:
            folds.append((train, score))
    oof = out_of_fold_predict(_model(score_feature), X_dev, y_dev, fold_indices(dev_ids, folds))
    model = _model(score_feature).fit(X_dev, y_dev)
    if len(plan.test_ids):
        eval_mask = _complete(clinical, plan.eval_ids, score_eval)
        eval_ids = np.asarray(plan.eval_ids)[eval_mask]
        p_eval = np.full(0, np.nan)
        if len(eval_ids):
            score = None if score_eval is None else np.asarray(score_eval, dtype=float)[eval_mask]
            p_eval = model.predict_proba(_columns(clinical, eval_ids, score, score_feature))
        n_without = int((~eval_mask).sum())
    else:  # no hold-out set: the development patients' out-of-fold scores are the evaluation
        eval_ids, p_eval = dev_ids, oof
        n_without = int((~dev_mask).sum())
    return ClinicalScores(dev_ids, oof, eval_ids, p_eval, model, n_without)


def apply_state(
    state: dict[str, Any],
    clinical: dict[str, dict[str, float]],
    ids: Any,
    score: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A stored comparator (its JSON state) applied to ``ids``: ``(ids kept, p_good)``."""
    from rehab_core.fusion import ClinicalLogistic

    model = ClinicalLogistic.from_dict(state)
    mask = _complete(clinical, ids, score)
    kept = np.asarray(ids)[mask]
    if not len(kept):
        return kept, np.full(0, np.nan)
    s = None if score is None else np.asarray(score, dtype=float)[mask]
    return kept, model.predict_proba(_columns(clinical, kept, s, model.score_feature))


def fit_external(
    clinical: dict[str, dict[str, float]],
    ids: Any,
    labels: dict[str, int],
    *,
    score: Any = None,
    score_feature: str | None = None,
    n_folds: int = 5,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """A comparator fitted out of fold on the evaluated cohort itself (no stored state).

    Stratified patient-level folds over the patients with clinical data;
    returns ``(ids kept, out-of-fold p_good)``.
    """
    from rehab_core.fusion import fold_indices, out_of_fold_predict
    from rehab_core.training import patient_kfold

    mask = _complete(clinical, ids, score)
    kept = np.asarray(ids)[mask]
    y = np.asarray([labels[p] for p in kept])
    n_min = int(min(y.sum(), len(y) - y.sum())) if len(y) else 0
    if n_min < 2:
        raise ValueError(
            f"only {len(kept)} patients have the clinical data ({n_min} of the rarer outcome)"
        )
    folds = patient_kfold(kept, y, n_splits=min(n_folds, n_min), seed=seed)
    s = None if score is None else np.asarray(score, dtype=float)[mask]
    X = _columns(clinical, kept, s, score_feature)
    return kept, out_of_fold_predict(_model(score_feature), X, y, fold_indices(kept, folds))


def comparator_rows(
    name: str,
    ids: Any,
    y: Any,
    p_good: Any,
    signal_ids: Any,
    *,
    cv_auc: float | None = None,
    fused: bool = False,
) -> list[Any]:
    """A comparator's table rows: "<fusion> + clinical" in Table 3; "Clinical" in Tables 1
    and 3 and, on the patients with EEG-EMG (at least two), in Table 2."""
    from rehab_core.evaluation import ModelResult

    ids = [str(p) for p in ids]
    y, p_good = np.asarray(y), np.asarray(p_good, dtype=float)
    groups = ("fusion",) if fused else ("image", "fusion")
    out = [ModelResult(name, g, y, p_good, cv_auc, None, ids) for g in groups]
    if not fused:
        sig = {str(p) for p in signal_ids}
        keep = np.array([p in sig for p in ids], dtype=bool)
        if keep.sum() >= 2:
            kept = [p for p, k in zip(ids, keep, strict=True) if k]
            out.append(ModelResult(name, "signal", y[keep], p_good[keep], cv_auc, None, kept))
    return out

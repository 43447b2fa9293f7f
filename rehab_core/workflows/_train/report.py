"""The training run's evaluation: paper Tables 1-3, ``evaluation.json`` and ``tables.md``.

The test patients are scored by the ensembles (the members' mean); with
``test_fraction=0`` the development patients' out-of-fold scores are the
evaluation (cross-validated AUC). Next to every row: its cross-validated
AUC on the development patients and, for a synthetic cohort, the
Bayes-optimal ceiling on the same patients.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["EvaluationRows", "cv_auc", "training_report", "write_report"]


def cv_auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC over the patients with a score (NaN when undefined, as :func:`roc_auc`)."""
    from rehab_core.evaluation import roc_auc

    ok = ~np.isnan(p)
    return roc_auc(y[ok], p[ok]) if ok.any() else float("nan")


def _scores_of(ensemble: Any, plan: Any) -> np.ndarray:
    """The evaluation patients' scores: the members' mean on a test set, else out of fold."""
    if len(plan.test_ids):
        return ensemble.mean_scores(plan.eval_ids)
    return ensemble.oof_scores(plan.eval_ids)


@dataclass
class EvaluationRows:
    """The table rows of one run (:class:`~rehab_core.evaluation.ModelResult`), in table order.

    ``has_signal`` marks the evaluation patients with EEG-EMG (the LSTM row
    holds only those).
    """

    plan: Any
    targets: Any
    results: list[Any] = field(default_factory=list)
    has_signal: np.ndarray | None = None

    @property
    def y_eval(self) -> np.ndarray:
        return self.targets.y(self.plan.eval_ids)

    @property
    def y_dev(self) -> np.ndarray:
        return self.targets.y(self.plan.dev_ids)

    def add_signal(self, lstm: Any) -> np.ndarray:
        """The LSTM's row; returns its evaluation scores (NaN without EEG-EMG)."""
        from rehab_core.evaluation import ModelResult

        scores = _scores_of(lstm, self.plan)
        self.has_signal = ~np.isnan(scores)
        self.results.append(
            ModelResult(
                name="LSTM",
                group="signal",
                y_true=self.y_eval[self.has_signal],
                p_good=scores[self.has_signal],
                cv_auc=cv_auc(self.y_dev, lstm.oof_scores(self.plan.dev_ids)),
            )
        )
        return scores

    def add_backbone(self, display_name: str, image: Any, fit: Any) -> None:
        """The image backbone's row (Table 1) and its fusion's row (Table 3)."""
        from rehab_core.evaluation import ModelResult

        self.results.append(
            ModelResult(
                name=display_name,
                group="image",
                y_true=self.y_eval,
                p_good=_scores_of(image, self.plan),
                cv_auc=cv_auc(self.y_dev, image.oof_scores(self.plan.dev_ids)),
            )
        )
        self.results.append(
            ModelResult(
                name=f"{display_name}_LSTM",
                group="fusion",
                y_true=self.y_eval,
                p_good=fit.fused_eval,
                cv_auc=cv_auc(self.y_dev, fit.fused_dev),
            )
        )

    def image_scores(self, image: Any) -> np.ndarray:
        return _scores_of(image, self.plan)

    def tables(self, truth: dict[str, Any]) -> dict[str, Any]:
        """Paper Tables 1-3 with each group's Bayes ceiling on its own patients."""
        from rehab_core.evaluation import bayes_ceiling_auc, paper_tables

        eval_ids, y = self.plan.eval_ids, self.y_eval
        ceiling = bayes_ceiling_auc(truth, eval_ids, y)
        ceilings = {
            "fusion": ceiling,
            "image": ceiling,
            # the LSTM is scored only on the patients with EEG-EMG
            "signal": bayes_ceiling_auc(truth, eval_ids[self.has_signal], y[self.has_signal]),
        }
        kept = {group: value for group, value in ceilings.items() if value is not None}
        return paper_tables(self.results, ceiling_auc=kept or None)

    def predictions(self) -> list[dict[str, Any]]:
        """Every evaluated patient's score per row: the points of the ROC and calibration curves."""
        from rehab_core.evaluation import scored_patients

        eval_ids = self.plan.eval_ids
        sig_ids = [str(p) for p in np.asarray(eval_ids)[self.has_signal]]
        return [
            scored_patients(r, sig_ids if r.group == "signal" else eval_ids) for r in self.results
        ]


def training_report(
    rows: EvaluationRows,
    tables_json: dict[str, Any],
    *,
    cohort_dir: str | Path,
    truth: dict[str, Any],
    fingerprint: str,
    failures: dict[str, Any],
    settings: Any,
    seconds: float,
) -> dict[str, Any]:
    """The content of ``evaluation.json`` (its ``models`` filled by the caller)."""
    from rehab_core.evaluation import bayes_ceiling_auc, bayes_probabilities

    plan = rows.plan
    return {
        "cohort": str(cohort_dir),
        "fingerprint_sha256": fingerprint,
        "evaluated_on": "held-out test patients"
        if len(plan.test_ids)
        else "out-of-fold (cross-validation)",
        "n_eval_patients": int(len(plan.eval_ids)),
        "n_dev_patients": int(len(plan.dev_ids)),
        "bayes_ceiling_auc": bayes_ceiling_auc(truth, plan.eval_ids, rows.y_eval),
        "bayes_ceiling_auc_cv": bayes_ceiling_auc(truth, plan.dev_ids, rows.y_dev),
        "tables": tables_json,
        "predictions": rows.predictions(),
        "bayes_p_good": bayes_probabilities(truth, [*plan.eval_ids]),
        "failures": failures,
        "models": {},
        "seconds": round(seconds, 1),
        "settings": settings.to_dict(),
    }


def write_report(out_dir: Path, report: dict[str, Any], tables: dict[str, Any]) -> None:
    """Write ``evaluation.json`` (strict JSON) and ``tables.md`` beside the bundles."""
    from rehab_core._json import to_jsonable
    from rehab_core.evaluation import to_markdown
    from rehab_core.report.evaluation import TABLES_FILE, TRAINING_REPORT

    (out_dir / TRAINING_REPORT).write_text(json.dumps(to_jsonable(report), indent=2))
    (out_dir / TABLES_FILE).write_text(to_markdown(tables))

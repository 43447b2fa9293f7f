"""The training run's evaluation: paper Tables 1-3, ``evaluation.json`` and ``tables.md``.

The test patients are scored by the ensembles (the members' mean); with
``test_fraction=0`` the development patients' out-of-fold scores are the
evaluation (cross-validated AUC). Next to every row: its cross-validated
AUC on the development patients and, for a synthetic cohort, the
ceiling of what that row sees (fMRI, EEG-EMG, all, clinical) on its own
patients, with the chance-corrected fraction of it. The clinical comparators
("Clinical", "<fusion> + clinical", :mod:`.clinical`) sit in every table;
paired AUC differences, calibration and decision curves follow the tables.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "EvaluationRows",
    "cv_auc",
    "tables_markdown",
    "training_report",
    "with_ceilings",
    "write_report",
]


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
    comparators: list[Any] = field(default_factory=list)
    clinical: dict[str, Any] = field(default_factory=dict)
    ceiling_note: str | None = None
    _fusions: dict[str, Any] = field(default_factory=dict)

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
                patients=self._signal_ids(),
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
                patients=[str(p) for p in self.plan.eval_ids],
            )
        )
        self.results.append(
            ModelResult(
                name=f"{display_name}_LSTM",
                group="fusion",
                y_true=self.y_eval,
                p_good=fit.fused_eval,
                cv_auc=cv_auc(self.y_dev, fit.fused_dev),
                patients=[str(p) for p in self.plan.eval_ids],
            )
        )
        self._fusions[f"{display_name}_LSTM"] = fit

    def _signal_ids(self) -> list[str]:
        return [str(p) for p in np.asarray(self.plan.eval_ids)[self.has_signal]]

    def add_clinical(self, clinical: dict[str, dict[str, float]]) -> None:
        """The comparators' rows, fitted on the development folds (``clinical.fit_comparator``).

        "Clinical" goes into each table (Table 2 on the patients with
        EEG-EMG), "<fusion> + clinical" into Table 3. A comparator that
        cannot be fitted is left out, its reason in ``self.clinical["omitted"]``.
        """
        from rehab_core.evaluation import CLINICAL_MODEL, CLINICAL_SUFFIX
        from rehab_core.fusion import CLINICAL_FEATURES
        from rehab_core.workflows._train.clinical import (
            CLINICAL_C,
            comparator_rows,
            fit_comparator,
        )

        states: dict[str, Any] = {}
        omitted: dict[str, str] = {}
        without: dict[str, int] = {}
        jobs = [(CLINICAL_MODEL, None)] + [
            (f"{name}{CLINICAL_SUFFIX}", fit) for name, fit in self._fusions.items()
        ]
        for name, fit in jobs:
            try:
                got = fit_comparator(
                    clinical,
                    self.plan,
                    self.targets,
                    score_dev=None if fit is None else fit.fused_dev,
                    score_eval=None if fit is None else fit.fused_eval,
                    score_feature=None if fit is None else "p_fused",
                )
            except ValueError as err:
                omitted[name] = f"{name} is left out: {err}."
                continue
            if len(got.eval_ids) < 2:
                omitted[name] = (
                    f"{name} is left out: only {len(got.eval_ids)} evaluated patients have "
                    "the clinical data."
                )
                continue
            states[name] = got.model.to_dict()
            without[name] = got.n_eval_without
            ids = [str(p) for p in got.eval_ids]
            y = self.targets.y(ids)
            dev_auc = cv_auc(self.targets.y(got.dev_ids), got.dev_oof)
            self.comparators += comparator_rows(
                name, ids, y, got.p_eval, self._signal_ids(), cv_auc=dev_auc, fused=fit is not None
            )
        self.clinical = {
            "features": list(CLINICAL_FEATURES),
            "C": CLINICAL_C,
            "fitted_on": "the development folds of the deep models (out of fold)"
            + (
                "; held-out test patients scored by the model fitted on every development patient"
                if len(self.plan.test_ids)
                else ""
            ),
            "models": states,
            "omitted": omitted,
            "n_eval_without_clinical": without,
        }

    def image_scores(self, image: Any) -> np.ndarray:
        return _scores_of(image, self.plan)

    def all_results(self) -> list[Any]:
        """The deep models' rows then the comparators'."""
        return [*self.results, *self.comparators]

    def tables(self, truth: dict[str, Any]) -> dict[str, Any]:
        """Paper Tables 1-3, each row with the ceiling of what it sees; paired differences."""
        from rehab_core.evaluation import paper_tables

        records, self.ceiling_note = with_ceilings(self.all_results(), truth)
        return paper_tables(records, pairs="default")

    def predictions(self) -> list[dict[str, Any]]:
        """Every evaluated patient's score per row: the points of the ROC and calibration curves."""
        from rehab_core.evaluation import scored_patients

        eval_ids = self.plan.eval_ids
        sig_ids = [str(p) for p in np.asarray(eval_ids)[self.has_signal]]
        return [
            scored_patients(r, sig_ids if r.group == "signal" else eval_ids) for r in self.results
        ]


def with_ceilings(results: list[Any], truth: dict[str, Any]) -> tuple[list[Any], str]:
    """Each row with ``p_ceiling`` from the ground-truth column of what it sees; and a note.

    A cohort without that column (real data, an older generator) gives the
    row no ceiling rather than the ceiling of another information.
    """
    import dataclasses

    from rehab_core.evaluation import ceiling_column, ceiling_probabilities

    out, missing = [], set()
    for r in results:
        column = ceiling_column(r.name, r.group)
        p = None
        if r.patients is not None:
            try:
                p = ceiling_probabilities(truth, r.patients, column)
            except ValueError:
                p = None
        if p is None:
            missing.add(column)
        out.append(dataclasses.replace(r, p_ceiling=p))
    if not truth:
        note = "No ceiling: the cohort has no ground truth (real data)."
    elif missing:
        note = (
            "Rows without a ceiling: the ground truth lacks "
            + ", ".join(sorted(missing))
            + " for their patients."
        )
    else:
        note = "Every row has the ceiling of what it sees."
    return out, note


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
    from rehab_core._json import to_jsonable
    from rehab_core.evaluation import (
        bayes_ceiling_auc,
        bayes_probabilities,
        row_diagnostics,
        scored_patients,
    )

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
        "ceiling_note": rows.ceiling_note,
        "clinical": rows.clinical,
        "diagnostics": to_jsonable(row_diagnostics(rows.all_results())),
        "predictions": rows.predictions(),
        "comparator_predictions": [scored_patients(r, r.patients) for r in rows.comparators],
        "bayes_p_good": bayes_probabilities(truth, [*plan.eval_ids]),
        "failures": failures,
        "models": {},
        "seconds": round(seconds, 1),
        "settings": settings.to_dict(),
    }


def write_report(out_dir: Path, report: dict[str, Any], tables: dict[str, Any]) -> None:
    """Write ``evaluation.json`` (strict JSON) and ``tables.md`` beside the bundles."""
    from rehab_core._json import to_jsonable
    from rehab_core.report.evaluation import TABLES_FILE, TRAINING_REPORT

    (out_dir / TRAINING_REPORT).write_text(json.dumps(to_jsonable(report), indent=2))
    (out_dir / TABLES_FILE).write_text(tables_markdown(tables, report))


def tables_markdown(tables: dict[str, Any], report: dict[str, Any]) -> str:
    """``tables.md``: the tables, the paired differences, the comparators' notes, calibration
    and decision curves, and what the ceilings are."""
    from rehab_core.evaluation import diagnostics_markdown, to_markdown

    parts = [to_markdown(tables)]
    clinical = report.get("clinical") or {}
    if clinical:
        note = (
            f"Clinical: logistic regression on {', '.join(clinical['features'])} "
            f"(L2, C={clinical['C']:g} on standardised inputs); '<fusion> + clinical' adds the "
            f"fused probability's logit. Fitted on {clinical['fitted_on']}."
        )
        for reason in clinical.get("omitted", {}).values():
            note += f" {reason}"
        without = {k: v for k, v in clinical.get("n_eval_without_clinical", {}).items() if v}
        for name, n in without.items():
            note += f" {name}: {n} evaluated patient(s) without clinical data are not in its row."
        parts.append(note + "\n")
    if report.get("ceiling_note"):
        parts.append(f"Ceilings: {report['ceiling_note']}\n")
    parts.append(diagnostics_markdown(report.get("diagnostics") or []))
    return "\n".join(p for p in parts if p)

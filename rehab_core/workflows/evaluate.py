"""Evaluate shipped or trained fusion models on a cohort (``rehab evaluate``).

Each bundle's own preprocessing settings are used.  A patient any of whose
input files a bundle learnt from (the manifest lists the SHA-256 of every
development file) is left out for that bundle, so no trained-on patient is
ever counted: on the training cohort this leaves exactly the held-out test
patients; on another cohort, everyone (an external test).

The clinical comparators ("Clinical", "<fusion> + clinical") are those the
training run fitted on its development patients, stored in each bundle's
manifest (``metrics.clinical``) and applied here unchanged. A bundle from
before they were stored has none: they are then fitted out of fold on this
cohort itself, and the report says so (``clinical.fitted_on``). Every row is
held against the ceiling of what it sees when the cohort has a ground truth.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["evaluate_cohort"]


@dataclass
class _Rows:
    """The table rows and per-patient scores collected over the bundles."""

    results: list[Any] = field(default_factory=list)
    predictions: list[dict[str, Any]] = field(default_factory=list)
    signal_done: bool = False
    comparators: list[Any] = field(default_factory=list)
    clinical_sources: set[str] = field(default_factory=set)
    clinical_omitted: dict[str, str] = field(default_factory=dict)

    def keep(self, result: Any, patient_ids: list[str]) -> None:
        """A model's scores for the tables, and per patient for ROC and calibration curves."""
        from rehab_core.evaluation import scored_patients

        self.results.append(result)
        self.predictions.append(scored_patients(result, patient_ids))


def _unseen_patients(predictor: Any, arrays: Any) -> tuple[list[str], int]:
    """Patients with an fMRI none of whose files the bundle learnt from; and how many were not."""
    trained = set(predictor.manifest.data.development_inputs_sha256)
    candidates = sorted(set(arrays.slice_patients))
    ids = [p for p in candidates if not set(arrays.inputs[p].values()) & trained]
    if not ids:
        raise ValueError(
            f"{predictor.model_id} learnt from every patient of this cohort; "
            "evaluate it on patients it has not seen."
        )
    return ids, len(candidates) - len(ids)


def _score_bundle(predictor: Any, arrays: Any, cohort: Any, rows: _Rows) -> tuple[dict, list]:
    """Score one bundle's unseen patients: its table rows, and its entry of ``models``."""
    from rehab_core.evaluation import ModelResult, regression_metrics

    labels = {p.participant_id: int(p.label) for p in cohort.patients}
    ids, n_left_out = _unseen_patients(predictor, arrays)
    baseline = {p.participant_id: p.baseline_fma for p in cohort.patients}
    scores = predictor.score_patients(
        ids,
        arrays.slices,
        arrays.slice_patients,
        arrays.windows,
        arrays.window_patients,
        np.asarray([baseline[p] for p in ids]),
    )
    y = np.asarray([labels[p] for p in ids])
    name = predictor.manifest.display_name
    image = ModelResult(name.removesuffix("_LSTM"), "image", y, scores["image"], patients=ids)
    rows.keep(image, ids)
    rows.keep(ModelResult(name, "fusion", y, scores["p_good"], patients=ids), ids)
    has_sig = ~np.isnan(scores["signal"])
    sig_ids = [p for p, ok in zip(ids, has_sig, strict=True) if ok]
    if not rows.signal_done and has_sig.sum() >= 2:
        signal = ModelResult("LSTM", "signal", y[has_sig], scores["signal"][has_sig])
        rows.keep(dataclasses.replace(signal, patients=sig_ids), sig_ids)
        rows.signal_done = True
    _clinical_rows(predictor, cohort, ids, sig_ids, scores["p_good"], labels, rows)
    fma_true = {p.participant_id: float(p.fma_le_3m) for p in cohort.patients}
    fma_ok = np.isfinite(scores["fma_3m"])
    entry = {
        "n_patients": len(ids),
        "n_left_out_as_training_patients": n_left_out,
        "fusion_weight": float(predictor.fusion.weight_),
        "fma": regression_metrics(
            np.asarray([fma_true[p] for p in ids])[fma_ok], scores["fma_3m"][fma_ok]
        )
        if fma_ok.sum() >= 2
        else None,
        "weights_sha256": predictor.manifest.sha256,
    }
    return entry, ids


def _clinical_rows(predictor, cohort, ids, sig_ids, p_fused, labels, rows: _Rows) -> None:
    """The comparators' rows for one bundle's patients: stored states, else fitted out of fold."""
    from rehab_core.evaluation import CLINICAL_MODEL, CLINICAL_SUFFIX
    from rehab_core.workflows._train.clinical import (
        apply_state,
        clinical_inputs,
        comparator_rows,
        fit_external,
    )

    clinical = clinical_inputs(cohort)
    metrics = predictor.manifest.metrics
    stored = (metrics.clinical if metrics is not None else None) or {}
    fused_name = f"{predictor.manifest.display_name}{CLINICAL_SUFFIX}"
    have = {(r.group, r.name) for r in rows.comparators}
    jobs = [(fused_name, p_fused)]
    if ("image", CLINICAL_MODEL) not in have:
        jobs.insert(0, (CLINICAL_MODEL, None))
    for name, score in jobs:
        try:
            if name in stored:
                kept, p = apply_state(stored[name], clinical, ids, score)
                rows.clinical_sources.add("development")
            else:
                feature = None if score is None else "p_fused"
                kept, p = fit_external(clinical, ids, labels, score=score, score_feature=feature)
                rows.clinical_sources.add("external")
        except ValueError as err:
            rows.clinical_omitted[name] = f"{name} is left out: {err}."
            continue
        if len(kept) < 2:
            rows.clinical_omitted[name] = (
                f"{name} is left out: only {len(kept)} patients have the clinical data."
            )
            continue
        kept_ids = [str(k) for k in kept]
        y = np.asarray([labels[k] for k in kept_ids])
        rows.comparators += comparator_rows(name, kept_ids, y, p, sig_ids, fused=score is not None)


def _clinical_summary(rows: _Rows) -> dict[str, Any]:
    from rehab_core.fusion import CLINICAL_FEATURES
    from rehab_core.workflows._train.clinical import CLINICAL_C

    fitted_on = {
        "development": "the training cohort's development patients (stored in the bundle)",
        "external": "this cohort itself, out of fold (the bundle stores no clinical model)",
    }
    return {
        "features": list(CLINICAL_FEATURES),
        "C": CLINICAL_C,
        "fitted_on": " and ".join(fitted_on[s] for s in sorted(rows.clinical_sources)) or "-",
        "omitted": rows.clinical_omitted,
    }


def evaluate_cohort(
    cohort_dir: str | Path,
    weights: str | Path,
    *,
    n_jobs: int = 1,
    progress: Callable[[dict[str, Any]], None] | None = None,
    cache_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Score every bundle under ``weights`` on a cohort and build the paper's tables.

    Parameters
    ----------
    cohort_dir : path
        A cohort folder (:func:`rehab_core.io.cohort.read_cohort`).
    weights : path
        A bundle folder, or a folder of bundles one level below it.
    n_jobs : int
        Processes for preprocessing.
    progress : callable or None
        Receives ``{"stage": "evaluate", "model": model_id}`` per bundle.
    cache_dir : path or None
        Keeps the preprocessed cohort there, one sub-folder per preprocessing
        setup, so that evaluating other bundles on the same cohort later does
        not preprocess it again. Arrays are reused only while every input
        file's size and modification time and the settings are unchanged.

    Returns
    -------
    dict
        ``tables`` (JSON form of :func:`~rehab_core.evaluation.paper_tables`),
        ``markdown``, ``models`` (per bundle: patients scored and left out,
        fusion weight, FMA metrics), the cohort's Bayes ceiling when it is
        synthetic, ``predictions`` (per table row: ``name``, ``group``,
        ``patients``, ``y_true``, ``p_good``, the inputs of ROC and
        calibration curves) and ``bayes_p_good`` (patient -> the generator's
        Bayes-optimal probability; ``None`` for a cohort without ground truth).

    Raises
    ------
    WeightsError
        ``weights`` holds no bundle.
    ValueError
        A bundle learnt from every patient of the cohort.
    """
    from rehab_core._json import to_jsonable
    from rehab_core.evaluation import (
        bayes_ceiling_auc,
        bayes_probabilities,
        paper_tables,
        row_diagnostics,
        scored_patients,
        to_json,
    )
    from rehab_core.io.cohort import read_cohort
    from rehab_core.prediction import FusionPredictor
    from rehab_core.storage import WeightsError, find_bundles
    from rehab_core.storage.weights import MANIFEST_FILE
    from rehab_core.workflows._train.report import tables_markdown, with_ceilings
    from rehab_core.workflows._train.work_folder import (
        WorkFolder,
        preprocess_cohort,
        settings_tag,
    )

    emit = progress or (lambda event: None)
    bundles = find_bundles(weights)
    if not bundles:
        raise WeightsError(f"{weights} holds no weights bundle (a folder with {MANIFEST_FILE}).")
    cohort = read_cohort(cohort_dir)
    prepared_by_settings: dict[str, Any] = {}
    rows, models, ceiling_ids = _Rows(), {}, []
    for path in bundles:
        predictor = FusionPredictor.load(path)
        emit({"stage": "evaluate", "model": predictor.model_id})
        pre = predictor.manifest.preprocessing
        key = json.dumps({"signals": pre.signals, "imaging": pre.imaging}, sort_keys=True)
        if key not in prepared_by_settings:
            signal, imaging = predictor.signal_settings(), predictor.imaging_settings()
            work = None
            if cache_dir is not None:
                work = WorkFolder(Path(cache_dir) / settings_tag(signal, imaging))
            prepared_by_settings[key] = preprocess_cohort(
                cohort, work, signal, imaging, n_jobs, lambda event: None
            )
        models[predictor.model_id], ceiling_ids = _score_bundle(
            predictor, prepared_by_settings[key], cohort, rows
        )
    labels = {p.participant_id: int(p.label) for p in cohort.patients}
    ceiling = bayes_ceiling_auc(cohort.ground_truth, ceiling_ids, [labels[p] for p in ceiling_ids])
    records, ceiling_note = with_ceilings([*rows.results, *rows.comparators], cohort.ground_truth)
    tables = paper_tables(records, pairs="default")
    scored = [p for record in rows.predictions for p in record["patients"]]
    report = {
        "cohort": str(cohort_dir),
        "bayes_ceiling_auc": ceiling,
        "ceiling_note": ceiling_note,
        "tables": json.loads(to_json(tables)),
        "clinical": _clinical_summary(rows),
        "diagnostics": to_jsonable(row_diagnostics(records)),
        "models": models,
        "predictions": rows.predictions,
        "comparator_predictions": [scored_patients(r, r.patients) for r in rows.comparators],
        "bayes_p_good": bayes_probabilities(cohort.ground_truth, scored),
    }
    report["markdown"] = tables_markdown(tables, report)
    return report

"""Evaluate shipped or trained fusion models on a cohort (``rehab evaluate``).

Each bundle's own preprocessing settings are used.  A patient any of whose
input files a bundle learnt from (the manifest lists the SHA-256 of every
development file) is left out for that bundle, so no trained-on patient is
ever counted: on the training cohort this leaves exactly the held-out test
patients; on another cohort, everyone (an external test).
"""

from __future__ import annotations

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
    rows.keep(ModelResult(name.removesuffix("_LSTM"), "image", y, scores["image"]), ids)
    rows.keep(ModelResult(name, "fusion", y, scores["p_good"]), ids)
    has_sig = ~np.isnan(scores["signal"])
    if not rows.signal_done and has_sig.sum() >= 2:
        sig_ids = [p for p, ok in zip(ids, has_sig, strict=True) if ok]
        rows.keep(ModelResult("LSTM", "signal", y[has_sig], scores["signal"][has_sig]), sig_ids)
        rows.signal_done = True
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


def evaluate_cohort(
    cohort_dir: str | Path,
    weights: str | Path,
    *,
    n_jobs: int = 1,
    progress: Callable[[dict[str, Any]], None] | None = None,
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
    from rehab_core.evaluation import (
        bayes_ceiling_auc,
        bayes_probabilities,
        paper_tables,
        to_json,
        to_markdown,
    )
    from rehab_core.io.cohort import read_cohort
    from rehab_core.pipeline import prepare_cohort
    from rehab_core.prediction import FusionPredictor
    from rehab_core.storage import WeightsError, find_bundles
    from rehab_core.storage.weights import MANIFEST_FILE

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
            prepared_by_settings[key] = prepare_cohort(
                cohort,
                signal_settings=predictor.signal_settings(),
                imaging_settings=predictor.imaging_settings(),
                n_jobs=n_jobs,
            )
        models[predictor.model_id], ceiling_ids = _score_bundle(
            predictor, prepared_by_settings[key], cohort, rows
        )
    labels = {p.participant_id: int(p.label) for p in cohort.patients}
    ceiling = bayes_ceiling_auc(cohort.ground_truth, ceiling_ids, [labels[p] for p in ceiling_ids])
    tables = paper_tables(
        rows.results,
        ceiling_auc={"fusion": ceiling, "image": ceiling} if ceiling is not None else None,
    )
    scored = [p for record in rows.predictions for p in record["patients"]]
    return {
        "cohort": str(cohort_dir),
        "bayes_ceiling_auc": ceiling,
        "tables": json.loads(to_json(tables)),
        "markdown": to_markdown(tables),
        "models": models,
        "predictions": rows.predictions,
        "bayes_p_good": bayes_probabilities(cohort.ground_truth, scored),
    }

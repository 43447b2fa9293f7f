"""Evaluate shipped or trained fusion models on a cohort (``rehab evaluate``).

Each bundle's own preprocessing settings are used.  When the cohort is the
one a bundle was trained on (same data fingerprint), only that bundle's
held-out test patients are scored, so no trained-on patient is counted;
on any other cohort every patient is scored (an external test).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["bayes_probabilities", "evaluate_cohort", "find_bundles", "scored_patients"]


def scored_patients(result: Any, patients: Any) -> dict[str, Any]:
    """One table row's held-out scores per patient, JSON-ready (the input of ROC curves).

    Parameters
    ----------
    result : ModelResult
        The row (``name``, ``group``, ``y_true``, ``p_good``).
    patients : sequence of str
        The patient of each score, in the same order.
    """
    patients = [str(p) for p in patients]
    if len(patients) != len(result.y_true):
        raise ValueError(
            f"{len(patients)} patients for {len(result.y_true)} scores of {result.name}."
        )
    return {
        "name": result.name,
        "group": result.group,
        "patients": patients,
        "y_true": [int(v) for v in result.y_true],
        "p_good": [float(v) for v in result.p_good],
    }


def bayes_probabilities(truth: dict[str, dict[str, Any]], patients: Any) -> dict[str, float] | None:
    """The synthetic generator's Bayes-optimal P(good) of these patients; None without truth."""
    out = {
        str(p): float(truth[str(p)]["p_good_bayes"])
        for p in sorted({str(p) for p in patients})
        if "p_good_bayes" in truth.get(str(p), {})
    }
    return out or None


def find_bundles(weights: str | Path) -> list[Path]:
    """A bundle folder itself, or every bundle one level below ``weights``."""
    from rehab_core.storage.weights import MANIFEST_FILE, WeightsError

    root = Path(weights)
    if (root / MANIFEST_FILE).is_file():
        return [root]
    found = (
        sorted(p for p in root.glob("*") if (p / MANIFEST_FILE).is_file()) if root.is_dir() else []
    )
    if not found:
        raise WeightsError(f"{root} holds no weights bundle (a folder with {MANIFEST_FILE}).")
    return found


def evaluate_cohort(
    cohort_dir: str | Path,
    weights: str | Path,
    *,
    n_jobs: int = 1,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Score every bundle under ``weights`` on a cohort and build the paper's tables.

    A patient any of whose input files a bundle learnt from (the manifest
    lists the SHA-256 of every development file) is left out for that
    bundle, so no trained-on patient is ever counted: on the training
    cohort this leaves exactly the held-out test patients; on another
    cohort, everyone (an external test).

    Returns
    -------
    dict
        ``tables`` (JSON form of :func:`paper_tables`), ``markdown``,
        ``models`` (per bundle: patients scored and left out, fusion weight,
        FMA metrics), the cohort's Bayes ceiling when it is synthetic,
        ``predictions`` (per table row: ``name``, ``group``, ``patients``,
        ``y_true``, ``p_good``, the inputs of ROC and calibration curves) and
        ``bayes_p_good`` (patient -> the generator's Bayes-optimal
        probability; ``None`` for a cohort without ground truth).
    """
    from rehab_core.evaluation import (
        ModelResult,
        paper_tables,
        regression_metrics,
        to_json,
        to_markdown,
    )
    from rehab_core.io.cohort import read_cohort
    from rehab_core.pipeline import prepare_cohort
    from rehab_core.prediction import FusionPredictor
    from rehab_core.training.experiment import bayes_ceiling_auc

    emit = progress or (lambda event: None)
    cohort = read_cohort(cohort_dir)
    labels = {p.participant_id: int(p.label) for p in cohort.patients}
    fma_true = {p.participant_id: float(p.fma_le_3m) for p in cohort.patients}
    baseline = {p.participant_id: p.baseline_fma for p in cohort.patients}
    prepared_by_settings: dict[str, Any] = {}
    results: list[ModelResult] = []
    signal_done = False
    models: dict[str, Any] = {}
    ceiling_ids: list[str] = []
    predictions: list[dict[str, Any]] = []

    def keep(result: ModelResult, patient_ids: list[str]) -> None:
        """A model's scores for the tables, and per patient for ROC and calibration curves."""
        results.append(result)
        predictions.append(scored_patients(result, patient_ids))

    for path in find_bundles(weights):
        predictor = FusionPredictor.load(path)
        emit({"stage": "evaluate", "model": predictor.model_id})
        key = json.dumps(predictor.manifest["preprocessing"], sort_keys=True)
        if key not in prepared_by_settings:
            prepared_by_settings[key] = prepare_cohort(
                cohort,
                signal_settings=predictor.signal_settings(),
                imaging_settings=predictor.imaging_settings(),
                n_jobs=n_jobs,
            )
        arrays = prepared_by_settings[key]
        trained = set(predictor.manifest["data"].get("development_inputs_sha256", []))
        candidates = sorted(set(arrays.slice_patients))
        ids = [p for p in candidates if not set(arrays.inputs[p].values()) & trained]
        if not ids:
            raise ValueError(
                f"{predictor.model_id} learnt from every patient of this cohort; "
                "evaluate it on patients it has not seen."
            )
        scores = predictor.score_patients(
            ids,
            arrays.slices,
            arrays.slice_patients,
            arrays.windows,
            arrays.window_patients,
            np.asarray([baseline[p] for p in ids]),
        )
        y = np.asarray([labels[p] for p in ids])
        name = predictor.manifest["display_name"]
        keep(ModelResult(name.removesuffix("_LSTM"), "image", y, scores["image"]), ids)
        keep(ModelResult(name, "fusion", y, scores["p_good"]), ids)
        has_sig = ~np.isnan(scores["signal"])
        if not signal_done and has_sig.sum() >= 2:
            sig_ids = [p for p, ok in zip(ids, has_sig, strict=True) if ok]
            keep(ModelResult("LSTM", "signal", y[has_sig], scores["signal"][has_sig]), sig_ids)
            signal_done = True
        fma_ok = np.isfinite(scores["fma_3m"])
        models[predictor.model_id] = {
            "n_patients": len(ids),
            "n_left_out_as_training_patients": len(candidates) - len(ids),
            "fusion_weight": float(predictor.fusion.weight_),
            "fma": regression_metrics(
                np.asarray([fma_true[p] for p in ids])[fma_ok], scores["fma_3m"][fma_ok]
            )
            if fma_ok.sum() >= 2
            else None,
            "weights_sha256": predictor.manifest["sha256"],
        }
        ceiling_ids = ids
    y_ceiling = [labels[p] for p in ceiling_ids]
    ceiling = bayes_ceiling_auc(cohort.ground_truth, ceiling_ids, y_ceiling)
    tables = paper_tables(
        results, ceiling_auc={"fusion": ceiling, "image": ceiling} if ceiling is not None else None
    )
    scored = [p for record in predictions for p in record["patients"]]
    return {
        "cohort": str(cohort_dir),
        "bayes_ceiling_auc": ceiling,
        "tables": json.loads(to_json(tables)),
        "markdown": to_markdown(tables),
        "models": models,
        "predictions": predictions,
        "bayes_p_good": bayes_probabilities(cohort.ground_truth, scored),
    }

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

__all__ = ["evaluate_cohort", "find_bundles"]


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

    Returns
    -------
    dict
        ``tables`` (JSON form of :func:`paper_tables`), ``markdown``,
        ``models`` (per bundle: patients scored, fusion weight, FMA metrics),
        and the cohort's Bayes ceiling when it is synthetic.
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
    from rehab_core.training.experiment import cohort_fingerprint

    emit = progress or (lambda event: None)
    cohort = read_cohort(cohort_dir)
    labels = {p.participant_id: int(p.label) for p in cohort.patients}
    fma_true = {p.participant_id: float(p.fma_le_3m) for p in cohort.patients}
    baseline = {}
    for p in cohort.patients:
        try:
            baseline[p.participant_id] = float(p.clinical.get("fma_le_baseline"))
        except (TypeError, ValueError):
            baseline[p.participant_id] = float("nan")
    prepared_by_settings: dict[str, Any] = {}
    results: list[ModelResult] = []
    signal_done = False
    models: dict[str, Any] = {}
    ceiling_ids: list[str] = []
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
        same = (
            cohort_fingerprint(arrays.inputs, labels)
            == predictor.manifest["data"]["fingerprint_sha256"]
        )
        ids = (
            list(predictor.manifest["data"]["split"]["test"])
            if same
            else sorted(set(arrays.slice_patients))
        )
        if not ids:
            raise ValueError(
                f"{predictor.model_id} was trained on every patient of this cohort; "
                "evaluate it on another cohort."
            )
        image = _ensemble_scores(
            predictor.image_models, arrays.slices, arrays.slice_patients, ids, 16
        )
        signal = _ensemble_scores(
            predictor.signal_models, arrays.windows, arrays.window_patients, ids, 32
        )
        y = np.asarray([labels[p] for p in ids])
        fused = predictor.fusion.predict_proba(signal, image)
        b = np.asarray([baseline[p] for p in ids])
        uses_b = predictor.manifest.get("fma_uses_baseline") and np.all(np.isfinite(b))
        fma_pred = predictor.fma.predict(fused, b if uses_b else None)
        info_name = predictor.manifest["display_name"]
        backbone_name = info_name.removesuffix("_LSTM")
        results.append(ModelResult(name=backbone_name, group="image", y_true=y, p_good=image))
        results.append(ModelResult(name=info_name, group="fusion", y_true=y, p_good=fused))
        has_sig = ~np.isnan(signal)
        if not signal_done and has_sig.sum() >= 2:
            results.append(
                ModelResult(name="LSTM", group="signal", y_true=y[has_sig], p_good=signal[has_sig])
            )
            signal_done = True
        models[predictor.model_id] = {
            "evaluated_on": "held-out test patients of its training cohort"
            if same
            else "every patient of this cohort (external)",
            "n_patients": len(ids),
            "fusion_weight": float(predictor.fusion.weight_),
            "fma": regression_metrics(np.asarray([fma_true[p] for p in ids]), fma_pred),
            "weights_sha256": predictor.manifest["sha256"],
        }
        ceiling_ids = ids
    ceiling = _bayes_auc(cohort.ground_truth, ceiling_ids, labels)
    tables = paper_tables(
        results, ceiling_auc={"fusion": ceiling, "image": ceiling} if ceiling is not None else None
    )
    return {
        "cohort": str(cohort_dir),
        "bayes_ceiling_auc": ceiling,
        "tables": json.loads(to_json(tables)),
        "markdown": to_markdown(tables),
        "models": models,
    }


def _ensemble_scores(models, data, item_patients, ids, batch_size) -> np.ndarray:
    """Mean over members of each patient's mean item probability; NaN without items."""
    from rehab_core.prediction import member_probabilities

    out = np.full(len(ids), np.nan)
    if data is None:
        return out
    for i, pid in enumerate(ids):
        idx = np.flatnonzero(item_patients == pid)
        if len(idx):
            probs = member_probabilities(models, data[idx], batch_size)
            out[i] = float(probs.mean(axis=1).mean())
    return out


def _bayes_auc(truth, ids, labels) -> float | None:
    if not truth or not ids:
        return None
    from sklearn.metrics import roc_auc_score

    y = np.asarray([labels[p] for p in ids])
    p = np.asarray([float(truth[p]["p_good_bayes"]) for p in ids])
    if len(np.unique(y)) < 2:
        return None
    return float(roc_auc_score(y, p))

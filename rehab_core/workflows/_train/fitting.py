"""The fusion weight and the FMA-LE regressor, fitted on out-of-fold scores (paper §2.8).

The weight of ``p = w * signal + (1 - w) * image`` is chosen by k-fold
cross-validation over the development patients' out-of-fold scores ("weight
coefficients are optimized through cross-validation"), and the FMA-LE
regressor is fitted on the same out-of-fold fused probabilities, with the
baseline FMA-LE as a second input when at least 90 % of the development
patients have one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["FusionFit", "fit_fusion"]


@dataclass(frozen=True)
class FusionFit:
    """One fusion model's fitted parts and its scores.

    ``fused_dev``: out-of-fold fused probabilities of the development
    patients; ``fused_eval`` and ``fma_eval``: the evaluation patients' fused
    probability and 3-month FMA-LE (NaN where a needed baseline is missing).
    """

    fusion: Any  # LateFusion
    fma: Any  # FMARegressor
    uses_baseline: bool
    fused_dev: np.ndarray
    fused_eval: np.ndarray
    fma_eval: np.ndarray


def fit_fusion(
    signal_dev: np.ndarray,
    image_dev: np.ndarray,
    signal_eval: np.ndarray,
    image_eval: np.ndarray,
    *,
    plan: Any,
    targets: Any,
    seed: int,
) -> FusionFit:
    """Fit the fusion weight and the FMA-LE regressor of one image backbone with the LSTM.

    Parameters
    ----------
    signal_dev, image_dev : ndarray, shape (n_dev,)
        Out-of-fold scores of ``plan.dev_ids`` (signal NaN without EEG-EMG).
    signal_eval, image_eval : ndarray, shape (n_eval,)
        Scores of ``plan.eval_ids``.
    plan : SplitPlan
    targets : CohortTargets
    seed : int
        ``random_state`` of both estimators' cross-validation.
    """
    from rehab_core.fusion import FMARegressor, LateFusion, predict_fma

    dev_ids, eval_ids = plan.dev_ids, plan.eval_ids
    fusion = LateFusion(cv=min(5, plan.n_min), random_state=seed)
    fusion.fit(signal_dev, image_dev, targets.y(dev_ids))
    fused_dev = fusion.predict_proba(signal_dev, image_dev)
    fused_eval = fusion.predict_proba(signal_eval, image_eval)
    b_dev = np.asarray([targets.baseline[p] for p in dev_ids])
    uses_baseline = bool(np.isfinite(b_dev).mean() >= 0.9)
    fma = FMARegressor(cv=max(2, min(5, len(dev_ids) // 2)), random_state=seed)
    ok = np.isfinite(b_dev) if uses_baseline else np.ones(len(dev_ids), bool)
    fma.fit(
        fused_dev[ok],
        np.asarray([targets.fma_3m[p] for p in dev_ids])[ok],
        b_dev[ok] if uses_baseline else None,
    )
    b_eval = np.asarray([targets.baseline[p] for p in eval_ids]) if uses_baseline else None
    return FusionFit(
        fusion=fusion,
        fma=fma,
        uses_baseline=uses_baseline,
        fused_dev=fused_dev,
        fused_eval=fused_eval,
        fma_eval=predict_fma(fma, fused_eval, b_eval),
    )

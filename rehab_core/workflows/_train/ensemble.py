"""An ensemble: one member per fold, each trained on the other folds, resumed from checkpoints.

For each fold a member is trained on the fold's training patients (less its
early-stopping set) and scores the fold's held-out patients (out-of-fold
scores for the fusion) and the test patients (the shipped ensemble's test
score is the members' mean). A member comes, in this order, from an earlier
bundle (:class:`~rehab_core.workflows._train.reuse.ReusableImageMembers`),
from the work folder (finished before a crash), or is trained, continuing
from its last checkpoint when there is one.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rehab_core.workflows._train.plan import Fold, SplitPlan, early_stopping_split

__all__ = ["Ensemble", "ModelSpec", "member_scores", "train_ensemble", "train_member"]

ProgressFn = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class ModelSpec:
    """What one ensemble trains on: ``kind`` "signal" (windows) or "image" (slices).

    ``data`` (n_items, ...) float32 with ``item_patients`` (n_items,) naming
    each item's patient; ``kwargs`` build the model (``create_model(name, **kwargs)``).
    """

    kind: str
    name: str
    data: np.ndarray
    item_patients: np.ndarray
    batch_size: int
    kwargs: dict[str, Any]


@dataclass
class Ensemble:
    """One model's members over the folds and their scores."""

    name: str
    states: list[dict[str, Any]] = field(default_factory=list)
    histories: list[dict[str, Any]] = field(default_factory=list)
    oof: dict[str, float] = field(default_factory=dict)
    test_scores: list[dict[str, float]] = field(default_factory=list)
    pretrained_source: str | None = None

    def oof_scores(self, patients: Any) -> np.ndarray:
        """Out-of-fold scores of development patients (NaN for one without this modality)."""
        return np.asarray([self.oof.get(str(p), np.nan) for p in patients])

    def mean_scores(self, patients: Any) -> np.ndarray:
        """The members' mean score of each test patient (NaN for one without this modality)."""
        first = self.test_scores[0]
        return np.asarray(
            [
                np.mean([s[str(p)] for s in self.test_scores]) if str(p) in first else np.nan
                for p in patients
            ]
        )


def member_scores(model, data, item_patients, patients, batch_size, device) -> dict[str, float]:
    """Patient-level scores of ``patients`` (those with items) by one trained member."""
    from rehab_core.training import item_indices, predict_patient_scores

    idx = item_indices(item_patients, patients)
    if len(idx) == 0:
        return {}
    out = predict_patient_scores(
        model,
        np.ascontiguousarray(data[idx]),
        item_patients[idx],
        batch_size=batch_size,
        device=device,
    )
    return {str(k): float(v) for k, v in out.scores.items()}


def train_member(
    spec: ModelSpec,
    fold: Fold,
    labels: dict[str, int],
    settings: Any,
    seed: int,
    progress: ProgressFn | None,
    checkpoint_dir: Any = None,
):
    """Train one member on ``fold``; return ``(model, history record)``.

    With ``checkpoint_dir`` the member is checkpointed after every epoch and
    continues from the last checkpoint there, if any. Training events reach
    ``progress`` with ``member`` set to ``"<name>/fold<k>"``.
    """
    from rehab_core.models import create_model
    from rehab_core.training import (
        SliceDataset,
        WindowDataset,
        fit_model,
        item_indices,
        seed_everything,
    )

    seed_everything(seed)
    with_data = np.intersect1d(fold.train, np.unique(spec.item_patients))
    fit_ids, stop_ids = early_stopping_split(with_data, labels, settings, fold.index)
    fit_idx = item_indices(spec.item_patients, fit_ids)
    stop_idx = item_indices(spec.item_patients, stop_ids)
    if spec.kind == "signal":
        train_ds = WindowDataset(spec.data, spec.item_patients, labels, indices=fit_idx)
        val_ds = WindowDataset(spec.data, spec.item_patients, labels, indices=stop_idx)
    else:
        train_ds = SliceDataset(
            spec.data,
            spec.item_patients,
            labels,
            indices=fit_idx,
            augmentation=settings.augmentation,
            seed=seed,
        )
        val_ds = SliceDataset(spec.data, spec.item_patients, labels, indices=stop_idx)
    model = create_model(spec.name, **spec.kwargs)
    tag = f"{spec.name}/fold{fold.index}"

    def relay(event: dict[str, Any]) -> None:
        if progress is not None:
            progress({**event, "member": tag})

    result = fit_model(
        model,
        train_ds,
        val_ds,
        settings.member_settings(spec.kind, seed),
        progress=relay,
        checkpoint_dir=checkpoint_dir,
        resume=checkpoint_dir is not None,
    )
    history = {
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "history": result.history,
    }
    return model, history


def train_ensemble(
    spec: ModelSpec,
    plan: SplitPlan,
    labels: dict[str, int],
    settings: Any,
    *,
    device: str,
    work: Any = None,
    reused: Any = None,
    progress: ProgressFn | None = None,
    folds: Collection[int] | None = None,
) -> Ensemble:
    """Train (or reuse, or resume) one member per fold of ``plan`` and score with each.

    Parameters
    ----------
    spec : ModelSpec
    plan : SplitPlan
    labels : dict
        Participant id -> outcome (1 good).
    settings : ExperimentSettings
    device : str
        Where the members score (``predict_patient_scores``).
    work : WorkFolder or None
        Keeps finished members and checkpoints (a resumable run).
    reused : ReusableImageMembers or None
        Image members taken from an earlier bundle instead of trained.
    progress : callable or None
        Receives ``{"stage": "train", "model", "fold", "n_folds"}`` per
        member, ``{"stage": "member_kept", "member"}`` for a kept one and
        the training loop's events (with ``member``).
    folds : collection of int or None
        Train (and keep in ``work``) only these folds' members; the others are
        another process's (a job that spreads its folds over GPUs). The
        ensemble returned then holds only these members.
    """
    emit = progress or (lambda event: None)
    out = Ensemble(spec.name)
    for fold in plan.folds:
        f = fold.index
        if folds is not None and f not in folds:
            continue  # another process trains it
        emit({"stage": "train", "model": spec.name, "fold": f, "n_folds": len(plan.folds)})
        kept = None if work is None else work.kept_member(spec.name, f, spec.kind, spec.kwargs)
        if spec.kind == "image" and reused is not None and spec.name in reused:
            model, history = reused.load(spec.name, f)
        elif kept is not None:
            model, history = kept
            emit({"stage": "member_kept", "member": f"{spec.name}/fold{f}"})
        else:
            checkpoints = None if work is None else work.checkpoint_dir(spec.name, f)
            seed = settings.seed * 100 + f
            model, history = train_member(spec, fold, labels, settings, seed, progress, checkpoints)
            if work is not None:
                work.keep_member(spec.name, f, model, history)
        out.states.append({k: v.detach().cpu() for k, v in model.state_dict().items()})
        out.histories.append(history)
        score = (spec.data, spec.item_patients)
        out.oof.update(member_scores(model, *score, fold.score, spec.batch_size, device))
        out.test_scores.append(member_scores(model, *score, plan.test_ids, spec.batch_size, device))
        if len(out.states) == 1:  # every member starts from the same weights
            out.pretrained_source = getattr(model, "pretrained_source", None)
    return out

"""Who trains on whom: the development/test split, the folds, the early-stopping sets.

Every fusion model needs the fMRI, so patients without a usable one take no
part. A stratified patient-level hold-out test set (``test_fraction``, paper
15 %) is put aside; the development patients are split into ``n_folds``
stratified folds, and each fold's training patients lose
``inner_val_fraction`` of them (at least two) to early stopping. A cohort too
small for this is refused before any training, in one sentence.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CohortTargets", "Fold", "SplitPlan", "early_stopping_split", "plan_split"]


@dataclass(frozen=True)
class CohortTargets:
    """Per participant: outcome label (1 good), baseline and 3-month FMA-LE (points)."""

    labels: dict[str, int]
    baseline: dict[str, float]
    fma_3m: dict[str, float]

    @classmethod
    def of(cls, cohort: Any) -> CohortTargets:
        """From a :class:`~rehab_core.io.cohort.Cohort`."""
        return cls(
            labels={p.participant_id: int(p.label) for p in cohort.patients},
            baseline={p.participant_id: p.baseline_fma for p in cohort.patients},
            fma_3m={p.participant_id: float(p.fma_le_3m) for p in cohort.patients},
        )

    def y(self, ids: Any) -> np.ndarray:
        return np.asarray([self.labels[p] for p in ids])


@dataclass(frozen=True)
class Fold:
    """One fold: the development patients to train on and those it scores out of fold."""

    index: int
    train: np.ndarray
    score: np.ndarray


@dataclass(frozen=True)
class SplitPlan:
    """The development and test patients, the folds, and the rarer outcome's count.

    ``n_min`` counts the rarer outcome among the development patients with both
    modalities (the fusion weight's cross-validation uses at most that many folds).
    """

    dev_ids: np.ndarray
    test_ids: np.ndarray
    folds: tuple[Fold, ...]
    n_min: int

    @property
    def ids(self) -> np.ndarray:
        """Every patient taking part (with a usable fMRI), sorted."""
        return np.unique(np.concatenate([self.dev_ids, self.test_ids]))

    @property
    def eval_ids(self) -> np.ndarray:
        """The held-out test patients, or every development patient (scored out of fold)."""
        return self.test_ids if len(self.test_ids) else self.dev_ids


def early_stopping_split(train_ids: Any, labels: dict[str, int], settings: Any, fold: int):
    """Split a fold's training patients (those with this modality) into fit and early-stop sets.

    The early-stopping set holds ``inner_val_fraction`` of them, at least two
    so both outcomes can appear. Returns ``(fit_ids, stop_ids)``.
    """
    from rehab_core.training import patient_split

    y = np.asarray([labels[p] for p in train_ids])
    frac = max(settings.inner_val_fraction, 2.0 / len(train_ids))
    inner = patient_split(
        train_ids, y, fractions=(1 - frac, frac, 0.0), seed=settings.seed + 1000 + fold
    )
    return inner.train, inner.val


def _dev_test_split(ids: np.ndarray, y: np.ndarray, settings: Any):
    from rehab_core.training import patient_split

    if settings.test_fraction <= 0:
        return ids, np.asarray([], dtype=ids.dtype)
    split = patient_split(
        ids,
        y,
        fractions=(1 - settings.test_fraction, 0.0, settings.test_fraction),
        seed=settings.seed,
    )
    return split.train, split.test


def _check_trainable(dev_ids, folds, arrays, labels, settings) -> int:
    """Raise ``ValueError`` now, not after hours of training; return the rarer outcome's count."""
    for fold in folds:  # every fold and modality needs an early-stopping set
        for items in (arrays.window_patients, arrays.slice_patients):
            early_stopping_split(
                np.intersect1d(fold.train, np.unique(items)), labels, settings, fold.index
            )
    # the fusion weight and the FMA regressor are cross-validated on the development
    # patients with both modalities
    with_signals = set(arrays.window_patients)
    both = [p for p in dev_ids if p in with_signals]
    n_good = sum(labels[p] for p in both)
    n_min = min(n_good, len(both) - n_good)
    if n_min < 2 or len(both) < 4:
        raise ValueError(
            f"only {len(both)} development patients have both EEG-EMG and fMRI "
            f"({n_min} of the rarer outcome); the fusion weight needs at least 2 of each"
        )
    return n_min


def plan_split(arrays: Any, targets: CohortTargets, settings: Any, cohort_dir: str | Path):
    """The :class:`SplitPlan` of a preprocessed cohort, or one sentence on why it cannot train.

    Raises
    ------
    ValueError
        No usable fMRI or no usable EEG-EMG in the whole cohort.
    CohortError
        The cohort is too small for ``n_folds``-fold training with early
        stopping and a cross-validated fusion weight.
    """
    from rehab_core.io.cohort import CohortError
    from rehab_core.training import patient_kfold

    if arrays.slices is None:
        raise ValueError(
            "No patient of the cohort has a usable fMRI; the image models cannot train."
        )
    if arrays.windows is None:
        raise ValueError("No patient of the cohort has usable EEG-EMG; the LSTM cannot train.")
    ids = np.unique(arrays.slice_patients)
    dev_ids, test_ids = _dev_test_split(ids, targets.y(ids), settings)
    dev_labels = [targets.labels[p] for p in dev_ids]
    try:
        kfold = patient_kfold(dev_ids, dev_labels, n_splits=settings.n_folds, seed=settings.seed)
        folds = tuple(Fold(f.fold, f.train, f.test) for f in kfold)
        n_min = _check_trainable(dev_ids, folds, arrays, targets.labels, settings)
    except ValueError as err:
        n_good = int(sum(dev_labels))
        raise CohortError(
            f"{Path(cohort_dir).name} is too small for {settings.n_folds}-fold training: its "
            f"{len(dev_ids)} development patients hold {n_good} good and "
            f"{len(dev_ids) - n_good} poor outcomes ({err})"
        ) from err
    return SplitPlan(dev_ids=dev_ids, test_ids=test_ids, folds=folds, n_min=n_min)

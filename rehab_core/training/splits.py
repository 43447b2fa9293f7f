"""Patient-level splits: stratified train/validation/test, k-fold and repeats.

Windows and slices of one patient are strongly correlated, so every split here
is made over *patients*, stratified by outcome, and items follow their
patient: no patient ever contributes to two sets.

The set sizes follow Shi et al. (2025), section 2.5: ``round(0.70 * n)``
patients for training, ``round(0.15 * n)`` for validation and the rest for
testing, which gives 71 / 15 / 16 for the 102 fMRI patients and 60 / 13 / 13
for the 86 EEG-EMG patients, as in the paper.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from rehab_core._validation import check_int

__all__ = [
    "PatientFold",
    "PatientSplit",
    "item_indices",
    "patient_kfold",
    "patient_labels",
    "patient_split",
    "repeated_patient_splits",
]


@dataclass(frozen=True)
class PatientSplit:
    """Patient ids of the training, validation and test sets (each sorted).

    Attributes
    ----------
    train, val, test : ndarray, shape (n_patients_in_set,)
        Patient ids; the three sets are disjoint and together hold every patient.
    seed : int
        The seed the split was drawn with.
    """

    train: NDArray
    val: NDArray
    test: NDArray
    seed: int

    def sizes(self) -> tuple[int, int, int]:
        """Return the number of patients in (train, val, test)."""
        return len(self.train), len(self.val), len(self.test)

    def item_indices(self, item_patient_ids: ArrayLike) -> dict[str, NDArray[np.intp]]:
        """Map the split onto items (windows or slices) by their patient id.

        Parameters
        ----------
        item_patient_ids : array-like, shape (n_items,)
            The patient id of every item.

        Returns
        -------
        dict
            ``{"train": idx, "val": idx, "test": idx}``, integer indices into
            the items, ascending.
        """
        return {
            "train": item_indices(item_patient_ids, self.train),
            "val": item_indices(item_patient_ids, self.val),
            "test": item_indices(item_patient_ids, self.test),
        }


@dataclass(frozen=True)
class PatientFold:
    """One fold of :func:`patient_kfold`: patient ids to fit on and to hold out."""

    fold: int
    train: NDArray
    test: NDArray

    def item_indices(self, item_patient_ids: ArrayLike) -> dict[str, NDArray[np.intp]]:
        """Map the fold onto items by their patient id (see :meth:`PatientSplit.item_indices`)."""
        return {
            "train": item_indices(item_patient_ids, self.train),
            "test": item_indices(item_patient_ids, self.test),
        }


def item_indices(item_patient_ids: ArrayLike, patients: ArrayLike) -> NDArray[np.intp]:
    """Return the indices of the items that belong to any of ``patients``.

    Parameters
    ----------
    item_patient_ids : array-like, shape (n_items,)
        The patient id of every item (window or slice).
    patients : array-like, shape (n_patients,)
        The patient ids to select.

    Returns
    -------
    ndarray of intp, shape (n_selected,)
        Ascending indices into the items.
    """
    ids = np.asarray(item_patient_ids)
    if ids.ndim != 1:
        raise ValueError(f"item_patient_ids must be one-dimensional, got shape {ids.shape}.")
    return np.flatnonzero(np.isin(ids, np.asarray(patients)))


def patient_labels(patient_ids: ArrayLike, labels: ArrayLike) -> tuple[NDArray, NDArray[np.int64]]:
    """Reduce ids and labels to one label per patient.

    ``patient_ids`` may list each patient once (labels per patient) or once
    per item (labels per item); either way every patient must carry a single
    outcome.

    Parameters
    ----------
    patient_ids : array-like, shape (n,)
        Patient ids (any hashable, sortable type: int or str).
    labels : array-like, shape (n,)
        Outcome of each entry: 1 = good, 0 = poor.

    Returns
    -------
    patients : ndarray, shape (n_patients,)
        The unique patient ids, sorted.
    y : ndarray of int64, shape (n_patients,)
        The outcome of each patient.
    """
    ids = np.asarray(patient_ids)
    y = np.asarray(labels)
    if ids.ndim != 1 or y.ndim != 1:
        raise ValueError(
            f"patient_ids and labels must be one-dimensional, got shapes {ids.shape} and {y.shape}."
        )
    if len(ids) != len(y):
        raise ValueError(
            f"patient_ids has {len(ids)} entries but labels has {len(y)}; give one label per id."
        )
    if len(ids) == 0:
        raise ValueError("patient_ids is empty; at least one patient is needed.")
    if not np.all(np.isin(y, (0, 1))):
        bad = sorted({v.item() if hasattr(v, "item") else v for v in y[~np.isin(y, (0, 1))]})[:5]
        raise ValueError(f"labels must be 0 (poor) or 1 (good outcome), got {bad}.")
    patients, inverse = np.unique(ids, return_inverse=True)
    y = y.astype(np.int64)
    per_patient = np.zeros(len(patients), dtype=np.int64)
    per_patient[inverse] = y
    conflicting = patients[np.bincount(inverse, weights=y) % np.bincount(inverse) != 0]
    if len(conflicting):
        raise ValueError(
            f"patients {conflicting[:5].tolist()} carry both outcomes; "
            f"each patient needs one label."
        )
    return patients, per_patient


def _set_sizes(n: int, fractions: Sequence[float]) -> tuple[int, int, int]:
    if len(fractions) != 3:
        raise ValueError(
            f"fractions must hold three numbers (train, val, test), got {fractions!r}."
        )
    for name, value in zip(("train", "val", "test"), fractions, strict=True):
        if not 0 <= value <= 1:
            raise ValueError(f"fractions: the {name} fraction {value!r} must lie between 0 and 1.")
    if not math.isclose(sum(fractions), 1.0, abs_tol=1e-6):
        raise ValueError(f"fractions={tuple(fractions)!r} must add up to 1.")
    # Round half up (not Python's banker's rounding): 102 -> 71/15/16, 86 -> 60/13/13.
    n_train = math.floor(fractions[0] * n + 0.5)
    n_val = min(math.floor(fractions[1] * n + 0.5), n - n_train)
    return n_train, n_val, n - n_train - n_val


def _stratified_take(
    ids: NDArray, y: NDArray, n_take: int, seed: int, what: str
) -> tuple[NDArray, NDArray]:
    """Split ``ids`` into (kept, taken) with ``n_take`` taken, stratified by ``y``."""
    from sklearn.model_selection import train_test_split

    if n_take == 0:
        return ids, ids[:0]
    n_classes = len(np.unique(y))
    if n_take < n_classes or len(ids) - n_take < n_classes:
        raise ValueError(
            f"cannot stratify the {what} set: it would hold {n_take} of {len(ids)} patients "
            f"but both outcomes must appear on each side; add patients or change fractions."
        )
    kept, taken = train_test_split(ids, test_size=n_take, stratify=y, random_state=seed)
    return kept, taken


def patient_split(
    patient_ids: ArrayLike,
    labels: ArrayLike,
    *,
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
    seed: int,
) -> PatientSplit:
    """Split patients into training, validation and test sets, stratified by outcome.

    Set sizes are ``round(fractions[0] * n)`` and ``round(fractions[1] * n)``
    (halves rounded up) for training and validation, the rest for testing;
    within those sizes each set keeps the outcome proportions as closely as
    integers allow (scikit-learn's stratified shuffle).

    Parameters
    ----------
    patient_ids : array-like, shape (n,)
        Patient ids, once per patient or once per item (see :func:`patient_labels`).
    labels : array-like, shape (n,)
        1 = good outcome (Fugl-Meyer > 17/34), 0 = poor.
    fractions : sequence of 3 floats
        Fractions of patients for (train, val, test); they must add up to 1.
        A zero fraction gives an empty set.
    seed : int
        Seed of the shuffle; the same seed gives the same split.

    Returns
    -------
    PatientSplit
        Sorted, disjoint patient ids of the three sets.

    Examples
    --------
    >>> split = patient_split(range(102), [0] * 51 + [1] * 51, seed=0)
    >>> split.sizes()
    (71, 15, 16)
    """
    patients, y = patient_labels(patient_ids, labels)
    if len(np.unique(y)) < 2:
        raise ValueError(
            "labels hold only one outcome; a stratified split needs good and poor patients."
        )
    n_train, n_val, n_test = _set_sizes(len(patients), fractions)
    if n_train == 0:
        raise ValueError(f"fractions={tuple(fractions)!r} leaves no patient for training.")
    rest, test = _stratified_take(patients, y, n_test, seed, "test")
    y_rest = y[np.searchsorted(patients, rest)]
    train, val = _stratified_take(rest, y_rest, n_val, seed, "validation")
    return PatientSplit(train=np.sort(train), val=np.sort(val), test=np.sort(test), seed=int(seed))


def patient_kfold(
    patient_ids: ArrayLike,
    labels: ArrayLike,
    *,
    n_splits: int = 5,
    seed: int,
) -> list[PatientFold]:
    """Stratified k-fold over patients (scikit-learn ``StratifiedKFold``, shuffled).

    Parameters
    ----------
    patient_ids, labels : array-like, shape (n,)
        As for :func:`patient_split`.
    n_splits : int
        Number of folds; every patient is held out exactly once.
    seed : int
        Seed of the shuffle before folding.

    Returns
    -------
    list of PatientFold
        ``n_splits`` folds with sorted, disjoint ``train`` and ``test`` patient ids.
    """
    from sklearn.model_selection import StratifiedKFold

    patients, y = patient_labels(patient_ids, labels)
    check_int("n_splits", n_splits, low=2)
    smallest = int(np.bincount(y, minlength=2).min())
    if smallest < n_splits:
        raise ValueError(
            f"n_splits={n_splits} but the smaller outcome group has only {smallest} patients; "
            f"use at most {smallest} folds."
        )
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return [
        PatientFold(fold=i, train=np.sort(patients[tr]), test=np.sort(patients[te]))
        for i, (tr, te) in enumerate(folds.split(patients, y))
    ]


def repeated_patient_splits(
    patient_ids: ArrayLike,
    labels: ArrayLike,
    *,
    n_repeats: int = 5,
    seed: int,
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
) -> list[PatientSplit]:
    """Draw ``n_repeats`` independent stratified patient splits.

    The seeds of the repeats come from ``numpy.random.SeedSequence(seed)``, so
    they are reproducible from one number and uncorrelated; each split records
    its own seed.

    Parameters
    ----------
    patient_ids, labels : array-like, shape (n,)
        As for :func:`patient_split`.
    n_repeats : int
        Number of splits.
    seed : int
        Master seed.
    fractions : sequence of 3 floats
        As for :func:`patient_split`.

    Returns
    -------
    list of PatientSplit
    """
    check_int("n_repeats", n_repeats, low=1)
    seeds = np.random.SeedSequence(seed).generate_state(n_repeats, dtype=np.uint32)
    return [patient_split(patient_ids, labels, fractions=fractions, seed=int(s)) for s in seeds]

"""Torch datasets over signal windows and fMRI slices, with slice augmentation.

Both datasets wrap the caller's numpy array without copying it (a subset is
an index array, not a fancy-indexed copy) and copy one item at a time when
it is read, so a memory-mapped array works and the caller's data are never
changed.  Items are ``(x, y, patient_index)``: the input tensor, the outcome
as a float32 scalar (1 = good) and the index of the item's patient in
``dataset.patients`` (patient ids may be strings, which tensors cannot hold).

Slice augmentation (:mod:`rehab_core.training.augmentation`) extends Shi et
al. (2025), section 2.7 (rotation, flip, brightness) with the variation of
real scans (scale, shift, contrast, bias field, noise).  It is applied to
training slices only: by :func:`~rehab_core.training.fit_model` to whole
batches on the training device (:meth:`SliceDataset.augment_batch`), or per
item when a :class:`SliceDataset` in training mode is read directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from rehab_core._validation import check_int, check_positive
from rehab_core.training.augmentation import SliceAugmentation, augment_batch, augment_slice
from rehab_core.training.seeding import derive_seed

__all__ = ["SliceAugmentation", "SliceDataset", "WindowDataset", "augment_slice"]


class _ArrayDataset(torch.utils.data.Dataset):
    """Items of a numpy array with a patient id and outcome per item."""

    _ndim: int = 0
    _what: str = "data"
    _shape_doc: str = ""

    def __init__(
        self,
        data: NDArray[np.float32],
        patient_ids: ArrayLike,
        labels: Mapping[Any, int] | ArrayLike,
        *,
        indices: ArrayLike | None = None,
    ) -> None:
        if not isinstance(data, np.ndarray):
            raise TypeError(f"{self._what} must be a numpy array, got {type(data).__name__}.")
        if data.ndim != self._ndim:
            raise ValueError(
                f"{self._what} must have shape {self._shape_doc}, got shape {data.shape}."
            )
        if data.dtype != np.float32:
            raise TypeError(
                f"{self._what} must be float32, got {data.dtype}; convert with .astype(np.float32)."
            )
        ids = np.asarray(patient_ids)
        if ids.shape != (len(data),):
            raise ValueError(
                f"patient_ids must hold one id per item ({len(data)}), got shape {ids.shape}."
            )
        if indices is None:
            idx = np.arange(len(data), dtype=np.intp)
        else:
            idx = np.asarray(indices)
            if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
                raise ValueError(
                    f"indices must be a 1-D integer array, got {idx.dtype} of shape {idx.shape}."
                )
            idx = idx.astype(np.intp)
            if idx.size and (idx.min() < 0 or idx.max() >= len(data)):
                raise ValueError(
                    f"indices must lie in [0, {len(data) - 1}], got {idx.min()}..{idx.max()}."
                )
        item_labels = self._item_labels(ids, labels)[idx]
        patients, patient_index = np.unique(ids[idx], return_inverse=True)
        per_patient = np.zeros(len(patients), dtype=np.float32)
        per_patient[patient_index] = item_labels
        self.data = data
        self.indices = idx
        self.patients = patients
        self.item_patient_index = patient_index.astype(np.int64)
        self.item_labels = item_labels
        self.patient_labels = per_patient

    @staticmethod
    def _item_labels(ids: NDArray, labels: Mapping[Any, int] | ArrayLike) -> NDArray[np.float32]:
        if isinstance(labels, Mapping):
            missing = [p for p in np.unique(ids) if p not in labels]
            if missing:
                shown = [m.item() if hasattr(m, "item") else m for m in missing[:5]]
                raise ValueError(f"labels has no outcome for patient(s) {shown}.")
            y = np.array([labels[p] for p in ids.tolist()])
        else:
            y = np.asarray(labels)
            if y.shape != ids.shape:
                raise ValueError(
                    f"labels must be a mapping patient id -> outcome or one label per item "
                    f"({len(ids)}), got shape {y.shape}."
                )
        if y.size and not np.all(np.isin(y, (0, 1))):
            raise ValueError("labels must be 0 (poor) or 1 (good outcome).")
        y = y.astype(np.float32)
        _, inverse = np.unique(ids, return_inverse=True)
        if y.size:
            first = np.zeros(inverse.max() + 1, dtype=np.float32)
            first[inverse] = y
            if np.any(first[inverse] != y):
                raise ValueError(
                    "labels differ between items of the same patient; "
                    "each patient needs one outcome."
                )
        return y

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def item_patient_ids(self) -> NDArray:
        """Patient id of every item, shape (len(self),)."""
        return self.patients[self.item_patient_index]

    def _load(self, i: int) -> torch.Tensor:
        # One item is copied; the caller's array (maybe read-only or memory-mapped) is untouched.
        return torch.tensor(self.data[self.indices[i]])

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self._item(self._load(i), i)

    def read_item(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Item ``i`` as stored, never augmented (what ``fit_model``'s DataLoader reads)."""
        return self._item(_ArrayDataset._load(self, i), i)

    def read_items(self, items: ArrayLike) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Items ``items`` as stored, already stacked: ``(x, y, patient_index)`` batch tensors.

        One copy out of the array for the whole batch (what ``fit_model``'s
        DataLoader reads, instead of one tensor per item and a collation).
        """
        rows = self.indices[np.asarray(items, dtype=np.intp)]
        return (
            torch.from_numpy(np.take(self.data, rows, axis=0)),
            torch.from_numpy(self.item_labels[items].copy()),
            torch.from_numpy(self.item_patient_index[items].copy()),
        )

    def _item(self, x: torch.Tensor, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return x, torch.tensor(self.item_labels[i]), torch.tensor(self.item_patient_index[i])


class WindowDataset(_ArrayDataset):
    """EEG-EMG windows as a torch dataset.

    Parameters
    ----------
    windows : ndarray of float32, shape (n_windows, n_chans, n_times)
        Preprocessed windows (z-scored per channel); referenced, not copied.
    patient_ids : array-like, shape (n_windows,)
        The patient of every window.
    labels : mapping or array-like
        Outcome per patient (``{patient_id: 0 or 1}``) or per window
        (shape (n_windows,)); 1 = good.
    indices : array-like of int, optional
        Use only these windows (e.g. one split) without copying the array.

    Attributes
    ----------
    patients : ndarray, shape (n_patients,)
        Sorted ids of the patients present; ``patient_index`` indexes it.
    patient_labels : ndarray of float32, shape (n_patients,)
        Outcome of each patient.
    """

    _ndim = 3
    _what = "windows"
    _shape_doc = "(n_windows, n_chans, n_times)"


class SliceDataset(_ArrayDataset):
    """fMRI slices as a torch dataset, with optional online augmentation.

    Parameters
    ----------
    slices : ndarray of float32, shape (n_slices, 3, height, width)
        Screened slices (224 x 224 for the image models); referenced, not copied.
    patient_ids : array-like, shape (n_slices,)
        The patient of every slice.
    labels : mapping or array-like
        Outcome per patient or per slice, as for :class:`WindowDataset`.
    indices : array-like of int, optional
        Use only these slices without copying the array.
    augmentation : SliceAugmentation or None
        Random changes applied while the dataset is in training mode.  None:
        slices are returned unchanged.
    seed : int
        Seed of the augmentation.  An item read directly is seeded from
        ``(seed, epoch, index into slices)``, so it does not depend on the
        order of reading or an interrupted run (call :meth:`set_epoch` each
        epoch for fresh draws); a batch augmented by :meth:`augment_batch`
        from ``(seed, epoch, batch, rank)``.

    Notes
    -----
    The dataset starts in training mode when it has an augmentation; call
    :meth:`eval` for validation, testing and prediction (``fit_model`` and
    ``predict_patient_scores`` switch it to evaluation mode while they
    evaluate).  ``fit_model`` reads items with :meth:`read_item` (no
    augmentation in the DataLoader) and augments each training batch on the
    training device with :meth:`augment_batch`.
    """

    _ndim = 4
    _what = "slices"
    _shape_doc = "(n_slices, n_channels, height, width)"

    def __init__(
        self,
        slices: NDArray[np.float32],
        patient_ids: ArrayLike,
        labels: Mapping[Any, int] | ArrayLike,
        *,
        indices: ArrayLike | None = None,
        augmentation: SliceAugmentation | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(slices, patient_ids, labels, indices=indices)
        if augmentation is not None and not isinstance(augmentation, SliceAugmentation):
            raise TypeError(
                f"augmentation must be a SliceAugmentation or None, "
                f"got {type(augmentation).__name__}."
            )
        check_int("seed", seed, low=0)
        self.augmentation = augmentation
        self.seed = seed
        self.epoch = 0
        self.training = augmentation is not None

    def train(self, mode: bool = True) -> SliceDataset:
        """Switch augmentation on (``mode=True``) or off; returns ``self``."""
        self.training = bool(mode)
        return self

    def eval(self) -> SliceDataset:
        """Switch augmentation off; returns ``self``."""
        return self.train(False)

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch that seeds the next augmentation draws."""
        check_positive("epoch", epoch, strict=False)
        self.epoch = int(epoch)

    def augment_batch(
        self, x: torch.Tensor, *, epoch: int, batch: int, rank: int = 0
    ) -> torch.Tensor:
        """Augment a batch read with :meth:`read_item`, on its own device.

        Parameters
        ----------
        x : Tensor, shape (batch, n_channels, height, width)
            On the training device.
        epoch, batch : int
            1-based epoch and batch number; with ``rank`` and the dataset's
            ``seed`` they seed the draw, so a resumed run repeats it.
        rank : int
            DDP rank (each rank reads other slices).

        Returns
        -------
        Tensor
            ``x`` itself when the dataset is in evaluation mode or has no
            augmentation, else an augmented copy.
        """
        if not self.training or self.augmentation is None:
            return x
        generator = torch.Generator(device=x.device)
        generator.manual_seed(derive_seed(self.seed, epoch, batch, rank))
        return augment_batch(x, self.augmentation, generator=generator)

    def _load(self, i: int) -> torch.Tensor:
        x = super()._load(i)
        if self.training and self.augmentation is not None:
            generator = torch.Generator().manual_seed(
                derive_seed(self.seed, self.epoch, int(self.indices[i]))
            )
            x = augment_slice(x, self.augmentation, generator)
        return x

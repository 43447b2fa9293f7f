"""Patient scores: the mean predicted probability over a patient's items.

Shi et al. (2025), section 2.6.3: the signal score of a patient is the mean
probability over their EEG-EMG windows; the image score is the mean over
their screened fMRI slices (docs/architecture.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from rehab_core._validation import check_int
from rehab_core.training._utils import as_logits, augmentation_off
from rehab_core.training.settings import select_device

if TYPE_CHECKING:
    import torch

__all__ = ["PatientScores", "predict_patient_scores"]


@dataclass(frozen=True)
class PatientScores:
    """Predicted probabilities of a good outcome, per patient and per item.

    Attributes
    ----------
    scores : dict
        Patient id (a Python int or str) -> mean probability over the
        patient's items, in sorted patient order.
    item_probabilities : ndarray of float64, shape (n_items,)
        Probability of every item (window or slice), in input order.
    item_patient_ids : ndarray, shape (n_items,)
        The patient of every item.
    """

    scores: dict[Any, float]
    item_probabilities: NDArray[np.float64]
    item_patient_ids: NDArray


def _batches_from_array(data: NDArray[np.float32], batch_size: int):
    import torch

    for start in range(0, len(data), batch_size):
        # torch.tensor copies: the caller's (maybe read-only) array is never shared with the model.
        yield torch.tensor(data[start : start + batch_size])


def _batches_from_dataset(ds: Any, batch_size: int):
    import torch

    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=0)
    for x, *_ in loader:
        yield x


def predict_patient_scores(
    model: torch.nn.Module,
    data: Any,
    patient_ids: ArrayLike | None = None,
    *,
    batch_size: int = 32,
    device: str | torch.device = "auto",
) -> PatientScores:
    """Predict every item and average the probabilities per patient.

    Parameters
    ----------
    model : torch.nn.Module
        Returns logits ``(batch, 1)`` for a good outcome.  It is moved to
        ``device`` and run in evaluation mode; its previous train/eval mode
        is restored afterwards.
    data : ndarray of float32 or Dataset
        Items stacked on the first axis, ``(n_windows, n_chans, n_times)``
        or ``(n_slices, 3, 224, 224)``; or a dataset with
        ``(x, y, patient_index)`` items such as :class:`WindowDataset` or
        :class:`SliceDataset` (read in order, augmentation off).
    patient_ids : array-like, shape (n_items,), optional
        Patient of every item.  Required for an array; for a dataset it
        defaults to ``data.item_patient_ids``.
    batch_size : int
        Items per forward pass.
    device : str or torch.device
        ``"auto"`` (CUDA, MPS, CPU) or a device name; see :func:`select_device`.

    Returns
    -------
    PatientScores
    """
    import torch

    check_int("batch_size", batch_size, low=1)
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    dev = device if isinstance(device, torch.device) else select_device(device)
    if isinstance(data, np.ndarray):
        if data.dtype != np.float32:
            raise TypeError(
                f"data must be float32, got {data.dtype}; convert with .astype(np.float32)."
            )
        if data.ndim < 2:
            raise ValueError(f"data must stack items on the first axis, got shape {data.shape}.")
        if patient_ids is None:
            raise ValueError("patient_ids is required when data is an array (one id per item).")
        batches = _batches_from_array(data, batch_size)
        context = augmentation_off(None)
    elif hasattr(data, "__getitem__") and hasattr(data, "__len__"):
        if patient_ids is None:
            if not hasattr(data, "item_patient_ids"):
                raise ValueError(
                    f"patient_ids is required for a {type(data).__name__}, "
                    f"which has no item_patient_ids."
                )
            patient_ids = data.item_patient_ids
        batches = _batches_from_dataset(data, batch_size)
        context = augmentation_off(data)
    else:
        raise TypeError(
            f"data must be a float32 numpy array or a Dataset, got {type(data).__name__}."
        )
    ids = np.asarray(patient_ids)
    if ids.shape != (len(data),):
        raise ValueError(
            f"patient_ids must hold one id per item ({len(data)}), got shape {ids.shape}."
        )
    if len(ids) == 0:
        raise ValueError("data holds no items; nothing to predict.")

    was_training = model.training
    model.to(dev)
    model.eval()
    chunks = []
    try:
        with context, torch.inference_mode():
            for x in batches:
                logits = as_logits(model(x.to(dev)), len(x))
                chunks.append(torch.sigmoid(logits.double()).cpu().numpy())
    finally:
        model.train(was_training)
    probs = np.concatenate(chunks)
    patients, inverse = np.unique(ids, return_inverse=True)
    means = np.bincount(inverse, weights=probs) / np.bincount(inverse)
    scores = {
        (p.item() if hasattr(p, "item") else p): float(m)
        for p, m in zip(patients, means, strict=True)
    }
    return PatientScores(scores=scores, item_probabilities=probs, item_patient_ids=ids)

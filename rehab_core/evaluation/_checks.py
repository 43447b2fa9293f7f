"""Input checks shared by the metric, curve and fusion functions.

Labels and probabilities are refused rather than converted when they are not
what the caller meant: strings, values other than 0/1, probabilities outside
[0, 1], NaN or mismatched lengths each raise one plain sentence.
"""

from __future__ import annotations

import numpy as np

__all__: list[str] = []


def as_binary_labels(y: object, name: str = "y_true") -> np.ndarray:
    """Return ``y`` as a new 1-D ``bool`` array (True = good outcome).

    Accepts booleans or numbers that are exactly 0 or 1 (``int`` or ``float``).
    """
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(
            f"{name} must be one-dimensional (one label per patient), got shape {arr.shape}."
        )
    if arr.size == 0:
        raise ValueError(f"{name} is empty; at least one patient is needed.")
    if arr.dtype == bool:
        return arr.copy()
    if not np.issubdtype(arr.dtype, np.number):
        raise TypeError(
            f"{name} must hold 0 (poor) / 1 (good) numbers or booleans, got dtype {arr.dtype}."
        )
    bad = ~np.isin(arr, (0, 1))
    if bad.any():
        raise ValueError(
            f"{name} must hold only 0 (poor) and 1 (good); found {arr[bad][0].item()!r} "
            f"at position {int(np.flatnonzero(bad)[0])}."
        )
    return arr == 1


def as_probabilities(p: object, name: str = "p_good", *, allow_nan: bool = False) -> np.ndarray:
    """Return ``p`` as a new 1-D ``float64`` array of probabilities in [0, 1]."""
    arr = np.asarray(p)
    if arr.ndim != 1:
        raise ValueError(
            f"{name} must be one-dimensional (one probability per patient), got shape {arr.shape}."
        )
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{name} must hold probabilities as floats, got dtype {arr.dtype}.")
    arr = arr.astype(np.float64, copy=True)
    nan = np.isnan(arr)
    if nan.any() and not allow_nan:
        raise ValueError(
            f"{name} contains NaN at position {int(np.flatnonzero(nan)[0])}; "
            "every patient needs a probability."
        )
    finite = arr[~nan]
    if finite.size and (finite.min() < 0.0 or finite.max() > 1.0):
        raise ValueError(
            f"{name} must lie in [0, 1] (probabilities, not logits); "
            f"found values from {finite.min():g} to {finite.max():g}."
        )
    return arr


def check_same_length(**arrays: np.ndarray) -> int:
    """Return the common length of ``arrays`` or raise naming each length."""
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{k} has {v}" for k, v in lengths.items())
        raise ValueError(f"Every input needs one value per patient, but {listed}.")
    return next(iter(lengths.values()))


def check_both_outcomes(y: np.ndarray, what: str) -> None:
    """Raise one sentence when the labels ``y`` (bool) hold one outcome only.

    ``what`` names what needs both, e.g. ``"Calibration"``.
    """
    if y.all() or not y.any():
        raise ValueError(
            f"{what} needs patients of both outcomes, but all {y.size} patients are "
            f"{'good' if y.all() else 'poor'}."
        )

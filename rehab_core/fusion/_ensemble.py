"""Per-patient spread of an ensemble of probability predictions."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from rehab_core._validation import check_range

__all__ = ["EnsembleInterval", "ensemble_interval"]


class EnsembleInterval(NamedTuple):
    """Ensemble mean and percentile interval per patient, each of shape (n_patients,)."""

    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray


def ensemble_interval(prob_matrix: object, ci: float = 0.9) -> EnsembleInterval:
    """Mean and percentile interval of several members' ``p_good`` for each patient.

    Intended for the models that disagree for a reason worth showing: the k
    fold models of a cross-validated training run, refits on bootstrap
    resamples of the training patients, or MC-dropout forward passes.  The
    interval describes *model* (epistemic) uncertainty, i.e. how much the
    prediction depends on which patients trained it; it is not a prediction
    interval for the outcome.  With few members (5 folds) a 90% interval is
    close to the members' min-max range; say so when showing it.

    Parameters
    ----------
    prob_matrix : array-like of float, shape (n_members, n_patients)
        Probability of a good outcome from each member for each patient, in [0, 1].
    ci : float
        Coverage of the percentile interval, in (0, 1).

    Returns
    -------
    EnsembleInterval
        ``mean``, ``low``, ``high`` (float64, shape ``(n_patients,)``);
        percentiles use numpy's linear interpolation.
    """
    arr = np.asarray(prob_matrix)
    if arr.ndim != 2:
        raise ValueError(
            f"prob_matrix must have shape (n_members, n_patients), got shape {arr.shape}."
        )
    if arr.shape[0] < 2 or arr.shape[1] == 0:
        raise ValueError(
            f"prob_matrix needs at least 2 members and 1 patient, got shape {arr.shape}."
        )
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"prob_matrix must hold probabilities as floats, got dtype {arr.dtype}.")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 1:
        raise ValueError("prob_matrix must hold probabilities in [0, 1] without NaN.")
    check_range("ci", ci, 0.0, 1.0)
    if ci in (0.0, 1.0):
        raise ValueError(f"ci={ci!r} must lie strictly between 0 and 1, e.g. 0.9.")
    low, high = np.percentile(arr, [50 * (1 - ci), 50 * (1 + ci)], axis=0)
    return EnsembleInterval(arr.mean(axis=0), low, high)

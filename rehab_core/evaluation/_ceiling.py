"""Ceilings from a synthetic cohort's ground truth, and the chance-corrected fraction reached.

A synthetic cohort's ``ground_truth.tsv`` holds, per patient, the probability
of a good outcome that an ideal model could give from a given information:
``p_good_bayes`` from everything the generator used (the fusion ceiling), and
one column per modality for what that modality alone can show.  A model must
be held against the ceiling of *what it sees*: the fMRI backbones against
P(good | fMRI), the LSTM against P(good | EEG-EMG), the clinical baseline
against P(good | clinical), the fusion models against the joint one.

A ratio of AUCs (``0.82 / 0.91 = 0.90``) flatters a weak model because half
of every AUC is chance; the **chance-corrected fraction of the ceiling**

``(AUC - 0.5) / (ceiling - 0.5)``

is 0 for a coin flip and 1 for a model that reaches its ceiling.  It can
exceed 1 on a small sample (a model can beat the ceiling by luck on a few
patients), which its interval then shows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np

from rehab_core._validation import check_option
from rehab_core.evaluation._checks import (
    as_binary_labels,
    as_probabilities,
    check_both_outcomes,
    check_same_length,
)
from rehab_core.evaluation._metrics import (
    _auc_rows,
    _check_bootstrap,
    _percentile_interval,
    _resample_weights,
)

__all__ = [
    "CEILING_COLUMNS",
    "CLINICAL_MODEL",
    "CLINICAL_SUFFIX",
    "ceiling_column",
    "ceiling_fraction",
    "ceiling_probabilities",
]

#: Ground-truth column holding each information's ideal P(good), by what a row sees
#: (the columns of the cohort v2 generator, ``docs/synthetic_cohort.md``):
#: ``joint`` P(good | the fMRI and EEG-EMG markers the patient's files show), what the
#: fusion models see; ``fmri`` and ``eegemg`` one modality's markers; ``clinical``
#: P(good | baseline FMA-LE, days since stroke); ``joint_clinical`` all of them, what
#: "fusion + clinical" sees.
CEILING_COLUMNS: Mapping[str, str] = MappingProxyType(
    {
        "joint": "p_good_bayes",
        "fmri": "p_good_fmri",
        "eegemg": "p_good_eegemg",
        "clinical": "p_good_clinical",
        "joint_clinical": "p_good_all",
    }
)

#: Name of the clinical comparator's row (logistic on baseline FMA-LE, age, days since stroke).
CLINICAL_MODEL = "Clinical"
#: Suffix of a "fusion + clinical" row's name, e.g. ``"ShuffleNet_LSTM + clinical"``.
CLINICAL_SUFFIX = " + clinical"

_GROUP_SEES = {"image": "fmri", "signal": "eegemg", "fusion": "joint"}


def ceiling_column(name: str, group: str, *, columns: Mapping[str, str] | None = None) -> str:
    """The ground-truth column whose AUC is the ceiling of one table row.

    Parameters
    ----------
    name : str
        The row's model name: :data:`CLINICAL_MODEL` sees the clinical data,
        a name ending in :data:`CLINICAL_SUFFIX` sees fusion + clinical, any
        other name what its group sees.
    group : {"image", "signal", "fusion"}
        The row's table: image (fMRI) models see fMRI, the signal model
        EEG-EMG, fusion models both.
    columns : mapping, optional
        Replaces entries of :data:`CEILING_COLUMNS` (keys ``joint``, ``fmri``,
        ``eegemg``, ``clinical``, ``joint_clinical``), for a cohort whose
        ground truth names them differently.

    Returns
    -------
    str
        A column of ``ground_truth.tsv``.
    """
    table = dict(CEILING_COLUMNS)
    for key in columns or {}:
        check_option("columns key", key, tuple(CEILING_COLUMNS))
    table.update(columns or {})
    check_option("group", group, tuple(_GROUP_SEES))
    if _is_clinical(name):
        return table["clinical"]
    if str(name).endswith(CLINICAL_SUFFIX):
        return table["joint_clinical"]
    return table[_GROUP_SEES[group]]


def _is_clinical(name: str) -> bool:
    return str(name).strip().lower() == CLINICAL_MODEL.lower()


def ceiling_probabilities(
    truth: Mapping[str, Mapping[str, Any]], patients: Sequence[str], column: str
) -> np.ndarray | None:
    """The ground truth's ideal P(good) of ``patients`` from one column.

    Parameters
    ----------
    truth : mapping of patient id to row
        ``Cohort.ground_truth`` (:func:`rehab_core.io.read_cohort`): each row
        maps column names to values, as read from ``ground_truth.tsv``
        (strings such as ``"0.734"`` or numbers).
    patients : sequence of str
        The patients of the row, in the order of its scores.
    column : str
        See :func:`ceiling_column`.

    Returns
    -------
    p : ndarray of float64, shape (n_patients,), or None
        ``None`` when the cohort has no ground truth (real data) or no such
        column (a cohort from an older generator): no ceiling is then shown,
        rather than the ceiling of another information.

    Raises
    ------
    ValueError
        When the column exists but a patient has no row, no value
        (``n/a``) or a value that is not a probability.
    """
    if not truth or not any(column in row for row in truth.values()):
        return None
    out = np.empty(len(patients))
    for k, patient in enumerate(patients):
        row = truth.get(str(patient))
        if row is None:
            raise ValueError(f"Patient {patient} has no row in the ground truth.")
        raw = row.get(column, "")
        try:
            value = float(raw)
        except (TypeError, ValueError):
            value = float("nan")
        if not 0.0 <= value <= 1.0:
            raise ValueError(
                f"Patient {patient} has {column}={raw!r} in the ground truth; a ceiling "
                "needs a probability for every patient of the row."
            )
        out[k] = value
    return out


def ceiling_fraction(
    y_true: object,
    p_good: object,
    p_ceiling: object,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    ci: float = 0.95,
    stratify: bool = True,
) -> dict[str, object]:
    """The chance-corrected fraction of the ceiling, with a bootstrap interval.

    ``fraction = (AUC(p_good) - 0.5) / (AUC(p_ceiling) - 0.5)``, both AUCs on
    the same patients, and on every resample the same patients again: the
    ceiling varies with the sample too, and computing both on one resample
    keeps that variation out of the ratio.

    Parameters
    ----------
    y_true : array-like of {0, 1} or bool, shape (n_patients,)
    p_good : array-like of float, shape (n_patients,)
        The model's probabilities.
    p_ceiling : array-like of float, shape (n_patients,)
        The ideal probabilities of the information the model sees
        (:func:`ceiling_probabilities`).
    n_boot, seed, ci, stratify
        As in :func:`rehab_core.evaluation.bootstrap_metrics`; the same seed
        gives the same resamples as that model's metric intervals.

    Returns
    -------
    result : dict
        ``auc``, ``ceiling_auc`` and ``fraction``, each ``{"estimate", "low",
        "high"}``; ``undefined_resamples`` (resamples whose ceiling AUC is at
        most 0.5, where the fraction has no meaning; left out of the
        interval), ``n``, ``n_positive``, ``n_boot``, ``seed``, ``ci``,
        ``stratify``.  The fraction's estimate is NaN when the ceiling AUC on
        these patients is at most 0.5.  JSON-ready.
    """
    y = as_binary_labels(y_true, "y_true")
    p = as_probabilities(p_good, "p_good")
    c = as_probabilities(p_ceiling, "p_ceiling")
    check_same_length(y_true=y, p_good=p, p_ceiling=c)
    _check_bootstrap(n_boot, ci)
    check_both_outcomes(y, "A fraction of the ceiling")
    weights = np.vstack([np.ones((1, y.size)), _resample_weights(y, int(n_boot), seed, stratify)])
    auc, ceiling = _auc_rows(y, p, weights), _auc_rows(y, c, weights)
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.where(ceiling > 0.5, (auc - 0.5) / (ceiling - 0.5), np.nan)
    cells = {}
    for key, values in (("auc", auc), ("ceiling_auc", ceiling), ("fraction", fraction)):
        low, high = _percentile_interval(values[1:], ci)
        cells[key] = {"estimate": float(values[0]), "low": low, "high": high}
    return {
        **cells,
        "undefined_resamples": int(np.isnan(fraction[1:]).sum()),
        "n": int(y.size),
        "n_positive": int(y.sum()),
        "n_boot": int(n_boot),
        "seed": int(seed),
        "ci": float(ci),
        "stratify": bool(stratify),
    }

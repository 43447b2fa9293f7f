"""The clinical comparator: logistic regression on baseline FMA-LE, age and days since stroke.

Prognostic tools that clinicians use (PREP2, TWIST) start from the baseline
motor score, so the first question about the fused model is whether it adds
anything to the baseline lower-limb Fugl-Meyer.  :class:`ClinicalLogistic`
answers it on the same patients and the same folds as the deep models:

* ``ClinicalLogistic()``: the clinical baseline, ``logit P(good) = b0 +
  b1 FMA-LE + b2 age + b3 days since stroke``;
* ``ClinicalLogistic(score_feature="p_fused")``: "fusion + clinical", the
  same with the fused probability's logit as one more input.

:func:`out_of_fold_predict` fits it on given development folds (the deep
models' patient-level folds, mapped to rows by :func:`fold_indices`) and
returns each patient's prediction from the fold that held it out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from rehab_core._validation import check_option, check_positive, check_range
from rehab_core.evaluation._checks import as_binary_labels, as_probabilities
from rehab_core.fusion._state import (
    count,
    finite_float,
    float_array,
    json_params,
    learned_state,
    read_state,
)

__all__ = ["CLINICAL_FEATURES", "ClinicalLogistic", "fold_indices", "out_of_fold_predict"]

#: Clinical inputs, as named in ``participants.tsv``: baseline lower-limb Fugl-Meyer
#: (points, 0-34), age (years), days from stroke onset to the baseline assessment.
CLINICAL_FEATURES: tuple[str, ...] = ("fma_le_baseline", "age", "days_since_stroke")

_MISSING = ("refuse", "median")
_LEARNED = ("coef", "intercept", "mean", "scale", "medians", "n_fit", "n_imputed")
_FMA_MAX = 34.0


class ClinicalLogistic(BaseEstimator):
    """Logistic regression of a good outcome on clinical data, optionally plus a model's score.

    Parameters
    ----------
    features : sequence of str
        Clinical columns, in the order of ``X``'s first columns; default
        :data:`CLINICAL_FEATURES`.
    score_feature : str or None
        Name of one more column, last in ``X``: a model's probability of a
        good outcome (e.g. ``"p_fused"``), entered as its logit.  ``None``
        (default) gives the clinical baseline alone.
    C : float or None
        Inverse L2 penalty on the standardised inputs (as scikit-learn's
        ``LogisticRegression``); ``None`` (default) fits the plain
        maximum-likelihood model, the usual clinical comparator.
    missing : {"refuse", "median"}
        A patient without a clinical value (NaN): ``"refuse"`` (default)
        raises one sentence naming the patient's row and the value;
        ``"median"`` fills in the median of the training patients (stored as
        ``medians_`` and used again at prediction) and counts the filled
        patients in ``n_imputed_``.  A missing score is always refused.
    p_clip : float
        The score is clipped to ``[p_clip, 1 - p_clip]`` before the logit.

    Attributes
    ----------
    coef_ : ndarray, shape (n_inputs,)
        Log-odds per standard deviation of each input (clinical columns, then
        the score's logit).
    intercept_ : float
    mean_, scale_ : ndarray, shape (n_inputs,)
        Standardisation learnt on the training patients.
    medians_ : ndarray, shape (n_features,)
        Training medians of the clinical columns (used only with
        ``missing="median"``).
    n_fit_ : int
    n_imputed_ : int
        Training patients with at least one filled-in clinical value.

    Notes
    -----
    ``fit(X, y)`` takes ``X`` as an array of shape ``(n_patients, n_inputs)``
    whose columns follow ``features`` (+ ``score_feature``), or as a mapping
    (a dict or a pandas DataFrame) from those names to columns.
    ``predict_proba`` returns ``p_good`` of shape ``(n,)``, as the rest of
    :mod:`rehab_core` expects.  A score given to :meth:`fit` must be
    out-of-sample for the model that produced it (out-of-fold predictions),
    or the fused model's overfitting passes into this one.
    """

    def __init__(
        self,
        features: Sequence[str] = CLINICAL_FEATURES,
        score_feature: str | None = None,
        C: float | None = None,
        missing: str = "refuse",
        p_clip: float = 1e-3,
    ) -> None:
        self.features = features
        self.score_feature = score_feature
        self.C = C
        self.missing = missing
        self.p_clip = p_clip

    # ------------------------------------------------------------- inputs
    def _check_params(self) -> tuple[str, ...]:
        if isinstance(self.features, str) or not all(isinstance(f, str) for f in self.features):
            raise TypeError(f"features must be a list of column names, got {self.features!r}.")
        features = tuple(self.features)
        if not features and self.score_feature is None:
            raise ValueError("ClinicalLogistic needs at least one feature or a score_feature.")
        columns = (*features, *([self.score_feature] if self.score_feature is not None else []))
        if len(set(columns)) != len(columns):
            raise ValueError(f"Each input must be named once, got {list(columns)}.")
        check_option("missing", self.missing, _MISSING)
        if self.C is not None:
            check_positive("C", self.C)
        check_range("p_clip", self.p_clip, 1e-12, 0.49)
        return columns

    def _matrix(self, X: object) -> np.ndarray:
        """``X`` as a new float64 array (n_patients, n_inputs), columns in the declared order."""
        columns = self._check_params()
        if isinstance(X, Mapping) or hasattr(X, "columns"):
            absent = [c for c in columns if c not in X]
            if absent:
                raise ValueError(
                    f"X lacks the column(s) {', '.join(absent)}; the model needs "
                    f"{', '.join(columns)}."
                )
            arr = np.column_stack([np.asarray(X[c]) for c in columns])
        else:
            arr = np.asarray(X)
            if arr.ndim != 2 or arr.shape[1] != len(columns):
                raise ValueError(
                    f"X must have shape (n_patients, {len(columns)}) with columns "
                    f"{', '.join(columns)}, got shape {arr.shape}."
                )
        if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
            raise TypeError(f"X must hold numbers, got dtype {arr.dtype}.")
        arr = arr.astype(np.float64, copy=True)
        if arr.shape[0] == 0:
            raise ValueError("X is empty; at least one patient is needed.")
        if np.isinf(arr).any():
            raise ValueError("X contains infinite values; every input must be finite.")
        k = len(tuple(self.features))
        if "fma_le_baseline" in columns[:k]:
            fma = arr[:, columns.index("fma_le_baseline")]
            bad = ~np.isnan(fma) & ((fma < 0) | (fma > _FMA_MAX))
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raise ValueError(
                    f"fma_le_baseline={fma[row]:g} at row {row} is not a lower-limb Fugl-Meyer "
                    f"score (0-{_FMA_MAX:g} points)."
                )
        if self.score_feature is not None:
            score = as_probabilities(arr[:, k], self.score_feature)  # NaN refused here
            score = np.clip(score, self.p_clip, 1.0 - self.p_clip)
            arr[:, k] = np.log(score) - np.log1p(-score)
        return arr

    def _fill(self, arr: np.ndarray, medians: np.ndarray) -> tuple[np.ndarray, int]:
        """Fill (or refuse) missing clinical values; return the array and patients filled."""
        k = len(tuple(self.features))
        gaps = np.isnan(arr[:, :k])
        if not gaps.any():
            return arr, 0
        if self.missing == "refuse":
            row, col = (int(v) for v in np.argwhere(gaps)[0])
            raise ValueError(
                f"The patient at row {row} has no {tuple(self.features)[col]}; the clinical "
                f"model needs {', '.join(self.features)} for every patient: record it, leave "
                "the patient out, or set missing='median' to fill in the training median."
            )
        arr = arr.copy()
        arr[:, :k] = np.where(gaps, medians[None, :], arr[:, :k])
        return arr, int(gaps.any(axis=1).sum())

    # ---------------------------------------------------------------- fit
    def fit(self, X: object, y: object) -> ClinicalLogistic:
        """Fit on training patients.

        Parameters
        ----------
        X : array-like (n_patients, n_inputs) or mapping of column name to values
            Clinical columns (``features``) then, if set, the score.
        y : array-like of {0, 1}, shape (n_patients,)
            Observed outcome, 1 = good.

        Returns
        -------
        self : ClinicalLogistic
        """
        from sklearn.linear_model import LogisticRegression

        arr = self._matrix(X)
        labels = as_binary_labels(y, "y")
        if labels.size != arr.shape[0]:
            raise ValueError(f"X has {arr.shape[0]} patients but y has {labels.size} labels.")
        if labels.all() or not labels.any():
            raise ValueError("Fitting needs patients of both outcomes in the training set.")
        k = len(tuple(self.features))
        with np.errstate(all="ignore"):
            medians = np.nanmedian(arr[:, :k], axis=0) if k else np.zeros(0)
        if k and np.isnan(medians).any() and self.missing == "median":
            col = tuple(self.features)[int(np.flatnonzero(np.isnan(medians))[0])]
            raise ValueError(f"No training patient has {col}; its median cannot be filled in.")
        arr, n_imputed = self._fill(arr, medians)
        mean = arr.mean(axis=0)
        scale = arr.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)  # a constant column stays at 0 after centring
        model = LogisticRegression(
            C=np.inf if self.C is None else float(self.C), solver="newton-cholesky", tol=1e-10
        )
        model.fit((arr - mean) / scale, labels.astype(int))
        fitted = model.predict_proba((arr - mean) / scale)[:, 1]
        if self.C is None and np.abs(labels - fitted).max() < 1e-6:
            raise ValueError(
                "The inputs separate the training patients' outcomes perfectly, so the "
                "unpenalised model has no finite fit; set C (e.g. C=1.0) for a penalised one."
            )
        self.coef_ = model.coef_[0].astype(np.float64)
        self.intercept_ = float(model.intercept_[0])
        self.mean_ = mean
        self.scale_ = scale
        self.medians_ = np.asarray(medians, dtype=np.float64)
        self.n_fit_ = int(labels.size)
        self.n_imputed_ = n_imputed
        return self

    # ------------------------------------------------------------ predict
    def decision_function(self, X: object) -> np.ndarray:
        """Log-odds of a good outcome, shape (n_patients,)."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "coef_")
        arr, _ = self._fill(self._matrix(X), self.medians_)
        return ((arr - self.mean_) / self.scale_) @ self.coef_ + self.intercept_

    def predict_proba(self, X: object) -> np.ndarray:
        """Probability of a good outcome, shape (n_patients,)."""
        from scipy.special import expit

        return expit(self.decision_function(X))

    def predict(self, X: object) -> np.ndarray:
        """Predicted outcome, int array (n_patients,): 1 (good) when ``p_good >= 0.5``."""
        return (self.predict_proba(X) >= 0.5).astype(int)

    # -------------------------------------------------------------- state
    def to_dict(self) -> dict[str, Any]:
        """Parameters and, once fitted, the learned state as JSON-ready builtins.

        Returns
        -------
        state : dict
            ``"kind"`` (``"ClinicalLogistic"``), ``"params"`` and, when fitted,
            ``"coef"``, ``"intercept"``, ``"mean"``, ``"scale"`` (one value
            per input: clinical columns, then the score's logit), ``"medians"``
            (one per clinical column), ``"n_fit"`` and ``"n_imputed"``.
            No pickle: :meth:`from_dict` rebuilds the estimator.
        """
        state: dict[str, Any] = {"kind": type(self).__name__, "params": json_params(self)}
        if not hasattr(self, "coef_"):
            return state
        return {**state, **learned_state(self, _LEARNED)}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> ClinicalLogistic:
        """Rebuild a :class:`ClinicalLogistic` from :meth:`to_dict` output.

        The state of a fitted estimator gives a fitted one whose predictions
        equal the original's exactly; that of an unfitted one an unfitted one.
        """
        params, fitted = read_state(cls, state, _LEARNED)
        if "features" in params and isinstance(params["features"], list):
            params["features"] = tuple(params["features"])
        model = cls(**params)
        if fitted is None:
            return model
        columns = model._check_params()
        n_inputs, k = len(columns), len(tuple(model.features))
        arrays = {}
        for key, size in (("coef", n_inputs), ("mean", n_inputs), ("scale", n_inputs)):
            arrays[key] = float_array(fitted, key, 1)
            if arrays[key].size != size:
                raise ValueError(
                    f"State entry {key!r} must hold {size} value(s), one per input "
                    f"({', '.join(columns)}), got {arrays[key].size}."
                )
        if (arrays["scale"] <= 0).any():
            raise ValueError("State entry 'scale' must be positive.")
        try:
            medians = np.array(fitted["medians"], dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            medians = np.full(k + 1, np.nan)  # refused just below
        if medians.shape != (k,) or not np.isfinite(medians).all():
            raise ValueError(
                f"State entry 'medians' must hold {k} finite value(s), one per clinical column."
            )
        model.coef_ = arrays["coef"]
        model.intercept_ = finite_float(fitted, "intercept")
        model.mean_ = arrays["mean"]
        model.scale_ = arrays["scale"]
        model.medians_ = medians
        model.n_fit_ = count(fitted, "n_fit")
        model.n_imputed_ = count(fitted, "n_imputed")
        return model


def fold_indices(
    patients: Sequence[Any], folds: Iterable[Any]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Turn patient-level folds into row indices of ``patients``.

    Parameters
    ----------
    patients : sequence of ids, shape (n_patients,)
        The patient of each row of ``X``.
    folds : iterable
        Folds as objects with ``train`` and ``test`` patient ids (the
        :class:`rehab_core.training.PatientFold` of the deep models) or as
        ``(train_ids, test_ids)`` pairs.

    Returns
    -------
    list of (train_idx, test_idx)
        Integer row indices, ascending, for :func:`out_of_fold_predict`.
    """
    row = {str(p): k for k, p in enumerate(patients)}
    if len(row) != len(patients):
        raise ValueError("patients lists a patient twice; give one row per patient.")
    out = []
    for k, fold in enumerate(folds):
        train, test = (fold.train, fold.test) if hasattr(fold, "train") else fold
        pair = []
        for ids in (train, test):
            absent = [str(p) for p in ids if str(p) not in row]
            if absent:
                raise ValueError(
                    f"Fold {k} holds patient {absent[0]}, who has no row here; give the rows "
                    "of every patient of the folds."
                )
            pair.append(np.sort(np.array([row[str(p)] for p in ids], dtype=np.intp)))
        out.append((pair[0], pair[1]))
    return out


def _take(X: object, idx: np.ndarray) -> object:
    if hasattr(X, "iloc"):
        return X.iloc[idx]
    if isinstance(X, Mapping):
        return {k: np.asarray(v)[idx] for k, v in X.items()}
    return np.asarray(X)[idx]


def _n_rows(X: object) -> int:
    if isinstance(X, Mapping):
        lengths = {len(np.asarray(v)) for v in X.values()}
        if len(lengths) != 1:
            raise ValueError("Every column of X must hold one value per patient.")
        return lengths.pop()
    return len(X)


def out_of_fold_predict(
    estimator: Any, X: object, y: object, folds: Sequence[tuple[Any, Any]]
) -> np.ndarray:
    """Each patient's probability from a copy of ``estimator`` fitted without that patient.

    Parameters
    ----------
    estimator : estimator with ``fit(X, y)`` and ``predict_proba(X) -> (n,)``
        E.g. :class:`ClinicalLogistic`; cloned (unfitted) for every fold.
    X : array-like (n_patients, n_inputs) or mapping of column to values
    y : array-like of {0, 1}, shape (n_patients,)
    folds : sequence of (train_idx, test_idx)
        Row indices of each fold (:func:`fold_indices` maps the deep models'
        patient-level folds); test sets must not overlap.

    Returns
    -------
    p_good : ndarray of float64, shape (n_patients,)
        Out-of-fold probabilities; NaN for a patient that no fold held out.
    """
    from sklearn.base import clone

    n = _n_rows(X)
    labels = as_binary_labels(y, "y")
    if labels.size != n:
        raise ValueError(f"X has {n} patients but y has {labels.size} labels.")
    out = np.full(n, np.nan)
    held = np.zeros(n, dtype=bool)
    folds = list(folds)
    if not folds:
        raise ValueError("folds is empty; give at least one (train_idx, test_idx) pair.")
    for k, (train, test) in enumerate(folds):
        train, test = np.asarray(train), np.asarray(test)
        for name, idx in (("train", train), ("test", test)):
            if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer) or idx.size == 0:
                raise ValueError(f"Fold {k}: {name} must be a non-empty list of row indices.")
            if idx.min() < 0 or idx.max() >= n:
                raise ValueError(f"Fold {k}: {name} indices must lie between 0 and {n - 1}.")
        if np.intersect1d(train, test).size:
            raise ValueError(f"Fold {k} uses a patient both to fit and to test.")
        if held[test].any():
            raise ValueError(f"Fold {k} holds out a patient another fold already held out.")
        held[test] = True
        model = clone(estimator).fit(_take(X, train), labels[train])
        out[test] = model.predict_proba(_take(X, test))
    return out

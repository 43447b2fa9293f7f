"""Late fusion of the signal (EEG-EMG) and image (fMRI) scores, after Shi et al. 2025, 2.6.3.

``p_good = w * signal_score + (1 - w) * image_score``; the weight ``w`` is the
only thing learned, chosen by stratified k-fold cross-validation on the
training patients.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from rehab_core._validation import check_option, check_range
from rehab_core.evaluation import roc_auc
from rehab_core.evaluation._checks import as_binary_labels, as_probabilities, check_same_length
from rehab_core.fusion._state import (
    count,
    finite_float,
    float_array,
    json_params,
    plain,
    read_state,
)

__all__ = ["LateFusion"]

_SCORINGS = ("neg_log_loss", "roc_auc")
_EPS = np.finfo(np.float64).eps  # clip used by sklearn.metrics.log_loss
_TIE_TOL = 1e-12
_LEARNED = ("weight", "threshold", "cv_score", "weights", "cv_scores", "n_fit", "n_image_only")


def _log_loss_per_row(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Mean binary cross-entropy of each row of ``p (n_rows, n)`` against ``y (n,)``."""
    p = np.clip(p, _EPS, 1 - _EPS)
    return -np.mean(np.where(y, np.log(p), np.log1p(-p)), axis=1)


def _neg_log_loss_per_row(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    return -_log_loss_per_row(y, p)


class LateFusion(BaseEstimator):
    """Weighted average of signal and image probabilities with a cross-validated weight.

    Parameters
    ----------
    weights : array-like of float in [0, 1] or None
        Candidate signal weights ``w``; ``None`` means ``np.linspace(0, 1, 21)``
        (steps of 0.05).  ``w = 1`` is the signal model alone, ``w = 0`` the
        image model alone.
    cv : int or splitter
        Number of stratified folds (shuffled with ``random_state``), or any
        scikit-learn splitter with ``split(X, y)``.
    scoring : {"neg_log_loss", "roc_auc"}
        Criterion on each held-out fold.  The default, log loss, is a strictly
        proper scoring rule: it varies smoothly with ``w`` (AUC is a step
        function of ``w`` and ties often on folds of a dozen patients) and it
        rewards calibrated probabilities, which matter because ``p_good`` is
        shown to clinicians.  ``"roc_auc"`` rewards ranking only.
    threshold : float in [0, 1] or "youden"
        Decision threshold stored as ``threshold_``.  ``"youden"`` picks the
        threshold maximising sensitivity + specificity - 1 on the fused
        probabilities of the training patients (in-sample, so optimistic;
        0.5 when no threshold beats chance).
    random_state : int or None
        Seed of the fold shuffling.

    Attributes
    ----------
    weights_ : ndarray, shape (n_weights,)
        The candidate grid used.
    cv_scores_ : ndarray, shape (n_weights, n_folds)
        Score of every candidate on every held-out fold (higher is better; the
        negated log loss for ``"neg_log_loss"``).
    weight_ : float
        Chosen signal weight: best mean held-out score, ties (within 1e-12)
        broken toward 0.5, i.e. toward the paper's plain average.
    cv_score_ : float
        Mean held-out score of ``weight_``.  It is the best of many candidates,
        so it is optimistic; evaluate on test patients for an honest figure.
    threshold_ : float
    n_fit_ : int
        Training patients with both scores (those used to choose ``w``).
    n_image_only_ : int
        Training patients without a signal score, left out of the fit.

    Notes
    -----
    * The weighted average has no parameter besides ``w``, so each fold's
      training part has nothing to fit: each candidate is simply scored on
      each held-out fold and the best mean wins.  Only the patients passed to
      :meth:`fit` are ever used; pass training patients only.
    * The scores given to :meth:`fit` must be out-of-sample for the base
      models (out-of-fold or validation predictions).  Scores of patients the
      CNN or LSTM was trained on are overconfident and pull ``w`` toward the
      more overfitted modality.
    * A patient without EEG-EMG (NaN signal score) gets the image score alone;
      :meth:`predict_with_provenance` says which patients those are.
    * ``predict_proba`` returns ``p_good`` of shape ``(n,)``, not
      scikit-learn's ``(n, 2)``, as the rest of :mod:`rehab_core` expects.
    """

    def __init__(
        self,
        weights: Any = None,
        cv: Any = 5,
        scoring: str = "neg_log_loss",
        threshold: float | str = 0.5,
        random_state: int | None = None,
    ) -> None:
        self.weights = weights
        self.cv = cv
        self.scoring = scoring
        self.threshold = threshold
        self.random_state = random_state

    # ------------------------------------------------------------------ fit
    def _check_params(self) -> None:
        check_option("scoring", self.scoring, _SCORINGS)
        if isinstance(self.threshold, str):
            check_option("threshold", self.threshold, ("youden",))
        else:
            check_range("threshold", self.threshold, 0.0, 1.0)

    def _grid(self) -> np.ndarray:
        grid = (
            np.linspace(0.0, 1.0, 21).round(12)
            if self.weights is None
            else np.asarray(self.weights, dtype=np.float64)
        )
        if grid.ndim != 1 or grid.size == 0:
            raise ValueError(
                "weights must be a non-empty 1-D grid of candidate weights, "
                f"got shape {grid.shape}."
            )
        if not np.isfinite(grid).all() or grid.min() < 0 or grid.max() > 1:
            raise ValueError("weights must lie between 0 and 1 (the signal share of the average).")
        return grid.copy()

    def _splits(self, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        if isinstance(self.cv, (int, np.integer)) and not isinstance(self.cv, bool):
            from sklearn.model_selection import StratifiedKFold

            if self.cv < 2:
                raise ValueError(f"cv={self.cv!r} must be at least 2 folds.")
            n_small = int(min(y.sum(), (~y).sum()))
            if n_small < self.cv:
                raise ValueError(
                    f"cv={self.cv} folds need at least {self.cv} patients of each outcome "
                    f"with both scores, but the smaller class has {n_small}; lower cv or "
                    "add patients."
                )
            splitter = StratifiedKFold(
                n_splits=int(self.cv), shuffle=True, random_state=self.random_state
            )
        elif hasattr(self.cv, "split") and hasattr(self.cv, "get_n_splits"):
            splitter = self.cv
        else:
            raise TypeError(
                "cv must be a number of folds or a scikit-learn splitter, "
                f"got {type(self.cv).__name__}."
            )
        splits = [
            (np.asarray(tr), np.asarray(te)) for tr, te in splitter.split(np.zeros((y.size, 1)), y)
        ]
        if self.scoring == "roc_auc":
            for k, (_, test) in enumerate(splits):
                if y[test].all() or not y[test].any():
                    raise ValueError(
                        f"Held-out fold {k} has patients of one outcome only, so its AUC "
                        "is undefined; use stratified folds."
                    )
        return splits

    def fit(self, signal_scores: object, image_scores: object, y: object) -> LateFusion:
        """Choose the signal weight on the training patients.

        Parameters
        ----------
        signal_scores : array-like of float, shape (n_patients,)
            Mean window probability of the EEG-EMG model; NaN where a patient
            has no EEG-EMG (those patients are left out of the fit).
        image_scores : array-like of float, shape (n_patients,)
            Mean slice probability of the fMRI model (no NaN).
        y : array-like of {0, 1}, shape (n_patients,)
            Observed outcome, 1 = good.

        Returns
        -------
        self : LateFusion
        """
        self._check_params()
        s = as_probabilities(signal_scores, "signal_scores", allow_nan=True)
        i = as_probabilities(image_scores, "image_scores")
        labels = as_binary_labels(y, "y")
        check_same_length(signal_scores=s, image_scores=i, y=labels)
        grid = self._grid()

        both = ~np.isnan(s)
        s, i, labels = s[both], i[both], labels[both]
        splits = self._splits(labels)
        fused = (
            grid[:, None] * s[None, :] + (1.0 - grid[:, None]) * i[None, :]
        )  # (n_weights, n_fit)
        score = roc_auc if self.scoring == "roc_auc" else _neg_log_loss_per_row
        cv_scores = np.column_stack([score(labels[test], fused[:, test]) for _, test in splits])

        mean = cv_scores.mean(axis=1)
        best = np.flatnonzero(mean >= mean.max() - _TIE_TOL)
        chosen = best[np.argmin(np.abs(grid[best] - 0.5))]

        self.weights_ = grid
        self.cv_scores_ = cv_scores
        self.weight_ = float(grid[chosen])
        self.cv_score_ = float(mean[chosen])
        self.n_fit_ = int(both.sum())
        self.n_image_only_ = int((~both).sum())
        self.threshold_ = (
            _youden_threshold(labels, fused[chosen])
            if self.threshold == "youden"
            else float(self.threshold)
        )
        return self

    # -------------------------------------------------------------- predict
    def predict_with_provenance(
        self, signal_scores: object, image_scores: object
    ) -> tuple[np.ndarray, np.ndarray]:
        """Fused probability and which modalities produced it.

        Parameters
        ----------
        signal_scores : array-like of float, shape (n_patients,)
            NaN where a patient has no EEG-EMG.
        image_scores : array-like of float, shape (n_patients,)

        Returns
        -------
        p_good : ndarray of float64, shape (n_patients,)
        modality_used : ndarray of str, shape (n_patients,)
            ``"fusion"`` (both scores, weighted average) or ``"image"``
            (no signal score: the image score alone).
        """
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "weight_")
        s = as_probabilities(signal_scores, "signal_scores", allow_nan=True)
        i = as_probabilities(image_scores, "image_scores")
        check_same_length(signal_scores=s, image_scores=i)
        has_signal = ~np.isnan(s)
        fused = self.weight_ * np.where(has_signal, s, 0.0) + (1.0 - self.weight_) * i
        p = np.where(has_signal, fused, i)
        return p, np.where(has_signal, "fusion", "image")

    def predict_proba(self, signal_scores: object, image_scores: object) -> np.ndarray:
        """Fused probability of a good outcome, shape (n_patients,).

        See :meth:`predict_with_provenance` for which patients lack a signal score.
        """
        return self.predict_with_provenance(signal_scores, image_scores)[0]

    def predict(self, signal_scores: object, image_scores: object) -> np.ndarray:
        """Predicted outcome, int array (n_patients,): 1 (good) when ``p_good >= threshold_``."""
        return (self.predict_proba(signal_scores, image_scores) >= self.threshold_).astype(int)

    # ---------------------------------------------------------------- state
    def to_dict(self) -> dict[str, Any]:
        """Parameters and, once fitted, the learned state as JSON-ready builtins.

        Returns
        -------
        state : dict
            ``"kind"`` (``"LateFusion"``), ``"params"`` (constructor
            parameters; a splitter given as ``cv`` is stored as its ``repr``)
            and, when fitted, ``"weight"``, ``"threshold"``, ``"cv_score"``,
            ``"weights"`` (the grid), ``"cv_scores"`` (n_weights x n_folds),
            ``"n_fit"`` and ``"n_image_only"``.  Every float is finite, so
            ``json.dumps(state, allow_nan=False)`` works.  No pickle:
            :meth:`from_dict` rebuilds the estimator.
        """
        state: dict[str, Any] = {
            "kind": type(self).__name__,
            "params": json_params(self, described=("cv",)),
        }
        if not hasattr(self, "weight_"):
            return state
        return {
            **state,
            "weight": plain("weight_", self.weight_),
            "threshold": plain("threshold_", self.threshold_),
            "cv_score": plain("cv_score_", self.cv_score_),
            "weights": plain("weights_", self.weights_),
            "cv_scores": plain("cv_scores_", self.cv_scores_),
            "n_fit": plain("n_fit_", self.n_fit_),
            "n_image_only": plain("n_image_only_", self.n_image_only_),
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> LateFusion:
        """Rebuild a :class:`LateFusion` from :meth:`to_dict` output.

        The state of a fitted estimator gives a fitted one whose predictions
        equal the original's exactly; that of an unfitted one gives an
        unfitted one.  A ``cv`` splitter was stored as its ``repr`` string, so
        the rebuilt estimator predicts but must be given a splitter (or a
        number of folds) with ``set_params`` before it can be refitted.

        Parameters
        ----------
        state : dict
            Output of :meth:`to_dict` (e.g. read back from a JSON manifest).

        Returns
        -------
        LateFusion
        """
        params, fitted = read_state(cls, state, _LEARNED)
        model = cls(**params)
        if fitted is None:
            return model
        model._check_params()
        weights = float_array(fitted, "weights", 1)
        cv_scores = float_array(fitted, "cv_scores", 2)
        if weights.min() < 0 or weights.max() > 1 or cv_scores.shape[0] != weights.size:
            raise ValueError(
                f"State entry 'weights' must be {cv_scores.shape[0]} candidate weights between "
                f"0 and 1 (one per row of 'cv_scores'), got {fitted['weights']!r}."
            )
        weight = finite_float(fitted, "weight")
        if weight not in weights:
            raise ValueError(f"State entry weight={weight!r} is not one of the candidate weights.")
        threshold = finite_float(fitted, "threshold")
        check_range("threshold", threshold, 0.0, 1.0)
        model.weights_ = weights
        model.cv_scores_ = cv_scores
        model.weight_ = weight
        model.cv_score_ = finite_float(fitted, "cv_score")
        model.n_fit_ = count(fitted, "n_fit")
        model.n_image_only_ = count(fitted, "n_image_only")
        model.threshold_ = threshold
        return model


def _youden_threshold(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_curve

    fpr, tpr, thresholds = roc_curve(y, p)
    j = tpr - fpr
    best = int(np.argmax(j))
    if j[best] <= 0 or not np.isfinite(thresholds[best]):
        return 0.5
    return float(thresholds[best])

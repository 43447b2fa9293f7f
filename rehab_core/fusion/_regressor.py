"""Continuous 3-month FMA-LE prediction from the fused probability (beyond the paper)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from rehab_core._validation import check_int, check_positive, check_range
from rehab_core.evaluation._checks import as_probabilities, check_same_length
from rehab_core.fusion._state import (
    count,
    finite_float,
    float_array,
    json_params,
    plain,
    read_state,
)

__all__ = ["FMA_MAX", "FMARegressor", "predict_fma"]

#: Maximum of the lower-limb Fugl-Meyer motor score (points).
FMA_MAX = 34.0

_LEARNED = (
    "uses_baseline",
    "n_fit",
    "fma_range",
    "scaler_mean",
    "scaler_scale",
    "scaler_var",
    "coef",
    "intercept",
    "residuals",
)


def _as_fma(values: object, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(
            f"{name} must be one-dimensional (one score per patient), got shape {arr.shape}."
        )
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{name} must hold FMA-LE scores as numbers, got dtype {arr.dtype}.")
    arr = arr.astype(np.float64, copy=True)
    if not np.isfinite(arr).all() or arr.min(initial=0.0) < 0 or arr.max(initial=0.0) > FMA_MAX:
        raise ValueError(
            f"{name} must hold lower-limb Fugl-Meyer scores between 0 and {FMA_MAX:g} "
            "points (no NaN)."
        )
    return arr


class FMARegressor(BaseEstimator):
    """Ridge regression of the 3-month FMA-LE on the logit of ``p_good`` (+ baseline FMA-LE).

    Features are ``logit(clip(p_good, p_clip, 1 - p_clip))`` and, when given,
    the baseline (admission) FMA-LE; both are standardised and fed to a ridge
    regression (:class:`sklearn.linear_model.Ridge`).  Predictions are clipped
    to the scale, [0, 34] points.

    Parameters
    ----------
    alpha : float
        Ridge penalty on the standardised features.
    cv : int
        Folds (shuffled :class:`sklearn.model_selection.KFold`) used to get
        out-of-fold residuals for :meth:`predict_interval`.
    p_clip : float
        Probabilities are clipped to [p_clip, 1 - p_clip] before the logit
        (1e-3 bounds the logit to about +-6.9).
    random_state : int or None
        Seed of the fold shuffling.

    Attributes
    ----------
    model_ : sklearn.pipeline.Pipeline
        StandardScaler + Ridge fitted on all training patients.
    residuals_ : ndarray, shape (n_patients,)
        Out-of-fold residuals ``fma_3m - prediction`` (points).
    uses_baseline_ : bool
        Whether the baseline FMA-LE was a feature.
    n_fit_ : int

    Notes
    -----
    :meth:`predict_interval` is a cross-conformal style interval: prediction
    +- the ``ceil((n + 1)(1 - alpha)) / n`` empirical quantile of the absolute
    out-of-fold residuals.  Under exchangeable patients this covers the true
    score with probability close to ``1 - alpha`` (residuals from models fitted
    on (cv - 1)/cv of the data make it, if anything, slightly conservative).
    The half-width is the same for every patient (no heteroscedastic model).
    When ``n`` is too small for the requested level, the interval is the whole
    scale.  Clipping to [0, 34] never removes a true score, so it does not
    lower coverage.
    """

    def __init__(
        self, alpha: float = 1.0, cv: int = 5, p_clip: float = 1e-3, random_state: int | None = None
    ) -> None:
        self.alpha = alpha
        self.cv = cv
        self.p_clip = p_clip
        self.random_state = random_state

    def _check_params(self) -> None:
        check_positive("alpha", self.alpha, strict=False)
        check_range("p_clip", self.p_clip, 1e-12, 0.49)
        check_int("cv", self.cv, low=2)

    def _features(self, p_good: object, baseline_fma: object | None) -> np.ndarray:
        p = as_probabilities(p_good, "p_good")
        p = np.clip(p, self.p_clip, 1.0 - self.p_clip)
        columns = [np.log(p) - np.log1p(-p)]
        if baseline_fma is not None:
            base = _as_fma(baseline_fma, "baseline_fma")
            check_same_length(p_good=p, baseline_fma=base)
            columns.append(base)
        return np.column_stack(columns)

    def _pipeline(self) -> Any:
        from sklearn.linear_model import Ridge
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(StandardScaler(), Ridge(alpha=self.alpha))

    def fit(
        self, p_good: object, fma_3m: object, baseline_fma: object | None = None
    ) -> FMARegressor:
        """Fit on training patients.

        Parameters
        ----------
        p_good : array-like of float, shape (n_patients,)
            Fused (or single-modality) probability of a good outcome.
        fma_3m : array-like of float, shape (n_patients,)
            Observed 3-month FMA-LE (points, 0-34).
        baseline_fma : array-like of float, shape (n_patients,), optional
            Baseline FMA-LE (points); if given here it is required by
            :meth:`predict`.

        Returns
        -------
        self : FMARegressor
        """
        from sklearn.model_selection import KFold, cross_val_predict

        self._check_params()
        X = self._features(p_good, baseline_fma)
        y = _as_fma(fma_3m, "fma_3m")
        n = check_same_length(p_good=X[:, 0], fma_3m=y)
        if n < 2 * self.cv:
            raise ValueError(
                f"FMARegressor needs at least {2 * self.cv} patients for cv={self.cv} folds, "
                f"got {n}."
            )
        folds = KFold(n_splits=int(self.cv), shuffle=True, random_state=self.random_state)
        oof = np.clip(cross_val_predict(self._pipeline(), X, y, cv=folds), 0.0, FMA_MAX)
        self.model_ = self._pipeline().fit(X, y)
        self.residuals_ = y - oof
        self.uses_baseline_ = baseline_fma is not None
        self.n_fit_ = int(n)
        return self

    def predict(self, p_good: object, baseline_fma: object | None = None) -> np.ndarray:
        """Predicted 3-month FMA-LE in points, clipped to [0, 34], shape (n_patients,)."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "model_")
        if self.uses_baseline_ and baseline_fma is None:
            raise ValueError(
                "This FMARegressor was fitted with baseline_fma; pass baseline_fma to predict too."
            )
        if not self.uses_baseline_ and baseline_fma is not None:
            raise ValueError(
                "This FMARegressor was fitted without baseline_fma; refit with it or leave it out."
            )
        return np.clip(self.model_.predict(self._features(p_good, baseline_fma)), 0.0, FMA_MAX)

    def interval_halfwidth(self, alpha: float = 0.05) -> float:
        """Half-width (points) of the ``1 - alpha`` interval; ``inf`` if too few patients."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "residuals_")
        check_range("alpha", alpha, 0.0, 1.0)
        if alpha in (0.0, 1.0):
            raise ValueError(
                f"alpha={alpha!r} must lie strictly between 0 and 1, e.g. 0.05 for 95% intervals."
            )
        n = self.residuals_.size
        rank = math.ceil((n + 1) * (1.0 - alpha))
        if rank > n:
            return math.inf
        return float(np.sort(np.abs(self.residuals_))[rank - 1])

    def predict_interval(
        self, p_good: object, baseline_fma: object | None = None, *, alpha: float = 0.05
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Prediction with a ``1 - alpha`` interval (see the class Notes).

        Returns
        -------
        fma_pred, low, high : ndarray, shape (n_patients,)
            Points on the 0-34 scale.
        """
        q = self.interval_halfwidth(alpha)
        pred = self.predict(p_good, baseline_fma)
        return pred, np.clip(pred - q, 0.0, FMA_MAX), np.clip(pred + q, 0.0, FMA_MAX)

    # ---------------------------------------------------------------- state
    def to_dict(self) -> dict[str, Any]:
        """Parameters and, once fitted, the learned state as JSON-ready builtins.

        Returns
        -------
        state : dict
            ``"kind"`` (``"FMARegressor"``), ``"params"`` (constructor
            parameters) and, when fitted: ``"uses_baseline"``, ``"n_fit"``,
            ``"fma_range"`` (the clip bounds of predictions, [0, 34] points),
            the scaler's ``"scaler_mean"``, ``"scaler_scale"``,
            ``"scaler_var"`` and the ridge's ``"coef"`` (one value per feature:
            logit of ``p_good``, then baseline FMA-LE if used) and
            ``"intercept"`` (points), and ``"residuals"`` (the out-of-fold
            residuals in points, from which every interval half-width is
            computed).  Every float is finite, so
            ``json.dumps(state, allow_nan=False)`` works.  No pickle:
            :meth:`from_dict` rebuilds the estimator.
        """
        state: dict[str, Any] = {"kind": type(self).__name__, "params": json_params(self)}
        if not hasattr(self, "model_"):
            return state
        scaler, ridge = self.model_[0], self.model_[-1]
        return {
            **state,
            "uses_baseline": bool(self.uses_baseline_),
            "n_fit": plain("n_fit_", self.n_fit_),
            "fma_range": [0.0, FMA_MAX],
            "scaler_mean": plain("mean_", scaler.mean_),
            "scaler_scale": plain("scale_", scaler.scale_),
            "scaler_var": plain("var_", scaler.var_),
            "coef": plain("coef_", ridge.coef_),
            "intercept": plain("intercept_", ridge.intercept_),
            "residuals": plain("residuals_", self.residuals_),
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> FMARegressor:
        """Rebuild an :class:`FMARegressor` from :meth:`to_dict` output.

        The state of a fitted estimator gives a fitted one whose
        :meth:`predict` and :meth:`predict_interval` equal the original's
        exactly (``model_`` is a StandardScaler + Ridge pipeline with the
        stored coefficients); that of an unfitted one gives an unfitted one.

        Parameters
        ----------
        state : dict
            Output of :meth:`to_dict` (e.g. read back from a JSON manifest).

        Returns
        -------
        FMARegressor
        """
        params, fitted = read_state(cls, state, _LEARNED)
        model = cls(**params)
        if fitted is None:
            return model
        model._check_params()
        uses_baseline = fitted["uses_baseline"]
        if not isinstance(uses_baseline, bool):
            raise ValueError(f"State entry uses_baseline={uses_baseline!r} must be true or false.")
        fma_range = fitted["fma_range"]
        if fma_range != [0.0, FMA_MAX]:
            raise ValueError(
                f"State entry fma_range={fma_range!r} differs from this version's "
                f"[0.0, {FMA_MAX}] points; the state was written for another scale."
            )
        n_features = 2 if uses_baseline else 1
        arrays = {}
        for key in ("scaler_mean", "scaler_scale", "scaler_var", "coef"):
            arrays[key] = float_array(fitted, key, 1)
            if arrays[key].size != n_features:
                raise ValueError(
                    f"State entry {key!r} must hold {n_features} value(s) (one per feature), "
                    f"got {arrays[key].size}."
                )
        if (arrays["scaler_scale"] <= 0).any() or (arrays["scaler_var"] < 0).any():
            raise ValueError(
                "State entry 'scaler_scale' must be positive and 'scaler_var' non-negative."
            )
        n_fit = count(fitted, "n_fit")
        residuals = float_array(fitted, "residuals", 1)
        if residuals.size != n_fit:
            raise ValueError(
                f"State entry 'residuals' must hold one residual per training patient "
                f"(n_fit={n_fit}), got {residuals.size}."
            )
        pipeline = model._pipeline()
        scaler, ridge = pipeline[0], pipeline[-1]
        scaler.n_features_in_ = ridge.n_features_in_ = n_features
        scaler.n_samples_seen_ = n_fit
        scaler.mean_ = arrays["scaler_mean"]
        scaler.scale_ = arrays["scaler_scale"]
        scaler.var_ = arrays["scaler_var"]
        ridge.coef_ = arrays["coef"]
        ridge.intercept_ = np.float64(finite_float(fitted, "intercept"))
        model.model_ = pipeline
        model.residuals_ = residuals
        model.uses_baseline_ = uses_baseline
        model.n_fit_ = n_fit
        return model


def predict_fma(fma: FMARegressor, p_good: np.ndarray, baseline: np.ndarray | None) -> np.ndarray:
    """A fitted regressor's 3-month FMA-LE; NaN for a patient whose needed input is missing.

    Parameters
    ----------
    fma : FMARegressor
        Fitted.
    p_good : ndarray, shape (n_patients,)
        Fused probabilities; NaN where a patient has none.
    baseline : ndarray, shape (n_patients,) or None
        Baseline FMA-LE (NaN where unknown); ``None`` for a regressor fitted
        without it.

    Returns
    -------
    ndarray, shape (n_patients,)
        Points on the 0-34 scale, NaN where ``p_good`` (or a needed baseline) is NaN.
    """
    out = np.full(len(p_good), np.nan)
    ok = np.isfinite(p_good) if baseline is None else np.isfinite(p_good) & np.isfinite(baseline)
    if ok.any():
        out[ok] = fma.predict(p_good[ok], None if baseline is None else baseline[ok])
    return out

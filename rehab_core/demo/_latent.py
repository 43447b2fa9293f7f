"""Latent factors, clinical covariates and the outcome of the synthetic cohort.

The generative model (written out with equations in
``docs/synthetic_cohort.md``):

* corticospinal integrity ``c`` and motor-network integrity ``n`` are
  standard normal with correlation ``rho``;
* the recovery score is ``s = w_c c + w_n n + offset`` and the latent 3-month
  state ``y* = s + eps`` with ``eps ~ N(0, sigma^2)``;
* ``fma_le_3m = round(34 * sigmoid(k y* + logit(17.5 / 34)))``, so the
  outcome is good (``fma_le_3m > 17``) exactly when ``y* > 0`` and the
  Bayes-optimal probability is ``P(good | c, n) = Phi(s / sigma)``;
* the baseline score is a noisy function of ``s`` only, with noise independent
  of ``eps``, so it carries no information about the outcome beyond ``c, n``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from rehab_core._validation import check_positive

if TYPE_CHECKING:
    from rehab_core.demo._cohort import CohortSettings

__all__ = [
    "draw_latents",
    "p_good_given_latents",
    "latent_auc_ceiling",
    "integrity_percentile",
]

_FMA_MAX = 34
_GOOD_CUT = 17.5  # fma_le_3m > 17 <=> the unrounded score >= 17.5


def _phi(x: np.ndarray) -> np.ndarray:
    """Standard normal CDF (vectorised, via erf)."""
    from scipy.special import ndtr

    return ndtr(x)


def integrity_percentile(z: np.ndarray | float) -> np.ndarray:
    """Map a standard-normal latent to its population percentile ``Phi(z)`` in (0, 1).

    Every physiological effect size of the generator is a linear function of
    this percentile, so the latents are encoded monotonically and strongly.

    Parameters
    ----------
    z : ndarray or float
        Latent value(s) (standard normal units).

    Returns
    -------
    ndarray
        ``Phi(z)``, same shape as ``z``.
    """
    return _phi(np.asarray(z, dtype=float))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _score_to_fma(y: np.ndarray, scale: float, cut: float) -> np.ndarray:
    """``round(34 * sigmoid(scale * y + logit(cut / 34)))`` as int, clipped to 0-34."""
    logit_cut = np.log(cut / (_FMA_MAX - cut))
    raw = _FMA_MAX * _sigmoid(scale * y + logit_cut)
    return np.clip(np.rint(raw), 0, _FMA_MAX).astype(np.int64)


def draw_latents(
    rng: np.random.Generator, n: int, settings: CohortSettings
) -> dict[str, np.ndarray]:
    """Draw latent factors, covariates and scores for ``n`` patients.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness (consumed; pass a per-patient generator for
        reproducible single patients).
    n : int
        Number of patients to draw.
    settings : CohortSettings
        Generative-model parameters (``latent_correlation``, ``weight_c``,
        ``weight_n``, ``outcome_offset``, ``outcome_noise_sd``,
        ``baseline_noise_sd``, ``fma_scale``, ``baseline_fma_mean``).

    Returns
    -------
    dict of str to ndarray
        Arrays of length ``n``: ``c``, ``n`` (latents, standard normal units),
        ``recovery_score`` (``s``), ``outcome_noise`` (``eps``),
        ``p_good_bayes`` (``Phi(s / sigma)``), ``fma_le_3m``, ``outcome``
        (1 good, 0 poor), ``fma_le_baseline`` (ints 0-34), ``age`` (years),
        ``sex`` ("M"/"F"), ``affected_side`` ("left"/"right" body side),
        ``days_since_stroke`` (0-14).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n must be an int, got {type(n).__name__}.")
    check_positive("n", int(n))
    rho = settings.latent_correlation
    z = rng.standard_normal((2, n))
    c = z[0]
    nn = rho * z[0] + np.sqrt(1.0 - rho**2) * z[1]
    s = settings.weight_c * c + settings.weight_n * nn + settings.outcome_offset
    eps = settings.outcome_noise_sd * rng.standard_normal(n)
    eta = settings.baseline_noise_sd * rng.standard_normal(n)
    fma_3m = _score_to_fma(s + eps, settings.fma_scale, _GOOD_CUT)
    fma_base = _score_to_fma(s + eta, settings.fma_scale, settings.baseline_fma_mean)
    # Covariates: independent of the latents (see docs/synthetic_cohort.md).
    age = np.rint(40.0 + 39.0 * rng.beta(2.2, 1.8, n)).astype(np.int64)
    sex = np.where(rng.random(n) < 0.64, "M", "F")
    affected = np.where(rng.random(n) < 0.5, "left", "right")
    days = rng.integers(0, 15, n)
    return {
        "c": c,
        "n": nn,
        "recovery_score": s,
        "outcome_noise": eps,
        "p_good_bayes": p_good_given_latents(c, nn, settings),
        "fma_le_3m": fma_3m,
        "outcome": (fma_3m > 17).astype(np.int64),
        "fma_le_baseline": fma_base,
        "age": age,
        "sex": sex,
        "affected_side": affected,
        "days_since_stroke": days,
    }


def p_good_given_latents(c: np.ndarray, n: np.ndarray, settings: CohortSettings) -> np.ndarray:
    """Bayes-optimal probability of a good outcome given both latents.

    ``P(good | c, n) = Phi((w_c c + w_n n + offset) / sigma)``.

    Parameters
    ----------
    c, n : ndarray
        Latent corticospinal and motor-network integrity, same shape.
    settings : CohortSettings
        Generative-model parameters.

    Returns
    -------
    ndarray
        Probabilities in (0, 1), same shape as ``c``.
    """
    s = settings.weight_c * np.asarray(c, float) + settings.weight_n * np.asarray(n, float)
    return _phi((s + settings.outcome_offset) / settings.outcome_noise_sd)


def latent_auc_ceiling(
    settings: CohortSettings | None = None, *, n_draws: int = 200_000, seed: int = 0
) -> dict[str, Any]:
    """Monte-Carlo AUCs achievable from the latents (the cohort's ceilings).

    Draws ``n_draws`` latent patients (no signals or images) and scores the
    outcome with the Bayes-optimal probabilities given the information named.

    Parameters
    ----------
    settings : CohortSettings or None
        Generative-model parameters; the defaults when None.
    n_draws : int
        Number of Monte-Carlo patients.
    seed : int
        Seed of the draw.

    Returns
    -------
    dict
        ``auc_bayes`` (P(good | c, n)), ``auc_c_only`` (P(good | c), what
        EEG-EMG can reach), ``auc_n_only`` (P(good | n), what fMRI can reach),
        ``auc_baseline_fma`` (baseline FMA-LE alone), ``good_fraction`` and
        ``n_draws``.
    """
    from rehab_core.demo._cohort import CohortSettings
    from rehab_core.evaluation import roc_auc

    settings = CohortSettings() if settings is None else settings
    check_positive("n_draws", n_draws)
    lat = draw_latents(np.random.default_rng(seed), int(n_draws), settings)
    y = lat["outcome"]
    # P(good | c) and P(good | n) are monotone in c and n (positive weights),
    # so their AUC is the AUC of the latent itself.
    return {
        "auc_bayes": roc_auc(y, lat["p_good_bayes"]),
        "auc_c_only": roc_auc(y, lat["c"]),
        "auc_n_only": roc_auc(y, lat["n"]),
        "auc_baseline_fma": roc_auc(y, lat["fma_le_baseline"]),
        "good_fraction": float(y.mean()),
        "n_draws": int(n_draws),
    }

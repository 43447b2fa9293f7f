"""Latent factors, observable markers, clinical covariates and the outcome.

The generative model (written out with equations in ``docs/synthetic_cohort.md``):

* corticospinal integrity ``c`` and motor-network integrity ``n`` are
  standard normal with correlation ``rho``;
* the recovery score is ``s = w_c c + w_n n + offset`` and the latent 3-month
  state ``y* = s + eps`` with ``eps ~ N(0, sigma^2)``; the outcome is good
  (``fma_le_3m > 17``) exactly when ``y* > 0``;
* each modality sees the latents only through its **markers** (:data:`MARKERS`):
  standard-normal variables ``m = a_c c + a_n n + tau e`` with their own
  noise ``e``, whose reliability (the share of their variance the latents
  explain) is 0.15-0.40. The generators turn each marker into physiology
  (lesion geometry, connectivity, ERD depth, EMG bursts ...) through
  monotone maps and nuisances that are independent of everything else;
* the baseline FMA-LE is a noisy function of ``s`` (its own noise, plus a
  shift with days since stroke), never of the outcome.

Because markers and latents are jointly Gaussian, ``P(good | markers)`` is
analytic, and ``P(good | markers, baseline FMA-LE, days)`` is a bivariate
normal rectangle probability (Owen's T function): the per-modality
ceilings in ``ground_truth.tsv`` are exact, not fitted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from rehab_core._validation import check_int, check_positive
from rehab_core.demo._settings import CohortSettings

__all__ = [
    "MARKERS",
    "FMRI_MARKERS",
    "EEGEMG_MARKERS",
    "SITE_PROBABILITIES",
    "Marker",
    "draw_latents",
    "integrity_percentile",
    "marker_loadings",
    "p_good_given_latents",
    "p_good_given_markers",
    "p_good_given_clinical",
    "latent_auc_ceiling",
]

_FMA_MAX = 34
_GOOD_CUT = 17.5  # fma_le_3m > 17 <=> the unrounded score >= 17.5


class Marker(NamedTuple):
    """One observable marker: which modality shows it and how it loads on the latents.

    ``weight_c`` and ``weight_n`` give the direction of the latent part; it is
    scaled so that the latents explain ``reliability`` of the marker's
    variance (times :attr:`CohortSettings.marker_reliability`), the rest is
    the marker's own noise. Higher is always better.
    """

    modality: str
    weight_c: float
    weight_n: float
    reliability: float
    description: str


MARKERS: dict[str, Marker] = {
    "lesion_load": Marker(
        "fmri", 1.0, 0.1, 0.40, "sparing of the corticospinal tract by the infarct"
    ),
    "lesion_volume": Marker("fmri", 0.4, 0.6, 0.20, "smallness of the infarct"),
    "motor_network": Marker(
        "fmri", 0.1, 1.0, 0.30, "interhemispheric coupling of the motor network (rs-fMRI)"
    ),
    "motor_alff": Marker(
        "fmri", 0.1, 1.0, 0.15, "ipsilesional motor-region ALFF relative to the other side"
    ),
    "erd": Marker("eegemg", 0.7, 0.4, 0.30, "beta ERD depth over the lesioned motor cortex"),
    "cmc": Marker("eegemg", 1.0, 0.1, 0.30, "corticomuscular beta coupling"),
    "emg_burst": Marker("eegemg", 0.8, 0.4, 0.25, "EMG burst amplitude of the paretic leg"),
    "emg_tone": Marker("eegemg", 0.8, 0.1, 0.15, "low resting EMG tone (little spasticity)"),
    "emg_selectivity": Marker(
        "eegemg", 0.5, 0.5, 0.20, "muscle selectivity (little co-contraction), early bursts"
    ),
}
"""The observable markers of the generative model (see ``docs/synthetic_cohort.md``)."""
FMRI_MARKERS: tuple[str, ...] = tuple(k for k, m in MARKERS.items() if m.modality == "fmri")
EEGEMG_MARKERS: tuple[str, ...] = tuple(k for k, m in MARKERS.items() if m.modality == "eegemg")

SITE_PROBABILITIES: dict[str, float] = {"A": 0.4, "B": 0.25, "C": 0.2, "D": 0.15}
"""Which scanner a patient is imaged on (independent of the latents); A is the paper's."""


def _phi(x: np.ndarray) -> np.ndarray:
    """Standard normal CDF (vectorised)."""
    from scipy.special import ndtr

    return ndtr(x)


def integrity_percentile(z: np.ndarray | float) -> np.ndarray:
    """Map a standard-normal latent or marker to its population percentile ``Phi(z)``.

    The generators turn every marker into physiology through this percentile
    (uniform on 0-1 over the population).

    Parameters
    ----------
    z : ndarray or float
        Value(s) in standard normal units.

    Returns
    -------
    ndarray
        ``Phi(z)``, same shape as ``z``.
    """
    return _phi(np.asarray(z, dtype=float))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p: np.ndarray | float) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    return np.log(p / (1.0 - p))


def _score_to_fma(y: np.ndarray, scale: float, cut: float) -> np.ndarray:
    """``round(34 * sigmoid(scale * y + logit(cut / 34)))`` as int, clipped to 0-34."""
    raw = _FMA_MAX * _sigmoid(scale * y + _logit(cut / _FMA_MAX))
    return np.clip(np.rint(raw), 0, _FMA_MAX).astype(np.int64)


def _latent_cov(settings: CohortSettings) -> np.ndarray:
    rho = settings.latent_correlation
    return np.array([[1.0, rho], [rho, 1.0]])


def marker_loadings(
    settings: CohortSettings | None = None,
) -> dict[str, tuple[float, float, float]]:
    """Loadings ``(a_c, a_n, tau)`` of every marker ``m = a_c c + a_n n + tau e``.

    Parameters
    ----------
    settings : CohortSettings or None
        Supplies ``latent_correlation`` and ``marker_reliability``; defaults when None.

    Returns
    -------
    dict of str to (float, float, float)
        Per marker; ``Var(m) = 1``.
    """
    settings = CohortSettings() if settings is None else settings
    cov = _latent_cov(settings)
    out = {}
    for name, spec in MARKERS.items():
        a = np.array([spec.weight_c, spec.weight_n])
        reliability = spec.reliability * settings.marker_reliability
        if not 0.0 < reliability < 0.95:
            raise ValueError(
                f"marker_reliability={settings.marker_reliability} makes the {name} marker's "
                f"reliability {reliability:.2f}; it must stay below 0.95."
            )
        a = a * np.sqrt(reliability / float(a @ cov @ a))
        out[name] = (float(a[0]), float(a[1]), float(np.sqrt(1.0 - reliability)))
    return out


def _site_names(rng: np.random.Generator, n: int) -> np.ndarray:
    names = list(SITE_PROBABILITIES)
    probs = np.array([SITE_PROBABILITIES[k] for k in names])
    return np.asarray(names)[rng.choice(len(names), size=n, p=probs / probs.sum())]


def draw_latents(
    rng: np.random.Generator, n: int, settings: CohortSettings
) -> dict[str, np.ndarray]:
    """Draw latents, markers, covariates, scores and every ceiling for ``n`` patients.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness (consumed; pass a per-patient generator for
        reproducible single patients).
    n : int
        Number of patients to draw.
    settings : CohortSettings
        Generative-model parameters.

    Returns
    -------
    dict of str to ndarray
        Arrays of length ``n``: ``c``, ``n`` (latents), ``recovery_score``
        (``s``), ``outcome_noise`` (``eps``), ``marker_<name>`` for every
        marker of :data:`MARKERS`, ``fma_le_3m``, ``outcome`` (1 good, 0
        poor), ``fma_le_baseline`` (ints 0-34), ``age`` (years), ``sex``
        ("M"/"F"), ``affected_side`` (paretic body side), ``days_since_stroke``
        (0-14), ``site`` (scanner, "A"-"D"), and the probabilities
        ``p_good_latents`` (``P(good | c, n)``), ``p_good_fmri``,
        ``p_good_eegemg`` (``P(good | that modality's markers)``),
        ``p_good_bayes`` (``P(good | fMRI and EEG-EMG markers)``),
        ``p_good_clinical`` (``P(good | baseline FMA-LE, days since stroke)``)
        and ``p_good_all`` (all of them).
    """
    n = check_int("n", n, low=1)
    cov = _latent_cov(settings)
    z = rng.standard_normal((2, n))
    chol = np.linalg.cholesky(cov)
    c, nn = chol @ z
    s = settings.weight_c * c + settings.weight_n * nn + settings.outcome_offset
    eps = settings.outcome_noise_sd * rng.standard_normal(n)
    noise = rng.standard_normal((len(MARKERS), n))
    loadings = marker_loadings(settings)
    markers = {
        name: a_c * c + a_n * nn + tau * noise[k]
        for k, (name, (a_c, a_n, tau)) in enumerate(loadings.items())
    }
    eta = settings.baseline_noise_sd * rng.standard_normal(n)
    # Covariates: independent of the latents (see docs/synthetic_cohort.md).
    age = np.rint(40.0 + 39.0 * rng.beta(2.2, 1.8, n)).astype(np.int64)
    sex = np.where(rng.random(n) < 0.64, "M", "F")
    affected = np.where(rng.random(n) < 0.5, "left", "right")
    days = rng.integers(0, 15, n)
    site = _site_names(rng, n)
    fma_3m = _score_to_fma(s + eps, settings.fma_scale, _GOOD_CUT)
    fma_base = _score_to_fma(
        s + eta + _days_shift(days, settings), settings.fma_scale, settings.baseline_fma_mean
    )
    fmri = {k: markers[k] for k in FMRI_MARKERS}
    both = markers
    return {
        "c": c,
        "n": nn,
        "recovery_score": s,
        "outcome_noise": eps,
        **{f"marker_{k}": v for k, v in markers.items()},
        "fma_le_3m": fma_3m,
        "outcome": (fma_3m > 17).astype(np.int64),
        "fma_le_baseline": fma_base,
        "age": age,
        "sex": sex,
        "affected_side": affected,
        "days_since_stroke": days,
        "site": site,
        "p_good_latents": p_good_given_latents(c, nn, settings),
        "p_good_fmri": p_good_given_markers(fmri, settings),
        "p_good_eegemg": p_good_given_markers({k: markers[k] for k in EEGEMG_MARKERS}, settings),
        "p_good_bayes": p_good_given_markers(both, settings),
        "p_good_clinical": p_good_given_clinical(fma_base, days, settings),
        "p_good_all": p_good_given_clinical(fma_base, days, settings, markers=both),
    }


def _days_shift(days: np.ndarray, settings: CohortSettings) -> np.ndarray:
    """Baseline-state shift with days since stroke: 0 on day 7, +-effect/2 at days 14/0."""
    return settings.baseline_days_effect * (np.asarray(days, dtype=float) - 7.0) / 14.0


def p_good_given_latents(c: np.ndarray, n: np.ndarray, settings: CohortSettings) -> np.ndarray:
    """Probability of a good outcome given both latents (no instrument reaches it).

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


def _posterior_score(
    markers: Mapping[str, np.ndarray], settings: CohortSettings
) -> tuple[np.ndarray, float]:
    """Mean (per patient) and variance of the recovery score ``s`` given some markers."""
    unknown = sorted(set(markers) - set(MARKERS))
    if unknown:
        raise ValueError(
            f"unknown marker(s) {', '.join(unknown)}; expected some of {list(MARKERS)}."
        )
    cov = _latent_cov(settings)
    w = np.array([settings.weight_c, settings.weight_n])
    prior_var = float(w @ cov @ w)
    names = [k for k in MARKERS if k in markers]  # a fixed order, whatever the caller's
    if not names:
        shape = np.shape(next(iter(markers.values()))) if markers else ()
        return np.full(shape, settings.outcome_offset), prior_var
    loadings = marker_loadings(settings)
    a = np.array([loadings[k][:2] for k in names])
    tau = np.array([loadings[k][2] for k in names])
    m_cov = a @ cov @ a.T + np.diag(tau**2)
    s_m_cov = w @ cov @ a.T
    gain = np.linalg.solve(m_cov, s_m_cov)
    values = np.stack([np.asarray(markers[k], dtype=float) for k in names], axis=-1)
    mean = values @ gain + settings.outcome_offset
    var = prior_var - float(s_m_cov @ gain)
    return mean, max(var, 0.0)


def p_good_given_markers(markers: Mapping[str, np.ndarray], settings: CohortSettings) -> np.ndarray:
    """Exact ``P(good | markers)`` for any subset of the markers (Gaussian posterior).

    Parameters
    ----------
    markers : mapping of str to ndarray
        Marker name (from :data:`MARKERS`) to values, all the same shape.
    settings : CohortSettings
        Generative-model parameters.

    Returns
    -------
    ndarray
        ``Phi(E[s | m] / sqrt(Var(s | m) + sigma^2))``, the shape of the values.
    """
    mean, var = _posterior_score(markers, settings)
    return _phi(mean / np.sqrt(var + settings.outcome_noise_sd**2))


def _bvn_cdf(h: np.ndarray, k: np.ndarray, r: float) -> np.ndarray:
    """``P(X < h, Y < k)`` for standard bivariate normal ``X, Y`` with correlation ``r``.

    Owen's (1956) formula with his T function; exact to float precision.
    ``h`` and ``k`` may be infinite.
    """
    from scipy.special import owens_t

    h, k = np.broadcast_arrays(np.asarray(h, float), np.asarray(k, float))
    out = np.empty(h.shape)
    lo = np.isneginf(h) | np.isneginf(k)
    out[lo] = 0.0
    h_inf = np.isposinf(h) & ~lo
    k_inf = np.isposinf(k) & ~lo
    out[h_inf] = _phi(k[h_inf])
    out[k_inf & ~h_inf] = _phi(h[k_inf & ~h_inf])
    sel = ~(lo | h_inf | k_inf)
    hh = np.where(h[sel] == 0.0, 1e-12, h[sel])
    kk = np.where(k[sel] == 0.0, 1e-12, k[sel])
    q = np.sqrt(1.0 - r * r)
    beta = np.where(hh * kk > 0.0, 0.0, 0.5)
    out[sel] = (
        0.5 * (_phi(hh) + _phi(kk))
        - owens_t(hh, (kk - r * hh) / (hh * q))
        - owens_t(kk, (hh - r * kk) / (kk * q))
        - beta
    )
    return np.clip(out, 0.0, 1.0)


def _baseline_bin(fma: np.ndarray, settings: CohortSettings) -> tuple[np.ndarray, np.ndarray]:
    """Interval of the baseline state ``b`` that rounds to each baseline FMA-LE score."""
    fma = np.asarray(fma, dtype=float)
    logit_mean = float(_logit(settings.baseline_fma_mean / _FMA_MAX))

    def inverse(points: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return (_logit(np.clip(points, 0.0, _FMA_MAX) / _FMA_MAX) - logit_mean) / (
                settings.fma_scale
            )

    lo = np.where(fma <= 0, -np.inf, inverse(fma - 0.5))
    hi = np.where(fma >= _FMA_MAX, np.inf, inverse(fma + 0.5))
    return lo, hi


def p_good_given_clinical(
    fma_le_baseline: np.ndarray,
    days_since_stroke: np.ndarray,
    settings: CohortSettings,
    *,
    markers: Mapping[str, np.ndarray] | None = None,
) -> np.ndarray:
    """Exact ``P(good | baseline FMA-LE, days since stroke[, markers])``.

    The baseline score pins ``s + eta`` to an interval (its rounding bin,
    shifted by the days effect); with ``s | markers ~ N(mu, v)`` the
    probability is a bivariate-normal rectangle ratio. Age, sex and affected
    side are independent of the outcome in this model, so they add nothing.

    Parameters
    ----------
    fma_le_baseline : ndarray of int
        Baseline lower-limb Fugl-Meyer (0-34).
    days_since_stroke : ndarray
        Days from stroke to the baseline examinations, same shape.
    settings : CohortSettings
        Generative-model parameters.
    markers : mapping or None
        Markers also known (e.g. all of them for "everything"); none when None.

    Returns
    -------
    ndarray
        Probabilities, the shape of ``fma_le_baseline``.
    """
    fma = np.asarray(fma_le_baseline, dtype=float)
    mean, var = _posterior_score(markers or {}, settings)
    mean = np.broadcast_to(mean, fma.shape)
    lo, hi = _baseline_bin(fma, settings)
    shift = _days_shift(days_since_stroke, settings)
    lo, hi = lo - shift, hi - shift  # bounds on u = s + eta
    sd_x = np.sqrt(var + settings.outcome_noise_sd**2)  # x = s + eps, good when x > 0
    sd_u = np.sqrt(var + settings.baseline_noise_sd**2)
    r = var / (sd_x * sd_u)
    x0 = -mean / sd_x

    def below(bound: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = (bound - mean) / sd_u
        return _phi(z), _bvn_cdf(z, x0, r)  # P(u < b), P(u < b, x < 0)

    p_hi, joint_hi = below(hi)
    p_lo, joint_lo = below(lo)
    in_bin = p_hi - p_lo
    good = in_bin - (joint_hi - joint_lo)
    return np.clip(good / np.maximum(in_bin, 1e-300), 0.0, 1.0)


def latent_auc_ceiling(
    settings: CohortSettings | None = None, *, n_draws: int = 200_000, seed: int = 0
) -> dict[str, Any]:
    """Monte-Carlo population AUCs of every ceiling of the generative model.

    Draws ``n_draws`` patients (latents and markers only, no files) and
    scores the outcome with the exact probabilities given the information named.

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
        ``auc_latents`` (``P(good | c, n)``, no instrument reaches it),
        ``auc_bayes`` (fMRI and EEG-EMG markers: the fusion ceiling),
        ``auc_fmri``, ``auc_eegemg`` (one modality's markers),
        ``auc_clinical`` (baseline FMA-LE and days since stroke),
        ``auc_all`` (all markers and the clinical fields), ``auc_c_only`` and
        ``auc_n_only`` (one latent), ``good_fraction`` and ``n_draws``.
    """
    from rehab_core.evaluation import roc_auc

    settings = CohortSettings() if settings is None else settings
    check_positive("n_draws", n_draws)
    lat = draw_latents(np.random.default_rng(seed), int(n_draws), settings)
    y = lat["outcome"]
    return {
        "auc_latents": roc_auc(y, lat["p_good_latents"]),
        "auc_bayes": roc_auc(y, lat["p_good_bayes"]),
        "auc_fmri": roc_auc(y, lat["p_good_fmri"]),
        "auc_eegemg": roc_auc(y, lat["p_good_eegemg"]),
        "auc_clinical": roc_auc(y, lat["p_good_clinical"]),
        "auc_all": roc_auc(y, lat["p_good_all"]),
        "auc_c_only": roc_auc(y, lat["c"]),
        "auc_n_only": roc_auc(y, lat["n"]),
        "good_fraction": float(y.mean()),
        "n_draws": int(n_draws),
    }

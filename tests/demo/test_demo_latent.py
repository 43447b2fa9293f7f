"""The latent model: class balance, markers, exact ceilings checked by Monte Carlo (no files)."""

from __future__ import annotations

import numpy as np
import pytest

from rehab_core.demo import (
    EEGEMG_MARKERS,
    FMRI_MARKERS,
    MARKERS,
    CohortSettings,
    draw_latents,
    latent_auc_ceiling,
    marker_loadings,
    p_good_given_clinical,
    p_good_given_latents,
    p_good_given_markers,
)

PROBABILITIES = (
    "p_good_latents",
    "p_good_fmri",
    "p_good_eegemg",
    "p_good_bayes",
    "p_good_clinical",
    "p_good_all",
)


@pytest.fixture(scope="module")
def big_draw():
    return draw_latents(np.random.default_rng(123), 60_000, CohortSettings())


def test_scores_are_integers_in_range_and_outcome_follows_fma(big_draw):
    for key in ("fma_le_3m", "fma_le_baseline"):
        values = big_draw[key]
        assert values.dtype.kind == "i"
        assert values.min() >= 0 and values.max() <= 34
    assert np.array_equal(big_draw["outcome"], (big_draw["fma_le_3m"] > 17).astype(int))
    # Good outcome exactly when the latent 3-month state s + eps is above 0.
    latent_state = big_draw["recovery_score"] + big_draw["outcome_noise"]
    assert np.array_equal(big_draw["outcome"] == 1, latent_state > 0)


def test_class_balance_is_about_half(big_draw):
    assert 0.48 < big_draw["outcome"].mean() < 0.52


def test_covariates_have_their_documented_ranges(big_draw):
    assert big_draw["age"].min() >= 40 and big_draw["age"].max() <= 79
    assert set(np.unique(big_draw["sex"])) == {"M", "F"}
    assert set(np.unique(big_draw["affected_side"])) == {"left", "right"}
    assert big_draw["days_since_stroke"].min() == 0 and big_draw["days_since_stroke"].max() == 14
    sites, counts = np.unique(big_draw["site"], return_counts=True)
    assert list(sites) == ["A", "B", "C", "D"]
    assert abs(counts[0] / counts.sum() - 0.4) < 0.01  # the paper's site is the commonest


def test_latent_correlation_matches_settings(big_draw):
    r = np.corrcoef(big_draw["c"], big_draw["n"])[0, 1]
    assert abs(r - CohortSettings().latent_correlation) < 0.02


@pytest.mark.parametrize("name", list(MARKERS))
def test_markers_are_noisy_mixes_of_both_latents(big_draw, name):
    """Each marker: unit variance, its documented reliability, correlations as the loadings say."""
    a_c, a_n, tau = marker_loadings()[name]
    rho = CohortSettings().latent_correlation
    m = big_draw[f"marker_{name}"]
    assert abs(m.std() - 1.0) < 0.02
    for latent, expected in (("c", a_c + rho * a_n), ("n", a_n + rho * a_c)):
        assert abs(np.corrcoef(m, big_draw[latent])[0, 1] - expected) < 0.015
    reliability = 1.0 - tau**2
    assert reliability == pytest.approx(MARKERS[name].reliability)
    assert (
        0.15 - 1e-9 <= reliability <= 0.40 + 1e-9
    )  # far from v1's near-deterministic encoding (r ~ 0.98)
    best = max(abs(a_c + rho * a_n), abs(a_n + rho * a_c))
    assert 0.35 < best < 0.70
    if name in EEGEMG_MARKERS:  # EEG-EMG markers depend on more than one latent
        assert a_c > 0.03 and a_n > 0.03


def test_baseline_fma_is_never_drawn_from_the_outcome(big_draw):
    # E[y | c, n, baseline] = P(good | c, n): the residual is uncorrelated with baseline ...
    residual = big_draw["outcome"] - big_draw["p_good_latents"]
    assert abs(np.corrcoef(residual, big_draw["fma_le_baseline"])[0, 1]) < 0.02
    # ... and with the outcome noise itself, while baseline is informative.
    assert abs(np.corrcoef(big_draw["outcome_noise"], big_draw["fma_le_baseline"])[0, 1]) < 0.02
    assert np.corrcoef(big_draw["outcome"], big_draw["fma_le_baseline"])[0, 1] > 0.4


@pytest.mark.parametrize("key", PROBABILITIES)
def test_every_ceiling_probability_is_calibrated(big_draw, key):
    """Monte-Carlo check of the exact formulas: among patients given p, a fraction p is good."""
    p, y = big_draw[key], big_draw["outcome"]
    bins = np.digitize(p, [0.1, 0.25, 0.4, 0.6, 0.75, 0.9])
    for b in range(7):
        sel = bins == b
        if sel.sum() > 500:
            assert abs(p[sel].mean() - y[sel].mean()) < 0.025, (key, b)


@pytest.mark.parametrize(
    ("key", "markers"),
    [("p_good_fmri", FMRI_MARKERS), ("p_good_eegemg", EEGEMG_MARKERS)],
)
def test_exact_modality_ceiling_is_not_beaten_by_a_fitted_model(big_draw, key, markers):
    """No classifier fitted on the same markers does better than the exact posterior."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    x = np.column_stack([big_draw[f"marker_{k}"] for k in markers])
    y = big_draw["outcome"]
    half = len(y) // 2
    fitted = LogisticRegression().fit(x[:half], y[:half]).predict_proba(x[half:])[:, 1]
    exact = roc_auc_score(y[half:], big_draw[key][half:])
    assert roc_auc_score(y[half:], fitted) <= exact + 0.002


def test_clinical_probability_equals_direct_integration():
    """The bivariate-normal formula against a quadrature over the recovery score."""
    from scipy.integrate import quad
    from scipy.stats import norm

    s = CohortSettings()
    w = np.array([s.weight_c, s.weight_n])
    cov = np.array([[1.0, s.latent_correlation], [s.latent_correlation, 1.0]])
    sd_s = float(np.sqrt(w @ cov @ w))
    k, m = s.fma_scale, s.baseline_fma_mean

    def bound(points):
        return (np.log(points / (34 - points)) - np.log(m / (34 - m))) / k

    for fma, days in ((0, 3), (9, 14), (17, 0), (30, 7), (34, 10)):
        shift = s.baseline_days_effect * (days - 7) / 14
        lo = -np.inf if fma == 0 else bound(fma - 0.5) - shift
        hi = np.inf if fma == 34 else bound(fma + 0.5) - shift

        def in_bin(x, lo=lo, hi=hi):
            return norm.cdf((hi - x) / s.baseline_noise_sd) - norm.cdf(
                (lo - x) / s.baseline_noise_sd
            )

        def density(x):
            return norm.pdf(x, 0.0, sd_s)

        num = quad(lambda x: density(x) * in_bin(x) * norm.cdf(x / s.outcome_noise_sd), -12, 12)[0]
        den = quad(lambda x: density(x) * in_bin(x), -12, 12)[0]
        exact = p_good_given_clinical(np.array([fma]), np.array([days]), s)[0]
        assert exact == pytest.approx(num / den, abs=1e-6), (fma, days)


def test_more_information_never_lowers_the_ceiling():
    ceiling = latent_auc_ceiling(n_draws=60_000, seed=1)
    assert 0.91 < ceiling["auc_latents"] < 0.94
    assert 0.83 < ceiling["auc_bayes"] < 0.87
    for key in ("auc_fmri", "auc_eegemg"):
        assert 0.77 < ceiling[key] < ceiling["auc_bayes"] - 0.03
    assert 0.78 < ceiling["auc_clinical"] < 0.84
    assert ceiling["auc_bayes"] < ceiling["auc_all"] < ceiling["auc_latents"]
    assert 0.47 < ceiling["good_fraction"] < 0.53


def test_noise_and_reliability_set_the_ceilings():
    low = latent_auc_ceiling(CohortSettings(outcome_noise_sd=0.5), n_draws=20_000)
    high = latent_auc_ceiling(CohortSettings(outcome_noise_sd=2.0), n_draws=20_000)
    assert low["auc_latents"] > high["auc_latents"] + 0.1
    noisy = latent_auc_ceiling(CohortSettings(marker_reliability=0.3), n_draws=20_000)
    clean = latent_auc_ceiling(CohortSettings(marker_reliability=1.5), n_draws=20_000)
    for key in ("auc_fmri", "auc_eegemg", "auc_bayes"):
        assert clean[key] > noisy[key] + 0.05


def test_p_good_given_latents_formula():
    s = CohortSettings()
    from scipy.stats import norm

    expected = norm.cdf((s.weight_c * 0.5 + s.weight_n * -1.0) / s.outcome_noise_sd)
    assert p_good_given_latents(np.array([0.5]), np.array([-1.0]), s)[0] == pytest.approx(expected)


def test_p_good_given_markers_handles_subsets_and_names():
    s = CohortSettings()
    prior = p_good_given_markers({}, s)
    assert float(prior) == pytest.approx(0.5)
    one = p_good_given_markers({"cmc": np.array([1.0, -1.0])}, s)
    assert one[0] > 0.5 > one[1]
    swapped = p_good_given_markers({"erd": np.array([0.3]), "cmc": np.array([-0.2])}, s)
    ordered = p_good_given_markers({"cmc": np.array([-0.2]), "erd": np.array([0.3])}, s)
    assert swapped[0] == ordered[0]
    with pytest.raises(ValueError, match="unknown marker\\(s\\) lesion"):
        p_good_given_markers({"lesion": np.array([0.0])}, s)


def test_outcome_offset_shifts_class_balance():
    lat = draw_latents(np.random.default_rng(0), 20_000, CohortSettings(outcome_offset=1.0))
    assert lat["outcome"].mean() > 0.6


def test_draw_latents_rejects_bad_n():
    rng = np.random.default_rng(0)
    with pytest.raises(TypeError, match="n must be a whole number"):
        draw_latents(rng, 2.5, CohortSettings())
    with pytest.raises(ValueError, match="n=0 must be at least 1"):
        draw_latents(rng, 0, CohortSettings())


def test_settings_round_trip_and_validation():
    s = CohortSettings(n_patients=12, n_with_signals=9, minutes=0.5, volumes=20)
    assert CohortSettings.from_dict(s.to_dict()) == s
    assert CohortSettings.from_json(s.to_json()) == s
    assert CohortSettings.from_json(CohortSettings().to_json()).volumes is None
    assert (CohortSettings().minutes, CohortSettings().volumes) == (9.0, None)  # the paper's
    with pytest.raises(ValueError, match="n_with_signals=20 must lie between 0 and 10"):
        CohortSettings(n_patients=10, n_with_signals=20)
    with pytest.raises(ValueError, match="latent_correlation=0.99 must lie between"):
        CohortSettings(latent_correlation=0.99)
    with pytest.raises(ValueError, match="weight_c=-1.0 must be positive"):
        CohortSettings(weight_c=-1.0)
    with pytest.raises(ValueError, match="volumes=4 must lie between 8 and 2000"):
        CohortSettings(volumes=4)
    with pytest.raises(TypeError, match="volumes must be an int, got float"):
        CohortSettings(volumes=50.0)
    with pytest.raises(ValueError, match="minutes=0.1 must lie between"):
        CohortSettings(minutes=0.1)
    with pytest.raises(ValueError, match="marker_reliability=3.0 must lie between 0.05 and 1.5"):
        CohortSettings(marker_reliability=3.0)
    with pytest.raises(TypeError, match="n_patients must be an int"):
        CohortSettings(n_patients=10.0)
    with pytest.raises(ValueError, match="has no setting"):
        CohortSettings.from_dict({"n_patient": 3})
    with pytest.raises(TypeError, match="minutes must be a number, got str"):
        CohortSettings(minutes="1")


def test_settings_normalise_numbers_so_the_record_is_stable():
    a = CohortSettings(minutes=1, seed=np.int64(3), volumes=np.int64(50))
    b = CohortSettings(minutes=1.0, seed=3, volumes=50)
    assert a.to_json() == b.to_json()
    assert type(a.seed) is int and type(a.minutes) is float and type(a.volumes) is int

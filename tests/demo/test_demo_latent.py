"""The latent model: class balance, Bayes-optimal probability, ceilings (no files, cheap)."""

from __future__ import annotations

import numpy as np
import pytest

from rehab_core.demo import CohortSettings, draw_latents, latent_auc_ceiling, p_good_given_latents


@pytest.fixture(scope="module")
def big_draw():
    return draw_latents(np.random.default_rng(123), 40_000, CohortSettings())


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


def test_latent_correlation_matches_settings(big_draw):
    r = np.corrcoef(big_draw["c"], big_draw["n"])[0, 1]
    assert abs(r - CohortSettings().latent_correlation) < 0.02


def test_p_good_bayes_is_calibrated(big_draw):
    p, y = big_draw["p_good_bayes"], big_draw["outcome"]
    bins = np.digitize(p, [0.2, 0.4, 0.6, 0.8])
    for b in range(5):
        sel = bins == b
        assert abs(p[sel].mean() - y[sel].mean()) < 0.03


def test_baseline_fma_adds_nothing_beyond_the_latents(big_draw):
    # E[y | c, n, baseline] = P(good | c, n): the residual is uncorrelated with baseline.
    residual = big_draw["outcome"] - big_draw["p_good_bayes"]
    r = np.corrcoef(residual, big_draw["fma_le_baseline"])[0, 1]
    assert abs(r) < 0.02
    # ... while baseline itself is informative.
    assert np.corrcoef(big_draw["outcome"], big_draw["fma_le_baseline"])[0, 1] > 0.4


def test_p_good_given_latents_formula():
    s = CohortSettings()
    from scipy.stats import norm

    expected = norm.cdf((s.weight_c * 0.5 + s.weight_n * -1.0) / s.outcome_noise_sd)
    assert p_good_given_latents(np.array([0.5]), np.array([-1.0]), s)[0] == pytest.approx(expected)


def test_monte_carlo_ceiling_is_about_090_and_each_modality_is_below():
    ceiling = latent_auc_ceiling(n_draws=60_000, seed=1)
    assert 0.885 < ceiling["auc_bayes"] < 0.915
    for key in ("auc_c_only", "auc_n_only"):
        assert 0.74 < ceiling[key] < ceiling["auc_bayes"] - 0.06
    assert 0.47 < ceiling["good_fraction"] < 0.53


def test_noise_sets_the_ceiling():
    low = latent_auc_ceiling(CohortSettings(outcome_noise_sd=0.5), n_draws=20_000)
    high = latent_auc_ceiling(CohortSettings(outcome_noise_sd=2.0), n_draws=20_000)
    assert low["auc_bayes"] > high["auc_bayes"] + 0.1


def test_outcome_offset_shifts_class_balance():
    lat = draw_latents(np.random.default_rng(0), 20_000, CohortSettings(outcome_offset=1.0))
    assert lat["outcome"].mean() > 0.6


def test_draw_latents_rejects_bad_n():
    rng = np.random.default_rng(0)
    with pytest.raises(TypeError, match="n must be an int"):
        draw_latents(rng, 2.5, CohortSettings())
    with pytest.raises(ValueError, match="n=0 must be positive"):
        draw_latents(rng, 0, CohortSettings())


def test_settings_round_trip_and_validation():
    s = CohortSettings(n_patients=12, n_with_signals=9, minutes=0.5, volumes=20)
    assert CohortSettings.from_dict(s.to_dict()) == s
    assert CohortSettings.from_json(s.to_json()) == s
    with pytest.raises(ValueError, match="n_with_signals=20 must lie between 0 and 10"):
        CohortSettings(n_patients=10, n_with_signals=20)
    with pytest.raises(ValueError, match="latent_correlation=0.99 must lie between"):
        CohortSettings(latent_correlation=0.99)
    with pytest.raises(ValueError, match="weight_c=-1.0 must be positive"):
        CohortSettings(weight_c=-1.0)
    with pytest.raises(ValueError, match="volumes=4 must lie between 8 and 2000"):
        CohortSettings(volumes=4)
    with pytest.raises(ValueError, match="minutes=0.1 must lie between"):
        CohortSettings(minutes=0.1)
    with pytest.raises(TypeError, match="n_patients must be an int"):
        CohortSettings(n_patients=10.0)
    with pytest.raises(ValueError, match="has no setting"):
        CohortSettings.from_dict({"n_patient": 3})
    with pytest.raises(TypeError, match="minutes must be a number, got str"):
        CohortSettings(minutes="1")


def test_settings_normalise_numbers_so_the_record_is_stable():
    a = CohortSettings(minutes=1, seed=np.int64(3))
    b = CohortSettings(minutes=1.0, seed=3)
    assert a.to_json() == b.to_json()
    assert type(a.seed) is int and type(a.minutes) is float

"""Paired AUC comparisons: the paired bootstrap against direct computations, DeLong against
an independent O(m n) implementation of DeLong, DeLong & Clarke-Pearson (1988)."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from scipy.stats import multinomial, norm
from sklearn.metrics import roc_auc_score

from rehab_core.evaluation import bootstrap_metrics, delong_test, paired_bootstrap_auc
from rehab_core.evaluation._metrics import _auc_rows, _resample_weights

# Six patients computed by hand.  Positives (y=1) are patients 3, 4, 5.
Y6 = np.array([0, 0, 0, 1, 1, 1])
A6 = np.array([0.10, 0.40, 0.35, 0.80, 0.30, 0.90])
B6 = np.array([0.20, 0.60, 0.10, 0.50, 0.70, 0.60])


def _brute_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Mann-Whitney AUC by counting every (good, poor) pair; ties count one half."""
    pos, neg = p[y == 1], p[y == 0]
    wins = sum((x > z) + 0.5 * (x == z) for x in pos for z in neg)
    return wins / (pos.size * neg.size)


def _data(seed: int, n: int = 80, ties: bool = False, rho: float = 0.6):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    shared = rng.standard_normal(n)
    a = 1.0 * y + shared + 0.8 * rng.standard_normal(n)
    b = 0.6 * y + rho * shared + 0.8 * rng.standard_normal(n)
    a, b = 1 / (1 + np.exp(-a)), 1 / (1 + np.exp(-b))
    if ties:
        a, b = np.round(a, 1), np.round(b, 1)
    return y, a, b


def test_hand_computed_point_estimates_and_one_fixed_resample():
    # A6: 0.80 and 0.90 beat all three poor patients, 0.30 beats only 0.10 -> 7/9.
    # B6: 0.50 beats 0.20 and 0.10 (2), 0.70 beats all (3), 0.60 beats two and ties one
    # (2.5) -> 7.5/9.
    out = paired_bootstrap_auc(Y6, A6, B6, n_boot=50, seed=0)
    assert out["auc_a"]["estimate"] == pytest.approx(7 / 9)
    assert out["auc_b"]["estimate"] == pytest.approx(7.5 / 9)
    assert out["difference"]["estimate"] == pytest.approx(-0.5 / 9)
    # One resample written out: poor patients 0, 0, 1 and good patients 3, 3, 5.
    # A: 0.8, 0.8, 0.9 against 0.1, 0.1, 0.4 -> every pair won -> 1.
    # B: 0.5, 0.5, 0.6 against 0.2, 0.2, 0.6 -> 2 + 2 + 2.5 = 6.5 of 9.
    w = np.array([[2, 1, 0, 2, 0, 1]], dtype=float)
    assert _auc_rows(Y6.astype(bool), A6, w)[0] == pytest.approx(1.0)
    assert _auc_rows(Y6.astype(bool), B6, w)[0] == pytest.approx(6.5 / 9)


@pytest.mark.parametrize("stratify", [True, False])
def test_paired_bootstrap_equals_a_direct_loop_over_the_same_resamples(stratify):
    y = np.array([0, 1, 0, 1, 1, 0, 0, 1])
    a = np.array([0.2, 0.7, 0.4, 0.4, 0.9, 0.1, 0.6, 0.5])
    b = np.array([0.3, 0.6, 0.2, 0.5, 0.5, 0.4, 0.7, 0.8])
    n_boot, seed, ci = 300, 7, 0.9
    out = paired_bootstrap_auc(y, a, b, n_boot=n_boot, seed=seed, ci=ci, stratify=stratify)
    # The same resamples, materialised as patient lists and scored pair by pair.
    weights = _resample_weights(y.astype(bool), n_boot, seed, stratify)
    diffs = []
    for row in weights.astype(int):
        idx = np.repeat(np.arange(y.size), row)
        if len(set(y[idx])) < 2:
            continue  # one class only: AUC undefined, left out
        diffs.append(_brute_auc(y[idx], a[idx]) - _brute_auc(y[idx], b[idx]))
    diffs = np.array(diffs)
    low, high = np.percentile(diffs, [5, 95])
    assert out["difference"]["low"] == pytest.approx(low, abs=1e-12)
    assert out["difference"]["high"] == pytest.approx(high, abs=1e-12)
    assert out["se"] == pytest.approx(np.std(diffs, ddof=1), abs=1e-12)
    assert out["p_value"] == pytest.approx(
        2 * norm.sf(abs(out["difference"]["estimate"]) / out["se"])
    )
    assert out["undefined_resamples"] == n_boot - diffs.size
    if stratify:
        assert out["undefined_resamples"] == 0


def test_exact_bootstrap_distribution_by_enumeration():
    """All 10 x 10 stratified resamples of six patients, with their multinomial probabilities."""
    pos, neg = np.flatnonzero(Y6 == 1), np.flatnonzero(Y6 == 0)
    counts = [c for c in itertools.product(range(4), repeat=3) if sum(c) == 3]  # 10 multisets
    pmf = multinomial(3, [1 / 3] * 3)
    mean, p_pos = 0.0, 0.0
    for cp, cn in itertools.product(counts, counts):
        idx = np.r_[np.repeat(pos, cp), np.repeat(neg, cn)]
        d = _brute_auc(Y6[idx], A6[idx]) - _brute_auc(Y6[idx], B6[idx])
        prob = pmf.pmf(cp) * pmf.pmf(cn)
        mean += prob * d
        p_pos += prob * (d > 0)
    n_boot = 20_000
    weights = _resample_weights(Y6.astype(bool), n_boot, 3, True)
    d = _auc_rows(Y6.astype(bool), A6, weights) - _auc_rows(Y6.astype(bool), B6, weights)
    assert d.mean() == pytest.approx(mean, abs=4 * d.std() / math.sqrt(n_boot))
    assert (d > 0).mean() == pytest.approx(p_pos, abs=4 * math.sqrt(p_pos * (1 - p_pos) / n_boot))


def test_paired_bootstrap_shares_resamples_with_bootstrap_metrics():
    y, a, b = _data(0, n=50)
    out = paired_bootstrap_auc(y, a, b, n_boot=400, seed=5)
    for key, p in (("auc_a", a), ("auc_b", b)):
        alone = bootstrap_metrics(y, p, n_boot=400, seed=5)["metrics"]["roc_auc"]
        assert out[key] == pytest.approx(alone, abs=1e-15)
    assert json.loads(json.dumps(out)) == out


def test_paired_interval_is_narrower_than_the_unpaired_one_for_correlated_scores():
    y, a, b = _data(1, n=120, rho=1.0)
    out = paired_bootstrap_auc(y, a, b, n_boot=1000, seed=0)
    rng = np.random.default_rng(0)
    unpaired = []  # independent resamples for each model, as overlapping intervals imply
    for _ in range(1000):
        i, j = rng.integers(0, y.size, y.size), rng.integers(0, y.size, y.size)
        unpaired.append(roc_auc_score(y[i], a[i]) - roc_auc_score(y[j], b[j]))
    assert out["se"] < 0.8 * np.std(unpaired)


def _slow_delong(y: np.ndarray, scores: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """DeLong et al. (1988) from the definitions: placement values by counting pairs."""
    v10, v01, aucs = [], [], []
    for p in scores:
        pos, neg = p[y == 1], p[y == 0]
        psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
        aucs.append(psi.mean())
    m, n = int((y == 1).sum()), int((y == 0).sum())
    cov = np.cov(np.array(v10)) / m + np.cov(np.array(v01)) / n
    return np.array(aucs), cov


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("ties", [False, True])
def test_delong_equals_the_slow_definition(seed, ties):
    y, a, b = _data(seed, n=70, ties=ties)
    out = delong_test(y, a, b, ci=0.9)
    aucs, cov = _slow_delong(y, [a, b])
    se = math.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    diff = aucs[0] - aucs[1]
    assert out["auc_a"]["estimate"] == pytest.approx(aucs[0], abs=1e-12)
    assert out["auc_b"]["estimate"] == pytest.approx(aucs[1], abs=1e-12)
    assert out["auc_a"]["estimate"] == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert out["se"] == pytest.approx(se, rel=1e-9)
    assert out["z"] == pytest.approx(diff / se, rel=1e-9)
    assert out["p_value"] == pytest.approx(2 * norm.sf(abs(diff / se)), rel=1e-9)
    q = norm.ppf(0.95)
    assert out["difference"]["low"] == pytest.approx(diff - q * se, abs=1e-12)
    assert out["difference"]["high"] == pytest.approx(diff + q * se, abs=1e-12)
    assert out["auc_a"]["high"] == pytest.approx(min(1.0, aucs[0] + q * math.sqrt(cov[0, 0])))
    assert out["correlation"] == pytest.approx(cov[0, 1] / math.sqrt(cov[0, 0] * cov[1, 1]))


def test_delong_hand_example():
    # Placement values of A6 (good patients 0.8, 0.3, 0.9 vs poor 0.1, 0.4, 0.35):
    # V10 = (1, 1/3, 1), V01 = (1, 2/3, 2/3); var = var(V10)/3 + var(V01)/3.
    v10, v01 = np.array([1, 1 / 3, 1]), np.array([1, 2 / 3, 2 / 3])
    var = np.var(v10, ddof=1) / 3 + np.var(v01, ddof=1) / 3
    out = delong_test(Y6, A6, B6)
    q = norm.ppf(0.975)
    assert out["auc_a"]["low"] == pytest.approx(7 / 9 - q * math.sqrt(var))


def test_delong_and_paired_bootstrap_agree_on_a_larger_cohort():
    y, a, b = _data(4, n=300)
    d = delong_test(y, a, b)
    boot = paired_bootstrap_auc(y, a, b, n_boot=2000, seed=0)
    assert d["difference"]["estimate"] == pytest.approx(boot["difference"]["estimate"])
    assert boot["se"] == pytest.approx(d["se"], rel=0.15)
    assert (d["p_value"] < 0.05) == (boot["p_value"] < 0.05)


def test_delong_is_antisymmetric_and_rank_invariant():
    y, a, b = _data(5)
    ab, ba = delong_test(y, a, b), delong_test(y, b, a)
    assert ab["difference"]["estimate"] == pytest.approx(-ba["difference"]["estimate"])
    assert ab["p_value"] == pytest.approx(ba["p_value"])
    squashed = delong_test(y, a**3, b)  # a monotone transform keeps every rank
    assert squashed["p_value"] == pytest.approx(ab["p_value"])


@pytest.mark.parametrize("fn", [delong_test, paired_bootstrap_auc])
def test_identical_rankings_give_zero_difference_and_p_one(fn):
    y, a, _ = _data(6)
    out = fn(y, a, np.sqrt(a))
    assert out["difference"]["estimate"] == 0.0
    assert out["p_value"] == 1.0


@pytest.mark.parametrize("fn", [delong_test, paired_bootstrap_auc])
@pytest.mark.parametrize(
    ("y", "a", "b", "error", "match"),
    [
        ([0, 1, 1, 1], [0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4], ValueError, "at least 2 good"),
        ([0, 1, 0, 1], [0.1, 0.2, 0.3], [0.1, 0.2, 0.3, 0.4], ValueError, "p_a has 3"),
        ([0, 1, 0, 1], [0.1, 0.2, 0.3, 1.4], [0.1, 0.2, 0.3, 0.4], ValueError, "not logits"),
        ([0, 1, 0, 2], [0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4], ValueError, "only 0"),
    ],
)
def test_paired_comparisons_refuse_bad_input(fn, y, a, b, error, match):
    with pytest.raises(error, match=match):
        fn(y, a, b)


def test_inputs_are_not_modified():
    y, a, b = _data(7)
    copies = (y.copy(), a.copy(), b.copy())
    delong_test(y, a, b)
    paired_bootstrap_auc(y, a, b, n_boot=20)
    for before, after in zip(copies, (y, a, b), strict=True):
        np.testing.assert_array_equal(before, after)

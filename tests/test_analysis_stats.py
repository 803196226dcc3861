"""Rank statistics and their bootstrap intervals (neurosim.analysis.stats)."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats as ss

from neurosim.analysis import stats
from neurosim.errors import NeurosimValueError


def _bivariate_normal(r, n, seed):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 2))
    return z[:, 0], r * z[:, 0] + math.sqrt(1.0 - r * r) * z[:, 1]


# ----------------------------------------------------------------------------- exact values


def test_midranks_equal_scipy_with_ties():
    # reference: scipy.stats.rankdata(method="average"), exact
    rng = np.random.default_rng(5)
    for _ in range(100):
        a = rng.integers(0, 4, size=(3, int(rng.integers(1, 15)))).astype(float)
        assert np.array_equal(stats.rankdata(a, axis=1), ss.rankdata(a, axis=1))
        assert np.array_equal(stats.rankdata(a.T, axis=0), ss.rankdata(a.T, axis=0))


def test_spearman_equals_scipy_with_ties():
    # reference: scipy.stats.spearmanr, agreement to 1e-12
    x, y = _bivariate_normal(0.5, 300, 1)
    y[::5] = np.round(y[::5])
    x[::7] = np.round(x[::7], 1)
    assert stats.spearman_rho(x, y) == pytest.approx(ss.spearmanr(x, y)[0], abs=1e-12)


def test_auc_is_the_pairwise_probability_with_ties_counted_half():
    # reference: brute force over every (positive, negative) pair, and scipy's
    # Mann-Whitney U / (n1 n0); both exact
    rng = np.random.default_rng(2)
    s = rng.integers(0, 6, size=120).astype(float)
    pos = rng.random(120) < 0.4
    sp, sn = s[pos], s[~pos]
    brute = (np.sum(sp[:, None] > sn[None, :]) + 0.5 * np.sum(sp[:, None] == sn[None, :])) / (
        sp.size * sn.size)
    assert stats.roc_auc(s, pos) == pytest.approx(brute, abs=1e-14)
    u = ss.mannwhitneyu(sp, sn).statistic
    assert stats.roc_auc(s, pos) == pytest.approx(u / (sp.size * sn.size), abs=1e-14)


def test_auc_of_a_binary_marker_by_hand():
    # positives score 1, 1, 0; negatives 0, 0, 1, 0: 6 wins, 5 ties, 1 loss of 12 pairs
    s = np.array([1, 1, 0, 0, 0, 1, 0], dtype=float)
    pos = np.array([1, 1, 1, 0, 0, 0, 0], dtype=bool)
    assert stats.roc_auc(s, pos) == pytest.approx((6 + 0.5 * 5) / 12, abs=1e-15)
    assert stats.roc_auc(-s, pos) == pytest.approx(1 - (6 + 0.5 * 5) / 12, abs=1e-15)


def test_rank_statistics_ignore_monotone_transforms():
    x, y = _bivariate_normal(0.3, 200, 3)
    pos = y > 0.5
    assert stats.spearman_rho(np.exp(x), y) == stats.spearman_rho(x, y)
    assert stats.roc_auc(x ** 3, pos) == stats.roc_auc(x, pos)


# ----------------------------------------------------------------------------- planted values


def test_planted_spearman_is_recovered_within_its_interval():
    # Bivariate normal with correlation r: Spearman rho = (6/pi) asin(r/2)
    # (Pearson 1907 / Kendall and Stuart) = 0.5824 for r = 0.6. n = 2000: the
    # standard error is about 0.015, so 0.04 is about 2.5 standard errors.
    r = 0.6
    true = 6.0 / math.pi * math.asin(r / 2.0)
    x, y = _bivariate_normal(r, 2000, 11)
    est = stats.bootstrap_spearman(x, y, n_boot=1000, seed=4)
    assert abs(est.value - true) < 0.04
    assert est.low < true < est.high
    assert 0.03 < est.high - est.low < 0.12
    assert est.n == 2000 and est.replicates.shape == (1000,)


def test_planted_auc_of_two_normal_classes():
    # Two unit-variance normal classes d apart: AUC = Phi(d / sqrt(2)) = 0.7602 for
    # d = 1. 1000 per class: the standard error is about 0.011; tolerance 0.03.
    d = 1.0
    true = ss.norm.cdf(d / math.sqrt(2.0))
    rng = np.random.default_rng(8)
    s = np.concatenate([rng.standard_normal(1000) + d, rng.standard_normal(1000)])
    pos = np.arange(2000) < 1000
    est = stats.bootstrap_auc(s, pos, n_boot=1000, seed=1)
    assert abs(est.value - true) < 0.03
    assert est.low < true < est.high
    assert est.high - est.low < 0.08


def test_bootstrap_interval_covers_the_true_rho_about_95_percent_of_the_time():
    # 200 datasets of 100 pairs with r = 0.5 (true rho 0.4826): the 95 % percentile
    # intervals must cover it in 88-99 % of them (binomial sd 1.5 %; the percentile
    # bootstrap undercovers slightly at n = 100).
    true = 6.0 / math.pi * math.asin(0.25)
    hits = 0
    for k in range(200):
        x, y = _bivariate_normal(0.5, 100, 1000 + k)
        e = stats.bootstrap_spearman(x, y, n_boot=200, seed=k)
        hits += e.low <= true <= e.high
    assert 0.88 <= hits / 200 <= 0.99


# ----------------------------------------------------------------------------- edge cases


def test_constant_input_gives_nan_without_warnings():
    y = np.arange(30.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(stats.spearman_rho(np.ones(30), y))
        e = stats.bootstrap_spearman(np.ones(30), y, n_boot=50, seed=0)
        assert math.isnan(e.value) and math.isnan(e.low) and math.isnan(e.high)
        # a constant marker cannot discriminate: every pair is a tie
        pos = y > 10
        assert stats.roc_auc(np.full(30, 2.0), pos) == 0.5
        a = stats.bootstrap_auc(np.full(30, 2.0), pos, n_boot=50, seed=0)
        assert a.low == a.high == 0.5


def test_one_class_and_too_few_pairs_give_nan():
    assert math.isnan(stats.roc_auc([1.0, 2.0, 3.0], [1, 1, 1]))
    assert math.isnan(stats.bootstrap_auc([1.0, 2.0, 3.0], [0, 0, 0], n_boot=10).low)
    assert math.isnan(stats.spearman_rho([1.0, 2.0], [2.0, 1.0]))


def test_non_finite_pairs_are_left_out():
    x, y = _bivariate_normal(0.4, 100, 9)
    xn = x.copy()
    xn[[3, 50]] = np.nan
    keep = np.ones(100, bool)
    keep[[3, 50]] = False
    assert stats.spearman_rho(xn, y) == stats.spearman_rho(x[keep], y[keep])
    lab = (y > 0).astype(float)
    lab[7] = np.nan
    keep2 = np.ones(100, bool)
    keep2[7] = False
    assert stats.roc_auc(x, lab) == stats.roc_auc(x[keep2], lab[keep2])


def test_bad_input_is_refused():
    with pytest.raises(NeurosimValueError, match="same length"):
        stats.spearman_rho([1, 2, 3], [1, 2])
    with pytest.raises(NeurosimValueError, match="0/1"):
        stats.roc_auc([1, 2, 3], [0, 2, 1])
    with pytest.raises(NeurosimValueError, match="n_boot"):
        stats.bootstrap_spearman([1, 2, 3], [1, 2, 3], n_boot=-1)
    with pytest.raises(NeurosimValueError, match="level"):
        stats.bootstrap_auc([1, 2, 3], [0, 1, 1], level=1.5)


# ----------------------------------------------------------------------------- reproducibility


def test_same_seed_same_interval_other_seed_other_interval():
    x, y = _bivariate_normal(0.3, 150, 4)
    a = stats.bootstrap_spearman(x, y, n_boot=300, seed=7)
    b = stats.bootstrap_spearman(x, y, n_boot=300, seed=7)
    c = stats.bootstrap_spearman(x, y, n_boot=300, seed=8)
    assert np.array_equal(a.replicates, b.replicates) and (a.low, a.high) == (b.low, b.high)
    assert not np.array_equal(a.replicates, c.replicates)
    pos = y > 0
    assert stats.bootstrap_auc(x, pos, n_boot=300, seed=7).replicates.tolist() == \
        stats.bootstrap_auc(x, pos, n_boot=300, seed=7).replicates.tolist()


def test_replicates_do_not_depend_on_the_block_size(monkeypatch):
    x, y = _bivariate_normal(0.3, 150, 4)
    pos = y > 0
    ref_r = stats.bootstrap_spearman(x, y, n_boot=100, seed=1).replicates
    ref_a = stats.bootstrap_auc(x, pos, n_boot=100, seed=1).replicates
    monkeypatch.setattr(stats, "_BLOCK", 1000)  # 6 resamples at a time
    assert np.array_equal(stats.bootstrap_spearman(x, y, n_boot=100, seed=1).replicates, ref_r)
    assert np.array_equal(stats.bootstrap_auc(x, pos, n_boot=100, seed=1).replicates, ref_a)


def test_stratified_resamples_keep_the_class_sizes():
    pos = np.array([True] * 7 + [False] * 13)
    idx = stats.resample_indices(20, 50, seed=3, strata=pos)
    assert idx.shape == (50, 20)
    assert np.all(pos[idx[:, :7]]) and not np.any(pos[idx[:, 7:]])


def test_counting_replicates_equal_the_statistic_of_each_resample():
    # replicates are computed by counting ranks; reference: the plain statistic on
    # each resample (sorting), exact to rounding, with many ties
    rng = np.random.default_rng(12)
    x = np.round(rng.standard_normal(300), 1)
    y = np.round(x + rng.standard_normal(300))
    pos = y > 0
    idx = stats.resample_indices(300, 60, seed=1)
    ref = np.array([stats.spearman_rho(x[i], y[i]) for i in idx])
    np.testing.assert_allclose(stats.spearman_replicates(x, y, idx), ref, rtol=0, atol=1e-12)
    idx = stats.resample_indices(300, 60, seed=1, strata=pos)
    ref = np.array([stats.roc_auc(x[i], pos[i]) for i in idx])
    np.testing.assert_allclose(stats.auc_replicates(x, pos, idx), ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("k,n,level", [(0, 40, 0.95), (3, 10, 0.95), (40, 40, 0.95),
                                       (517, 1000, 0.95), (7, 25, 0.9), (1, 2, 0.99)])
def test_wilson_interval_equals_scipy(k, n, level):
    # independent reference: scipy.stats.binomtest(...).proportion_ci(method="wilson")
    ref = ss.binomtest(k, n).proportion_ci(confidence_level=level, method="wilson")
    low, high = stats.wilson_interval(k, n, level)
    assert low == pytest.approx(ref.low, rel=1e-12, abs=1e-15)
    assert high == pytest.approx(ref.high, rel=1e-12, abs=1e-15)
    assert 0.0 <= low <= k / n <= high <= 1.0


def test_wilson_interval_ends_and_bad_input():
    assert stats.wilson_interval(0, 10)[0] == 0.0 and stats.wilson_interval(10, 10)[1] == 1.0
    assert all(math.isnan(v) for v in stats.wilson_interval(0, 0))
    for k, n, level in ((-1, 10, 0.95), (11, 10, 0.95), (3, 10, 1.0), (3, 10, 0.0)):
        with pytest.raises(NeurosimValueError):
            stats.wilson_interval(k, n, level)

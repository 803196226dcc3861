"""Rank statistics with seeded bootstrap confidence intervals.

Two measures of how well a number measured in a patient (a marker)
predicts an outcome, both invariant to any increasing transformation of
the marker (so pg/mL or log pg/mL give the same answer):

* **Spearman's rho**: the Pearson correlation of the ranks of ``x`` and
  ``y``, tied values sharing their mean rank (midranks)::

      rho = sum (r_i - rbar)(s_i - sbar) / sqrt(sum (r_i - rbar)^2 sum (s_i - sbar)^2)

  NaN when either variable is constant (its ranks have no spread).

* **ROC AUC** of a score for a binary outcome, from the Mann-Whitney
  statistic. With ``n1`` positives and ``n0`` negatives and ``R1`` the sum
  of the positives' midranks in the pooled sample::

      U = R1 - n1 (n1 + 1) / 2,      AUC = U / (n1 n0)

  which equals P(score of a positive > score of a negative) + 1/2 P(tie):
  a tie counts one half. 0.5 is no discrimination; above 0.5 positives
  score higher, below 0.5 lower. NaN when a class is empty.

Confidence intervals are **percentile bootstrap** intervals: the statistic
is recomputed on ``n_boot`` resamples of the patients (with replacement)
and the interval is the ``(1 - level)/2`` and ``(1 + level)/2`` quantiles
of the replicates. For the AUC the positives and the negatives are
resampled separately (stratified), so every replicate has both classes.
Resamples come from ``numpy.random.default_rng(seed)``: the same data and
seed give the same interval. Replicates that are undefined (a resample in
which a variable is constant) are left out; when more than half are, the
interval is NaN.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import NeurosimValueError

__all__ = ["Estimate", "rankdata", "spearman_rho", "roc_auc", "resample_indices",
           "spearman_replicates", "auc_replicates", "percentile_interval",
           "bootstrap_spearman", "bootstrap_auc", "wilson_interval", "check_level"]

#: Largest number of array elements handled at once by the replicate functions.
_BLOCK = 2_000_000


@dataclass(frozen=True)
class Estimate:
    """A statistic with its bootstrap percentile interval.

    Attributes
    ----------
    value : float
        The statistic on the data (NaN when undefined).
    low, high : float
        Interval bounds (NaN without bootstrap or when undefined).
    level : float
        Coverage of the interval (e.g. 0.95).
    n : int
        Patients used.
    replicates : ndarray or None
        The bootstrap replicates (NaN where undefined).
    """

    value: float
    low: float
    high: float
    level: float
    n: int
    replicates: np.ndarray | None = None

    def __repr__(self) -> str:
        return (f"Estimate({self.value:.4g}, {100 * self.level:g} % CI {self.low:.4g} to "
                f"{self.high:.4g}, n={self.n})")


def rankdata(a, axis: int = -1) -> np.ndarray:
    """Midranks (1-based; ties share the mean of their ranks) along ``axis``.

    Parameters
    ----------
    a : array_like
        Finite values.
    axis : int
        Axis along which to rank.

    Returns
    -------
    ndarray of float, same shape as ``a``
    """
    a = np.moveaxis(np.asarray(a, dtype=float), axis, -1)
    shape = a.shape
    flat = a.reshape(-1, shape[-1]) if a.ndim else a.reshape(1, 1)
    m, n = flat.shape
    out = np.empty_like(flat)
    if n == 0:
        return np.moveaxis(out.reshape(shape), -1, axis)
    order = np.argsort(flat, axis=1, kind="stable")
    s = np.take_along_axis(flat, order, axis=1)
    # a new group of equal values starts where the sorted value changes
    new = np.ones((m, n), dtype=bool)
    new[:, 1:] = s[:, 1:] != s[:, :-1]
    pos = np.arange(n)
    # first and last sorted position of each element's group
    start = np.where(new, pos, 0)
    start = np.maximum.accumulate(start, axis=1)
    is_last = np.ones((m, n), dtype=bool)
    is_last[:, :-1] = new[:, 1:]
    lidx = np.where(is_last, pos, n)
    last = np.minimum.accumulate(lidx[:, ::-1], axis=1)[:, ::-1]
    mid = 0.5 * (start + last) + 1.0
    np.put_along_axis(out, order, mid, axis=1)
    return np.moveaxis(out.reshape(shape), -1, axis)


def _as_pairs(x, y):
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise NeurosimValueError(f"x and y must have the same length; got {x.size} and "
                                 f"{y.size}.")
    ok = np.isfinite(x) & np.isfinite(y)
    return x[ok], y[ok]


def _pearson_rows(a, b):
    """Row-wise Pearson correlation of two (m, n) arrays (NaN for a constant row)."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    saa = np.einsum("ij,ij->i", a, a)
    sbb = np.einsum("ij,ij->i", b, b)
    sab = np.einsum("ij,ij->i", a, b)
    den = np.sqrt(saa * sbb)
    # ranks are multiples of 1/2, so a constant row has exactly zero spread
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(den > 0, sab / np.where(den > 0, den, 1.0), np.nan)
    return np.clip(r, -1.0, 1.0)


def spearman_rho(x, y) -> float:
    """Spearman's rank correlation (midranks for ties).

    Parameters
    ----------
    x, y : array_like, shape (n,)
        Pairs with a non-finite member are left out.

    Returns
    -------
    float
        In [-1, 1]; NaN with fewer than 3 pairs or a constant variable.
    """
    x, y = _as_pairs(x, y)
    if x.size < 3:
        return math.nan
    return float(_pearson_rows(rankdata(x)[None, :], rankdata(y)[None, :])[0])


def _labels(positive):
    p = np.asarray(positive)
    if p.dtype == bool:
        return p.astype(float)
    p = p.astype(float)
    bad = np.isfinite(p) & (p != 0) & (p != 1)
    if np.any(bad):
        raise NeurosimValueError("a binary outcome must hold 0/1 or True/False (NaN: unknown); "
                                 f"got {np.unique(p[bad])[:5].tolist()}.")
    return p


def roc_auc(scores, positive) -> float:
    """Area under the ROC curve of ``scores`` for the outcome ``positive`` (Mann-Whitney).

    Parameters
    ----------
    scores : array_like, shape (n,)
        Marker values (higher: predicted positive).
    positive : array_like of bool or 0/1, shape (n,)
        The outcome; NaN entries (and non-finite scores) are left out.

    Returns
    -------
    float
        P(positive scores higher) + 1/2 P(tie); NaN when a class is empty.
    """
    s, p = _as_pairs(scores, _labels(positive))
    pos = p == 1
    n1 = int(pos.sum())
    n0 = s.size - n1
    if n1 == 0 or n0 == 0:
        return math.nan
    r = rankdata(s)
    return float((r[pos].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def resample_indices(n: int, n_boot: int, seed=0, *, strata=None) -> np.ndarray:
    """Bootstrap resamples of ``n`` patients.

    Parameters
    ----------
    n : int
        Number of patients.
    n_boot : int
        Number of resamples.
    seed : int or numpy.random.SeedSequence
        Seed of ``numpy.random.default_rng``.
    strata : array_like of bool, shape (n,), optional
        Resample the True and the False patients separately (each resample
        keeps the class sizes): the True patients come first in each row.

    Returns
    -------
    ndarray of int64, shape (n_boot, n)
    """
    if n_boot < 0 or n < 0:
        raise NeurosimValueError(f"n and n_boot must be >= 0; got {n} and {n_boot}.")
    rng = np.random.default_rng(seed)
    if strata is None:
        return rng.integers(0, n, size=(n_boot, n), dtype=np.int64)
    strata = np.asarray(strata, dtype=bool)
    if strata.size != n:
        raise NeurosimValueError(f"strata must have length {n}; got {strata.size}.")
    parts = []
    for members in (np.flatnonzero(strata), np.flatnonzero(~strata)):
        if members.size:
            parts.append(members[rng.integers(0, members.size, size=(n_boot, members.size))])
    if not parts:
        return np.empty((n_boot, 0), dtype=np.int64)
    return np.concatenate(parts, axis=1).astype(np.int64)


def _blocks(n_boot, n):
    step = max(1, _BLOCK // max(1, n))
    for a in range(0, n_boot, step):
        yield a, min(n_boot, a + step)


def _dense(x):
    """Dense ranks 0..m-1 of ``x`` (equal values share one) and m."""
    u, d = np.unique(x, return_inverse=True)
    return d.reshape(-1).astype(np.int64), u.size


def _resampled_midranks(d, m, idx):
    """Midranks of each resample ``x[idx[b]]`` from the dense ranks ``d`` of ``x``.

    Ranking is invariant to the increasing map x -> d, so counting how many
    resampled values fall on each dense rank gives the midranks in O(n) per
    resample, without sorting: midrank = (count below) + (count equal + 1) / 2.
    """
    b, n = idx.shape
    v = d[idx]
    counts = np.bincount((v + (np.arange(b, dtype=np.int64) * m)[:, None]).ravel(),
                         minlength=b * m).reshape(b, m).astype(float)
    below = np.cumsum(counts, axis=1) - counts
    mid = below + (counts + 1.0) / 2.0
    return np.take_along_axis(mid, v, axis=1)


def spearman_replicates(x, y, idx) -> np.ndarray:
    """Spearman's rho on each resample ``x[idx[b]], y[idx[b]]``.

    Parameters
    ----------
    x, y : ndarray (n,)
        Finite values.
    idx : ndarray of int (n_boot, n)
        Resamples (:func:`resample_indices`).

    Returns
    -------
    ndarray (n_boot,)
        NaN where a resample leaves a variable constant.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    out = np.empty(idx.shape[0])
    (dx, mx), (dy, my) = _dense(x), _dense(y)
    for a, b in _blocks(idx.shape[0], max(idx.shape[1], mx, my)):
        out[a:b] = _pearson_rows(_resampled_midranks(dx, mx, idx[a:b]),
                                 _resampled_midranks(dy, my, idx[a:b]))
    return out


def auc_replicates(scores, positive, idx) -> np.ndarray:
    """ROC AUC on each resample (rows of ``idx``, positives first as from stratified resampling).

    Parameters
    ----------
    scores : ndarray (n,)
        Finite values.
    positive : ndarray of bool (n,)
    idx : ndarray of int (n_boot, n)
        Resamples from :func:`resample_indices` with ``strata=positive``.

    Returns
    -------
    ndarray (n_boot,)
    """
    scores = np.asarray(scores, dtype=float)
    positive = np.asarray(positive, dtype=bool)
    n1 = int(positive.sum())
    n0 = positive.size - n1
    out = np.full(idx.shape[0], np.nan)
    if n1 == 0 or n0 == 0:
        return out
    d, m = _dense(scores)
    for a, b in _blocks(idx.shape[0], max(idx.shape[1], m)):
        r = _resampled_midranks(d, m, idx[a:b])
        out[a:b] = (r[:, :n1].sum(axis=1) - n1 * (n1 + 1) / 2.0) / (n1 * n0)
    return out


def percentile_interval(replicates, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of bootstrap replicates (NaN ones left out).

    Returns
    -------
    (low, high) : tuple of float
        NaN when more than half of the replicates are NaN, or there are none.
    """
    r = np.asarray(replicates, dtype=float)
    ok = r[np.isfinite(r)]
    if r.size == 0 or ok.size * 2 < r.size:
        return math.nan, math.nan
    lo, hi = np.quantile(ok, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return float(lo), float(hi)


def check_level(level) -> float:
    """``level`` as a float, checked to be a coverage strictly between 0 and 1."""
    level = float(level)
    if not 0.0 < level < 1.0:
        raise NeurosimValueError(f"level must be between 0 and 1; got {level}.")
    return level


def _check(n_boot, level):
    if int(n_boot) != n_boot or n_boot < 0:
        raise NeurosimValueError(f"n_boot must be a whole number >= 0; got {n_boot}.")
    check_level(level)


def bootstrap_spearman(x, y, *, n_boot: int = 1000, level: float = 0.95,
                       seed=0) -> Estimate:
    """Spearman's rho with a percentile bootstrap interval.

    Parameters
    ----------
    x, y : array_like (n,)
        Pairs with a non-finite member are left out.
    n_boot : int
        Resamples (0: no interval).
    level : float
        Coverage of the interval.
    seed : int
        Seed of the resampling.

    Returns
    -------
    Estimate
    """
    _check(n_boot, level)
    x, y = _as_pairs(x, y)
    value = spearman_rho(x, y)
    if n_boot == 0 or x.size < 3:
        return Estimate(value, math.nan, math.nan, level, int(x.size), None)
    reps = spearman_replicates(x, y, resample_indices(x.size, int(n_boot), seed))
    lo, hi = percentile_interval(reps, level)
    return Estimate(value, lo, hi, level, int(x.size), reps)


def bootstrap_auc(scores, positive, *, n_boot: int = 1000, level: float = 0.95,
                  seed=0) -> Estimate:
    """ROC AUC with a stratified percentile bootstrap interval.

    Parameters
    ----------
    scores : array_like (n,)
    positive : array_like of bool or 0/1 (n,)
        NaN entries (and non-finite scores) are left out.
    n_boot : int
        Resamples (0: no interval).
    level : float
        Coverage of the interval.
    seed : int
        Seed of the resampling.

    Returns
    -------
    Estimate
    """
    _check(n_boot, level)
    s, p = _as_pairs(scores, _labels(positive))
    pos = p == 1
    value = roc_auc(s, pos)
    if n_boot == 0 or math.isnan(value):
        return Estimate(value, math.nan, math.nan, level, int(s.size), None)
    idx = resample_indices(s.size, int(n_boot), seed, strata=pos)
    reps = auc_replicates(s, pos, idx)
    lo, hi = percentile_interval(reps, level)
    return Estimate(value, lo, hi, level, int(s.size), reps)


def wilson_interval(k, n, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``k / n``.

    With ``z`` the ``(1 + level) / 2`` quantile of the standard normal
    distribution and ``p = k / n``::

        centre = (k + z^2 / 2) / (n + z^2)
        half   = z / (n + z^2) * sqrt(k (n - k) / n + z^2 / 4)

    Unlike the normal (Wald) interval it stays inside [0, 1] and keeps its
    coverage near 0 and 1 (a responder rate of 0 of 40 patients gets an
    interval above 0).

    Parameters
    ----------
    k : int
        Successes (0 <= k <= n).
    n : int
        Trials; NaN bounds when 0.
    level : float
        Coverage (0 < level < 1).

    Returns
    -------
    (low, high) : tuple of float
    """
    check_level(level)
    k = float(k)
    n = float(n)
    if not 0.0 <= k <= n:
        raise NeurosimValueError(f"need 0 <= k <= n; got k={k:g}, n={n:g}.")
    if n == 0.0:
        return math.nan, math.nan
    from scipy.special import ndtri

    z = float(ndtri(0.5 + 0.5 * level))
    z2 = z * z
    centre = (k + 0.5 * z2) / (n + z2)
    half = z / (n + z2) * math.sqrt(k * (n - k) / n + 0.25 * z2)
    low = 0.0 if k == 0.0 else max(0.0, centre - half)   # exact at the ends (no rounding)
    high = 1.0 if k == n else min(1.0, centre + half)
    return low, high

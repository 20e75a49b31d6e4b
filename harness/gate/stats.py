"""The statistics of the latency gate: a one-sided Mann–Whitney U test on the raw per-iteration samples, the
Hodges–Lehmann shift with its distribution-free (Moses) bounds, the gate's decision rule, and how small a
change a comparison of that size and noise can detect.

Why this and not a bootstrap CI of the ratio of medians: the U test and the HL estimator are 95 % as
efficient as the t-test on normal noise (the sample median is 64 %), so at 30 iterations they detect a
smaller slowdown; ranks ignore the scale of an outlier (one ×3 iteration moves the mean by 7 % at n = 30,
but the rank statistic by one rank); the p-value is exact for small runs (computed from the exact null
distribution of U when each side has ≤ 50 samples and there are no ties) and has no resampling noise, so
the same runs always give the same verdict; and it needs numpy only.

**The rule** (an indifference-zone design): with a threshold ``t`` (``+5%``), a job's latency *regressed*
when both

1. the head is slower with one-sided p ≤ α = 0.01 (statistically real), and
2. the estimated ratio is at least halfway to the threshold on the log scale: ratio ≥ √(1 + t)
   (+5% → ≥ 1.0247, +10% → ≥ 1.0488, +300% → ≥ 2×); an absolute threshold (``+20`` ms) needs an
   estimated shift ≥ t/2.

So a gate never fails on a slowdown estimated below half its threshold, fails on a slowdown of the threshold's
size as often as the noise allows, and fails on unchanged code at most α of the time. The mirror image is an
*improvement*. A comparison that is neither is *inconclusive* rather than "within the gate" when it could not
have caught a change of the threshold's size: too few samples for p ≤ α at all (4 + 4 or fewer), or noise so
large that a slowdown of exactly t would be caught less than 80 % of the time (:func:`detectable_shift`).

Caveat: the test assumes the iterations are independent; slow drift of a loaded machine within a run breaks
that, which is why noisy machines need a generous threshold (``harness gate derive`` measures it).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

ALPHA = 0.01  # one-sided significance level of the latency test
POWER = 0.8  # a comparison is conclusive when a change of the threshold's size is caught this often
EXACT_MAX = 50  # exact U distribution up to this many samples per side (and no ties); normal beyond
# The Hodges–Lehmann shift's standard error is √(π/3) times the mean difference's on normal noise (the
# asymptotic relative efficiency of the U test is 3/π).
HL_SE_FACTOR = math.sqrt(math.pi / 3.0)
MAX_ITERATIONS_ADVICE = 100_000


@lru_cache(maxsize=64)
def _null_sf(n: int, m: int) -> np.ndarray:
    """P(U ≥ u) for u = 0 … n·m + 1 under H0 (no ties), U = #(head > base) with n head and m base samples.

    Counts orderings with the recurrence on the largest element: a head value there exceeds all j base values
    (adds j to U), a base value adds nothing. Positive sums only, so float64 stays exact to rounding.
    """
    size = n * m + 1
    delta = np.zeros(size)
    delta[0] = 1.0
    prev = [delta] * (m + 1)  # i = 0 head values: U = 0 whatever j
    for _i in range(1, n + 1):
        cur = [delta]
        for j in range(1, m + 1):
            c = cur[j - 1].copy()
            c[j:] += prev[j][: size - j]
            cur.append(c)
        prev = cur
    pmf = prev[m] / prev[m].sum()
    return np.concatenate([np.cumsum(pmf[::-1])[::-1], [0.0]])


def _norm_sf(z: np.ndarray) -> np.ndarray:
    return 0.5 * np.vectorize(math.erfc, otypes=[float])(np.asarray(z, dtype=float) / math.sqrt(2.0))


@dataclass
class ShiftTest:
    """Head − base on the working scale (log for ratios), one value per row of a batch."""

    estimate: np.ndarray  # Hodges–Lehmann: the median of all pairwise differences
    lower: np.ndarray  # one-sided (1 − α) lower confidence bound (−inf when n is too small)
    upper: np.ndarray  # one-sided (1 − α) upper bound; [lower, upper] is a (1 − 2α) interval
    p_higher: np.ndarray  # one-sided p-value that head is higher than base
    p_lower: np.ndarray  # one-sided p-value that head is lower than base
    exact: np.ndarray  # whether the exact U distribution gave the p-values


def shift_test(base: Any, head: Any, *, alpha: float = ALPHA, log: bool = True) -> ShiftTest:
    """Mann–Whitney U in both directions, Hodges–Lehmann shift and Moses bounds, vectorised over rows.

    ``base`` (…, m) and ``head`` (…, n) hold per-iteration samples (rows are independent comparisons).
    With ``log`` the samples must be positive and the shift is a log-ratio.
    """
    b = np.atleast_2d(np.asarray(base, dtype=np.float64))
    h = np.atleast_2d(np.asarray(head, dtype=np.float64))
    if log:
        if (b <= 0).any() or (h <= 0).any():
            raise ValueError("shift_test: log scale needs positive samples")
        b, h = np.log(b), np.log(h)
    m, n = b.shape[-1], h.shape[-1]
    nm = n * m
    d = (h[:, None, :] - b[:, :, None]).reshape(b.shape[0], nm)
    d.sort(axis=1)
    estimate = np.median(d, axis=1)
    u_hi = (d > 0).sum(axis=1) + 0.5 * (d == 0).sum(axis=1)
    u_lo = nm - u_hi

    pooled = np.sort(np.concatenate([b, h], axis=1), axis=1)
    tie_groups = [np.unique(row, return_counts=True)[1] for row in pooled]
    ties = np.array([(t > 1).any() for t in tie_groups])
    tie_term = np.array([float((t**3 - t).sum()) for t in tie_groups])
    big_n = n + m
    var = nm / 12.0 * ((big_n + 1) - tie_term / (big_n * (big_n - 1)))
    sd = np.sqrt(np.maximum(var, 1e-300))
    p_hi = _norm_sf((u_hi - nm / 2.0 - 0.5) / sd)
    p_lo = _norm_sf((u_lo - nm / 2.0 - 0.5) / sd)
    z = statistics.NormalDist().inv_cdf(1.0 - alpha)
    k_norm = math.ceil(nm / 2.0 + 0.5 + z * math.sqrt(nm * (big_n + 1) / 12.0))
    k = k_norm
    exact = np.zeros(b.shape[0], dtype=bool)
    if max(n, m) <= EXACT_MAX:
        sf = _null_sf(n, m)
        exact = ~ties
        p_hi = np.where(exact, sf[np.ceil(u_hi).astype(int)], p_hi)
        p_lo = np.where(exact, sf[np.ceil(u_lo).astype(int)], p_lo)
        reach = np.nonzero(sf[: nm + 1] <= alpha)[0]
        k = int(reach[0]) if reach.size else nm + 1
    # #(d > L) ≥ k ⇔ L < the k-th largest difference: the bound that the test at level α just rejects.
    if 1 <= k <= nm:
        lower, upper = d[:, nm - k], d[:, k - 1]
    else:
        lower = np.full(b.shape[0], -np.inf)
        upper = np.full(b.shape[0], np.inf)
    return ShiftTest(estimate, lower, upper, np.minimum(p_hi, 1.0), np.minimum(p_lo, 1.0), exact)


def latency_rule(
    test: ShiftTest,
    threshold: float,
    *,
    relative: bool = True,
    alpha: float = ALPHA,
    higher_is_worse: bool = True,
) -> np.ndarray:
    """+1 regressed, −1 improved, 0 neither, per row (the rule is in the module docstring).

    ``threshold`` is the size of a regression in the worse direction: a fraction when ``relative`` (the test's
    shift is then a log-ratio), else in the samples' unit. The gate needs p ≤ α and a shift at least halfway
    to the threshold (on the log scale when relative); an improvement is the mirror image.
    """
    if relative:
        bad_ratio = 1.0 + threshold if higher_is_worse else 1.0 - threshold
        half = abs(math.log(bad_ratio)) / 2.0 if bad_ratio > 0 else math.inf
    else:
        half = threshold / 2.0
    s = 1.0 if higher_is_worse else -1.0
    worse_shift = s * test.estimate
    p_worse, p_better = (test.p_higher, test.p_lower) if higher_is_worse else (test.p_lower, test.p_higher)
    worse = (p_worse <= alpha) & (worse_shift >= half)
    better = (p_better <= alpha) & (-worse_shift >= half)
    return np.where(worse, 1, np.where(better, -1, 0))


def smallest_p(n: int, m: int) -> float:
    """The smallest one-sided p-value the exact U test can give with n and m samples: 1 / C(n + m, n)."""
    return math.exp(math.lgamma(n + 1) + math.lgamma(m + 1) - math.lgamma(n + m + 1))


def robust_sigma(x: np.ndarray) -> float:
    """The spread of samples: what the U test's power depends on. The normal-consistent MAD from 10 samples
    on (unmoved by an outlier iteration, as the test itself is); below that the MAD of a handful of values is
    erratic (often near 0), so the standard deviation."""
    x = np.asarray(x, dtype=np.float64)
    if x.size < 2:
        return 0.0
    mad = 1.4826 * float(np.median(np.abs(x - np.median(x))))
    return mad if x.size >= 10 and mad > 0 else float(np.std(x, ddof=1))


def shift_se(sigma: float, n: int, m: int) -> float:
    """Standard error of the Hodges–Lehmann shift between n and m samples of spread ``sigma``."""
    return HL_SE_FACTOR * sigma * math.sqrt(1.0 / n + 1.0 / m)


def detectable_shift(
    sigma: float, n: int, m: int, half: float, *, alpha: float = ALPHA, power: float = POWER
) -> float:
    """The smallest shift (in the test's scale: log-ratio, or the samples' unit) that the gate's rule catches
    with probability ``power``: it needs p ≤ α (an estimate ≳ z₁₋α standard errors) and an estimate ≥ ``half``,
    so D = max(z₁₋α·SE, half) + z_power·SE. Infinite when n and m cannot reach p ≤ α at all."""
    if n < 2 or m < 2 or smallest_p(n, m) > alpha:
        return math.inf
    z = statistics.NormalDist()
    se = shift_se(sigma, n, m)
    return max(z.inv_cdf(1.0 - alpha) * se, half) + z.inv_cdf(power) * se


def iterations_needed(
    sigma: float, size: float, half: float, *, alpha: float = ALPHA, power: float = POWER
) -> int | None:
    """Iterations per side for :func:`detectable_shift` to reach ``size`` (the threshold on the test's scale).
    None when no count up to MAX_ITERATIONS_ADVICE does (the noise dwarfs the threshold)."""
    lo = 2
    while smallest_p(lo, lo) > alpha:
        lo += 1
    if detectable_shift(sigma, lo, lo, half, alpha=alpha, power=power) <= size:
        return lo
    hi = lo
    while detectable_shift(sigma, hi, hi, half, alpha=alpha, power=power) > size:
        hi *= 2
        if hi > MAX_ITERATIONS_ADVICE:
            return None
    while hi - lo > 1:  # detectable_shift falls as n grows
        mid = (lo + hi) // 2
        if detectable_shift(sigma, mid, mid, half, alpha=alpha, power=power) <= size:
            hi = mid
        else:
            lo = mid
    return hi

"""The Fréchet distance of feature sets, its bootstrap interval and its extrapolation to infinitely many samples.

* ``frechet_distance_from_features``: the distance between Gaussians fitted to two (n, d) feature sets.
* ``bootstrap_frechet_ci``: the spread of the distance at this sample size, resampling the generated set.
* ``fid_infinity``: FID∞ (Chong & Forsyth, 2020), the bias of the estimate removed by extrapolation.

Numpy only at import time; the numerics are :mod:`harness.metrics.frechet`'s.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from harness.core.errors import MetricInvalid
from harness.metrics.feature_stats import StreamingStats
from harness.metrics.frechet import (
    ArrayLike,
    FrechetWarning,
    _check_stats,
    _distance,
    _Factor,
    _psd_factor,
    as_features,
    as_float64,
    stats_distance,
)

__all__ = ["FIDInfinityResult", "bootstrap_frechet_ci", "fid_infinity", "frechet_distance_from_features"]


def frechet_distance_from_features(feats1: ArrayLike, feats2: ArrayLike) -> float:
    """Fréchet distance between Gaussians fitted to two (n, d) feature sets (ddof=1 covariances).

    Raises:
        ValueError: A set is not 2-D or the dimensions differ.
        MetricInvalid: A set has fewer than 2 vectors or NaN / infinite values (a ``ValueError`` too).
    """
    s1 = StreamingStats.from_features(as_features(feats1, "feats1"))
    s2 = StreamingStats.from_features(as_features(feats2, "feats2"))
    if s1.dim != s2.dim:
        raise ValueError(f"feats1 and feats2 must have the same dimension d, got {s1.dim} and {s2.dim}")
    return stats_distance(s1, s2, "feats1", "feats2", stacklevel=4)


def _reference(ref: Any, name: str) -> tuple[np.ndarray, np.ndarray, int | None]:
    """(mu, sigma, n) of a reference given as StreamingStats, a (mu, sigma) pair or an (n, d) array."""
    if isinstance(ref, StreamingStats):
        return ref.mean, ref.cov, ref.n
    if isinstance(ref, (tuple, list)) and len(ref) == 2:
        mu = as_float64(ref[0], f"{name}[0] (mu)")
        sigma = _check_stats(mu, as_float64(ref[1], f"{name}[1] (sigma)"), f"{name} mu", f"{name} sigma")
        return mu, sigma, None
    feats = as_features(ref, name)
    stats = StreamingStats.from_features(feats)
    return stats.mean, stats.cov, stats.n


def _prepare_gen_ref(
    feats_gen: ArrayLike, ref: Any, ref_name: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int | None]:
    gen = as_features(feats_gen, "feats_gen")
    mu_r, sigma_r, n_r = _reference(ref, ref_name)
    if mu_r.shape[0] != gen.shape[1]:
        raise ValueError(f"feats_gen has d={gen.shape[1]} but {ref_name} has d={mu_r.shape[0]}")
    return gen, mu_r, sigma_r, n_r


def _subset_distance(x: np.ndarray, mu_r: np.ndarray, sigma_r: np.ndarray, f_r: _Factor) -> float:
    mu = x.mean(axis=0)
    xc = x - mu
    sigma = (xc.T @ xc) / (x.shape[0] - 1)
    # A replicate or an FID∞ point: its sampling spread dwarfs the squared form's √eps (see _trace_sqrt_product).
    return _distance(mu, sigma, _psd_factor(sigma), mu_r, sigma_r, f_r, exact=False)


def bootstrap_frechet_ci(
    feats_gen: ArrayLike, feats_ref: Any, *, n_boot: int = 100, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Bootstrap interval for the Fréchet distance, resampling the generated set only.

    Only the generated set is resampled: the reference is fixed and shared by every model compared
    (often available only as ``mu``/``sigma``, e.g. a pytorch-fid ``.npz``), so the variability that
    matters when ranking models is the finite generated sample. Each replicate draws n generated
    vectors with replacement and recomputes the distance to the fixed reference (whose factorisation
    is reused). With n <= 1.6 d a resample has fewer distinct vectors than dimensions, and a
    ``FrechetWarning`` says the interval is unreliable.

    Resampling with replacement repeats ~37% of the vectors, which biases the replicates upward (the
    Fréchet distance grows as the effective sample shrinks), so the raw percentile interval tends to
    sit above the estimate. The interval returned is the percentile interval re-centred on the point
    estimate: ``d̂ + (q_lo - mean*, q_hi - mean*)``, clipped at 0. It describes the spread of the
    distance at this sample size, not the bias (see ``fid_infinity`` for that).

    Args:
        feats_gen: Generated features, shape (n, d).
        feats_ref: Reference: features (m, d), a ``StreamingStats`` or a ``(mu, sigma)`` pair.
        n_boot: Number of bootstrap replicates (each costs one covariance and one distance).
        seed: Seed of the numpy generator drawing the resamples.
        level: Coverage of the interval, in (0, 1).

    Returns:
        ``(lo, hi)``.
    """
    if not (isinstance(n_boot, (int, np.integer)) and n_boot >= 2):
        raise ValueError(f"n_boot must be an integer >= 2, got {n_boot!r}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    gen, mu_r, sigma_r, n_r = _prepare_gen_ref(feats_gen, feats_ref, "feats_ref")
    n = gen.shape[0]
    if n < 2:
        raise MetricInvalid(f"feats_gen needs at least 2 vectors, got shape {gen.shape}")
    f_r = _psd_factor(sigma_r, "feats_ref")
    point = stats_distance(
        StreamingStats.from_features(gen),
        StreamingStats.from_mean_cov(mu_r, sigma_r, n_r),
        "feats_gen",
        "feats_ref",
        stacklevel=4,
    )
    d = gen.shape[1]
    distinct = round(n * (1.0 - (1.0 - 1.0 / n) ** n))  # expected distinct vectors in a resample, ~0.632 n
    if n > d >= distinct:
        warnings.warn(
            f"bootstrap_frechet_ci: a resample of n={n} holds ~{distinct} distinct vectors, not more than "
            f"d={d}: replicate covariances are rank-deficient and the interval is unreliable; use n >= 1.6 d",
            FrechetWarning,
            stacklevel=2,
        )
    rng = np.random.default_rng(seed)
    boots = np.empty(n_boot)
    for i in range(n_boot):
        boots[i] = _subset_distance(gen[rng.integers(0, n, size=n)], mu_r, sigma_r, f_r)
    alpha = (1.0 - level) / 2.0
    q_lo, q_hi = np.quantile(boots, [alpha, 1.0 - alpha])
    centre = float(boots.mean())
    return max(0.0, point + float(q_lo) - centre), max(0.0, point + float(q_hi) - centre)


@dataclass(frozen=True)
class FIDInfinityResult:
    """FID∞ and the points of its fit ``FD(N) = value + slope / N``."""

    value: float
    slope: float
    sample_sizes: np.ndarray  # the N of each point
    distances: np.ndarray  # FD at each N


def fid_infinity(
    feats_gen: ArrayLike,
    stats_ref: Any,
    *,
    n_points: int = 15,
    n_min: int = 5000,
    seed: int = 0,
    spacing: Literal["inverse", "linear"] = "inverse",
) -> FIDInfinityResult:
    """Extrapolated, effectively unbiased Fréchet distance FID∞ (Chong & Forsyth, CVPR 2020).

    The Fréchet distance of N samples is biased by about ``b/N``. For ``n_points`` sample sizes N
    between ``n_min`` and n, a random subset (without replacement) of N generated vectors is scored
    against the fixed reference; ``FD = a + b/N`` is fitted by least squares and ``a`` is returned.

    Args:
        feats_gen: Generated features, shape (n, d), n > n_min.
        stats_ref: Reference: ``StreamingStats``, a ``(mu, sigma)`` pair, or features (m, d).
        n_points: Number of sample sizes (>= 2).
        n_min: Smallest sample size (the paper uses 5000 of 50000). Keep it above d.
        seed: Seed of the numpy generator drawing the subsets.
        spacing: ``"inverse"`` spaces the N evenly in 1/N (even leverage along the fitted axis);
            ``"linear"`` spaces them evenly in N, as the authors' released code does.

    Returns:
        ``FIDInfinityResult(value, slope, sample_sizes, distances)``.
    """
    gen, mu_r, sigma_r, _ = _prepare_gen_ref(feats_gen, stats_ref, "stats_ref")
    n, d = gen.shape
    if not (isinstance(n_points, (int, np.integer)) and n_points >= 2):
        raise ValueError(f"n_points must be an integer >= 2, got {n_points!r}")
    if not (isinstance(n_min, (int, np.integer)) and 2 <= n_min < n):
        raise ValueError(
            f"n_min must be an integer with 2 <= n_min < n = {n} generated vectors, got {n_min!r}"
        )
    if spacing == "inverse":
        sizes = np.rint(1.0 / np.linspace(1.0 / n_min, 1.0 / n, n_points)).astype(np.int64)
    elif spacing == "linear":
        sizes = np.linspace(n_min, n, n_points).astype(np.int64)
    else:
        raise ValueError(f"spacing must be 'inverse' or 'linear', got {spacing!r}")
    sizes = np.clip(sizes, n_min, n)
    if n_min <= d:
        warnings.warn(
            f"fid_infinity: n_min={n_min} <= d={d}: the smallest subsets give rank-deficient covariances "
            "and strongly biased distances; use n_min > d",
            FrechetWarning,
            stacklevel=2,
        )
    f_r = _psd_factor(sigma_r, "stats_ref")
    rng = np.random.default_rng(seed)
    dists = np.array([_subset_distance(gen[rng.permutation(n)[:size]], mu_r, sigma_r, f_r) for size in sizes])
    design = np.stack([np.ones(len(sizes)), 1.0 / sizes], axis=1)
    (a, b), *_ = np.linalg.lstsq(design, dists, rcond=None)
    return FIDInfinityResult(value=float(a), slope=float(b), sample_sizes=sizes, distances=dists)

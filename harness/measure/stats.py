"""Summary statistics of raw latency samples, with a bootstrap confidence interval of the median."""

from __future__ import annotations

from typing import Any

import numpy as np

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0


def bootstrap_ci(
    samples: np.ndarray | list[float],
    statistic: str = "median",
    level: float = 0.95,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """Percentile bootstrap CI of a statistic. Seeded, so the same samples give the same interval."""
    x = np.asarray(samples, dtype=np.float64)
    if x.size == 0:
        raise ValueError("bootstrap_ci: no samples")
    if x.size == 1:
        return float(x[0]), float(x[0])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(resamples, x.size))
    fn = {"median": np.median, "mean": np.mean}[statistic]
    stats = fn(x[idx], axis=1)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(stats, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def summarize(samples: list[float] | np.ndarray) -> dict[str, Any]:
    """p50/p90/p99 (linear interpolation, as numpy), mean, std (ddof=1), CV, min, max, 95% CI of p50."""
    x = np.asarray(samples, dtype=np.float64)
    if x.size == 0:
        raise ValueError("summarize: no samples")
    p50, p90, p99 = np.percentile(x, [50, 90, 99])
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if x.size > 1 else 0.0
    lo, hi = bootstrap_ci(x)
    return {
        "n": int(x.size),
        "p50": float(p50),
        "p90": float(p90),
        "p99": float(p99),
        "mean": mean,
        "std": std,
        "cv": std / mean if mean > 0 else 0.0,
        "min": float(x.min()),
        "max": float(x.max()),
        "p50_ci95": [lo, hi],
        "samples": [float(v) for v in x],
    }


def first_call_excess(first_s: float, steady_ms: list[float] | np.ndarray) -> tuple[float, float]:
    """(what a first call cost beyond a steady one, the steady median) in seconds.

    The steady figure is the median of several calls, not one: under load a single slow steady call made a
    455 s compiling call look like 356 s of compilation where the median steady call was 28.6 s. A first call
    faster than the median costs nothing extra (0, never negative).
    """
    steady_s = float(np.median(np.asarray(steady_ms, dtype=float))) / 1000.0
    return max(first_s - steady_s, 0.0), steady_s

"""Simulation: how often the latency gate catches a slowdown, and how often it fails unchanged code.

Synthetic per-iteration latencies: lognormal with a coefficient of variation (CV) of 2–5 %, and outliers
(×1.5–3, uniform) on a fraction of iterations, as a loaded machine produces. Each trial draws a base run and
a head run of ``n`` iterations each; the head is slower by a factor: 1.00 for false alarms, +2 % (below half
the gate, where letting it through is right), +5 % (the gate) and +10 %. Every rule sees the same data. Rules, all with a +5 % gate:

* ``harness``: ``harness.gate`` itself (Mann–Whitney U, one-sided α = 0.01, and the Hodges–Lehmann ratio
  ≥ √1.05), called exactly as ``harness compare`` calls it;
* ``pytest-benchmark mean:5%``: ``--benchmark-compare-fail=mean:5%`` (fail if head mean > base mean × 1.05);
* ``pytest-benchmark median:5%``: the same on the median;
* ``bootstrap median`` (with ``--bootstrap``): the alternative the harness did not choose, a percentile
  bootstrap 98 % CI of the ratio of medians above 1 and the ratio of medians ≥ √1.05;
* ``bound``: the best any test can do at this α without outliers (the one-sided z-test on log-latency with the
  noise level known, by the Neyman–Pearson lemma), for scale.

Not part of the normal test run (pytest collects ``test_*.py`` only). Run it by naming it:

    python tests/benchmarks/bench_gate.py [--trials 2000] [--n 30] [--seed 0] [--bootstrap]
    pytest tests/benchmarks/bench_gate.py     # the same check as assertions, and the gate's own speed
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import numpy as np

from harness.gate.stats import ALPHA, latency_rule, shift_test

GATE = 0.05
CVS = (0.02, 0.03, 0.04, 0.05)
OUTLIER_RATES = (0.0, 0.02)
SLOWDOWNS = (1.0, 1.02, 1.05, 1.10)


def draw(rng: np.random.Generator, trials: int, n: int, cv: float, outliers: float, factor: float = 1.0):
    """(trials, n) latencies in ms: lognormal around 100 ms with the given CV, times ``factor``, with outliers."""
    sigma = math.sqrt(math.log1p(cv * cv))
    x = 100.0 * factor * rng.lognormal(-sigma * sigma / 2, sigma, size=(trials, n))
    hit = rng.random((trials, n)) < outliers
    return np.where(hit, x * rng.uniform(1.5, 3.0, size=(trials, n)), x)


def harness_rule(base: np.ndarray, head: np.ndarray) -> np.ndarray:
    return latency_rule(shift_test(base, head), GATE) == 1


def pytest_benchmark_rule(base: np.ndarray, head: np.ndarray, field: str = "mean") -> np.ndarray:
    fn = np.mean if field == "mean" else np.median
    return fn(head, axis=1) / fn(base, axis=1) * 100 - 100 > GATE * 100


def bootstrap_rule(base: np.ndarray, head: np.ndarray, rng: np.random.Generator, resamples: int = 400):
    out = np.zeros(base.shape[0], dtype=bool)
    for i in range(base.shape[0]):
        b, h = base[i], head[i]
        rb = np.median(b[rng.integers(0, b.size, (resamples, b.size))], axis=1)
        rh = np.median(h[rng.integers(0, h.size, (resamples, h.size))], axis=1)
        lo = np.quantile(rh / rb, ALPHA)
        out[i] = lo > 1.0 and np.median(h) / np.median(b) >= math.sqrt(1 + GATE)
    return out


def bound(cv: float, n: int, factor: float) -> float:
    """Power of the one-sided z-test on log-latency, σ known, at level α (no outliers)."""
    sigma = math.sqrt(math.log1p(cv * cv))
    z = math.log(factor) / (sigma * math.sqrt(2.0 / n))
    return 1.0 - statistics.NormalDist().cdf(statistics.NormalDist().inv_cdf(1 - ALPHA) - z)


def simulate(trials: int = 2000, n: int = 30, seed: int = 0, with_bootstrap: bool = False) -> list[dict]:
    rows = []
    for cv in CVS:
        for out in OUTLIER_RATES:
            rng = np.random.default_rng([seed, int(cv * 1000), int(out * 1000)])
            row = {"cv": cv, "outliers": out}
            for factor in SLOWDOWNS:
                base = draw(rng, trials, n, cv, out)
                head = draw(rng, trials, n, cv, out, factor)
                row[("harness", factor)] = harness_rule(base, head).mean()
                row[("mean:5%", factor)] = pytest_benchmark_rule(base, head, "mean").mean()
                row[("median:5%", factor)] = pytest_benchmark_rule(base, head, "median").mean()
                if with_bootstrap:
                    row[("bootstrap", factor)] = bootstrap_rule(base, head, rng).mean()
                row[("bound", factor)] = bound(cv, n, factor) if factor > 1 else ALPHA
            rows.append(row)
    return rows


def table(rows: list[dict], with_bootstrap: bool = False) -> str:
    rules = ["harness", "mean:5%", "median:5%", *(["bootstrap"] if with_bootstrap else [])]
    head = ["CV", "outliers"]
    for r in rules:
        head += [f"{r} FA"] + [f"{r} +{f - 1:.0%}" for f in SLOWDOWNS[1:]]
    head += ["bound +5%"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [f"{row['cv']:.0%}", f"{row['outliers']:.0%}"]
        for r in rules:
            cells += [f"{row[(r, f)]:.1%}" for f in SLOWDOWNS]
        cells.append(f"{row[('bound', 1.05)]:.1%}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=2000, help="trials per cell (default 2000)")
    ap.add_argument("--n", type=int, default=30, help="iterations per side (default 30)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--bootstrap", action="store_true", help="also the bootstrap CI of the ratio of medians (slow)"
    )
    args = ap.parse_args()
    t0 = time.perf_counter()
    rows = simulate(args.trials, args.n, args.seed, args.bootstrap)
    print(
        f"{args.trials} trials per cell, {args.n} iterations per side, +{GATE:.0%} gate, seed {args.seed}; "
        "FA = false alarms on equal distributions, +x% = detection of an x% slowdown"
    )
    print(table(rows, args.bootstrap))
    print(f"({time.perf_counter() - t0:.1f} s)")


# -------------------------------------------------------------------------------- as pytest (by name)


def test_gate_catches_5pct_and_rarely_false_alarms():
    rows = simulate(trials=2000, n=30, seed=0)
    for row in rows:
        # The exact test's level is 0.995 % at 30 × 30; 2000 trials add a binomial SE of 0.22 %.
        assert row[("harness", 1.0)] <= 0.015, row
        assert row[("harness", 1.02)] <= 0.5, row  # below half the gate: mostly let through
        if row["cv"] <= 0.04:
            assert row[("harness", 1.05)] >= 0.95, row
        assert row[("harness", 1.05)] >= row[("mean:5%", 1.05)], row


def test_speed_of_one_comparison(benchmark):
    rng = np.random.default_rng(0)
    base, head = draw(rng, 1, 30, 0.03, 0.02), draw(rng, 1, 30, 0.03, 0.02, 1.05)
    benchmark(lambda: latency_rule(shift_test(base, head), GATE))


if __name__ == "__main__":
    main()

"""Benchmark: the harness's Fréchet distance vs pytorch-fid's (scipy sqrtm), d = 2048, n = 5000, float64.

Also times the squared form of the trace term (square roots of ``eigvalsh(G Gᵀ)``, the harness's form before
#23 item 7, kept for bootstrap replicates), side by side: the price of the singular values' accuracy.

Not part of the normal test run (pytest collects ``test_*.py`` only). Run it by naming it:

    pytest tests/benchmarks/bench_frechet.py            # pytest-benchmark tables
    python tests/benchmarks/bench_frechet.py [--rounds 3] # prints both times and the speed ratio

On a loaded machine, ``OPENBLAS_NUM_THREADS=1 python tests/benchmarks/bench_frechet.py`` gives the
steadiest ratio (single-threaded CPU time is not inflated by BLAS threads spinning on shared cores).

All get the same float64 mean and covariance (built from seeded random features, so the covariances are
PSD); building them is not timed. The values must agree to 1e-9 relative.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings

import numpy as np
import pytest

from harness.metrics.frechet import frechet_distance

D, N, SEED = 2048, 5000, 0
REL_TOL = 1e-9


def make_stats(d: int = D, n: int = N, seed: int = SEED) -> tuple[np.ndarray, ...]:
    """(mu1, sigma1, mu2, sigma2) of two random feature sets; set 2 is mixed and shifted."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    y = rng.standard_normal((n, d)) @ (np.eye(d) + 0.01 * rng.standard_normal((d, d))) + 0.1
    return x.mean(axis=0), np.cov(x, rowvar=False), y.mean(axis=0), np.cov(y, rowvar=False)


def squared_form_distance(mu1, sigma1, mu2, sigma2) -> float:
    """``frechet_distance``'s steps with the trace term as square roots of ``eigvalsh(G Gᵀ)``."""
    from harness.metrics.frechet import _check_stats, _distance, _psd_factor

    s1, s2 = _check_stats(mu1, sigma1, "mu1", "sigma1"), _check_stats(mu2, sigma2, "mu2", "sigma2")
    return _distance(mu1, s1, _psd_factor(s1), mu2, s2, _psd_factor(s2), exact=False)


def pytorch_fid_distance(mu1, sigma1, mu2, sigma2) -> float:
    from pytorch_fid.fid_score import calculate_frechet_distance

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # scipy's sqrtm(disp=...) deprecation
        return float(calculate_frechet_distance(mu1, sigma1, mu2, sigma2))


# --------------------------------------------------------------------------- pytest-benchmark


@pytest.fixture(scope="module")
def stats() -> tuple[np.ndarray, ...]:
    return make_stats()


@pytest.fixture(scope="module")
def reference_value(stats) -> float:
    pytest.importorskip("pytorch_fid")
    return pytorch_fid_distance(*stats)


def test_bench_harness_frechet_distance(benchmark, stats, reference_value) -> None:
    value = benchmark.pedantic(frechet_distance, args=stats, rounds=5, iterations=1, warmup_rounds=1)
    assert abs(value - reference_value) <= REL_TOL * abs(reference_value)


def test_bench_squared_form(benchmark, stats, reference_value) -> None:
    value = benchmark.pedantic(squared_form_distance, args=stats, rounds=5, iterations=1, warmup_rounds=1)
    assert abs(value - reference_value) <= REL_TOL * abs(reference_value)


def test_bench_pytorch_fid(benchmark, stats) -> None:
    pytest.importorskip("pytorch_fid")
    benchmark.pedantic(pytorch_fid_distance, args=stats, rounds=2, iterations=1)


# --------------------------------------------------------------------------- script


def _time(fn, args) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds of this process, value). CPU time is steadier on a loaded machine."""
    w0, c0 = time.perf_counter(), time.process_time()
    value = fn(*args)
    return time.perf_counter() - w0, time.process_time() - c0, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of both (default 3)")
    args = parser.parse_args()

    stats = make_stats()
    frechet_distance(*stats)  # warm-up (BLAS thread pool, page faults)
    times: dict[str, list[tuple[float, float]]] = {"ours": [], "squared": [], "ref": []}
    for _ in range(args.rounds):  # interleaved, so background load hits all alike
        wall, cpu, ours = _time(frechet_distance, stats)
        times["ours"].append((wall, cpu))
        wall, cpu, squared = _time(squared_form_distance, stats)
        times["squared"].append((wall, cpu))
        wall, cpu, ref = _time(pytorch_fid_distance, stats)
        times["ref"].append((wall, cpu))
    rel = max(abs(ours - ref), abs(squared - ref)) / abs(ref)
    threads = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS") or "default"
    print(
        f"d={D} n={N} float64, {args.rounds} interleaved rounds, {os.cpu_count()} CPUs, BLAS threads: {threads}"
    )
    best = {}
    for key, label, value in (
        ("ours", "harness frechet_distance", ours),
        ("squared", "squared form (before #23)", squared),
        ("ref", "pytorch-fid (sqrtm)", ref),
    ):
        walls, cpus = zip(*times[key])
        best[key] = (min(walls), statistics.median(walls), min(cpus))
        print(
            f"{label:25s} {value:.10f}  wall best {min(walls):.3f} s, median {statistics.median(walls):.3f} s;"
            f" CPU best {min(cpus):.3f} s"
        )
    print(f"relative difference: {rel:.2e} (limit {REL_TOL:g})")
    print(
        f"speed ratio pytorch-fid / harness: wall best {best['ref'][0] / best['ours'][0]:.1f}x, "
        f"wall median {best['ref'][1] / best['ours'][1]:.1f}x, CPU {best['ref'][2] / best['ours'][2]:.1f}x"
    )
    print(
        f"time ratio harness / squared form: wall best {best['ours'][0] / best['squared'][0]:.2f}x, "
        f"wall median {best['ours'][1] / best['squared'][1]:.2f}x, CPU {best['ours'][2] / best['squared'][2]:.2f}x"
    )
    if rel > REL_TOL:
        raise SystemExit(f"values differ by {rel:.2e} relative > {REL_TOL:g}")


if __name__ == "__main__":
    main()

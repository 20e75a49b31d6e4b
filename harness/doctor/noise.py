"""The noise of this machine, in the regression gate's own terms: the spread of a fixed workload over
repeats, the smallest slowdown the gate can catch at a suite's iteration count, and the iterations a 5 %
gate needs (the gate decides on ranks of log-times: :mod:`harness.gate.stats`)."""

from __future__ import annotations

import math
import statistics
from typing import Any

import numpy as np

from harness.doctor.findings import Finding
from harness.gate.stats import ALPHA, POWER, iterations_needed, robust_sigma, shift_se
from harness.measure.timing import time_call

NOISE_CV_LIMIT = 0.05  # above this a 5 % gate needs far more iterations than suites run


def _fixed_workload(device: str) -> Any:
    """A 256² matmul chain: the same work every call."""
    import torch

    x = torch.randn(256, 256, device=device)

    def work() -> Any:
        y = x
        for _ in range(8):
            y = y @ x
            y = y / y.norm()
        return y

    return work


def smallest_catchable(sigma: float, iterations: int) -> float:
    """The smallest slowdown t the gate catches 80 % of the time at ``iterations`` per side:
    log(1 + t) = (z₁₋α + z_p)·SE."""
    z = statistics.NormalDist()
    return math.expm1((z.inv_cdf(1 - ALPHA) + z.inv_cdf(POWER)) * shift_se(sigma, iterations, iterations))


def noise_finding(device: str, iterations: int, repeats: int = 40) -> Finding:
    """A fixed workload repeated: its spread, what the gate can catch at ``iterations`` per side, and what a
    5 % gate needs."""
    work = _fixed_workload(device)
    for _ in range(5):
        time_call(work, device)
    ms = np.array([time_call(work, device)[0] for _ in range(repeats)])
    cv = float(ms.std(ddof=1) / ms.mean())
    # The gate decides on ranks, so what limits it is the robust spread (MAD of the log-times), not a CV
    # that one descheduled repeat can inflate; both are reported.
    sigma = robust_sigma(np.log(ms))
    robust_cv = math.expm1(sigma)
    slow = float(np.mean(ms > 1.5 * np.median(ms)))
    catch = smallest_catchable(sigma, iterations)
    need = iterations_needed(sigma, math.log(1.05), math.log(1.05) / 2)
    ok = robust_cv <= NOISE_CV_LIMIT
    per_side = need if need is not None else "> 100000"
    return Finding(
        "noise",
        f"spread of a fixed workload over {repeats} repeats",
        f"robust CV {robust_cv:.1%} (CV {cv:.1%}, {slow:.0%} of repeats > 1.5× the median); at {iterations} "
        f"iterations the gate catches ≥ +{catch:.1%}; a +5% gate needs {per_side} per side",
        ok,
        ""
        if ok
        else f"robust CV {robust_cv:.1%} exceeds {NOISE_CV_LIMIT:.0%}: this machine's timings are noisy",
        {
            "cv": cv,
            "robust_cv": robust_cv,
            "slow_fraction": slow,
            "sigma_log": sigma,
            "iterations": iterations,
            "smallest_catchable": catch,
            "iterations_for_5pct": need,
            "samples_ms": ms.tolist(),
        },
    )

"""The timing path against durations known in advance.

On the CPU a busy-wait spins on ``CLOCK_MONOTONIC_RAW``, a clock other than the one ``perf_counter`` reads,
and the raw clock's own measure of each spin is the truth; on CUDA a kernel of known length
(``torch.cuda._sleep``, its cycles per millisecond calibrated against the host clock). Both are timed by
``time_call``, the harness's timing path; the finding is the median error in %.
"""

from __future__ import annotations

import time

import numpy as np

from harness.doctor.findings import Finding
from harness.measure.timing import time_call

TIMER_TOLERANCE = 0.01  # a timer off by more than 1 % is not fit
TARGETS_MS = (10.0, 1.0)

_RAW = time.CLOCK_MONOTONIC_RAW if hasattr(time, "CLOCK_MONOTONIC_RAW") else time.CLOCK_MONOTONIC


def busy_wait(ms: float) -> float:
    """Spin for ``ms`` on CLOCK_MONOTONIC_RAW (not the clock perf_counter reads); return the raw clock's
    own measure of the spin, in ms: the known duration the timing path is compared with, even when the
    scheduler stretches it on a busy machine."""
    start = time.clock_gettime_ns(_RAW)
    deadline = start + int(ms * 1e6)
    now = start
    while now < deadline:
        now = time.clock_gettime_ns(_RAW)
    return (now - start) / 1e6


def timer_findings(device: str, repeats: int = 15) -> list[Finding]:
    """The timing path on ``device`` against known durations of 10 ms and 1 ms."""
    if device.startswith("cuda"):
        return _cuda_timer_findings(device, repeats)
    out = []
    for target in TARGETS_MS:
        measured, truth = [], []
        for _ in range(repeats):
            ms, raw = time_call(lambda target=target: busy_wait(target), device)
            measured.append(ms)
            truth.append(raw)
        name = f"busy-wait of {target:g} ms (CLOCK_MONOTONIC_RAW, timed by perf_counter)"
        out.append(timer_finding(name, target, measured, truth))
    return out


def _cuda_cycles_per_ms() -> float:
    """Cycles per millisecond of ``torch.cuda._sleep``, against the host clock over a long sleep."""
    import torch

    torch.cuda._sleep(1_000_000)
    torch.cuda.synchronize()
    cycles = 200_000_000
    t0 = time.perf_counter()
    torch.cuda._sleep(cycles)
    torch.cuda.synchronize()
    return cycles / ((time.perf_counter() - t0) * 1000.0)


def _cuda_timer_findings(device: str, repeats: int) -> list[Finding]:
    import torch

    per_ms = _cuda_cycles_per_ms()
    out = []
    for target in TARGETS_MS:
        n = int(per_ms * target)
        ms = [time_call(lambda n=n: torch.cuda._sleep(n), device)[0] for _ in range(repeats)]
        name = f"CUDA kernel of {target:g} ms (torch.cuda._sleep, CUDA events)"
        out.append(timer_finding(name, target, ms, [target] * repeats))
    return out


def timer_finding(name: str, target: float, ms: list[float], truth: list[float]) -> Finding:
    """The median relative error of ``ms`` against ``truth``, within :data:`TIMER_TOLERANCE` or not."""
    errors = [m / t - 1.0 for m, t in zip(ms, truth)]
    err = float(np.median(errors))
    med = float(np.median(ms))
    ok = abs(err) <= TIMER_TOLERANCE
    why = f"the timing path reads {err:+.2%} off a known {target:g} ms (tolerance {TIMER_TOLERANCE:.0%})"
    return Finding(
        "timer",
        name,
        f"{med:.4g} ms ({err:+.2%})",
        ok,
        "" if ok else why,
        {"target_ms": target, "median_ms": med, "error": err, "samples_ms": ms, "truth_ms": truth},
    )

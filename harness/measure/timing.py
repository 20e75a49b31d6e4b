"""Wall-clock timing of one call with device synchronisation.

On CUDA the interval is measured with CUDA events recorded on the current stream, after a synchronize,
so queued kernels from earlier calls do not leak into this one; on the CPU with ``perf_counter``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def time_call(fn: Callable[[], Any], device: str) -> tuple[float, Any]:
    """Run ``fn`` once; return (milliseconds, result)."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        out = fn()
        end.record()
        torch.cuda.synchronize()
        return float(start.elapsed_time(end)), out
    t0 = time.perf_counter()
    out = fn()
    return (time.perf_counter() - t0) * 1000.0, out


def timed_loop(
    fn: Callable[[], Any],
    device: str,
    *,
    min_iterations: int,
    max_iterations: int,
    min_duration_s: float,
    on_iteration: Callable[[int], None] | None = None,
) -> tuple[list[float], Any]:
    """Call ``fn`` until both ``min_iterations`` and ``min_duration_s`` are reached, or ``max_iterations``.
    ``on_iteration(i)`` is called between calls (outside the timed interval)."""
    samples: list[float] = []
    out = None
    t0 = time.perf_counter()
    while len(samples) < max_iterations:
        ms, out = time_call(fn, device)
        samples.append(ms)
        if on_iteration is not None:
            on_iteration(len(samples))
        if len(samples) >= min_iterations and time.perf_counter() - t0 >= min_duration_s:
            break
    return samples, out

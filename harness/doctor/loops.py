"""The harness's timing path against a bare loop of the same call, in the same process.

``timed_loop`` and a bare loop take turns in blocks, so that the drift of a shared machine (another job
starting, clocks changing) falls on both alike. The bare loop reads ``perf_counter`` around a synchronised
call, or records CUDA events around it (``cuda_events``): the raw clock of the GPU check.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from harness.config import ModelCard
from harness.loaders import load_generator
from harness.loaders.base import Request
from harness.measure.timing import synchronize, timed_loop

Call = Callable[[], Any]


def perf_counter_ms(call: Call, device: str) -> float:
    """One call between two synchronisations, on the host clock."""
    synchronize(device)
    t0 = time.perf_counter()
    call()
    synchronize(device)
    return (time.perf_counter() - t0) * 1000.0


def cuda_event_ms(call: Call, device: str) -> float:
    """One call between two CUDA events on the current stream."""
    import torch

    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    call()
    end.record()
    torch.cuda.synchronize()
    return float(start.elapsed_time(end))


def harness_and_bare(
    call: Call,
    device: str,
    *,
    iterations: int,
    block: int = 5,
    warmup: int = 2,
    bare: Callable[[Call, str], float] = perf_counter_ms,
) -> tuple[list[float], list[float]]:
    """(milliseconds by ``timed_loop``, milliseconds by the bare loop): at least ``iterations`` each, in
    alternating blocks of ``block`` calls, after ``warmup`` calls."""
    for _ in range(warmup):
        call()
    harness_ms: list[float] = []
    bare_ms: list[float] = []
    while len(harness_ms) < iterations:
        ms, _ = timed_loop(call, device, min_iterations=block, max_iterations=block, min_duration_s=0.0)
        harness_ms += ms
        bare_ms += [bare(call, device) for _ in range(block)]
    return harness_ms, bare_ms


@contextmanager
def _quiet() -> Iterator[None]:
    """diffusers' loading bars and deprecation notes off while the doctor loads its model."""
    from diffusers.utils import logging as dlog

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dlog.disable_progress_bar()
        try:
            yield
        finally:
            dlog.enable_progress_bar()


def card_call(card: ModelCard, device: str, dtype: str, request: Request) -> Call:
    """A card's pipeline loaded through the ordinary loader, as a call of ``request``."""
    with _quiet():
        gen = load_generator(card, device, dtype)

    def call() -> Any:
        return gen.generate(request)

    return call

"""Per-stage time of a diffusers pipeline call: text encoding, each denoiser call, decoding.

Hooks time the forward of the text encoders and the denoiser, and the decoder's ``decode``. Each boundary
synchronises the device, which perturbs the timing, so stage profiling runs in its own pass after the
timed loop and never inside it.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from typing import Any

from harness.measure.timing import synchronize


@contextmanager
def profile_stages(components: Mapping[str, Any], device: str):
    """Yield a dict stage → list of milliseconds, filled while the context is open."""
    times: dict[str, list[float]] = defaultdict(list)
    undo: list[Callable[[], None]] = []

    def wrap(owner: Any, method: str, stage: str) -> None:
        original = getattr(owner, method)

        def timed(*args: Any, **kwargs: Any) -> Any:
            synchronize(device)
            t0 = time.perf_counter()
            out = original(*args, **kwargs)
            synchronize(device)
            times[stage].append((time.perf_counter() - t0) * 1000.0)
            return out

        # A stand-in's ``decode`` is its own instance attribute: put that back, not the class's (#24 item 4).
        before = vars(owner).get(method)
        setattr(owner, method, timed)
        undo.append(lambda: setattr(owner, method, before) if before is not None else delattr(owner, method))

    for role, module in components.items():
        if role.startswith("text_encoder"):
            wrap(module, "forward", "text_encode")
        elif role == "denoiser":
            wrap(module, "forward", "denoise_step")
        elif role == "vae_decoder" and hasattr(module, "decode"):
            wrap(module, "decode", "decode")
    try:
        yield times
    finally:
        for fn in reversed(undo):
            fn()


def stage_summary(times: Mapping[str, list[float]], total_ms: float) -> dict[str, Any]:
    """Totals per stage, the per-step median, and what the hooks did not cover ("other")."""
    import numpy as np

    out: dict[str, Any] = {}
    covered = 0.0
    for stage, values in times.items():
        total = float(sum(values))
        covered += total
        out[stage] = {"total_ms": total, "calls": len(values), "p50_ms": float(np.median(values))}
    out["other"] = {
        "total_ms": max(total_ms - covered, 0.0),
        "calls": 1,
        "p50_ms": max(total_ms - covered, 0.0),
    }
    out["total_ms"] = total_ms
    return out

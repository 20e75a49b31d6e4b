"""The harness's own cost: the zoo's digits-small call timed by ``timed_loop`` against a bare loop of the same
call in the same process (:mod:`harness.doctor.loops`); the goal is a ratio within 1 %."""

from __future__ import annotations

import math

import numpy as np

from harness.config import CallArgs, SchedulerSpec, load_card
from harness.core.paths import REPO_ROOT
from harness.doctor.findings import Finding
from harness.doctor.loops import card_call, harness_and_bare
from harness.gate.stats import shift_test
from harness.loaders.base import Request

OVERHEAD_GOAL = 0.01  # the harness's own timing path within 1 % of a bare loop


def overhead_finding(device: str, iterations: int = 30, block: int = 5) -> Finding:
    """digits-small (DDIM 3, batch 8) timed by the harness's ``timed_loop`` and by a bare loop, alternating
    blocks so that drift of a shared machine falls on both alike."""
    card = load_card(REPO_ROOT / "model_cards" / "digits-small.yaml")
    sched = SchedulerSpec(name="DDIMScheduler", config={"timestep_spacing": "trailing", "clip_sample": False})
    req = Request(seeds=list(range(8)), call=CallArgs(steps=3, scheduler=sched), class_labels=list(range(8)))
    call = card_call(card, device, "fp32", req)
    harness_ms, bare_ms = harness_and_bare(call, device, iterations=iterations, block=block, warmup=3)
    test = shift_test(bare_ms, harness_ms)
    ratio = math.exp(float(test.estimate[0]))
    lo, hi = math.exp(float(test.lower[0])), math.exp(float(test.upper[0]))
    within = ratio - 1.0 <= OVERHEAD_GOAL or lo <= 1.0 <= hi
    why = f"the harness's timing path adds {ratio - 1:.1%} over a bare loop (goal ≤ {OVERHEAD_GOAL:.0%})"
    return Finding(
        "overhead",
        "harness timed_loop / bare loop, digits-small DDIM 3 × 8",
        f"×{ratio:.4f} [{lo:.4f}, {hi:.4f}]",
        within,
        "" if within else why,
        {
            "ratio": ratio,
            "ci98": [lo, hi],
            "harness_p50_ms": float(np.median(harness_ms)),
            "bare_p50_ms": float(np.median(bare_ms)),
            "iterations": len(harness_ms),
        },
    )

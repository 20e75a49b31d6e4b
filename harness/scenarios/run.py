"""A job's scenario through LoadGen: Offline (one run, or a sweep of batch sizes that stops at the first out
of memory), Server (one run at ``target_qps``, or with ``latency_bound_ms`` a bisection over LoadGen runs for
the highest QPS whose percentile latency meets the bound, bounded in runs and seconds), and SingleStream.

``max_qps`` is the highest *scheduled* QPS (the rate LoadGen's seeded Poisson schedule actually offered) of a
run that met the bound (LoadGen's performance constraint at the percentile, with its minimum duration and
query count) and that LoadGen calls VALID (its early-stopping test included): MLPerf's rule. Offline's
throughput likewise comes only from VALID runs. ``require_valid: false`` on the scenario accepts INVALID runs
(the record says so and every report marks the figure).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.errors import is_out_of_memory
from harness.scenarios.loadgen import MIN_DURATION_REASON, LoadgenResult, LoadgenSettings, run_test


@dataclass
class ScenarioOutcome:
    name: str
    kind: str
    runs: list[LoadgenResult] = field(default_factory=list)
    throughput: float | None = None  # Offline: the best samples/s
    best_batch: int | None = None
    max_qps: float | None = None  # Server with a bound
    p99_ms: float | None = None  # Server: p99 at max_qps (or at target_qps)
    search: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None


def accepted(r: LoadgenResult, spec: Any) -> bool:
    """Whether a run may give the scenario's figure: LoadGen calls it VALID, or the suite opted out."""
    return r.valid or not spec.require_valid


def _invalid(runs: list[LoadgenResult]) -> str:
    """Why LoadGen called these runs INVALID (each reason once, in order)."""
    reasons = dict.fromkeys(why for r in runs if not r.valid for why in r.reasons)
    return "; ".join(reasons) or "LoadGen called the run INVALID"


def too_short(r: LoadgenResult) -> bool:
    """A Server run that met the bound with no query over it, yet failed LoadGen's early stopping: the run
    had too few queries for any rate to be VALID (a slower rate gives no more queries)."""
    es = r.early_stopping
    return bool(r.meets_bound and es is not None and es.met is False and es.over_bound == 0)


RESIZES = 3


def run_offline(
    generate: Callable[[list[int]], Any], n: int, spec: Any, log_dir: Path, capacity: Callable[[int], float]
) -> ScenarioOutcome:
    """Offline at ``max_batch`` or over ``batch_sweep`` (ascending; stops at the first out-of-memory).

    LoadGen sizes its one Offline query from the expected throughput (the calibrated capacity): where the run
    went faster than that and ended before ``min_duration_s`` (INVALID for that alone), it is run again, sized
    from the throughput LoadGen measured (a short run's fixed costs understate it: up to RESIZES times)."""
    out = ScenarioOutcome(spec.display_name, "offline")
    for b in spec.batch_sweep or [spec.max_batch]:
        settings = LoadgenSettings(
            "offline",
            max_batch=b,
            min_queries=spec.min_queries,
            min_duration_s=spec.min_duration_s,
            max_duration_s=spec.max_duration_s,
            seed=spec.seed,
            expected_qps=capacity(b),
            mlperf_model=spec.mlperf_model,
            explicit=tuple(spec.explicit),
        )
        try:
            r = run_test(generate, n, settings, log_dir / f"offline-b{b}")
            out.runs.append(r)
            for k in range(RESIZES):
                if not _only_too_short(r):
                    break
                settings.expected_qps = r.samples_per_s * 1.5
                r = run_test(generate, n, settings, log_dir / f"offline-b{b}-resized{k + 1}")
                out.runs.append(r)
        except Exception as exc:
            if is_out_of_memory(exc) and out.runs:
                out.search["stopped"] = f"batch {b}: out of memory ({type(exc).__name__}); sweep stopped"
                break
            raise
        if not accepted(r, spec):
            continue
        if r.samples_per_s is not None and (out.throughput is None or r.samples_per_s > out.throughput):
            out.throughput, out.best_batch = r.samples_per_s, b
    if out.throughput is None and out.runs:
        out.reason = f"no VALID LoadGen run ({_invalid(out.runs)})"
    return out


def _only_too_short(r: LoadgenResult) -> bool:
    """An Offline run INVALID only because it ended before min_duration_s (its query was sized too small)."""
    return bool(
        not r.valid
        and r.samples_per_s
        and r.reasons
        and all(why.startswith(MIN_DURATION_REASON) for why in r.reasons)
    )


def run_server(
    generate: Callable[[list[int]], Any], n: int, spec: Any, log_dir: Path, capacity: Callable[[int], float]
) -> ScenarioOutcome:
    """Server at ``target_qps``; with ``latency_bound_ms`` and no ``target_qps``, the max-QPS search."""
    out = ScenarioOutcome(spec.display_name, "server")

    def at(qps: float, k: int) -> LoadgenResult:
        settings = LoadgenSettings(
            "server",
            max_batch=spec.max_batch,
            max_wait_ms=spec.max_wait_ms,
            target_qps=qps,
            latency_bound_ms=spec.latency_bound_ms,
            percentile=spec.percentile,
            min_queries=spec.min_queries,
            min_duration_s=spec.min_duration_s,
            max_duration_s=spec.max_duration_s,
            seed=spec.seed,
            mlperf_model=spec.mlperf_model,
            explicit=tuple(spec.explicit),
        )
        r = run_test(generate, n, settings, log_dir / f"server-{k:02d}-{qps:.4g}qps")
        out.runs.append(r)
        return r

    if spec.target_qps is not None:
        r = at(spec.target_qps, 0)
        out.p99_ms = r.p99_ms
        if spec.latency_bound_ms is not None and r.meets_bound and accepted(r, spec):
            out.max_qps = r.scheduled_qps
        if not accepted(r, spec):
            out.reason = f"LoadGen called the run INVALID ({_invalid([r])})"
        return out
    _search(at, spec, out, capacity(spec.max_batch))
    return out


def _search(at: Callable[[float, int], LoadgenResult], spec: Any, out: ScenarioOutcome, cap: float) -> None:
    """The max-QPS search into ``out``: bracket [lo meets, hi fails] on the offered rate, then bisect. ``cap``,
    the calibrated capacity at max_batch (max_batch items per call of the service time), is where the queue
    becomes unstable. A run meets when its percentile met the bound and LoadGen calls it VALID (or the suite
    opted out); runs too short for any rate to be VALID stop the search at once."""
    s = spec.search
    t0, k = time.perf_counter(), 0
    lo: float | None = None
    best: LoadgenResult | None = None
    hi = min(s.high_qps or cap * 1.05, cap * 4)
    # Where the bracket's upper end comes from: a run that failed, or (until one does) the search's ceiling,
    # high_qps or the calibrated capacity ×1.05, above which a stationary queue is unstable.
    upper = "high_qps" if s.high_qps else "calibrated capacity ×1.05 (no run failed below it)"
    q = s.low_qps or cap * 0.5
    stopped = ""
    while k < s.max_runs:
        # A run lasts until both min_queries and min_duration_s are reached: do not start one that would end
        # past the search's time budget.
        expected = max(spec.min_queries / q, spec.min_duration_s)
        if time.perf_counter() - t0 + expected > s.max_seconds:
            stopped = (
                f"the next run ({q:.3g} QPS, ~{expected:.0f} s) would pass max_seconds ({s.max_seconds:g} s)"
            )
            break
        r = at(q, k)
        k += 1
        if spec.require_valid and too_short(r):
            stopped = (
                f"runs of {r.queries} queries are too short to be VALID: LoadGen's early stopping needs at "
                f"least {r.early_stopping.queries_needed} to bound the p{spec.percentile:g} even with none "
                "over the bound (raise min_queries)"
            )
            break
        if r.meets_bound and accepted(r, spec):
            lo = max(lo or 0.0, q)
            if best is None or (r.scheduled_qps or 0) > (best.scheduled_qps or 0):
                best = r
        else:
            hi, upper = min(hi, q), "a run that failed"
        if lo is None:
            q = q / 2.0  # even half of the estimate fails: look lower
            if q < cap * 1e-3:
                break
            continue
        if hi <= lo or (hi - lo) / hi <= s.tolerance:
            break
        q = (lo + hi) / 2.0
    out.search = {
        "runs": k,
        "seconds": time.perf_counter() - t0,
        "interval_qps": [lo, hi],
        "converged": lo is not None and (hi - lo) / hi <= s.tolerance,
        "capacity_qps": cap,
        "upper_end": upper,
        "tolerance": s.tolerance,
        "require_valid": spec.require_valid,
        "stopped": stopped or None,
    }
    if best is None:
        out.reason = _no_max_qps(spec, out.runs, stopped)
        return
    out.max_qps, out.p99_ms = best.scheduled_qps, best.p99_ms
    if not out.search["converged"]:
        out.reason = (
            f"the search stopped after {k} run(s) / {out.search['seconds']:.0f} s before narrowing to "
            f"±{s.tolerance:.0%}" + (f": {stopped}" if stopped else "")
        )


def _no_max_qps(spec: Any, runs: list[LoadgenResult], stopped: str) -> str:
    """Why the search found no max_qps: the bound, the lowest rate tried, why the runs within the bound did
    not count (LoadGen called them INVALID), and why the search stopped."""
    lowest = min((r.scheduled_qps for r in runs if r.scheduled_qps), default=None)
    within = [r for r in runs if r.meets_bound]
    return (
        f"no offered rate met the p{spec.percentile:g} bound of {spec.latency_bound_ms:g} ms"
        + (f" (lowest tried: {lowest:.3g} QPS)" if lowest else "")
        + (f"; the runs within it were INVALID: {_invalid(within)}" if within and not stopped else "")
        + (f"; {stopped}" if stopped else "")
    )


def run_single_stream(
    generate: Callable[[list[int]], Any], n: int, spec: Any, log_dir: Path, capacity: Callable[[int], float]
) -> ScenarioOutcome:
    settings = LoadgenSettings(
        "single_stream",
        max_batch=1,
        percentile=spec.percentile,
        min_queries=spec.min_queries,
        min_duration_s=spec.min_duration_s,
        max_duration_s=spec.max_duration_s,
        seed=spec.seed,
        expected_qps=capacity(1),
        mlperf_model=spec.mlperf_model,
        explicit=tuple(spec.explicit),
    )
    out = ScenarioOutcome(spec.display_name, "single_stream")
    r = run_test(generate, n, settings, log_dir / "single_stream")
    out.runs.append(r)
    out.p99_ms = r.p99_ms
    if not accepted(r, spec):
        out.reason = f"LoadGen called the run INVALID ({_invalid([r])})"
    return out


RUNNERS = {"offline": run_offline, "server": run_server, "single_stream": run_single_stream}


def run_scenario(
    generate: Callable[[list[int]], Any], n: int, spec: Any, log_dir: Path, capacity: Callable[[int], float]
) -> ScenarioOutcome:
    return RUNNERS[spec.kind](generate, n, spec, log_dir, capacity)


class FixedService:
    """A generator of the project's own with a deterministic service time: ``base_ms + per_item_ms × batch``
    per call (a sleep), so LoadGen's measurements can be checked against queueing theory (M/D/1 at batch 1,
    b / s(b) in Offline). It produces no images: only the time of a call."""

    def __init__(self, base_ms: float, per_item_ms: float = 0.0):
        self.base, self.per_item = base_ms / 1000.0, per_item_ms / 1000.0
        self.calls: list[tuple[int, float]] = []  # (batch, seconds) of every call, as measured

    def service_s(self, batch: int) -> float:
        return self.base + self.per_item * batch

    def __call__(self, indices: list[int]) -> None:
        # A sleep, not a spin: it must not hold the GIL that LoadGen's issuing thread needs. Its overshoot
        # (tens of µs) is in the measured service time the tests use.
        t0 = time.perf_counter()
        time.sleep(self.service_s(len(indices)))
        self.calls.append((len(indices), time.perf_counter() - t0))

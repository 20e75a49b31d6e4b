"""A job's MLPerf LoadGen scenario, run after its timed loop on the same prepared generator."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.config import ScenarioSpec
from harness.config.job import Job
from harness.measure.timing import time_call
from harness.results.record import LoadgenRun, ScenarioResult
from harness.scenarios.loadgen import loadgen_version, require_loadgen
from harness.scenarios.run import run_scenario


def run_job_scenario(
    job: Job,
    generator: Any,
    spec: ScenarioSpec,
    run_dir: Path,
    device: str,
    on_query: Callable[[int], None] | None = None,
) -> ScenarioResult:
    """The job's LoadGen scenario on the loaded generator: every batch size it will see warmed up (a compiled
    backend must not compile inside LoadGen's run), the capacity at those sizes calibrated (LoadGen's Offline
    query size, the Server search's bracket), then the scenario. Logs go to ``loadgen/<job_id>/``.
    ``on_query(n)`` hears each generation call (the executor's watchdog sees the scenario progress)."""
    require_loadgen()
    if spec.kind == "offline":
        sizes = list(spec.batch_sweep or [spec.max_batch])
    else:
        sizes = list(range(1, spec.max_batch + 1))
    capacity: dict[int, float] = {}
    calls = itertools.count(1)

    def called() -> None:
        n = next(calls)  # atomic: LoadGen may issue from several threads
        if on_query is not None:
            on_query(n)

    for b in sizes:
        request = job.request_for(list(range(b)))
        time_call(lambda r=request: generator.generate(r), device)  # warm this shape
        called()
        if b in (1, spec.max_batch) or spec.kind == "offline":
            ms = sorted(time_call(lambda r=request: generator.generate(r), device)[0] for _ in range(3))[1]
            capacity[b] = b * 1000.0 / ms
            called()

    def per_batch(b: int) -> float:
        if b in capacity:
            return capacity[b]
        known = max(k for k in capacity if k <= b) if any(k <= b for k in capacity) else min(capacity)
        return capacity[known]

    def generate(indices: list[int]) -> Any:
        out = generator.generate(job.request_for(indices))
        called()
        return out

    log_dir = run_dir / "loadgen" / job.job_id
    out = run_scenario(generate, max(job.num_samples, max(sizes)), spec, log_dir, per_batch)
    runs = []
    for r in out.runs:
        data = dataclasses.asdict(r)
        data.pop("trace", None)
        data["logs"] = [Path(p).relative_to(run_dir).as_posix() for p in r.logs]  # the run folder travels
        runs.append(LoadgenRun(**data))
    return ScenarioResult(
        name=out.name,
        kind=out.kind,
        runs=runs,
        throughput=out.throughput,
        best_batch=out.best_batch,
        max_qps=out.max_qps,
        p99_ms=out.p99_ms,
        latency_bound_ms=spec.latency_bound_ms,
        percentile=spec.percentile,
        search=out.search,
        capacity={str(b): v for b, v in capacity.items()},
        loadgen_version=loadgen_version(),
        reason=out.reason,
        require_valid=spec.require_valid,
    )

"""A run in other tools' formats: pytest-benchmark's JSON (for github-action-benchmark and friends)."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from harness.gate.runs import Run


def _quartiles(data: list[float]) -> tuple[float, float]:
    """Q1, Q3 as pytest-benchmark computes them (Wikipedia methods 2 and 3), so its tables agree."""
    s, n = sorted(data), len(data)
    if n == 1:
        return s[0], s[0]
    if n % 2:
        k, q = n // 4, n % 4
        if q == 1:
            return 0.25 * s[k - 1] + 0.75 * s[k], 0.75 * s[3 * k] + 0.25 * s[3 * k + 1]
        return 0.75 * s[k] + 0.25 * s[k + 1], 0.25 * s[3 * k + 1] + 0.75 * s[3 * k + 2]
    return statistics.median(s[: n // 2]), statistics.median(s[n // 2 :])


def benchmark_stats(seconds: list[float]) -> dict[str, Any]:
    """pytest-benchmark's ``stats`` of per-round times in seconds (same fields, same formulas)."""
    from bisect import bisect_left, bisect_right

    data = [float(x) for x in seconds]
    s = sorted(data)
    mean = statistics.mean(data)
    stddev = statistics.stdev(data) if len(data) > 1 else 0.0
    q1, q3 = _quartiles(data)
    iqr = q3 - q1
    if len(data) == 1:
        ld, hd = data[0], data[0]
    else:
        ld = s[bisect_left(s, q1 - 1.5 * iqr)]
        hd = s[bisect_right(s, q3 + 1.5 * iqr) - 1]
    sd_out = sum(1 for v in data if v < mean - stddev or v > mean + stddev)
    iqr_out = sum(1 for v in data if v < q1 - 1.5 * iqr or v > q3 + 1.5 * iqr)
    total = sum(data)
    return {
        "min": s[0],
        "max": s[-1],
        "mean": mean,
        "stddev": stddev,
        "rounds": len(data),
        "median": statistics.median(data),
        "iqr": iqr,
        "q1": q1,
        "q3": q3,
        "iqr_outliers": iqr_out,
        "stddev_outliers": sd_out,
        "outliers": f"{sd_out};{iqr_out}",
        "ld15iqr": ld,
        "hd15iqr": hd,
        "ops": len(data) / total if total else 0,
        "total": total,
        "data": data,
        "iterations": 1,
    }


def to_pytest_benchmark(run_dir: str | Path) -> dict[str, Any]:
    """A run as the JSON ``pytest --benchmark-json`` writes: one benchmark per ok job, times in seconds."""
    from importlib import metadata

    run = Run.open(run_dir)
    env = run.meta.environment
    dev = run.device_environment()
    suite_name = run.meta.suite_name
    commit = env.harness_commit or ""
    plat = env.platform or ""
    machine_info = {
        "node": "",
        "processor": env.cpu or "",
        "machine": next((p for p in ("x86_64", "aarch64", "arm64", "AMD64") if p in plat), ""),
        "python_compiler": "",
        "python_implementation": "CPython",
        "python_implementation_version": env.python or "",
        "python_version": env.python or "",
        "python_build": ["", ""],
        "release": "",
        "system": plat.split("-")[0] if plat else "",
        "cpu": {"brand_raw": env.cpu or "", "count": env.cpu_count},
        "harness": {
            "device": run.meta.device,
            "device_name": dev.get("device_name"),
            "torch_threads": dev.get("torch_threads"),
            "cuda": dev.get("cuda"),
            "packages": env.packages,
        },
    }
    commit_info = {
        "id": commit.removesuffix("-dirty") or "unversioned",
        "time": None,
        "author_time": None,
        "dirty": commit.endswith("-dirty"),
        "project": "harness",
        "branch": "(unknown)",
    }
    measurement = run.meta.measurement
    device = run.meta.device or ""
    benchmarks = []
    started = None
    for r in run.records.values():
        started = started or r.started_at
        samples = r.latency_ms.samples if r.latency_ms is not None else []
        if not r.ok or not samples:
            continue
        suite = r.suite or suite_name
        name = r.label.replace(" / ", "/")  # model/variant/backend(/scenario)
        benchmarks.append(
            {
                "group": f"{suite}/{r.model}",
                "name": name,
                "fullname": f"{suite}::{name}",
                "params": None,
                "param": None,
                "extra_info": {
                    "job_id": r.job_id,
                    "precision": r.precision,
                    "batch_size": r.batch_size,
                    "device": r.device,
                    "throughput": r.throughput.value if r.throughput else None,
                    "throughput_unit": r.throughput.unit if r.throughput else None,
                    "peak_rss_mib": r.memory.peak_rss_mib,
                    "first_call_ms": r.first_call_ms,
                    "compile_s": r.compile_s,
                    "energy_per_item_j": r.energy.energy_per_item_j if r.energy else None,
                    "cost_per_1k_items_usd": r.cost.per_1k_items_usd if r.cost else None,
                    "scenario": r.scenario,
                    "max_qps": r.loadgen.max_qps if r.loadgen else None,
                    "offline.throughput": r.loadgen.throughput if r.loadgen else None,
                    "server.p99_ms": r.loadgen.p99_ms if r.loadgen and r.loadgen.kind == "server" else None,
                    "metrics": {k: v.value for k, v in r.metrics.items() if v.ok},
                },
                "options": {
                    "disable_gc": False,
                    "timer": "cuda_event" if device.startswith("cuda") else "perf_counter",
                    "min_rounds": measurement.get("min_iterations"),
                    "max_time": None,
                    "min_time": measurement.get("min_duration_s"),
                    "precision": None,
                    "confidence": None,
                    "warmup": bool(measurement.get("warmup")),
                },
                "stats": benchmark_stats([v / 1000.0 for v in samples]),
            }
        )
    try:
        version = metadata.version("pytest-benchmark")
    except metadata.PackageNotFoundError:
        version = "5.1.0"  # the format written; pytest-benchmark is not installed here
    return {
        "machine_info": machine_info,
        "commit_info": commit_info,
        "benchmarks": benchmarks,
        "datetime": _iso(started),
        "version": version,
    }


def _iso(stamp: str | None) -> str:
    from datetime import datetime, timezone

    if stamp:
        try:
            return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S%z").astimezone(timezone.utc).isoformat()
        except ValueError:
            pass
    return datetime.now(timezone.utc).isoformat()

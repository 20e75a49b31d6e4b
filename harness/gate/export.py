"""A run in other tools' formats: pytest-benchmark's JSON (for github-action-benchmark and friends) and
Bencher's Metric Format (BMF, for ``bencher run --adapter json``).

Only measured values are exported (:mod:`harness.results.outcome`): a job is a benchmark when it is ok with
its headline measured (and, for a LoadGen scenario, from a run LoadGen calls valid); a metric that failed,
came out invalid or has no value is left out of its job. What is left out is never silent: pytest-benchmark's
JSON lists it under a top-level ``not_measured`` key (the format's own hook, ``pytest_benchmark_update_json``,
adds top-level keys; pytest-benchmark and github-action-benchmark read only ``benchmarks``), and
:func:`export_run` returns it for the command to name on stderr (BMF has no place for it: every key is a
benchmark and every value a measure with a number).
"""

from __future__ import annotations

import math
import re
import statistics
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from harness.results.outcome import Shortfall, Tally, record_shortfalls, scenario_headline
from harness.results.record import Record
from harness.results.runs import Run
from harness.results.table import flatten
from harness.results.values import parse_started_at

Format = Literal["pytest-benchmark", "bencher"]


@dataclass
class Export:
    """A run in one format: the document, how many benchmarks it holds, and what it left out."""

    data: Any
    benchmarks: int
    left_out: list[Shortfall] = field(default_factory=list)  # jobs and metrics not measured
    tally: Tally = field(default_factory=Tally)


def _open(run: Run | str | Path) -> Run:
    return run if isinstance(run, Run) else Run.open(run)


def exported(r: Record) -> bool:
    """Whether a job is a benchmark: ok, with no shortfall of the job itself (a headline measured and valid,
    quality outputs valid). A job whose metric failed keeps its other measures; the metric is left out."""
    return r.ok and not any(s.subject == r.label for s in record_shortfalls(r)[0])


def left_out(run: Run) -> list[Shortfall]:
    """Every job and metric of ``run`` that is not exported, with the reason."""
    return [s for r in run.records.values() for s in record_shortfalls(r)[0]]


def _not_measured_entries(run: Run, suite_name: str | None) -> list[dict[str, Any]]:
    """pytest-benchmark's ``not_measured`` list: one entry per job or metric left out."""
    out = []
    for r in run.records.values():
        for s in record_shortfalls(r)[0]:
            what = "job" if s.subject == r.label else s.subject.removeprefix(f"{r.label}: ")
            entry = {"fullname": _full_name(r, suite_name), "job_id": r.job_id, "status": r.status}
            out.append({**entry, "what": what, "kind": s.kind, "reason": s.reason})
    return out


def export_run(run_dir: str | Path, fmt: Format) -> Export:
    """``run_dir`` in ``fmt``, with what was left out and the run's :class:`Tally`."""
    run = Run.open(run_dir)
    if fmt == "bencher":
        data: Any = to_bencher(run)
        count = len(data)
    else:
        data = to_pytest_benchmark(run)
        count = len(data["benchmarks"])
    return Export(data, count, left_out(run), Tally.of_records(run.records.values()))


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


def to_pytest_benchmark(run_dir: Run | str | Path) -> dict[str, Any]:
    """A run as the JSON ``pytest --benchmark-json`` writes: one benchmark per exported job (:func:`exported`)
    with a timed loop, times in seconds; every job or metric left out is listed under ``not_measured``
    (``fullname``, ``job_id``, ``status``, ``what``: ``job`` or ``metric NAME``, ``kind``, ``reason``)."""
    run = _open(run_dir)
    suite_name = run.meta.suite_name
    measurement = run.meta.measurement
    device = run.meta.device or ""
    benchmarks = []
    started = None
    for r in run.records.values():
        started = started or r.started_at
        samples = r.latency_ms.samples if r.latency_ms is not None else []
        if not exported(r) or not samples:
            continue
        notes = record_shortfalls(r)[1]
        suite = r.suite or suite_name
        name = _short_name(r)
        benchmarks.append(
            {
                "group": f"{suite}/{r.model}",
                "name": name,
                "fullname": _full_name(r, suite_name),
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
                    **loadgen_mark(r),
                    "metrics": {k: v.value for k, v in r.metrics.items() if v.ok and v.value == v.value},
                    **({"notes": notes} if notes else {}),
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
        "machine_info": _machine_info(run),
        "commit_info": _commit_info(run),
        "benchmarks": benchmarks,
        "datetime": _iso(started),
        "version": version,
        "not_measured": _not_measured_entries(run, suite_name),
    }


def _machine_info(run: Run) -> dict[str, Any]:
    """pytest-benchmark's ``machine_info``, from run.json, with the harness's device under ``harness``."""
    env = run.meta.environment
    dev = run.device_environment()
    plat = env.platform or ""
    return {
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


def _commit_info(run: Run) -> dict[str, Any]:
    """pytest-benchmark's ``commit_info``: the harness commit run.json names."""
    commit = run.meta.environment.harness_commit or ""
    return {
        "id": commit.removesuffix("-dirty") or "unversioned",
        "time": None,
        "author_time": None,
        "dirty": commit.endswith("-dirty"),
        "project": "harness",
        "branch": "(unknown)",
    }


def loadgen_mark(r: Record) -> dict[str, Any]:
    """A scenario job's mark in an export: LoadGen's verdict on the run its figure comes from, and whether the
    suite required VALID runs (``require_valid: false`` with ``valid: false`` marks an accepted INVALID
    figure, with LoadGen's reasons)."""
    if r.loadgen is None:
        return {}
    head = scenario_headline(r.loadgen)
    return {
        "loadgen_valid": head.valid,
        "loadgen_require_valid": head.required_valid,
        "loadgen_invalid_reasons": list(head.reasons),
    }


def _iso(stamp: str | None) -> str:
    moment = parse_started_at(stamp)
    return (moment or datetime.now(timezone.utc)).astimezone(timezone.utc).isoformat()


def _short_name(r: Record) -> str:
    """``model/variant/backend[/scenario]``: a job's benchmark name in pytest-benchmark's export."""
    return r.label.replace(" / ", "/")


def _full_name(r: Record, suite_name: str | None) -> str:
    """``suite::model/variant/backend[/scenario]``, as pytest-benchmark's ``fullname``."""
    return f"{r.suite or suite_name}::{_short_name(r)}"


# ------------------------------------------------------------------------------------------------- BMF

BMF_MEASURE_SLUG_MAX = 64  # Bencher's limit on a measure's slug
NS_PER_MS = 1e6


def measure_slug(name: str, prefix: str = "") -> str:
    """A Bencher measure slug (lower-case kebab case, at most 64 characters) for a column or metric name."""
    body = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "x"
    return (prefix + body)[:BMF_MEASURE_SLUG_MAX].rstrip("-")


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _metric(
    value: float | None, bounds: tuple[float, float] | None = None, scale: float = 1.0
) -> dict | None:
    """A BMF metric ``{value, lower_value?, upper_value?}``; None when the value is absent or non-finite
    (JSON has no NaN or infinity, and a 0 would be a lie). Bounds are written only when both are finite."""
    if not _finite(value):
        return None
    out = {"value": float(value) * scale}
    if bounds is not None and _finite(bounds[0]) and _finite(bounds[1]):
        out["lower_value"], out["upper_value"] = float(bounds[0]) * scale, float(bounds[1]) * scale
    return out


# Columns of a record's flat row (:func:`harness.results.table.flatten`) written as BMF measures, by slug.
BMF_COLUMNS = {
    "peak-rss-mib": "peak_rss_mib",
    "peak-vram-allocated-mib": "peak_vram_allocated_mib",
    "energy-per-item-j": "energy_per_item_j",
    "cost-per-1k-items-usd": "cost_per_1k_items_usd",
    "max-qps": "max_qps",
}


INVALID_SUFFIX = "invalid-run"


def bencher_measures(r: Record) -> dict[str, dict[str, float]]:
    """One job's BMF measures: ``latency`` (Bencher's built-in measure, in nanoseconds: the p50 with its 95 %
    interval), ``throughput`` (items per second), memory, energy, cost, ``max-qps`` where the record has
    them (``max-qps-invalid-run`` when it comes from a run LoadGen calls INVALID, which a suite accepted),
    and ``quality-<metric>`` for each ok metric (with its ci95). Absent or non-finite values are left out,
    never written as 0."""
    row = flatten(r)
    out: dict[str, dict[str, float]] = {}
    lat = r.latency_ms
    candidates: list[tuple[str, dict | None]] = [
        ("latency", _metric(lat.p50, lat.p50_ci95, NS_PER_MS) if lat is not None else None),
        ("throughput", _metric(row.get("throughput"))),
    ]
    candidates += [(slug, _metric(row.get(column))) for slug, column in BMF_COLUMNS.items()]
    if r.loadgen is not None and scenario_headline(r.loadgen).valid is False:
        # BMF has no field for a flag: a figure the suite accepted from an INVALID LoadGen run is its own
        # measure, never one series with MLPerf-valid figures.
        candidates = [
            (f"{slug}-{INVALID_SUFFIX}" if slug == "max-qps" else slug, m) for slug, m in candidates
        ]
    used = {slug for slug, _ in candidates}
    for name, mv in r.metrics.items():
        if mv.ok:
            slug, base, n = measure_slug(name, "quality-"), measure_slug(name, "quality-"), 1
            while slug in used:  # two names with one slug ("clip_score", "clip-score"): number the second
                n += 1
                slug = f"{base[: BMF_MEASURE_SLUG_MAX - len(str(n)) - 1].rstrip('-')}-{n}"
            used.add(slug)
            candidates.append((slug, _metric(mv.value, mv.ci95)))
    for slug, metric in candidates:
        if metric is not None and slug not in out:
            out[slug] = metric
    return out


def to_bencher(run_dir: Run | str | Path) -> dict[str, dict[str, dict[str, float]]]:
    """A run as Bencher Metric Format JSON: ``{benchmark: {measure slug: {value, lower_value?, upper_value?}}}``.

    One benchmark per exported job (:func:`exported`) with at least one measure (what is left out:
    :func:`left_out`, for the caller to name: BMF cannot hold it), named as pytest-benchmark's export names it
    (``suite::model/variant/backend[/scenario]``); two jobs with the same name (which the planner's job ids
    rule out) would get ``#<job_id>`` appended so no benchmark overwrites another. Measures:
    :func:`bencher_measures`. Feed it to ``bencher run --adapter json --file FILE``.
    """
    run = _open(run_dir)
    suite_name = run.meta.suite_name or run.name
    ok = [r for r in run.records.values() if exported(r)]
    names = [_full_name(r, suite_name) for r in ok]
    taken = {n for n in names if names.count(n) > 1}
    out: dict[str, dict[str, dict[str, float]]] = {}
    for r, name in zip(ok, names):
        measures = bencher_measures(r)
        if measures:
            out[f"{name}#{r.job_id}" if name in taken else name] = measures
    return out

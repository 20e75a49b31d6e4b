"""Records as a flat table: one row per record, one column per speed/memory summary and per metric."""

from __future__ import annotations

from typing import Any

from harness.results.columns import MEMORY_COLUMNS
from harness.results.record import Record


def flatten(record: Record) -> dict[str, Any]:
    """One row: identity columns, the speed and memory columns (:mod:`harness.results.columns`) and, per
    metric, its value when ok (else None) with ``<name>_lo`` / ``<name>_hi`` when it has an interval."""
    lat, thr = record.latency_ms, record.throughput
    ci = lat.p50_ci95 if lat is not None else None
    row: dict[str, Any] = {
        "job_id": record.job_id,
        "model": record.model,
        "variant": record.variant,
        "backend": record.backend,
        "precision": record.precision,
        "modality": record.modality,
        "device": record.device,
        "status": record.status,
        "batch_size": record.batch_size,
        "latency_ms.p50": lat.p50 if lat else None,
        "latency_ms.p90": lat.p90 if lat else None,
        "latency_ms.p99": lat.p99 if lat else None,
        "latency_ms.mean": lat.mean if lat else None,
        "latency_ms.p50_lo": ci[0] if ci else None,
        "latency_ms.p50_hi": ci[1] if ci else None,
        "latency_per_item_ms.p50": record.latency_per_item_ms.p50 if record.latency_per_item_ms else None,
        "throughput": thr.value if thr else None,
        "throughput_unit": thr.unit if thr else None,
        "first_call_ms": record.first_call_ms,
        "load_s": record.load_s,
        "compile_s": record.compile_s,
        # The quality pass's cost (every shard's device time together) and how many shards made it.
        "quality_device_s": record.quality.device_s if record.quality else None,
        "quality_shards": record.quality.shards if record.quality else None,
    }
    for key in MEMORY_COLUMNS:
        row[key] = getattr(record.memory, key)
    energy, cost, cond = record.energy, record.cost, record.conditions
    row["energy_j"] = energy.energy_j if energy else None
    row["energy_per_item_j"] = energy.energy_per_item_j if energy else None
    row["cost_per_1k_items_usd"] = cost.per_1k_items_usd if cost else None
    lg = record.loadgen
    row["scenario"] = record.scenario
    row["max_qps"] = lg.max_qps if lg and lg.kind == "server" else None
    row["offline.throughput"] = lg.throughput if lg and lg.kind == "offline" else None
    row["server.p99_ms"] = lg.p99_ms if lg and lg.kind == "server" else None
    row["contention"] = bool(cond and cond.contention)
    row["throttled"] = bool(cond and cond.throttled)
    for name, mv in record.metrics.items():
        row[name] = mv.number
        if mv.ci95 is not None:
            row[f"{name}_lo"], row[f"{name}_hi"] = mv.ci95
    return row


def column_value(record: Record, column: str) -> float | None:
    """One column of one record: a metric's value when ok, or a speed/memory summary (None when absent)."""
    if column in record.metrics:
        return record.metrics[column].number
    value = flatten(record).get(column)
    return None if value is None else float(value)


def to_frame(records: list[Record]):
    import pandas as pd

    return pd.DataFrame([flatten(r) for r in records])

"""What the report's sections show beyond the job table, computed once for report.md and report.html:
noise floors, measurement conditions, energy and cost columns, LoadGen scenarios."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from harness.results.outcome import headline, headline_run, scenario_headline
from harness.results.record import Record

NOISE_FLOOR_HINT = (
    "What real data scores against the metric's own reference at the same sample size (training "
    "split vs held-out split): a generator cannot be told apart from the data below it."
)


def noise_floors(records: list[Record]) -> list[dict[str, Any]]:
    """Per distribution metric whose details carry a real-vs-real noise floor (the zoo's domain distances):
    the floor at the generated sample size and the job closest to it."""
    out: dict[str, dict[str, Any]] = {}
    for r in records:
        for name, mv in r.metrics.items():
            d = mv.details
            value = mv.number
            if value is None or not math.isfinite(value) or "noise_floor" not in d:
                continue
            at_n = d.get("noise_floor_at_n")
            at_n = at_n if isinstance(at_n, dict) else {}
            row = out.setdefault(
                name,
                {
                    "metric": name,
                    "floor": at_n.get("value", d["noise_floor"]),
                    "n": at_n.get("n", d.get("noise_floor_n")),
                    "best": None,
                    "best_value": None,
                },
            )
            best = row["best_value"]
            if best is None or (value > best if mv.higher_is_better else value < best):
                row["best"] = r.label
                row["best_value"] = value
    return list(out.values())


# -------------------------------------------------------------------------- conditions, energy and cost


def condition_flags(record: Record) -> list[str]:
    """Short marks for a job measured under conditions that distort its timing (the report flags them)."""
    return record.conditions.flags if record.conditions is not None else []


def conditions_rows(records: list[Record]) -> list[tuple[str, list[str], list[str]]]:
    """(job label, flags, notes) of every job with a condition flag."""
    return [(r.label, condition_flags(r), list(r.conditions.notes)) for r in records if condition_flags(r)]


def optional_columns(records: list[Record]) -> dict[str, bool]:
    """Whether any job has energy or cost figures (columns appear only then)."""
    return {
        "energy": any(r.energy is not None and r.energy.energy_per_item_j is not None for r in records),
        "cost": any(r.cost is not None and r.cost.per_1k_items_usd is not None for r in records),
    }


def energy_note(records: list[Record]) -> str | None:
    """When no job has an energy figure: why (the first reason recorded), so an absent column is explained."""
    if optional_columns(records)["energy"]:
        return None
    reasons = [r.energy.reason for r in records if r.energy is not None and r.energy.reason]
    return f"Energy not measured: {reasons[0]}" if reasons else None


# ----------------------------------------------------------------------------------------- scenarios


ACCEPTED_INVALID = "⚠ from a run LoadGen calls INVALID (accepted: scenario.require_valid false)"


def early_stopping_text(run: Any) -> str:
    """LoadGen's early-stopping verdict of one run in a few words (its estimate where it gives one)."""
    es = run.early_stopping if run is not None else None
    if es is None:
        return ""
    if es.met is False:
        need = f": needs ≥ {es.queries_needed} queries" if es.queries_needed else ""
        return f"not met ({run.queries} queries{need})"
    parts = []
    if es.estimate_ms is not None:
        parts.append(f"p{es.percentile:g} estimate {es.estimate_ms:.4g} ms")
    if es.over_bound is not None:
        parts.append(f"{es.over_bound} of {run.queries} over the bound")
    return "met" + (f" ({', '.join(parts)})" if parts else "")


def scenario_rows(records: list[Record]) -> list[dict[str, Any]]:
    """One row per job with a LoadGen scenario: what it sustained, under which bound, and LoadGen's verdict;
    a figure the suite accepted from an INVALID run is marked."""
    out = []
    for r in records:
        lg = r.loadgen
        if lg is None:
            continue
        best = headline_run(lg) or (lg.runs[-1] if lg.runs else None)
        if lg.kind == "server":
            result = (
                f"max {lg.max_qps:.4g} QPS"
                if lg.max_qps is not None
                else (f"{best.scheduled_qps:.4g} QPS offered" if best and best.scheduled_qps else "–")
            )
        elif lg.kind == "offline":
            result = f"{lg.throughput:.4g} samples/s at batch {lg.best_batch}" if lg.throughput else "–"
        else:
            result = f"p90 {best.p90_ms:.4g} ms" if best and best.p90_ms is not None else "–"
        head = scenario_headline(lg)
        marked = head.measured and head.valid is False and not head.required_valid
        out.append(
            {
                "label": r.label,
                "kind": lg.kind,
                "result": f"{result} {ACCEPTED_INVALID}" if marked else result,
                "marked": marked,
                "p99_ms": lg.p99_ms if lg.p99_ms is not None else (best.p99_ms if best else None),
                "bound": f"p{lg.percentile:g} ≤ {lg.latency_bound_ms:g} ms"
                if lg.latency_bound_ms is not None
                else "–",
                "runs": len(lg.runs),
                **_validity(r),
                "early_stopping": early_stopping_text(best),
                "note": lg.reason or (r.error.message if r.error is not None else ""),
                "logs": [(Path(p).name, p) for p in (best.logs if best else [])],
                "run_dir": r.run_dir,
            }
        )
    return out


def _validity(record: Record) -> dict[str, str]:
    """LoadGen's verdict on the run the headline comes from, read only through
    :func:`harness.results.outcome.headline`: ``valid`` (VALID, INVALID, INVALID (accepted by the suite), or
    – where no run gave the headline) and ``why``."""
    head = headline(record)
    if head.valid is None:
        return {"valid": "–", "why": ""}
    if head.valid:
        return {"valid": "VALID", "why": ""}
    word = "INVALID" if head.required_valid else "INVALID (accepted by the suite)"
    return {"valid": word, "why": "; ".join(head.reasons)}

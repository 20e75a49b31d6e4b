"""The job table's measured columns, one definition for report.md and report.html: their headers, each
job's text and value in them, and a metric's cell."""

from __future__ import annotations

from harness.core.numfmt import fmt, fmt_ci
from harness.results.record import MetricResult, Record


def measured_headers(extra: dict[str, bool]) -> list[str]:
    """The columns after the p50: spread, throughput, first call, memory, and energy and cost where a job has
    them (``extra``: :func:`harness.report.sections.optional_columns`)."""
    return [
        "p90 ms",
        "CV",
        "throughput",
        "first call ms",
        "peak RSS MiB",
        "peak VRAM MiB",
        *(["energy J/item"] if extra["energy"] else []),
        *(["USD/1k items"] if extra["cost"] else []),
    ]


def measured_cells(r: Record, extra: dict[str, bool]) -> list[tuple[str, float | None]]:
    """A job's ``(text, value)`` in each of :func:`measured_headers`'s columns (the value sorts the HTML table)."""
    lat, thr, mem = r.latency_ms, r.throughput, r.memory
    p90 = lat.p90 if lat is not None else None
    cv = lat.cv if lat is not None else None
    cells = [
        (fmt(p90), p90),
        (fmt(cv, 2), cv),
        (
            f"{fmt(thr.value)} {thr.unit}".strip() if thr is not None else "–",
            thr.value if thr is not None else None,
        ),
        (fmt(r.first_call_ms), r.first_call_ms),
        (fmt(mem.peak_rss_mib), mem.peak_rss_mib),
        (fmt(mem.peak_vram_allocated_mib), mem.peak_vram_allocated_mib),
    ]
    if extra["energy"]:
        energy = r.energy.energy_per_item_j if r.energy else None
        cells.append((fmt(energy, 3), energy))
    if extra["cost"]:
        cost = r.cost.per_1k_items_usd if r.cost else None
        cells.append((fmt(cost, 3), cost))
    return cells


def metric_text(mv: MetricResult | None) -> str:
    """A metric's value with its interval; its status when not computed; ``–`` when absent or of another
    modality."""
    if mv is None or mv.status == "not_applicable":
        return "–"
    if mv.status != "ok":
        return mv.status
    return fmt_ci(mv.value, *mv.ci95) if mv.ci95 is not None else fmt(mv.value)

"""Small inline SVG charts of one job for report.html: its latency histogram and its time per stage."""

from __future__ import annotations

import math

import numpy as np
from markupsafe import Markup, escape

from harness.core.numfmt import fmt
from harness.results.record import Stages

STAGES = (
    ("text_encode", "text encode"),
    ("denoise_step", "denoise"),
    ("decode", "decode"),
    ("other", "other"),
)


def latency_histogram(samples: list[float], p50: float | None, width: int = 360, height: int = 150) -> Markup:
    """An inline SVG histogram of the timed-loop latencies, with the median marked."""
    xs = np.array([v for v in samples if v is not None and math.isfinite(v)], dtype=float)
    if xs.size == 0:
        return Markup("")
    bins = int(min(20, max(5, round(math.sqrt(xs.size)))))
    lo, hi = float(xs.min()), float(xs.max())
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    counts, _ = np.histogram(xs, bins=bins, range=(lo, hi))
    left, right, top, bottom = 36, 10, 10, 34
    pw, ph = width - left - right, height - top - bottom
    cmax = max(int(counts.max()), 1)
    bar_w = pw / bins
    parts = [
        f'<svg class="chart" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
        f"<title>latency histogram, {xs.size} samples</title>",
    ]
    for k, c in enumerate(counts):
        h = ph * c / cmax
        parts.append(
            f'<rect x="{left + k * bar_w + 0.5:.1f}" y="{top + ph - h:.1f}" width="{max(bar_w - 1, 1):.1f}" '
            f'height="{h:.1f}" fill="#4c78a8"/>'
        )
    parts.append(f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" stroke="#333"/>')
    parts.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}" stroke="#333"/>')
    parts.append(f'<text x="{left - 4}" y="{top + 8}" text-anchor="end">{cmax}</text>')
    parts.append(f'<text x="{left - 4}" y="{top + ph}" text-anchor="end">0</text>')
    parts.append(f'<text x="{left}" y="{height - 18}" text-anchor="start">{escape(fmt(lo))}</text>')
    parts.append(f'<text x="{left + pw}" y="{height - 18}" text-anchor="end">{escape(fmt(hi))}</text>')
    parts.append(
        f'<text x="{left + pw / 2}" y="{height - 4}" text-anchor="middle">latency ms ({xs.size} samples)</text>'
    )
    if p50 is not None and math.isfinite(p50) and lo <= p50 <= hi:
        px = left + pw * (p50 - lo) / (hi - lo)
        parts.append(
            f'<line x1="{px:.1f}" y1="{top}" x2="{px:.1f}" y2="{top + ph}" stroke="#d62728" stroke-dasharray="4 3"/>'
        )
        parts.append(f'<text x="{px + 3:.1f}" y="{top + 10}" fill="#d62728">p50 {escape(fmt(p50))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def stage_bars(stages: Stages | None, width: int = 360) -> Markup:
    """An inline SVG of the time per stage in the profiled call (total ms; denoise as p50 × calls)."""
    rows = []
    for key, name in STAGES:
        s = getattr(stages, key) if stages is not None else None
        if s is None or not math.isfinite(s.total_ms):
            continue
        total = s.total_ms
        note = f"{fmt(total, 3)} ms"
        if key == "denoise_step":
            note += f" ({fmt(s.p50_ms, 3)} × {s.calls})"
        rows.append((name, total, note))
    if not rows:
        return Markup("")
    vmax = max(v for _, v, _ in rows) or 1.0
    left, bar_h, gap = 84, 16, 6
    height = len(rows) * (bar_h + gap) + 6
    pw = width - left - 130
    parts = [
        f'<svg class="chart" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
        "<title>time per stage, one profiled call</title>",
    ]
    for k, (name, v, note) in enumerate(rows):
        y = 3 + k * (bar_h + gap)
        w = max(pw * v / vmax, 1.0)
        parts.append(f'<text x="{left - 6}" y="{y + 12}" text-anchor="end">{escape(name)}</text>')
        parts.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="#f58518"/>')
        parts.append(f'<text x="{left + w + 4:.1f}" y="{y + 12}">{escape(note)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))

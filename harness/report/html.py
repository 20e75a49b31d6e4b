"""report.html: one self-contained file (inline CSS, images as data URIs, a few lines of inline JS).

The frontier is drawn twice: as the PNGs report.md links, and as inline SVG scatters built here, one per
pair of objectives and modality, whose points show a tooltip (the job, both values with their intervals,
its first sample) on hover or focus and open the job's details on a click.

Everything a card or a suite names is user input; the page is rendered by jinja2 with autoescape on, and
the SVG charts built here escape their text. A Content-Security-Policy forbids every network request.
"""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from harness.core.numfmt import fmt, fmt_ci, fmt_shared
from harness.report.merge import Runs
from harness.report.plots import (
    MODALITY_COLORS,
    axis_label,
    label_of,
    panel_modalities,
    panel_rows,
    panel_title,
)
from harness.report.sections import (
    NOISE_FLOOR_HINT,
    condition_flags,
    conditions_rows,
    energy_note,
    noise_floors,
    optional_columns,
    scenario_rows,
)
from harness.report.states import job_state
from harness.results.pareto import describe_constraint
from harness.results.record import MetricResult, Record, Stages
from harness.results.runs import Run

TEMPLATES = Path(__file__).parent / "templates"
MAX_SAMPLES_PER_JOB = 8
THUMB_PX = 192
MAX_AUDIO_BYTES = 4 * 1024 * 1024
STAGES = (
    ("text_encode", "text encode"),
    ("denoise_step", "denoise"),
    ("decode", "decode"),
    ("other", "other"),
)


def render_html(runs: Runs, df, ok, summaries, plots: list[Path]) -> str:
    """The page for ``runs``: ``df`` every record flattened, ``ok`` the classified ok rows."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("report.html.j2").render(**context(runs, df, ok, summaries, plots))


def context(runs: Runs, df, ok, summaries, plots: list[Path]) -> dict[str, Any]:
    meta = runs.meta
    metric_names = list(
        dict.fromkeys(
            [m for run in runs.runs for m in run.meta.metric_names]
            + [name for r in runs.records for name in r.metrics]
        )
    )
    several = len(runs.runs) > 1
    extra = optional_columns(runs.records)
    jobs = [_job(i, r, ok, metric_names, several, extra) for i, r in enumerate(runs.records)]
    headers = [
        "model",
        "variant",
        "backend",
        "precision",
        "modality",
        "status",
        "frontier",
        "p50 ms",
        "p50 95% CI",
        "p90 ms",
        "CV",
        "throughput",
        "first call ms",
        "peak RSS MiB",
        "peak VRAM MiB",
        *(["energy J/item"] if extra["energy"] else []),
        *(["USD/1k items"] if extra["cost"] else []),
        *metric_names,
    ]
    if several:
        headers.insert(0, "run")
    n_ok = sum(j["status"] == "ok" for j in jobs)
    return {
        "title": " + ".join(dict.fromkeys(run.meta.suite_name or run.run_id for run in runs.runs)),
        "run_ids": [r.run_id for r in runs.runs],
        "n_ok": n_ok,
        "n_jobs": len(runs.records),
        "device": meta.device or "?",
        "device_name": runs.runs[0].comparable_environment().get("device name") or "?",
        "notes": runs.notes,
        "objectives": [(k, v) for k, v in runs.objectives.items()],
        "constraints": [describe_constraint(c) for c in runs.constraints],
        "description": str(meta.suite.get("description") or ""),
        "summaries": summaries,
        **_plot_context(runs, ok, jobs, plots),
        "headers": headers,
        "jobs": jobs,
        "environments": [_environment(r) for r in runs.runs],
        "fingerprints": _fingerprints(runs),
        "failures": [j for j in jobs if j["status"] != "ok"],
        "sample_tables": _sample_tables(jobs),
        "conditions": [
            {"label": label, "flags": ", ".join(flags), "notes": "; ".join(notes)}
            for label, flags, notes in conditions_rows(runs.records)
        ],
        "energy_note": energy_note(runs.records) or "",
        "serving": [{**row, "p99_text": fmt(row["p99_ms"])} for row in scenario_rows(runs.records)],
        "floor_hint": NOISE_FLOOR_HINT,
        "floors": [
            {**f, "floor_text": fmt(f["floor"]), "best_text": fmt(f["best_value"])}
            for f in noise_floors(runs.records)
        ],
    }


def _sample_tables(jobs: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]], int]]:
    """Per modality: the jobs with samples and the widest row."""
    by: dict[str, list[dict[str, Any]]] = {}
    for j in jobs:
        if j["samples"]:
            by.setdefault(str(j["modality"]), []).append(j)
    order = ["image", "video", "audio"]
    keys = sorted(by, key=lambda m: (order.index(m) if m in order else len(order), m))
    return [(m, by[m], max(len(j["samples"]) for j in by[m])) for m in keys]


# ------------------------------------------------------------------------------------------------ jobs


def _cell(text: Any, sort: Any = None) -> dict[str, str]:
    """A table cell: its text and the key it sorts by (numbers as numbers; missing values sort last)."""
    if sort is None:
        sort = text
    if isinstance(sort, float):
        if math.isnan(sort):
            sort = ""
        elif math.isinf(sort):
            sort = "1e308" if sort > 0 else "-1e308"
        else:
            sort = repr(sort)
    elif isinstance(sort, int) and not isinstance(sort, bool):
        sort = str(sort)
    return {
        "text": "–" if text is None or text == "" else str(text),
        "sort": "" if sort in (None, "–") else str(sort),
    }


def _metric(mv: MetricResult | None) -> dict[str, str]:
    """A metric's cell: blank when absent or of another modality, its status when not computed."""
    if mv is None or mv.status == "not_applicable":
        return _cell("–", "")
    if mv.status != "ok":
        return _cell(mv.status, "")
    text = fmt_ci(mv.value, *mv.ci95) if mv.ci95 is not None else fmt(mv.value)
    return _cell(text, mv.value)


def _num_cell(value: float | None) -> dict[str, str]:
    return _cell(fmt(value, 3), value)


def _job(
    i: int, r: Record, ok, metric_names: list[str], several: bool, extra: dict[str, bool]
) -> dict[str, Any]:
    lat, thr, mem = r.latency_ms, r.throughput, r.memory
    ci = lat.p50_ci95 if lat is not None else None
    flags = condition_flags(r)
    state = job_state(r)
    status = state.word
    frontier, knee = "", False
    if ok is not None and not ok.empty and i in ok.index:
        frontier = str(ok.at[i, "frontier_status"])
        knee = bool(ok.at[i, "knee"])
    violations = str(ok.at[i, "violations"]) if frontier == "infeasible" else ""
    label = " / ".join(str(v) for v in (r.model, r.variant, r.backend, r.precision))
    p50 = lat.p50 if lat is not None else None
    p90 = lat.p90 if lat is not None else None
    cv = lat.cv if lat is not None else None
    p50_text, lo_text, hi_text = fmt_shared([p50, *(ci or (None, None))])
    cells = [
        _cell(r.model),
        _cell(r.variant),
        _cell(r.backend),
        _cell(r.precision),
        _cell(r.modality),
        _cell(status + "".join(f" ⚠ {f}" for f in flags), status),
        _cell((frontier + (" · knee" if knee else "")) if frontier else "–", _frontier_rank(frontier, knee)),
        _cell(p50_text if p50 is not None else "–", p50),
        _cell(f"{lo_text} – {hi_text}" if ci else "–", ci[0] if ci else None),
        _cell(fmt(p90), p90),
        _cell(fmt(cv, 2), cv),
        _cell(
            f"{fmt(thr.value)} {thr.unit}".strip() if thr is not None else "–",
            thr.value if thr is not None else None,
        ),
        _cell(fmt(r.first_call_ms), r.first_call_ms),
        _cell(fmt(mem.peak_rss_mib), mem.peak_rss_mib),
        _cell(fmt(mem.peak_vram_allocated_mib), mem.peak_vram_allocated_mib),
        *([_num_cell(r.energy.energy_per_item_j if r.energy else None)] if extra["energy"] else []),
        *([_num_cell(r.cost.per_1k_items_usd if r.cost else None)] if extra["cost"] else []),
        *[_metric(r.metric(m)) for m in metric_names],
    ]
    if several:
        cells.insert(0, _cell(r.run_id))
    err = r.error
    metrics = []
    for name, mv in r.metrics.items():
        if mv.status == "not_applicable":
            continue
        details = {k: v for k, v in mv.details.items() if k != "note" and not isinstance(v, (dict, list))}
        metrics.append(
            {
                "name": name,
                "status": mv.status,
                "value": _metric(mv)["text"] if mv.status == "ok" else "",
                "unit": mv.unit or "",
                "n": mv.n,
                "reason": mv.reason or mv.details.get("note") or "",
                "fingerprint": mv.fingerprint or "",
                "details": ", ".join(f"{k} {v}" for k, v in details.items()),
            }
        )
    samples = _samples(r)
    first_image = next((k for k, item in enumerate(samples) if item["kind"] == "image"), None)
    return {
        "anchor": f"job-{i}",
        "thumb": f"thumb-job-{i}" if first_image is not None else "",
        "thumb_index": first_image,
        "label": label,
        "run_id": r.run_id,
        "job_id": r.job_id,
        "status": status,
        "css": status.replace(" ", "-"),
        "reasons": [*state.reasons, *(n for n in state.notes if ": metric " not in n)],
        "frontier": frontier,
        "knee": knee,
        "violations": violations,
        "cells": cells,
        "error": {"type": err.type, "message": err.message, "advice": err.advice} if err else None,
        "call": ", ".join(f"{k}={v}" for k, v in r.call.items() if v not in (None, {}, [])),
        "histogram": latency_histogram(lat.samples if lat is not None else [], p50),
        "stages": stage_bars(r.stages_ms),
        "metrics": metrics,
        "fidelity": "; ".join(r.fidelity.violations) if r.fidelity is not None else "",
        "samples": samples,
        "n_samples": len(r.samples),
        "modality": r.modality,
    }


def _frontier_rank(frontier: str, knee: bool) -> str:
    order = {"front": 1, "tied": 2, "dominated": 3, "incomplete": 4, "infeasible": 5}
    if frontier not in order:
        return ""
    return str(order[frontier] - (0.5 if knee else 0))


# ----------------------------------------------------------------------------------------------- charts


def latency_histogram(samples: list[float], p50: float | None, width: int = 360, height: int = 150) -> Markup:
    """An inline SVG histogram of the timed-loop latencies, with the median marked."""
    import numpy as np

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


# ------------------------------------------------------------------------------------ interactive frontier

STATUS_TEXT = {
    "front": "on the front",
    "tied": "tied with the front (95% CI)",
    "dominated": "dominated",
    "incomplete": "not ranked (an objective is missing)",
    "infeasible": "infeasible",
}
DRAW_ORDER = ("infeasible", "incomplete", "dominated", "tied", "front")  # the front drawn last, on top


def _plot_context(runs: Runs, ok, jobs: list[dict[str, Any]], plots: list[Path]) -> dict[str, Any]:
    """``frontier_views``: per pair of objectives with a panel (:func:`harness.report.plots.panel_modalities`,
    the PNG's panels), its interactive SVG panels and its PNG; ``plots``: the other PNGs (load curves)."""
    import itertools

    from harness.config.plan import safe_name

    pngs = {p.stem: p for p in plots if p.is_file()}
    views, used = [], set()
    ids = itertools.count()  # each SVG's id (its pattern and clip path hang on it): unique on the page
    objectives, constraints = runs.objectives, runs.constraints
    for x, y in itertools.combinations(list(objectives), 2):
        modalities = panel_modalities(ok, x, y)
        if not modalities:
            continue
        stem = f"pareto_{safe_name(x)}__{safe_name(y)}"
        png = pngs.get(stem)
        used.add(stem)
        panels = []
        for modality in modalities:
            svg, note = frontier_svg(
                panel_rows(ok, modality),
                x,
                y,
                objectives,
                constraints,
                jobs,
                uid=f"fr-{next(ids)}",
                color=MODALITY_COLORS.get(str(modality), "#444444"),
                title=panel_title(modality),
            )
            panels.append({"modality": panel_title(modality), "svg": svg, "note": note})
        views.append(
            {
                "title": f"{y} vs {x}",
                "panels": panels,
                "png": (stem, _data_uri(png.read_bytes(), "image/png")) if png is not None else None,
            }
        )
    other = [
        (p.stem, _data_uri(p.read_bytes(), "image/png")) for p in plots if p.is_file() and p.stem not in used
    ]
    return {"frontier_views": views, "plots": other}


def _nice_ticks(lo: float, hi: float, log: bool, n: int = 6) -> list[tuple[float, str]]:
    """About ``n`` round tick positions in [lo, hi] with their labels (decades and 2, 5 on a log axis)."""
    if log:
        ticks = []
        for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
            ticks += [m * 10.0**e for m in (1, 2, 5)]
        inside = [t for t in ticks if lo <= t <= hi]
        decades = [t for t in inside if math.isclose(math.log10(t), round(math.log10(t)))]
        inside = decades if len(decades) >= 3 else inside
        return [(t, fmt_shared([t])[0]) for t in inside]
    raw = (hi - lo) / n
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if (hi - lo) / (m * mag) <= n)
    ks = range(math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9) + 1)
    values = [k * step for k in ks]
    labels = fmt_shared([step, *values])[1:]
    return list(zip(values, labels))


class _Axis:
    """One axis of a panel: the view's limits (a log scale for latencies spanning a factor 20), the pixel
    mapping and the ticks; ``inf_at`` is where infinite values are drawn (marked ∞)."""

    def __init__(self, values, lo, hi, inf_at, bounds, p0: float, p1: float, log: bool):
        import numpy as np

        vals = np.concatenate([values, lo, hi])
        vals = vals[np.isfinite(vals)]
        if log:
            vals = vals[vals > 0]
        a, b = float(vals.min()), float(vals.max())
        span = b - a
        self.left_out = []
        for _, t in bounds:  # a threshold within one data span of the view is shown, the others named
            if a - span <= t <= b + span and (not log or t > 0):
                a, b = min(a, t), max(b, t)
            else:
                self.left_out.append(t)
        self.log = log
        ta, tb = self._t(a), self._t(b)
        if tb - ta <= 0:
            pad = 0.3 if log else max(abs(ta) * 0.05, 0.5)
            ta, tb = ta - pad, tb + pad
        pad = 0.08 * (tb - ta)
        self.ta, self.tb = ta - pad, tb + pad
        self.lo, self.hi = self._inv(self.ta), self._inv(self.tb)
        self.p0, self.p1 = p0, p1
        self.inf_at = inf_at

    def _t(self, v: float) -> float:
        return math.log10(v) if self.log else v

    def _inv(self, t: float) -> float:
        return 10.0**t if self.log else t

    def __call__(self, v: float) -> float:
        v = min(max(v, self.lo), self.hi)
        if self.log and v <= 0:
            v = self.lo
        return self.p0 + (self.p1 - self.p0) * (self._t(v) - self.ta) / (self.tb - self.ta)

    def ticks(self) -> list[tuple[float, str]]:
        ticks = _nice_ticks(self.lo, self.hi, self.log)
        if self.inf_at is not None:
            near = 0.06 * abs(self.p1 - self.p0)
            ticks = [(t, s) for t, s in ticks if abs(self(t) - self(self.inf_at)) > near and t < self.inf_at]
            ticks.append((self.inf_at, "∞"))
        return ticks


def _star(r_out: float = 10.0, r_in: float = 4.2) -> str:
    pts = []
    for k in range(10):
        r = r_out if k % 2 == 0 else r_in
        a = math.pi / 2 + k * math.pi / 5
        pts.append(f"{r * math.cos(a):.1f},{-r * math.sin(a):.1f}")
    return "M" + "L".join(pts) + "Z"


def _marker(status: str, color: str) -> str:
    if status == "front":
        return f'<circle class="mk" r="5.5" fill="{color}" stroke="#000" stroke-width="1"/>'
    if status == "tied":
        return f'<circle class="mk" r="5.5" fill="#fff" stroke="{color}" stroke-width="1.8"/>'
    if status == "incomplete":
        return f'<rect class="mk" x="-4.5" y="-4.5" width="9" height="9" fill="{color}" fill-opacity="0.3"/>'
    if status == "infeasible":
        return '<path class="mk" d="M-4.5,-4.5L4.5,4.5M-4.5,4.5L4.5,-4.5" stroke="#777" stroke-width="1.8"/>'
    return f'<circle class="mk" r="4.5" fill="{color}" fill-opacity="0.3" stroke="{color}" stroke-opacity="0.4"/>'


def frontier_svg(
    part,
    x: str,
    y: str,
    directions: dict[str, str],
    constraints,
    jobs: list[dict[str, Any]],
    *,
    uid: str,
    color: str = "#444444",
    title: str = "",
    width: int = 400,
    height: int = 310,
) -> tuple[Markup, str]:
    """One modality's view of ``x`` against ``y`` as an inline SVG, and a note naming the thresholds
    beyond the view.

    ``part`` holds classified rows (:func:`harness.results.pareto.classify`) indexed like ``jobs`` (the page's jobs,
    see :func:`_job`). Points are styled like the PNG's (front solid, tied hollow, dominated faded,
    infeasible ×, ★ the knee of this view, the step line the view's front among feasible jobs, bars the 95%
    intervals, grey the region a constraint on an axis excludes). Each point is a focusable
    ``<g class="pt">`` whose ``data-*`` attributes (escaped) carry what the page's script shows on hover:
    the job's label, status, both values with their intervals, the id of its first sample's thumbnail,
    and the anchor of its details. Empty when no row has both values.
    """
    import numpy as np

    from harness.report.plots import _bounds, _finite_for_plot
    from harness.results.pareto import dominated_mask, knee_index, step_line

    if part is None or part.empty or x not in part.columns or y not in part.columns:
        return Markup(""), ""
    part = part[part[x].notna() & part[y].notna()]
    if part.empty:
        return Markup(""), ""
    n = len(part)

    def interval(col):
        lo = part[f"{col}_lo"].to_numpy(float) if f"{col}_lo" in part.columns else np.full(n, np.nan)
        hi = part[f"{col}_hi"].to_numpy(float) if f"{col}_hi" in part.columns else np.full(n, np.nan)
        return lo, hi

    raw = part[[x, y]].to_numpy(dtype=float)
    xs, x_inf = _finite_for_plot(raw[:, 0], _bounds(constraints, x))
    ys, y_inf = _finite_for_plot(raw[:, 1], _bounds(constraints, y))
    (xlo, xhi), (ylo, yhi) = interval(x), interval(y)
    left, right, top, bottom = 58, 14, 26, 46
    log_x = bool(x.startswith("latency") and np.min(xs) > 0 and np.max(xs) / np.min(xs) > 20)
    bx, by = _bounds(constraints, x), _bounds(constraints, y)
    ax = _Axis(xs, xlo, xhi, x_inf, bx, left, width - right, log_x)
    ay = _Axis(ys, ylo, yhi, y_inf, by, height - bottom, top, False)
    px0, px1, py0, py1 = left, width - right, top, height - bottom

    out = [
        f'<svg class="chart frontier" id="{uid}" role="group" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-label="{escape(f"{y} vs {x}, {title}")}">',
        f'<defs><pattern id="{uid}-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#888" fill-opacity="0.12"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#888" stroke-opacity="0.45" stroke-width="1.2"/></pattern>'
        f'<clipPath id="{uid}-clip"><rect x="{px0}" y="{py0}" width="{px1 - px0}" height="{py1 - py0}"/>'
        "</clipPath></defs>",
        f'<rect x="{px0}" y="{py0}" width="{px1 - px0}" height="{py1 - py0}" fill="#fff" stroke="#bbb"/>',
    ]
    # grid and ticks
    for t, label in ax.ticks():
        p = ax(t)
        out.append(f'<line x1="{p:.1f}" y1="{py0}" x2="{p:.1f}" y2="{py1}" stroke="#eee"/>')
        cls = ' class="inf"' if label == "∞" else ""
        out.append(f'<text{cls} x="{p:.1f}" y="{py1 + 13}" text-anchor="middle">{escape(label)}</text>')
    for t, label in ay.ticks():
        p = ay(t)
        out.append(f'<line x1="{px0}" y1="{p:.1f}" x2="{px1}" y2="{p:.1f}" stroke="#eee"/>')
        cls = ' class="inf"' if label == "∞" else ""
        out.append(f'<text{cls} x="{px0 - 4}" y="{p + 3:.1f}" text-anchor="end">{escape(label)}</text>')
    # regions a constraint excludes, and their thresholds
    for axis, bounds, name in ((ax, bx, x), (ay, by, y)):
        for kind, t in bounds:
            if t in axis.left_out:
                continue
            a, b = (t, axis.hi) if kind == "max" else (axis.lo, t)
            pa, pb = sorted((axis(a), axis(b)))
            sign = "≥" if kind == "min" else "≤"
            if axis is ax:
                out.append(
                    f'<rect x="{pa:.1f}" y="{py0}" width="{pb - pa:.1f}" height="{py1 - py0}" '
                    f'fill="url(#{uid}-hatch)"/>'
                )
                pt = axis(t)
                out.append(
                    f'<line x1="{pt:.1f}" y1="{py0}" x2="{pt:.1f}" y2="{py1}" stroke="#555" stroke-dasharray="4 3"/>'
                )
                out.append(
                    f'<text class="thr" x="{pt + 3:.1f}" y="{py0 + 10}">{escape(f"{name} {sign} {t:g}")}</text>'
                )
            else:
                out.append(
                    f'<rect x="{px0}" y="{pa:.1f}" width="{px1 - px0}" height="{pb - pa:.1f}" '
                    f'fill="url(#{uid}-hatch)"/>'
                )
                pt = axis(t)
                out.append(
                    f'<line x1="{px0}" y1="{pt:.1f}" x2="{px1}" y2="{pt:.1f}" stroke="#555" stroke-dasharray="4 3"/>'
                )
                out.append(
                    f'<text class="thr" x="{px0 + 3}" y="{pt - 3:.1f}">{escape(f"{name} {sign} {t:g}")}</text>'
                )
    # the view's front (feasible jobs) as a staircase, and its knee
    feasible = part["feasible"].to_numpy(dtype=bool)
    status = part["frontier_status"].to_numpy()
    dirs = [directions[x], directions[y]]
    view_knee = None
    if feasible.any():
        fidx = np.flatnonzero(feasible)
        on2 = fidx[~dominated_mask(raw[fidx], dirs)]
        fx, fy = step_line(xs[on2], ys[on2], *dirs)
        if len(fx) > 1:
            pts = [(fx[0], fy[0])]
            for k in range(1, len(fx)):
                pts += [(fx[k], fy[k - 1]), (fx[k], fy[k])]
            coords = " ".join(f"{ax(a):.1f},{ay(b):.1f}" for a, b in pts)
            out.append(
                f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="1.6" '
                f'clip-path="url(#{uid}-clip)"/>'
            )
        k = knee_index(raw[on2], dirs)
        view_knee = int(on2[k]) if k is not None else None
    # 95% intervals
    for j in range(n):
        for lo, hi, horizontal in ((xlo[j], xhi[j], True), (ylo[j], yhi[j], False)):
            if not (np.isfinite(lo) or np.isfinite(hi)):
                continue
            a = lo if np.isfinite(lo) else (xs[j] if horizontal else ys[j])
            b = hi if np.isfinite(hi) else (xs[j] if horizontal else ys[j])
            if horizontal:
                p, q, c = ax(a), ax(b), ay(ys[j])
                out.append(
                    f'<path d="M{p:.1f},{c:.1f}H{q:.1f}M{p:.1f},{c - 2:.1f}v4M{q:.1f},{c - 2:.1f}v4" '
                    f'stroke="{color}" stroke-opacity="0.5" fill="none"/>'
                )
            else:
                p, q, c = ay(a), ay(b), ax(xs[j])
                out.append(
                    f'<path d="M{c:.1f},{p:.1f}V{q:.1f}M{c - 2:.1f},{p:.1f}h4M{c - 2:.1f},{q:.1f}h4" '
                    f'stroke="{color}" stroke-opacity="0.5" fill="none"/>'
                )
    # the points, each a focusable group carrying its tooltip
    order = sorted(range(n), key=lambda j: DRAW_ORDER.index(status[j]) if status[j] in DRAW_ORDER else 0)
    for j in order:
        idx = part.index[j]
        job = jobs[idx] if isinstance(idx, (int, np.integer)) and 0 <= idx < len(jobs) else {}
        row = part.iloc[j]
        st = str(status[j])
        state = STATUS_TEXT.get(st, st)
        if st == "infeasible" and row.get("violations"):
            state += f" ({row['violations']})"
        if bool(row.get("knee", False)):
            state += " · knee of the front"
        if j == view_knee:
            state += " · ★ knee of this view"

        def value_text(col, v, lo, hi):
            has = np.isfinite(lo) or np.isfinite(hi)
            return f"{col}: {fmt_ci(v, lo if np.isfinite(lo) else None, hi if np.isfinite(hi) else None) if has else fmt_ci(v)}"

        label = job.get("label") or label_of(row)
        attrs = {
            "data-job": job.get("anchor", ""),
            "data-label": label,
            "data-status": state,
            "data-x": value_text(x, raw[j, 0], xlo[j], xhi[j]),
            "data-y": value_text(y, raw[j, 1], ylo[j], yhi[j]),
            "data-thumb": job.get("thumb", ""),
            "aria-label": f"{label}: {state}",
        }
        attr_text = " ".join(f'{k}="{escape(v)}"' for k, v in attrs.items())
        out.append(
            f'<g class="pt st-{escape(st)}" transform="translate({ax(xs[j]):.1f},{ay(ys[j]):.1f})" '
            f'tabindex="0" role="button" {attr_text}><circle class="hit" r="10" fill="transparent"/>'
            + _marker(st, color)
            + (  # over the marker, as in the PNG
                f'<path class="mk" d="{_star()}" fill="gold" stroke="#000" stroke-width="0.8"/>'
                if j == view_knee
                else ""
            )
            + "</g>"
        )
    # labels
    out.append(
        f'<text class="ttl" x="{(px0 + px1) / 2:.1f}" y="16" text-anchor="middle">{escape(title)}</text>'
    )
    out.append(
        f'<text x="{(px0 + px1) / 2:.1f}" y="{height - 8}" text-anchor="middle">'
        f"{escape(axis_label(x, directions[x]))}{' (log scale)' if log_x else ''}</text>"
    )
    cy = (py0 + py1) / 2
    out.append(
        f'<text x="12" y="{cy:.1f}" text-anchor="middle" transform="rotate(-90 12 {cy:.1f})">'
        f"{escape(axis_label(y, directions[y]))}</text>"
    )
    out.append("</svg>")
    left_out = [f"{x} {'≥' if k == 'min' else '≤'} {t:g}" for k, t in bx if t in ax.left_out]
    left_out += [f"{y} {'≥' if k == 'min' else '≤'} {t:g}" for k, t in by if t in ay.left_out]
    return Markup("".join(out)), ("beyond the view: " + ", ".join(left_out)) if left_out else ""


# ---------------------------------------------------------------------------------------------- samples


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _thumbnail(path: Path) -> tuple[str | None, bool]:
    """A PNG data URI of the image (or a GIF's first frame), shrunk to THUMB_PX when larger, and whether
    it is small enough to be shown enlarged with crisp pixels."""
    try:
        from PIL import Image
    except ImportError:
        mime = {".gif": "image/gif", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}
        return _data_uri(path.read_bytes(), mime.get(path.suffix.lower(), "image/png")), False
    try:
        with Image.open(path) as im:
            im.seek(0)
            frame = im.convert("RGBA" if im.mode in ("RGBA", "LA", "P") else "RGB")
    except (OSError, ValueError, EOFError):
        return None, False
    if max(frame.size) > THUMB_PX:
        frame.thumbnail((THUMB_PX, THUMB_PX), Image.LANCZOS)
    buf = io.BytesIO()
    frame.save(buf, format="PNG", optimize=True)
    return _data_uri(buf.getvalue(), "image/png"), max(frame.size) < 96


def _samples(r: Record) -> list[dict[str, Any]]:
    base = Path(r.run_dir or ".")
    out = []
    for rel in r.samples[:MAX_SAMPLES_PER_JOB]:
        path = base / rel
        name = Path(rel).name
        item: dict[str, Any] = {"name": name, "kind": "missing", "src": "", "note": "", "pixelated": False}
        if path.is_file():
            suffix = path.suffix.lower()
            if suffix in (".png", ".jpg", ".jpeg", ".webp", ".gif"):
                src, small = _thumbnail(path)
                item.update(
                    kind="image" if src else "unreadable",
                    src=src or "",
                    pixelated=small,
                    note="first frame" if suffix == ".gif" else "",
                )
            elif suffix in (".wav", ".flac", ".ogg", ".mp3"):
                size = path.stat().st_size
                if size <= MAX_AUDIO_BYTES:
                    mime = {
                        ".wav": "audio/wav",
                        ".flac": "audio/flac",
                        ".ogg": "audio/ogg",
                        ".mp3": "audio/mpeg",
                    }[suffix]
                    item.update(kind="audio", src=_data_uri(path.read_bytes(), mime))
                else:
                    item.update(kind="too-large", note=f"{size / 2**20:.1f} MiB, not embedded")
            else:
                item.update(kind="other")
        out.append(item)
    return out


# ------------------------------------------------------------------------------------------ environment


def _environment(run: Run) -> dict[str, Any]:
    env = run.meta.environment
    key = run.comparable_environment()
    rows = [(k, v) for k, v in key.items() if v not in (None, "") and k != "cpu"]  # CPU: its own row below
    rows += [
        ("harness", f"{env.harness_version or '?'} ({env.harness_commit or 'no commit'})"),
        ("platform", env.platform),
        ("CPU", f"{env.cpu} × {env.cpu_count}"),
        ("isolation", run.meta.isolation),
    ]
    packages = [(k, v) for k, v in env.packages.items() if v]
    return {
        "run_id": run.run_id,
        "rows": [(k, str(v)) for k, v in rows if v is not None],
        "packages": packages,
    }


def _fingerprints(runs: Runs) -> list[dict[str, str]]:
    out = []
    for run in runs.runs:
        details: dict[str, str] = {}
        for r in run.latest:
            for name, mv in r.metrics.items():
                if mv.status == "ok" and name not in details:
                    d = {
                        k: v
                        for k, v in mv.details.items()
                        if k not in ("note", "mse") and not isinstance(v, (dict, list))
                    }
                    details[name] = ", ".join(f"{k} {v}" for k, v in d.items())
        for name, prints in run.metric_fingerprints().items():
            out.append(
                {
                    "run_id": run.run_id,
                    "metric": name,
                    "fingerprint": ", ".join(prints),
                    "details": details.get(name, ""),
                }
            )
    return out


__all__ = ["latency_histogram", "render_html", "stage_bars"]

"""report.html: one self-contained file (inline CSS, images as data URIs, a few lines of inline JS).

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

from harness.pareto import describe_constraint
from harness.report.plots import fmt
from harness.report.runs import (
    NOISE_FLOOR_HINT,
    Run,
    Runs,
    condition_flags,
    conditions_rows,
    energy_note,
    environment_key,
    metric_fingerprints,
    noise_floors,
    optional_columns,
    scenario_rows,
)
from harness.results.schema import MetricResult, Record, Stages

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
    n_ok = sum(r.ok for r in runs.records)
    return {
        "title": " + ".join(dict.fromkeys(run.meta.suite_name or run.run_id for run in runs.runs)),
        "run_ids": [r.run_id for r in runs.runs],
        "n_ok": n_ok,
        "n_jobs": len(runs.records),
        "device": meta.device or "?",
        "device_name": environment_key(meta, runs.runs[0].records).get("device name") or "?",
        "notes": runs.notes,
        "objectives": [(k, v) for k, v in runs.objectives.items()],
        "constraints": [describe_constraint(c) for c in runs.constraints],
        "description": str(meta.suite.get("description") or ""),
        "summaries": summaries,
        "plots": [(p.stem, _data_uri(p.read_bytes(), "image/png")) for p in plots if p.is_file()],
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
    text = fmt(mv.value)
    if mv.ci95 is not None:
        lo, hi = mv.ci95
        text += f" [{fmt(lo, 3)}, {fmt(hi, 3)}]"
    return _cell(text, mv.value)


def _num_cell(value: float | None) -> dict[str, str]:
    return _cell(fmt(value, 3), value)


def _job(
    i: int, r: Record, ok, metric_names: list[str], several: bool, extra: dict[str, bool]
) -> dict[str, Any]:
    lat, thr, mem = r.latency_ms, r.throughput, r.memory
    ci = lat.p50_ci95 if lat is not None else None
    flags = condition_flags(r)
    status = r.status
    frontier, knee = "", False
    if ok is not None and not ok.empty and i in ok.index:
        frontier = str(ok.at[i, "frontier_status"])
        knee = bool(ok.at[i, "knee"])
    violations = str(ok.at[i, "violations"]) if frontier == "infeasible" else ""
    label = " / ".join(str(v) for v in (r.model, r.variant, r.backend, r.precision))
    p50 = lat.p50 if lat is not None else None
    p90 = lat.p90 if lat is not None else None
    cv = lat.cv if lat is not None else None
    cells = [
        _cell(r.model),
        _cell(r.variant),
        _cell(r.backend),
        _cell(r.precision),
        _cell(r.modality),
        _cell(status + "".join(f" ⚠ {f}" for f in flags), status),
        _cell((frontier + (" · knee" if knee else "")) if frontier else "–", _frontier_rank(frontier, knee)),
        _cell(fmt(p50), p50),
        _cell(f"{fmt(ci[0], 3)} – {fmt(ci[1], 3)}" if ci else "–", ci[0] if ci else None),
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
    return {
        "anchor": f"job-{i}",
        "label": label,
        "run_id": r.run_id,
        "job_id": r.job_id,
        "status": status,
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
        "samples": _samples(r),
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
    key = environment_key(run.meta, run.records)
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
        for r in run.records:
            for name, mv in r.metrics.items():
                if mv.status == "ok" and name not in details:
                    d = {
                        k: v
                        for k, v in mv.details.items()
                        if k not in ("note", "mse") and not isinstance(v, (dict, list))
                    }
                    details[name] = ", ".join(f"{k} {v}" for k, v in d.items())
        for name, prints in metric_fingerprints(run.records).items():
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

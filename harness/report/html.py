"""report.html: one self-contained file (inline CSS, images as data URIs, a few lines of inline JS).

The frontier is drawn twice: as the PNGs report.md links, and as inline SVG scatters
(:mod:`harness.report.frontier_svg`), one per pair of objectives and modality, whose points show a tooltip
(the job, both values with their intervals, its first sample) on hover or focus and open the job's details
on a click. Each job's details carry small SVG charts (:mod:`harness.report.charts`) and its samples
(:mod:`harness.report.embed`).

Everything a card or a suite names is user input; the page is rendered by jinja2 with autoescape on, and
the SVG charts escape their text. A Content-Security-Policy forbids every network request.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

from harness.config.plan import safe_name
from harness.core.numfmt import fmt, fmt_shared
from harness.report.charts import latency_histogram, stage_bars
from harness.report.columns import measured_cells, measured_headers, metric_text
from harness.report.embed import data_uri, sample_items
from harness.report.frontier_svg import frontier_svg
from harness.report.merge import Runs
from harness.report.panels import MODALITY_COLORS, panel_modalities, panel_rows, panel_title
from harness.report.sections import (
    NOISE_FLOOR_HINT,
    condition_flags,
    conditions_rows,
    energy_note,
    noise_floors,
    optional_columns,
    scenario_rows,
)
from harness.report.states import JobState, job_state
from harness.results.pareto import describe_constraint
from harness.results.record import MetricResult, Record
from harness.results.runs import Run

TEMPLATES = Path(__file__).parent / "templates"


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
    """What the template shows: the header, the decision, the frontier views, the jobs (table and details),
    samples, environments and the sections beyond the table."""
    meta = runs.meta
    metric_names = list(
        dict.fromkeys(
            [m for run in runs.runs for m in run.meta.metric_names]
            + [name for r in runs.records for name in r.metrics]
        )
    )
    several = len(runs.runs) > 1
    extra = optional_columns(runs.records)
    jobs = [job_view(i, r, ok, metric_names, several, extra) for i, r in enumerate(runs.records)]
    headers = [
        *(["run"] if several else []),
        *(
            "model",
            "variant",
            "backend",
            "precision",
            "modality",
            "status",
            "frontier",
            "p50 ms",
            "p50 95% CI",
        ),
        *measured_headers(extra),
        *metric_names,
    ]
    return {
        "title": " + ".join(dict.fromkeys(run.meta.suite_name or run.run_id for run in runs.runs)),
        "run_ids": [r.run_id for r in runs.runs],
        "n_ok": sum(j["status"] == "ok" for j in jobs),
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
        **_sections(runs.records),
    }


def _sections(records: list[Record]) -> dict[str, Any]:
    """Measurement conditions, energy, serving scenarios and noise floors, as the template shows them."""
    return {
        "conditions": [
            {"label": label, "flags": ", ".join(flags), "notes": "; ".join(notes)}
            for label, flags, notes in conditions_rows(records)
        ],
        "energy_note": energy_note(records) or "",
        "serving": [{**row, "p99_text": fmt(row["p99_ms"])} for row in scenario_rows(records)],
        "floor_hint": NOISE_FLOOR_HINT,
        "floors": [
            {**f, "floor_text": fmt(f["floor"]), "best_text": fmt(f["best_value"])}
            for f in noise_floors(records)
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
    """A metric's cell (:func:`harness.report.columns.metric_text`), sorted by its value when computed."""
    ok = mv is not None and mv.status == "ok"
    return _cell(metric_text(mv), mv.value if ok else "")


def _frontier_of(ok, i: int) -> tuple[str, bool, str]:
    """Job ``i``'s frontier status, whether it is the knee, and what it violates when infeasible."""
    if ok is None or ok.empty or i not in ok.index:
        return "", False, ""
    frontier = str(ok.at[i, "frontier_status"])
    violations = str(ok.at[i, "violations"]) if frontier == "infeasible" else ""
    return frontier, bool(ok.at[i, "knee"]), violations


def _frontier_rank(frontier: str, knee: bool) -> str:
    order = {"front": 1, "tied": 2, "dominated": 3, "incomplete": 4, "infeasible": 5}
    if frontier not in order:
        return ""
    return str(order[frontier] - (0.5 if knee else 0))


def _job_cells(
    r: Record, state: JobState, frontier: str, knee: bool, metric_names: list[str], extra: dict[str, bool]
) -> list[dict[str, str]]:
    """The job's row of the jobs table (without the run column)."""
    lat = r.latency_ms
    ci = lat.p50_ci95 if lat is not None else None
    p50 = lat.p50 if lat is not None else None
    p50_text, lo_text, hi_text = fmt_shared([p50, *(ci or (None, None))])
    status = state.word
    return [
        _cell(r.model),
        _cell(r.variant),
        _cell(r.backend),
        _cell(r.precision),
        _cell(r.modality),
        _cell(status + "".join(f" ⚠ {f}" for f in condition_flags(r)), status),
        _cell((frontier + (" · knee" if knee else "")) if frontier else "–", _frontier_rank(frontier, knee)),
        _cell(p50_text if p50 is not None else "–", p50),
        _cell(f"{lo_text} – {hi_text}" if ci else "–", ci[0] if ci else None),
        *[_cell(text, value) for text, value in measured_cells(r, extra)],
        *[_metric(r.metric(m)) for m in metric_names],
    ]


def _metric_rows(r: Record) -> list[dict[str, Any]]:
    """The job's metrics (those that apply to it) for its details: value, fingerprint and why not."""
    rows = []
    for name, mv in r.metrics.items():
        if mv.status == "not_applicable":
            continue
        details = {k: v for k, v in mv.details.items() if k != "note" and not isinstance(v, (dict, list))}
        rows.append(
            {
                "name": name,
                "status": mv.status,
                "value": metric_text(mv) if mv.status == "ok" else "",
                "unit": mv.unit or "",
                "n": mv.n,
                "reason": mv.reason or mv.details.get("note") or "",
                "fingerprint": mv.fingerprint or "",
                "details": ", ".join(f"{k} {v}" for k, v in details.items()),
            }
        )
    return rows


def job_view(
    i: int, r: Record, ok, metric_names: list[str], several: bool, extra: dict[str, bool]
) -> dict[str, Any]:
    """Job ``i`` as the page shows it: its row of the table, its details and its samples."""
    lat = r.latency_ms
    state = job_state(r)
    frontier, knee, violations = _frontier_of(ok, i)
    cells = [
        *([_cell(r.run_id)] if several else []),
        *_job_cells(r, state, frontier, knee, metric_names, extra),
    ]
    err = r.error
    samples = sample_items(r)
    first_image = next((k for k, item in enumerate(samples) if item["kind"] == "image"), None)
    return {
        "anchor": f"job-{i}",
        "thumb": f"thumb-job-{i}" if first_image is not None else "",
        "thumb_index": first_image,
        "label": " / ".join(str(v) for v in (r.model, r.variant, r.backend, r.precision)),
        "run_id": r.run_id,
        "job_id": r.job_id,
        "status": state.word,
        "css": state.word.replace(" ", "-"),
        "reasons": [*state.reasons, *(n for n in state.notes if ": metric " not in n)],
        "frontier": frontier,
        "knee": knee,
        "violations": violations,
        "cells": cells,
        "error": {"type": err.type, "message": err.message, "advice": err.advice} if err else None,
        "call": ", ".join(f"{k}={v}" for k, v in r.call.items() if v not in (None, {}, [])),
        "histogram": latency_histogram(
            lat.samples if lat is not None else [], lat.p50 if lat is not None else None
        ),
        "stages": stage_bars(r.stages_ms),
        "metrics": _metric_rows(r),
        "fidelity": "; ".join(r.fidelity.violations) if r.fidelity is not None else "",
        "samples": samples,
        "n_samples": len(r.samples),
        "modality": r.modality,
    }


# ------------------------------------------------------------------------------------ interactive frontier


def _plot_context(runs: Runs, ok, jobs: list[dict[str, Any]], plots: list[Path]) -> dict[str, Any]:
    """``frontier_views``: per pair of objectives with a panel (:func:`harness.report.plots.panel_modalities`,
    the PNG's panels), its interactive SVG panels and its PNG; ``plots``: the other PNGs (load curves)."""
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
                "png": (stem, data_uri(png.read_bytes(), "image/png")) if png is not None else None,
            }
        )
    other = [
        (p.stem, data_uri(p.read_bytes(), "image/png")) for p in plots if p.is_file() and p.stem not in used
    ]
    return {"frontier_views": views, "plots": other}


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


__all__ = ["context", "job_view", "render_html"]

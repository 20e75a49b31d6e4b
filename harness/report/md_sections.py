"""report.md's sections between the job table and the environment: measurement conditions, serving
scenarios, energy, noise floors, backends against eager, time per stage, metrics not computed, failures,
shortfalls and samples. Each returns its lines (none when it has nothing to say)."""

from __future__ import annotations

import math
import os
from pathlib import Path

from harness.core.mdtext import md_code, md_escape
from harness.core.numfmt import fmt
from harness.report.columns import metric_text
from harness.report.sections import (
    NOISE_FLOOR_HINT,
    conditions_rows,
    energy_note,
    noise_floors,
    scenario_rows,
)
from harness.report.states import JobState
from harness.results.record import Record


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _label(r: Record) -> str:
    """``model / variant / backend``, escaped."""
    return f"{md_escape(r.model)} / {md_escape(r.variant)} / {md_escape(r.backend)}"


def _rel_link(path: Path, start: Path) -> str:
    try:
        return Path(os.path.relpath(path, start)).as_posix()
    except ValueError:  # another drive on Windows
        return path.as_posix()


def conditions_section(records: list[Record]) -> list[str]:
    """``## Measurement conditions``: the jobs timed while something distorted the timing."""
    flagged = conditions_rows(records)
    if not flagged:
        return []
    return [
        "## Measurement conditions",
        "",
        "These jobs were timed while something else distorted the timing; compare them with care "
        "(`harness doctor` measures the machine).",
        "",
        *(
            f"- ⚠ {md_escape(label)} ({', '.join(flags)}): {md_escape('; '.join(notes))}"
            for label, flags, notes in flagged
        ),
        "",
    ]


SERVING_HEADERS = [
    "job",
    "scenario",
    "sustained",
    "p99 ms",
    "bound",
    "LoadGen runs",
    "LoadGen verdict",
    "early stopping",
    "note",
    "logs",
]


def serving_section(records: list[Record], run_dir: Path) -> list[str]:
    """``## Serving scenarios (MLPerf LoadGen)``: each scenario job's figure, bound, verdict and logs."""
    serving = scenario_rows(records)
    if not serving:
        return []
    rows = []
    for row in serving:
        base = Path(row["run_dir"] or run_dir)
        logs = " ".join(f"[{name}]({_rel_link(base / rel, run_dir)})" for name, rel in row["logs"])
        verdict = row["valid"] + (f" ({md_escape(row['why'])})" if row["why"] else "")
        rows.append(
            [
                md_escape(row["label"]),
                row["kind"],
                md_escape(row["result"]),
                fmt(row["p99_ms"]),
                md_escape(row["bound"]),
                str(row["runs"]),
                verdict,
                md_escape(row["early_stopping"]) or "–",
                md_escape(row["note"]) or "–",
                logs or "–",
            ]
        )
    return [
        "## Serving scenarios (MLPerf LoadGen)",
        "",
        "Measured by LoadGen from query issue to completion, queueing included. `max_qps` is the highest "
        "offered (scheduled) rate whose latency percentile met the bound in a run LoadGen calls VALID "
        "(its early-stopping test included: MLPerf's rule); a figure a suite accepted from an INVALID run "
        "(`scenario.require_valid: false`) is marked ⚠. LoadGen's logs are linked.",
        "",
        table(SERVING_HEADERS, rows),
        "",
    ]


def energy_lines(records: list[Record]) -> list[str]:
    """Why no job has an energy figure, when none has."""
    note = energy_note(records)
    return [md_escape(note), ""] if note else []


def floors_section(records: list[Record]) -> list[str]:
    """``## Noise floors``: per distance, what real data scores against itself, and the closest job."""
    floors = noise_floors(records)
    if not floors:
        return []
    rows = [
        [
            md_code(f["metric"], table=True),
            fmt(f["floor"]),
            str(f["n"] or "–"),
            md_escape(f["best"]),
            fmt(f["best_value"]),
        ]
        for f in floors
    ]
    return [
        "## Noise floors",
        "",
        NOISE_FLOOR_HINT,
        "",
        table(["metric", "real vs real", "at n", "best job", "its value"], rows),
        "",
    ]


STAGE_HEADERS = [
    "model",
    "variant",
    "backend",
    "text encode",
    "denoise step p50 × calls",
    "decode",
    "other",
    "total",
]


def evaluation_section(records: list[Record]) -> list[str]:
    """``## Cost of evaluation``: each job's quality pass, its items, shards, where it ran and the device-seconds it
    took, beside the metrics it measured (what a number of this quality cost to know)."""
    rows = []
    for r in records:
        q = r.quality
        if q is None:
            continue
        hosts = sorted({f"{p.host or '?'} {p.device or ''}".strip() for p in q.parts})
        values = ", ".join(
            f"{md_escape(k)} {metric_text(v)}" for k, v in r.metrics.items() if v.status == "ok"
        )
        rows.append(
            [
                _label(r),
                str(r.num_samples if r.num_samples is not None else "–"),
                str(q.shards),
                fmt(q.device_s, 3),
                fmt(q.wall_s, 3),
                fmt(q.items_per_s, 3),
                md_escape(", ".join(hosts)),
                values or "–",
            ]
        )
    if not rows:
        return []
    headers = ["job", "items", "shards", "device-seconds", "wall s", "items/s", "where", "metrics"]
    return ["## Cost of evaluation (the quality pass)", "", table(headers, rows), ""]


def stages_section(records: list[Record]) -> list[str]:
    """``## Time per stage``: each job's profiled call split by stage."""
    rows = []
    for r in records:
        st = r.stages_ms
        if st is None:
            continue
        cells = []
        for key in ("text_encode", "denoise_step", "decode", "other"):
            s = getattr(st, key)
            if s is None:
                cells.append("–")
            elif key == "denoise_step":
                cells.append(f"{fmt(s.p50_ms, 3)} × {s.calls}")
            else:
                cells.append(fmt(s.total_ms, 3))
        rows.append(
            [md_escape(r.model), md_escape(r.variant), md_escape(r.backend), *cells, fmt(st.total_ms, 3)]
        )
    if not rows:
        return []
    return ["## Time per stage (ms, one profiled call)", "", table(STAGE_HEADERS, rows), ""]


def not_computed_section(records: list[Record]) -> list[str]:
    """``## Metrics not computed``: skipped, failed or invalid metrics with why (a metric of another
    modality is a blank cell, not a line here)."""
    lines = [
        f"- {_label(r)}: {md_code(name)} {md_escape(mv.status)}"
        + (f": {md_escape(mv.reason)}" if mv.reason else "")
        for r in records
        for name, mv in r.metrics.items()
        if mv.status not in ("ok", "not_applicable")
    ]
    return ["## Metrics not computed", "", *lines, ""] if lines else []


def failures_section(records: list[Record]) -> list[str]:
    """``## Failures``: each job that did not end ok, with its error and the advice."""
    lines = []
    for r in records:
        if r.ok:
            continue
        err = r.error
        if err is None:
            lines.append(f"- {_label(r)}: **{md_escape(r.status)}**")
            continue
        line = f"- {_label(r)}: **{md_escape(err.type)}**: {md_escape(err.message)}"
        if err.advice:
            line += f" — {md_escape(err.advice)}"
        lines.append(line)
    return ["## Failures", "", *lines, ""] if lines else []


def shortfalls_section(records: list[Record], states: list[JobState]) -> list[str]:
    """Jobs ok by their status that are not a measured success (headline missing or from an invalid run,
    a metric failed or invalid), and figures accepted from invalid runs: why, job by job."""
    lines = []
    for r, st in zip(records, states):
        if r.ok and not st.ok:
            lines += [f"- {md_escape(why)}" for why in st.reasons]
        lines += [f"- ⚠ {md_escape(n)}" for n in st.notes if ": metric " not in n]  # skipped: listed above
    if not lines:
        return []
    return [
        "## Not measured or invalid",
        "",
        "Not a measured success (nothing here counts as ok):",
        "",
        *lines,
        "",
    ]


def samples_section(records: list[Record], run_dir: Path) -> list[str]:
    """``## Samples``: links to each job's saved samples."""
    lines = []
    for r in records:
        if r.samples:
            base = Path(r.run_dir or run_dir)
            links = " ".join(f"[{Path(s).name}]({_rel_link(base / s, run_dir)})" for s in r.samples)
            lines.append(f"- {_label(r)}: {links}")
    return ["## Samples", "", *lines, ""] if lines else []


BACKEND_HEADERS = [
    "model",
    "variant",
    "backend",
    "precision",
    "speed-up",
    "compile s",
    "time to first output s",
    "break-even generations",
    "fidelity vs baseline",
]


def backend_section(records: list[Record]) -> list[str]:
    """Speed-up vs eager, compile cost, time to first output, break-even count and fidelity per variant."""
    by_variant: dict[tuple[str, str], list[Record]] = {}
    for r in records:
        by_variant.setdefault((r.model, r.variant), []).append(r)
    rows = []
    for recs in by_variant.values():
        eager = next((r for r in recs if r.backend == "eager" and r.ok and r.latency_ms is not None), None)
        if eager is not None and len(recs) >= 2:
            rows += [_backend_row(r, eager) for r in recs]
    if not rows:
        return []
    return [
        "## Backends compared with eager",
        "",
        "Speed-up is eager p50 / this p50 on the same variant; compile s is export + build (ONNX, TensorRT) or "
        "the first compiled call's excess over a steady call (torch.compile); time to first output is load + "
        "prepare + first call; break-even is the number of generations after which compiling pays for itself.",
        "",
        table(BACKEND_HEADERS, rows),
        "",
    ]


def _backend_row(r: Record, eager: Record) -> list[str]:
    """One job of a variant against the variant's eager job."""
    ident = [md_escape(r.model), md_escape(r.variant), md_escape(r.backend), md_escape(r.precision)]
    if not r.ok or r.latency_ms is None:
        return [*ident, md_escape(r.status if not r.ok else "no latency"), *["–"] * 4]
    t, t_eager = r.latency_ms.p50, eager.latency_ms.p50
    compile_s = float(r.compile_s or 0.0)
    prepare_s = float(r.prepare_s if r.prepare_s is not None else compile_s)
    ttfo = float(r.load_s or 0.0) + prepare_s + float(r.first_call_ms or 0.0) / 1000.0
    if r is eager:
        breakeven = "–"
    elif t < t_eager:
        # Generations after which the compile cost is paid back by the faster calls.
        breakeven = str(math.ceil(compile_s / ((t_eager - t) / 1000.0))) if compile_s > 0 else "0"
    else:
        breakeven = "never (not faster)"
    fid = ", ".join(
        f"{k} {metric_text(r.metric(k))}" for k in ("psnr", "ssim", "max_abs_diff") if k in r.metrics
    )
    if r.fidelity is not None and not r.fidelity.ok:
        fid += " ⚠ " + "; ".join(md_escape(v) for v in r.fidelity.violations)
    return [
        *ident,
        f"{t_eager / t:.2f}×",
        fmt(compile_s, 3) + (" (cache hit)" if r.cache_hit else ""),
        fmt(ttfo, 3),
        breakeven,
        fid or "–",
    ]

"""report.md: a table of every job, the Pareto front per modality, stage times, failures, environment."""

from __future__ import annotations

import math
import os
from pathlib import Path

from harness.core.mdtext import md_code, md_escape
from harness.core.numfmt import fmt, fmt_ci
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
from harness.results.record import MetricResult, Record
from harness.results.run_meta import RunMeta


def _table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _metric_cell(mv: MetricResult | None) -> str:
    """A metric's value with its interval; its status when not computed; blank when absent or of another
    modality."""
    if mv is None or mv.status == "not_applicable":
        return "–"
    if mv.status != "ok":
        return mv.status
    return fmt_ci(mv.value, *mv.ci95) if mv.ci95 is not None else fmt(mv.value)


def render_markdown(
    meta: RunMeta,
    records: list[Record],
    df,
    ok,
    objectives,
    plots,
    run_dir: Path,
    *,
    constraints=(),
    summaries=None,
    runs=None,
) -> str:
    """The report for pull-request comments. ``run_dir`` is where it is written (links are relative to it);
    ``summaries`` come from :func:`harness.report.decide.summarize_frontier`, ``runs`` from ``load_runs``."""
    from harness.results.pareto import describe_constraint

    env = meta.environment
    dev = meta.device_environment
    metric_names = meta.metric_names
    states = [job_state(r) for r in records]
    n_ok = sum(st.ok for st in states)
    run_ids = [r.run_id for r in runs.runs] if runs is not None else [run_dir.name]
    which = (
        f"run {md_escape(run_ids[0])}" if len(run_ids) == 1 else "runs " + ", ".join(map(md_escape, run_ids))
    )
    out = [
        f"# {md_escape(meta.suite_name or 'run')} — {which}",
        "",
        f"{n_ok} of {len(records)} jobs ok · device **{md_escape(meta.device or '?')}** "
        f"({md_escape((dev.device_name if dev else None) or env.cpu or '?')})"
        f" · torch {md_escape(env.packages.get('torch'))}"
        f" · diffusers {md_escape(env.packages.get('diffusers'))}"
        f" · harness {md_escape(env.harness_commit or env.harness_version)}",
        "",
        "Objectives: "
        + ", ".join(f"{md_code(k)} ({md_escape(v)})" for k, v in objectives.items())
        + "."
        + (
            " Constraints: " + ", ".join(md_code(describe_constraint(c)) for c in constraints) + "."
            if constraints
            else ""
        ),
        "",
        *([f"- ⚠ {md_escape(n)}" for n in runs.notes] + [""] if runs is not None and runs.notes else []),
        "## Jobs",
        "",
    ]
    extra = optional_columns(records)
    headers = [
        "model",
        "variant",
        "backend",
        "precision",
        "status",
        "p50 ms [95% CI]",
        "p90 ms",
        "CV",
        "throughput",
        "first call ms",
        "peak RSS MiB",
        "peak VRAM MiB",
        *(["energy J/item"] if extra["energy"] else []),
        *(["USD/1k items"] if extra["cost"] else []),
        *map(md_escape, metric_names),  # suite input, like every name
        "frontier",
    ]
    rows = []
    for i, r in enumerate(records):
        lat, thr, mem = r.latency_ms, r.throughput, r.memory
        ci = lat.p50_ci95 if lat is not None else None
        flags = condition_flags(r)
        state = states[i]
        status = ("ok" if state.ok else f"**{md_escape(state.word)}**") + "".join(f" ⚠ {f}" for f in flags)
        rows.append(
            [
                md_escape(r.model),
                md_escape(r.variant),
                md_escape(r.backend),
                md_escape(r.precision),
                status,
                fmt_ci(lat.p50, *ci) if lat is not None and ci else "–",
                fmt(lat.p90 if lat is not None else None),
                fmt(lat.cv if lat is not None else None, 2),
                f"{fmt(thr.value)} {thr.unit}".strip() if thr is not None else "–",
                fmt(r.first_call_ms),
                fmt(mem.peak_rss_mib),
                fmt(mem.peak_vram_allocated_mib),
                *([fmt(r.energy.energy_per_item_j if r.energy else None, 3)] if extra["energy"] else []),
                *([fmt(r.cost.per_1k_items_usd if r.cost else None, 3)] if extra["cost"] else []),
                *[_metric_cell(r.metric(m)) for m in metric_names],
                _frontier_cell(ok, i),
            ]
        )
    out += [_table(headers, rows), ""]
    if any(mv.status == "not_applicable" for r in records for mv in r.metrics.values()):
        out += ["A metric left blank (–) does not apply to that job's modality.", ""]
    flagged = conditions_rows(records)
    if flagged:
        out += [
            "## Measurement conditions",
            "",
            "These jobs were timed while something else distorted the timing; compare them with care "
            "(`harness doctor` measures the machine).",
            "",
        ]
        out += [
            f"- ⚠ {md_escape(label)} ({', '.join(flags)}): {md_escape('; '.join(notes))}"
            for label, flags, notes in flagged
        ]
        out.append("")
    serving = scenario_rows(records)
    if serving:
        out += [
            "## Serving scenarios (MLPerf LoadGen)",
            "",
            "Measured by LoadGen from query issue to completion, queueing included. `max_qps` is the highest "
            "offered (scheduled) rate whose latency percentile met the bound in a run LoadGen calls VALID "
            "(its early-stopping test included: MLPerf's rule); a figure a suite accepted from an INVALID run "
            "(`scenario.require_valid: false`) is marked ⚠. LoadGen's logs are linked.",
            "",
        ]
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
        out += [
            _table(
                [
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
                ],
                rows,
            ),
            "",
        ]
    note = energy_note(records)
    if note:
        out += [md_escape(note), ""]

    out += ["## Pareto front", ""]
    if ok is None or ok.empty:
        out += ["No job finished, so there is no front.", ""]
    else:
        out.append(
            "Computed over all objectives at once, separately for each modality (an image model does not "
            "compete with an audio model)."
        )
        out.append("")
        by_modality = {s.modality: s for s in summaries or []}
        for modality, part in ok.groupby("modality", sort=False):
            front = part[part["on_front"]]
            names = ", ".join(
                f"{md_escape(a)} / {md_escape(b)} / {md_escape(c)}"
                for a, b, c in zip(front["model"], front["variant"], front["backend"])
            )
            out.append(
                f"- **{md_escape(modality)}**: {len(front)} of {len(part)} on the front: {names or '–'}"
            )
            s = by_modality.get(str(modality))
            if s is None:
                continue
            out += [f"  - {md_escape(rec.text)}" for rec in s.recommendations]
            out.append(
                f"  - Knee of the front (all objectives): {md_escape(s.knee)}"
                if s.knee
                else "  - No knee: the front has fewer than three jobs or no bend."
            )
            if s.tied:
                out.append(
                    "  - Tied with the front within the 95% intervals (dominated only by the point "
                    "estimates): " + ", ".join(map(md_escape, s.tied))
                )
            if s.infeasible:
                out.append(
                    "  - Infeasible: "
                    + "; ".join(f"{md_escape(lbl)} ({md_escape(why)})" for lbl, why in s.infeasible)
                )
        out.append("")
    floors = noise_floors(records)
    if floors:
        out += ["## Noise floors", "", NOISE_FLOOR_HINT, ""]
        out += [
            _table(
                ["metric", "real vs real", "at n", "best job", "its value"],
                [
                    [
                        md_code(f["metric"], table=True),
                        fmt(f["floor"]),
                        str(f["n"] or "–"),
                        md_escape(f["best"]),
                        fmt(f["best_value"]),
                    ]
                    for f in floors
                ],
            ),
            "",
        ]
    for p in plots:
        out += [f"![{p.stem}]({p.name})", ""]

    out += backend_section(records)

    stage_rows = []
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
        stage_rows.append(
            [md_escape(r.model), md_escape(r.variant), md_escape(r.backend), *cells, fmt(st.total_ms, 3)]
        )
    if stage_rows:
        out += [
            "## Time per stage (ms, one profiled call)",
            "",
            _table(
                [
                    "model",
                    "variant",
                    "backend",
                    "text encode",
                    "denoise step p50 × calls",
                    "decode",
                    "other",
                    "total",
                ],
                stage_rows,
            ),
            "",
        ]

    # skipped, failed or invalid: a metric of another modality is a blank cell, not a line here
    skipped = [
        (r, name, mv)
        for r in records
        for name, mv in r.metrics.items()
        if mv.status not in ("ok", "not_applicable")
    ]
    if skipped:
        out += ["## Metrics not computed", ""]
        for r, name, mv in skipped:
            why = f": {md_escape(mv.reason)}" if mv.reason else ""
            out.append(f"- {_label(r)}: {md_code(name)} {md_escape(mv.status)}{why}")
        out.append("")
    failed = [r for r in records if not r.ok]
    if failed:
        out += ["## Failures", ""]
        for r in failed:
            err = r.error
            if err is None:
                out.append(f"- {_label(r)}: **{md_escape(r.status)}**")
                continue
            line = f"- {_label(r)}: **{md_escape(err.type)}**: {md_escape(err.message)}"
            if err.advice:
                line += f" — {md_escape(err.advice)}"
            out.append(line)
        out.append("")
    out += shortfalls_section(records, states)
    sample_lines = []
    for r in records:
        if r.samples:
            base = Path(r.run_dir or run_dir)
            links = " ".join(f"[{Path(s).name}]({_rel_link(base / s, run_dir)})" for s in r.samples)
            sample_lines.append(f"- {_label(r)}: {links}")
    if sample_lines:
        out += ["## Samples", "", *sample_lines, ""]
    threads = dev.torch_threads if dev is not None and dev.torch_threads is not None else "–"
    out += [
        "## Environment",
        "",
        f"- Python {md_escape(env.python)} on {md_escape(env.platform)}; CPU {md_escape(env.cpu)} × {env.cpu_count}",
        f"- torch threads {threads}; CUDA {(dev.cuda if dev else None) or '–'}; "
        f"driver {(dev.driver if dev else None) or '–'}",
        "- " + ", ".join(f"{md_escape(k)} {md_escape(v)}" for k, v in env.packages.items() if v),
        "",
    ]
    return "\n".join(out)


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


def _label(r: Record) -> str:
    """``model / variant / backend``, escaped."""
    return f"{md_escape(r.model)} / {md_escape(r.variant)} / {md_escape(r.backend)}"


def _rel_link(path: Path, start: Path) -> str:
    try:
        return Path(os.path.relpath(path, start)).as_posix()
    except ValueError:  # another drive on Windows
        return path.as_posix()


def _frontier_cell(ok, i: int) -> str:
    if ok is None or ok.empty or i not in ok.index or "frontier_status" not in ok.columns:
        return "–"
    cell = str(ok.at[i, "frontier_status"])
    return cell + " (knee)" if bool(ok.at[i, "knee"]) else cell


def backend_section(records: list[Record]) -> list[str]:
    """Speed-up vs eager, compile cost, time to first output, break-even count and fidelity per variant."""
    by_variant: dict[tuple[str, str], list[Record]] = {}
    for r in records:
        by_variant.setdefault((r.model, r.variant), []).append(r)
    rows = []
    for (model, variant), recs in by_variant.items():
        eager = next((r for r in recs if r.backend == "eager" and r.ok and r.latency_ms is not None), None)
        if eager is None or len(recs) < 2:
            continue
        t_eager = eager.latency_ms.p50
        for r in recs:
            if not r.ok or r.latency_ms is None:
                status = r.status if not r.ok else "no latency"
                rows.append(
                    [
                        md_escape(model),
                        md_escape(variant),
                        md_escape(r.backend),
                        md_escape(r.precision),
                        md_escape(status),
                        *["–"] * 4,
                    ]
                )
                continue
            t = r.latency_ms.p50
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
                f"{k} {_metric_cell(r.metric(k))}" for k in ("psnr", "ssim", "max_abs_diff") if k in r.metrics
            )
            if r.fidelity is not None and not r.fidelity.ok:
                fid += " ⚠ " + "; ".join(md_escape(v) for v in r.fidelity.violations)
            hit = r.cache_hit
            rows.append(
                [
                    md_escape(model),
                    md_escape(variant),
                    md_escape(r.backend),
                    md_escape(r.precision),
                    f"{t_eager / t:.2f}×",
                    fmt(compile_s, 3) + (" (cache hit)" if hit else ""),
                    fmt(ttfo, 3),
                    breakeven,
                    fid or "–",
                ]
            )
    if not rows:
        return []
    return [
        "## Backends compared with eager",
        "",
        "Speed-up is eager p50 / this p50 on the same variant; compile s is export + build (ONNX, TensorRT) or "
        "the first compiled call's excess over a steady call (torch.compile); time to first output is load + "
        "prepare + first call; break-even is the number of generations after which compiling pays for itself.",
        "",
        _table(
            [
                "model",
                "variant",
                "backend",
                "precision",
                "speed-up",
                "compile s",
                "time to first output s",
                "break-even generations",
                "fidelity vs baseline",
            ],
            rows,
        ),
        "",
    ]

"""report.md: for pull-request comments. The page (:func:`render_markdown`): a header, the table of every job,
the Pareto front per modality, the plots and the environment; the sections between them are
:mod:`harness.report.md_sections`."""

from __future__ import annotations

from pathlib import Path

from harness.core.mdtext import md_code, md_escape
from harness.core.numfmt import fmt_ci
from harness.report.columns import measured_cells, measured_headers, metric_text
from harness.report.md_sections import (
    backend_section,
    conditions_section,
    energy_lines,
    evaluation_section,
    failures_section,
    floors_section,
    not_computed_section,
    samples_section,
    serving_section,
    shortfalls_section,
    stages_section,
    table,
)
from harness.report.sections import condition_flags, optional_columns
from harness.report.states import JobState, job_state
from harness.results.pareto import describe_constraint
from harness.results.record import Record
from harness.results.run_meta import RunMeta


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
    states = [job_state(r) for r in records]
    out = [
        *_header(meta, records, states, objectives, constraints, runs, run_dir),
        *_jobs_table(meta, records, states, ok),
        *conditions_section(records),
        *serving_section(records, run_dir),
        *energy_lines(records),
        *_pareto_section(ok, summaries),
        *floors_section(records),
        *[line for p in plots for line in (f"![{p.stem}]({p.name})", "")],
        *backend_section(records),
        *stages_section(records),
        *evaluation_section(records),
        *not_computed_section(records),
        *failures_section(records),
        *shortfalls_section(records, states),
        *samples_section(records, run_dir),
        *_environment_section(meta),
    ]
    return "\n".join(out)


def _header(meta: RunMeta, records, states, objectives, constraints, runs, run_dir: Path) -> list[str]:
    """The title (suite and runs), how many jobs are ok on which device and versions, the objectives and
    constraints, and the notes of a merge."""
    env, dev = meta.environment, meta.device_environment
    run_ids = [r.run_id for r in runs.runs] if runs is not None else [run_dir.name]
    which = (
        f"run {md_escape(run_ids[0])}" if len(run_ids) == 1 else "runs " + ", ".join(map(md_escape, run_ids))
    )
    n_ok = sum(st.ok for st in states)
    return [
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
    ]


def _jobs_table(meta: RunMeta, records: list[Record], states: list[JobState], ok) -> list[str]:
    """``## Jobs``: one row per job, its state (condition flags marked), speed, memory, metrics, frontier."""
    extra = optional_columns(records)
    metric_names = meta.metric_names
    headers = [
        *("model", "variant", "backend", "precision", "status", "p50 ms [95% CI]"),
        *measured_headers(extra),
        *map(md_escape, metric_names),  # suite input, like every name
        "frontier",
    ]
    rows = []
    for i, (r, state) in enumerate(zip(records, states)):
        lat = r.latency_ms
        ci = lat.p50_ci95 if lat is not None else None
        status = ("ok" if state.ok else f"**{md_escape(state.word)}**") + "".join(
            f" ⚠ {f}" for f in condition_flags(r)
        )
        rows.append(
            [
                *(md_escape(v) for v in (r.model, r.variant, r.backend, r.precision)),
                status,
                fmt_ci(lat.p50, *ci) if lat is not None and ci else "–",
                *(text for text, _ in measured_cells(r, extra)),
                *[metric_text(r.metric(m)) for m in metric_names],
                _frontier_cell(ok, i),
            ]
        )
    out = ["## Jobs", "", table(headers, rows), ""]
    if any(mv.status == "not_applicable" for r in records for mv in r.metrics.values()):
        out += ["A metric left blank (–) does not apply to that job's modality.", ""]
    return out


def _frontier_cell(ok, i: int) -> str:
    if ok is None or ok.empty or i not in ok.index or "frontier_status" not in ok.columns:
        return "–"
    cell = str(ok.at[i, "frontier_status"])
    return cell + " (knee)" if bool(ok.at[i, "knee"]) else cell


def _pareto_section(ok, summaries) -> list[str]:
    """``## Pareto front``: per modality, the jobs on the front, the recommendations, the knee, the ties and
    the infeasible jobs."""
    if ok is None or ok.empty:
        return ["## Pareto front", "", "No job finished, so there is no front.", ""]
    out = [
        "## Pareto front",
        "",
        "Computed over all objectives at once, separately for each modality (an image model does not "
        "compete with an audio model).",
        "",
    ]
    by_modality = {s.modality: s for s in summaries or []}
    for modality, part in ok.groupby("modality", sort=False):
        front = part[part["on_front"]]
        names = ", ".join(
            f"{md_escape(a)} / {md_escape(b)} / {md_escape(c)}"
            for a, b, c in zip(front["model"], front["variant"], front["backend"])
        )
        out.append(f"- **{md_escape(modality)}**: {len(front)} of {len(part)} on the front: {names or '–'}")
        s = by_modality.get(str(modality))
        if s is not None:
            out += _modality_summary(s)
    out.append("")
    return out


def _modality_summary(s) -> list[str]:
    """One modality's recommendations, knee, ties and infeasible jobs
    (:class:`harness.report.decide.ModalitySummary`)."""
    out = [f"  - {md_escape(rec.text)}" for rec in s.recommendations]
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
    return out


def _environment_section(meta: RunMeta) -> list[str]:
    """``## Environment``: Python, platform, CPU, torch threads, CUDA, driver, package versions."""
    env, dev = meta.environment, meta.device_environment
    threads = dev.torch_threads if dev is not None and dev.torch_threads is not None else "–"
    return [
        "## Environment",
        "",
        f"- Python {md_escape(env.python)} on {md_escape(env.platform)}; CPU {md_escape(env.cpu)} × {env.cpu_count}",
        f"- torch threads {threads}; CUDA {(dev.cuda if dev else None) or '–'}; "
        f"driver {(dev.driver if dev else None) or '–'}",
        "- " + ", ".join(f"{md_escape(k)} {md_escape(v)}" for k, v in env.packages.items() if v),
        "",
    ]

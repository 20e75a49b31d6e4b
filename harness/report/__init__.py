"""Reports of one or more runs: report.md, report.html, frontier.csv, records.parquet, Pareto PNGs.

``harness report RUN_DIR`` writes into the run folder; several runs (merged when their environments and
metric fingerprints agree, see :mod:`harness.report.merge`) go to ``--out``.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from harness.config.plan import safe_name
from harness.core.errors import UserInputError
from harness.report.decide import summarize_frontier
from harness.report.html import render_html
from harness.report.markdown import render_markdown
from harness.report.merge import Runs, load_runs, objectives_of
from harness.report.panels import panel_modalities, panel_title
from harness.report.plots import load_curve_plot, pareto_plot
from harness.results.outcome import Tally
from harness.results.pareto import classify

__all__ = ["FRONTIER_COLUMNS", "build_report", "classified_tables", "load_runs", "objectives_of"]

FRONTIER_COLUMNS = ("feasible", "violations", "on_front", "tied", "dominated", "knee", "frontier_status")


def classified_tables(runs: Runs):
    """``(df, ok)``: every record flattened, and the ones that may stand on a front classified per modality
    (front, ties, knee): ok jobs with their headline measured and valid (a job short of a metric only is
    there, incomplete where that metric is an objective; one not measured or from an invalid run is not)."""
    df = runs.table()
    if df.empty:
        return df, df
    ok = df[[s.rankable for s in runs.states]].copy()  # rankable: status ok, headline measured and valid
    for col in runs.objectives:
        if col not in ok.columns:
            ok[col] = float("nan")
    ok = classify(ok, runs.objectives, runs.constraints, group_by="modality")
    return df, ok


def build_report(
    run_dirs: str | Path | list[str | Path],
    out_dir: str | Path | None = None,
    *,
    html: bool = True,
    allow_mismatch: bool = False,
) -> dict[str, Any]:
    """Write the report files; return their paths.

    Args:
        run_dirs: one run folder, or several to merge into one report.
        out_dir: where to write (default: the run folder; required with several runs).
        html: also write the self-contained ``report.html``.
        allow_mismatch: merge runs whose environments or metric fingerprints differ (the report says so).

    Returns:
        ``plots`` (list of PNG paths), ``panels`` (each Pareto PNG's name → the modalities it has a
        panel for, in order: those where a job has both values), ``frontier_csv``, ``parquet`` (None
        when pyarrow is missing, with the reason in ``skipped``), ``markdown``, ``html`` (None with
        ``html=False``), ``dest``, ``warnings``: what reading the runs passed over (a torn last line
        of records.jsonl, naming it), ``read_once``: runs given twice and read once, and ``tally``: the
        jobs as :class:`harness.results.outcome.Tally` counts them (what was measured, what was not) out of
        ``n_jobs``.
    """
    runs = load_runs(run_dirs, allow_mismatch=allow_mismatch)
    dest = _destination(runs, out_dir)
    df, ok = classified_tables(runs)
    out: dict[str, Any] = {
        "plots": [],
        "panels": {},
        "dest": dest,
        "skipped": [],
        "warnings": list(runs.warnings),
        "read_once": list(runs.read_once),
        "tally": Tally.of_records(runs.records),
        "n_jobs": len(runs.records),
    }
    title = " + ".join(dict.fromkeys(r.meta.suite_name or r.run_id for r in runs.runs))
    _pareto_pngs(runs, ok, dest, title, out)
    curves = load_curve_plot(runs.records, dest / "load_curves.png", f"{title}: latency against offered load")
    if curves is not None:
        out["plots"].append(curves)
    else:
        (dest / "load_curves.png").unlink(missing_ok=True)
    out["frontier_csv"] = _write_frontier(runs, ok, dest / "frontier.csv")
    out["parquet"] = _write_parquet(df, ok, dest / "records.parquet", out["skipped"])
    summaries = summarize_frontier(ok, runs.objectives, runs.constraints)
    md = dest / "report.md"
    md.write_text(
        render_markdown(
            runs.meta,
            runs.records,
            df,
            ok,
            runs.objectives,
            out["plots"],
            dest,
            constraints=runs.constraints,
            summaries=summaries,
            runs=runs,
        ),
        encoding="utf-8",
    )
    out["markdown"] = md
    out["html"] = None
    if html:
        out["html"] = dest / "report.html"
        out["html"].write_text(render_html(runs, df, ok, summaries, out["plots"]), encoding="utf-8")
    return out


def _destination(runs: Runs, out_dir: str | Path | None) -> Path:
    """Where the report goes: ``out_dir`` (created), or the run folder of a single run."""
    if out_dir is None:
        if len(runs.runs) > 1:
            raise UserInputError("several runs make one report: give --out DIR for it")
        return runs.runs[0].path
    dest = Path(out_dir)
    if dest.exists() and not dest.is_dir():
        raise UserInputError("--out: exists and is not a folder", source=str(dest))
    dest.mkdir(parents=True, exist_ok=True)
    return dest


def _pareto_pngs(runs: Runs, ok, dest: Path, title: str, out: dict[str, Any]) -> None:
    """One PNG per pair of objectives with a panel per modality where a job has both values (a pair no job
    has both of, an image metric against a video one, has no figure; report.html draws the same panels).
    A figure an earlier report drew into this folder and this one does not must not stay beside the report
    as if it were current: it is removed."""
    for x, y in itertools.combinations(list(runs.objectives), 2):
        path = dest / f"pareto_{safe_name(x)}__{safe_name(y)}.png"
        modalities = panel_modalities(ok, x, y)
        if modalities and pareto_plot(
            ok, x, y, runs.objectives, path, f"{title}: {y} vs {x}", runs.constraints
        ):
            out["plots"].append(path)
            out["panels"][path.name] = [panel_title(m) for m in modalities]
    for stale in dest.glob("pareto_*__*.png"):
        if stale not in out["plots"]:
            stale.unlink(missing_ok=True)


def _write_frontier(runs: Runs, ok, path: Path) -> Path:
    """frontier.csv: the ranked jobs' identity, objectives with their intervals, and frontier status."""
    ident = ["run_id"] if len(runs.runs) > 1 else []
    ident += ["model", "variant", "backend", "scenario", "precision", "modality", "batch_size"]
    bounds = [f"{c}_{e}" for c in runs.objectives for e in ("lo", "hi")]
    cols = [*ident, *runs.objectives, *bounds, *FRONTIER_COLUMNS]
    if ok.empty:
        path.write_text(",".join(c for c in cols if not c.endswith(("_lo", "_hi"))) + "\n")
    else:
        ok[[c for c in cols if c in ok.columns]].to_csv(path, index=False)
    return path


def _write_parquet(df, ok, path: Path, skipped: list[str]) -> Path | None:
    """Every record flattened, with its frontier status (jobs off every front: their state, flags False)."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        skipped.append(f"{path.name}: pyarrow is not installed (pip install pyarrow)")
        return None
    table = df.copy()
    if not table.empty:
        for col in FRONTIER_COLUMNS:
            fill = table["state"] if col == "frontier_status" else ("" if col == "violations" else False)
            table[col] = ok[col].reindex(table.index) if col in ok.columns else None
            table[col] = table[col].where(table[col].notna(), fill)
            if col not in ("violations", "frontier_status"):
                table[col] = table[col].astype(bool)
    table.to_parquet(path, index=False)
    return path

"""Reports of a run: report.md, frontier.csv and one pareto_<x>__<y>.png per pair of objectives."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from harness.plan import safe_name
from harness.results import RunStore, to_frame


def objectives_of(meta: dict[str, Any]) -> dict[str, str]:
    return dict((meta.get("suite") or {}).get("objectives") or {"latency_ms.p50": "min", "peak_rss_mib": "min"})


def build_report(run_dir: str | Path) -> dict[str, Any]:
    """Write the report files into the run folder; return their paths."""
    from harness.pareto import pareto_front
    from harness.report.markdown import render_markdown
    from harness.report.plots import pareto_plot

    store = RunStore.open(run_dir)
    meta = store.meta()
    records = store.records()
    objectives = objectives_of(meta)
    df = to_frame(records)
    out: dict[str, Any] = {"plots": []}
    if df.empty:
        ok = df
    else:
        ok = df[df["status"] == "ok"].copy()
        for col in objectives:
            if col not in ok.columns:
                ok[col] = float("nan")
        ok["on_front"] = pareto_front(ok, objectives, group_by="modality") if not ok.empty else []
    suite_name = (meta.get("suite") or {}).get("name", store.run_id)
    names = list(objectives)
    for x, y in itertools.combinations(names, 2):
        path = store.path / f"pareto_{safe_name(x)}__{safe_name(y)}.png"
        if not ok.empty:
            pareto_plot(ok, x, y, objectives, path, f"{suite_name}: {y} vs {x}")
            out["plots"].append(path)
    cols = ["model", "variant", "backend", "precision", "modality", "batch_size", *names, "on_front"]
    frontier = store.path / "frontier.csv"
    if ok.empty:
        frontier.write_text(",".join(cols) + "\n")
    else:
        ok[[c for c in cols if c in ok.columns]].to_csv(frontier, index=False)
    out["frontier_csv"] = frontier
    md = store.path / "report.md"
    md.write_text(render_markdown(meta, records, df, ok, objectives, out["plots"], store.path), encoding="utf-8")
    out["markdown"] = md
    return out

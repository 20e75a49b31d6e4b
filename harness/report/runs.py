"""One or more run folders loaded as one table, merged only when their numbers are comparable."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import UserInputError
from harness.results import RunStore, comparable_environment, flatten

DEFAULT_OBJECTIVES = {"latency_ms.p50": "min", "peak_rss_mib": "min"}

# What must agree for two runs' speed numbers to share a plot: the device, and the versions of what runs
# the model. The harness commit and the date may differ (that is the point of comparing runs).


def objectives_of(meta: dict[str, Any]) -> dict[str, str]:
    return dict((meta.get("suite") or {}).get("objectives") or DEFAULT_OBJECTIVES)


def constraints_of(meta: dict[str, Any]) -> list[dict[str, Any]]:
    """The suite's constraints as ``{metric, min, max}`` mappings."""
    out = []
    for c in (meta.get("suite") or {}).get("constraints") or []:
        out.append({"metric": c["metric"], "min": c.get("min"), "max": c.get("max")})
    return out


def environment_key(meta: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    """The parts of a run's environment that make its timings comparable with another run's (the gate's
    definition: :func:`harness.results.comparable_environment`)."""
    return comparable_environment(meta, records)


def metric_fingerprints(records: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Per metric, the distinct fingerprints of its computed values (extractor, versions, options)."""
    out: dict[str, set[str]] = {}
    for r in records:
        for name, mv in (r.get("metrics") or {}).items():
            if mv.get("status") == "ok" and mv.get("fingerprint"):
                out.setdefault(name, set()).add(str(mv["fingerprint"]))
    return {k: sorted(v) for k, v in sorted(out.items())}


@dataclass
class Run:
    path: Path
    meta: dict[str, Any]
    records: list[dict[str, Any]]

    @property
    def run_id(self) -> str:
        return str(self.meta.get("run_id") or self.path.name)


@dataclass
class Runs:
    """Runs loaded together: records keep ``_run_id`` and ``_run_dir`` (in memory only)."""

    runs: list[Run]
    records: list[dict[str, Any]]
    objectives: dict[str, str]
    constraints: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)

    @property
    def meta(self) -> dict[str, Any]:
        return self.runs[0].meta

    def table(self):
        """One row per record (:func:`harness.results.flatten`) with a ``run_id`` column."""
        import pandas as pd

        rows = [{**flatten(r), "run_id": r["_run_id"]} for r in self.records]
        return pd.DataFrame(rows)


def merge_problems(runs: list[Run]) -> list[str]:
    """Why the runs cannot share one report (empty when they can): each later run against the first."""
    if len(runs) < 2:
        return []
    first = runs[0]
    env0 = environment_key(first.meta, first.records)
    fp0 = metric_fingerprints(first.records)
    problems = []
    for run in runs[1:]:
        env = environment_key(run.meta, run.records)
        for key, value in env.items():
            if value != env0[key]:
                problems.append(f"{run.run_id}: {key} {value!r} differs from {first.run_id}'s {env0[key]!r}")
        for name, prints in metric_fingerprints(run.records).items():
            if name in fp0 and prints != fp0[name]:
                problems.append(
                    f"{run.run_id}: metric {name} fingerprint {','.join(prints)} differs from "
                    f"{first.run_id}'s {','.join(fp0[name])}"
                )
        if objectives_of(run.meta) != objectives_of(first.meta):
            problems.append(f"{run.run_id}: objectives differ from {first.run_id}'s")
        if constraints_of(run.meta) != constraints_of(first.meta):
            problems.append(f"{run.run_id}: constraints differ from {first.run_id}'s")
    return problems


def load_runs(paths: list[str | Path] | str | Path, *, allow_mismatch: bool = False) -> Runs:
    """Open run folders; merge them when environments and metric fingerprints agree.

    Raises:
        UserInputError: a folder is not a run, is given twice, or the runs disagree (one line naming the
            first disagreements) and ``allow_mismatch`` is False. With ``allow_mismatch`` the reasons are
            kept in ``notes`` and the first run's objectives and constraints are used.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    runs: list[Run] = []
    seen: set[Path] = set()
    for p in paths:
        store = RunStore.open(p)
        real = store.path.resolve()
        if real in seen:
            raise UserInputError("run folder given twice", source=str(p))
        seen.add(real)
        runs.append(Run(store.path, store.meta(), store.records()))
    if not runs:
        raise UserInputError("no run folder given")
    problems = merge_problems(runs)
    if problems and not allow_mismatch:
        more = f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
        raise UserInputError(
            f"cannot merge runs: {'; '.join(problems[:3])}{more} (use --allow-mismatch to merge anyway)",
            source=str(runs[0].path),
        )
    records = []
    for run in runs:
        for r in run.records:
            records.append({**r, "_run_id": run.run_id, "_run_dir": run.path})
    notes = [f"merged despite: {p}" for p in problems]
    return Runs(runs, records, objectives_of(runs[0].meta), constraints_of(runs[0].meta), notes)


NOISE_FLOOR_HINT = (
    "What real data scores against the metric's own reference at the same sample size (training "
    "split vs held-out split): a generator cannot be told apart from the data below it."
)


def noise_floors(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per distribution metric whose details carry a real-vs-real noise floor (the zoo's domain distances):
    the floor at the generated sample size and the job closest to it."""
    out: dict[str, dict[str, Any]] = {}
    for r in records:
        for name, mv in (r.get("metrics") or {}).items():
            d = mv.get("details") or {}
            if (
                mv.get("status") != "ok"
                or "noise_floor" not in d
                or not isinstance(mv.get("value"), (int, float))
            ):
                continue
            at_n = d.get("noise_floor_at_n") or {}
            row = out.setdefault(
                name,
                {
                    "metric": name,
                    "floor": at_n.get("value", d["noise_floor"]),
                    "n": at_n.get("n", d.get("noise_floor_n")),
                    "best": None,
                    "best_value": None,
                },
            )
            best = row["best_value"]
            if best is None or (mv["value"] > best if mv.get("higher_is_better") else mv["value"] < best):
                row["best"] = f"{r.get('model')} / {r.get('variant')} / {r.get('backend')}"
                row["best_value"] = mv["value"]
    return list(out.values())

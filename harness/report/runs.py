"""One or more run folders loaded as one table, merged only when their numbers are comparable."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.errors import UserInputError
from harness.results import Record, RunMeta, RunStore, comparable_environment, flatten
from harness.results.identity import record_id, same_folder_or_file
from harness.results.outcome import headline, headline_run, record_shortfalls, scenario_headline

DEFAULT_OBJECTIVES = {"latency_ms.p50": "min", "peak_rss_mib": "min"}

# What must agree for two runs' speed numbers to share a plot: the device, and the versions of what runs
# the model. The harness commit and the date may differ (that is the point of comparing runs).


def objectives_of(meta: RunMeta) -> dict[str, str]:
    """The suite's objectives, column → ``min``/``max`` (:data:`DEFAULT_OBJECTIVES` when it names none)."""
    return meta.objectives or dict(DEFAULT_OBJECTIVES)


def constraints_of(meta: RunMeta) -> list[dict[str, Any]]:
    """The suite's constraints as ``{metric, min, max}`` mappings."""
    return meta.constraints


def environment_key(meta: RunMeta, records: list[Record]) -> dict[str, Any]:
    """The parts of a run's environment that make its timings comparable with another run's (the gate's
    definition: :func:`harness.results.comparable_environment`)."""
    return comparable_environment(meta, records)


def metric_fingerprints(records: list[Record]) -> dict[str, list[str]]:
    """Per metric, the distinct fingerprints of its computed values (extractor, versions, options)."""
    out: dict[str, set[str]] = {}
    for r in records:
        for name, mv in r.metrics.items():
            if mv.status == "ok" and mv.fingerprint:
                out.setdefault(name, set()).add(mv.fingerprint)
    return {k: sorted(v) for k, v in sorted(out.items())}


@dataclass(frozen=True)
class JobState:
    """What the report shows as a job's status: ``ok`` only for a measured success (its headline measured,
    from a run its engine calls valid, no metric failed or invalid: :func:`harness.results.outcome.
    record_shortfalls`), else the record's status (``failed``…), ``not measured``, ``invalid`` or ``metric
    failed`` / ``metric invalid``; with the reasons and the notes a reader must see."""

    word: str
    reasons: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.word == "ok"

    @property
    def rankable(self) -> bool:
        """Whether the job may stand on a Pareto front: ok, or only a metric short (then incomplete there)."""
        return self.word == "ok" or self.word.startswith("metric ")


def job_state(record: Record) -> JobState:
    """The job's :class:`JobState`, from :func:`harness.results.outcome.record_shortfalls`."""
    shortfalls, notes = record_shortfalls(record)
    reasons = tuple(s.text() for s in shortfalls)
    if not record.ok:
        return JobState(record.status, reasons, tuple(notes))
    own = [s for s in shortfalls if s.subject == record.label]
    if own:
        return JobState(own[0].label, reasons, tuple(notes))
    if shortfalls:
        return JobState(f"metric {shortfalls[0].label}", reasons, tuple(notes))
    return JobState("ok", (), tuple(notes))


@dataclass
class Run:
    path: Path
    meta: RunMeta
    records: list[Record]

    @property
    def run_id(self) -> str:
        return str(self.meta.run_id or self.path.name)


@dataclass
class Runs:
    """Runs loaded together: each record is located (``record.run_id``, ``record.run_dir``)."""

    runs: list[Run]
    records: list[Record]
    objectives: dict[str, str]
    constraints: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # what reading passed over (a torn last line)
    read_once: list[str] = field(default_factory=list)  # a run given twice: read once, and why

    @property
    def meta(self) -> RunMeta:
        return self.runs[0].meta

    @property
    def states(self) -> list[JobState]:
        """Each record's :class:`JobState`, in the order of ``records``."""
        return [job_state(r) for r in self.records]

    def table(self):
        """One row per record (:func:`harness.results.flatten`) with a ``run_id`` column and the job's
        ``state`` (:class:`JobState`'s word: ``ok`` only for a measured success)."""
        import pandas as pd

        rows = [{**flatten(r), "run_id": r.run_id, "state": job_state(r).word} for r in self.records]
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

    A torn last line of a ``records.jsonl`` (the run stopped while writing it) is passed over: its
    warning, prefixed with the run id, is kept in ``warnings``.

    A run given twice (the same folder, a copy of it: a byte-identical ``records.jsonl``, or the same run id
    with the same records) is read once; why is kept in ``read_once``.

    Raises:
        UserInputError: a folder is not a run, holds no complete record, two folders hold the same run id
            with other records (one was resumed or edited), or the runs disagree (one line naming the first
            disagreements) and ``allow_mismatch`` is False. With ``allow_mismatch`` the reasons are kept in
            ``notes`` and the first run's objectives and constraints are used.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    runs: list[Run] = []
    warnings: list[str] = []
    read_once: list[str] = []
    for p in paths:
        store = RunStore.open(p)
        meta = store.meta()
        same = next(((run, why) for run in runs if (why := same_folder_or_file(run.path, store.path))), None)
        if same is not None:
            read_once.append(f"{p}: {same[1]} as {same[0].path}: the run is read once")
            continue
        read = store.read()
        if not read.records:
            torn = f" ({read.warnings[0]})" if read.warnings else ""
            raise UserInputError(
                f"no records: the run wrote none (did it crash before the first job ended?){torn}",
                source=str(store.path),
            )
        run = Run(store.path, meta, read.records)
        twin = next((r for r in runs if meta.run_id and r.meta.run_id == meta.run_id), None)
        if twin is not None:
            ids = {record_id(r) for r in read.records}
            if None not in ids and ids == {record_id(r) for r in twin.records}:
                read_once.append(f"{p}: the same run {meta.run_id} as {twin.path}: the run is read once")
                continue
            raise UserInputError(
                f"run {meta.run_id} is also {twin.path} with other records (one of them was resumed or "
                "edited): give one of them",
                source=str(p),
            )
        warnings += [f"{run.run_id}: {w}" for w in read.warnings]
        runs.append(run)
    if not runs:
        raise UserInputError("no run folder given")
    problems = merge_problems(runs)
    if problems and not allow_mismatch:
        more = f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
        raise UserInputError(
            f"cannot merge runs: {'; '.join(problems[:3])}{more} (use --allow-mismatch to merge anyway)",
            source=str(runs[0].path),
        )
    records = [r.located(run.run_id, run.path) for run in runs for r in run.records]
    notes = [f"merged despite: {p}" for p in problems]
    objectives, constraints = objectives_of(runs[0].meta), constraints_of(runs[0].meta)
    return Runs(runs, records, objectives, constraints, notes, warnings, read_once)


NOISE_FLOOR_HINT = (
    "What real data scores against the metric's own reference at the same sample size (training "
    "split vs held-out split): a generator cannot be told apart from the data below it."
)


def noise_floors(records: list[Record]) -> list[dict[str, Any]]:
    """Per distribution metric whose details carry a real-vs-real noise floor (the zoo's domain distances):
    the floor at the generated sample size and the job closest to it."""
    out: dict[str, dict[str, Any]] = {}
    for r in records:
        for name, mv in r.metrics.items():
            d = mv.details
            value = mv.number
            if value is None or not math.isfinite(value) or "noise_floor" not in d:
                continue
            at_n = d.get("noise_floor_at_n")
            at_n = at_n if isinstance(at_n, dict) else {}
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
            if best is None or (value > best if mv.higher_is_better else value < best):
                row["best"] = r.label
                row["best_value"] = value
    return list(out.values())


# -------------------------------------------------------------------------- conditions, energy and cost


def condition_flags(record: Record) -> list[str]:
    """Short marks for a job measured under conditions that distort its timing (the report flags them)."""
    return record.conditions.flags if record.conditions is not None else []


def conditions_rows(records: list[Record]) -> list[tuple[str, list[str], list[str]]]:
    """(job label, flags, notes) of every job with a condition flag."""
    return [(r.label, condition_flags(r), list(r.conditions.notes)) for r in records if condition_flags(r)]


def optional_columns(records: list[Record]) -> dict[str, bool]:
    """Whether any job has energy or cost figures (columns appear only then)."""
    return {
        "energy": any(r.energy is not None and r.energy.energy_per_item_j is not None for r in records),
        "cost": any(r.cost is not None and r.cost.per_1k_items_usd is not None for r in records),
    }


def energy_note(records: list[Record]) -> str | None:
    """When no job has an energy figure: why (the first reason recorded), so an absent column is explained."""
    if optional_columns(records)["energy"]:
        return None
    reasons = [r.energy.reason for r in records if r.energy is not None and r.energy.reason]
    return f"Energy not measured: {reasons[0]}" if reasons else None


# ----------------------------------------------------------------------------------------- scenarios


ACCEPTED_INVALID = "⚠ from a run LoadGen calls INVALID (accepted: scenario.require_valid false)"


def early_stopping_text(run: Any) -> str:
    """LoadGen's early-stopping verdict of one run in a few words (its estimate where it gives one)."""
    es = run.early_stopping if run is not None else None
    if es is None:
        return ""
    if es.met is False:
        need = f": needs ≥ {es.queries_needed} queries" if es.queries_needed else ""
        return f"not met ({run.queries} queries{need})"
    parts = []
    if es.estimate_ms is not None:
        parts.append(f"p{es.percentile:g} estimate {es.estimate_ms:.4g} ms")
    if es.over_bound is not None:
        parts.append(f"{es.over_bound} of {run.queries} over the bound")
    return "met" + (f" ({', '.join(parts)})" if parts else "")


def scenario_rows(records: list[Record]) -> list[dict[str, Any]]:
    """One row per job with a LoadGen scenario: what it sustained, under which bound, and LoadGen's verdict;
    a figure the suite accepted from an INVALID run is marked."""
    out = []
    for r in records:
        lg = r.loadgen
        if lg is None:
            continue
        best = headline_run(lg) or (lg.runs[-1] if lg.runs else None)
        if lg.kind == "server":
            result = (
                f"max {lg.max_qps:.4g} QPS"
                if lg.max_qps is not None
                else (f"{best.scheduled_qps:.4g} QPS offered" if best and best.scheduled_qps else "–")
            )
        elif lg.kind == "offline":
            result = f"{lg.throughput:.4g} samples/s at batch {lg.best_batch}" if lg.throughput else "–"
        else:
            result = f"p90 {best.p90_ms:.4g} ms" if best and best.p90_ms is not None else "–"
        head = scenario_headline(lg)
        marked = head.measured and head.valid is False and not head.required_valid
        out.append(
            {
                "label": r.label,
                "kind": lg.kind,
                "result": f"{result} {ACCEPTED_INVALID}" if marked else result,
                "marked": marked,
                "p99_ms": lg.p99_ms if lg.p99_ms is not None else (best.p99_ms if best else None),
                "bound": f"p{lg.percentile:g} ≤ {lg.latency_bound_ms:g} ms"
                if lg.latency_bound_ms is not None
                else "–",
                "runs": len(lg.runs),
                **_validity(r),
                "early_stopping": early_stopping_text(best),
                "note": lg.reason or (r.error.message if r.error is not None else ""),
                "logs": [(Path(p).name, p) for p in (best.logs if best else [])],
                "run_dir": r.run_dir,
            }
        )
    return out


def _validity(record: Record) -> dict[str, str]:
    """LoadGen's verdict on the run the headline comes from, read only through
    :func:`harness.results.outcome.headline`: ``valid`` (VALID, INVALID, INVALID (accepted by the suite), or
    – where no run gave the headline) and ``why``."""
    head = headline(record)
    if head.valid is None:
        return {"valid": "–", "why": ""}
    if head.valid:
        return {"valid": "VALID", "why": ""}
    word = "INVALID" if head.required_valid else "INVALID (accepted by the suite)"
    return {"valid": word, "why": "; ".join(head.reasons)}

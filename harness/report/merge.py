"""One or more run folders (:class:`harness.results.runs.Run`) as one report's records, merged only when their
numbers are comparable."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.errors import UserInputError
from harness.report.states import JobState, job_state
from harness.results.record import Record
from harness.results.run_meta import RunMeta
from harness.results.runs import Run, environment_changes, same_run
from harness.results.table import flatten

DEFAULT_OBJECTIVES = {"latency_ms.p50": "min", "peak_rss_mib": "min"}


def objectives_of(meta: RunMeta) -> dict[str, str]:
    """The suite's objectives, column → ``min``/``max`` (:data:`DEFAULT_OBJECTIVES` when it names none)."""
    return meta.objectives or dict(DEFAULT_OBJECTIVES)


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
    """Why the runs cannot share one report (empty when they can): each later run against the first, on
    the comparable environment (:func:`harness.results.runs.environment_changes`), every metric's
    fingerprints, the objectives and the constraints."""
    if len(runs) < 2:
        return []
    first = runs[0]
    fp0 = first.metric_fingerprints()
    problems = []
    for run in runs[1:]:
        for key, was, value in environment_changes(first, run):
            problems.append(f"{run.run_id}: {key} {value!r} differs from {first.run_id}'s {was!r}")
        for name, prints in run.metric_fingerprints().items():
            if name in fp0 and prints != fp0[name]:
                problems.append(
                    f"{run.run_id}: metric {name} fingerprint {','.join(prints)} differs from "
                    f"{first.run_id}'s {','.join(fp0[name])}"
                )
        if objectives_of(run.meta) != objectives_of(first.meta):
            problems.append(f"{run.run_id}: objectives differ from {first.run_id}'s")
        if run.meta.constraints != first.meta.constraints:
            problems.append(f"{run.run_id}: constraints differ from {first.run_id}'s")
    return problems


def _open_once(paths: list[str | Path]) -> tuple[list[Run], list[str]]:
    """Each run folder opened once: a run given twice (:func:`harness.results.runs.same_run`) is read once,
    with why. Two folders of one run id holding other records are bad input."""
    runs: list[Run] = []
    read_once: list[str] = []
    for p in paths:
        run = Run.open(p)
        same = next(((seen, why) for seen in runs if (why := same_run(seen, run))), None)
        if same is not None:
            read_once.append(f"{p}: {same[1]} as {same[0].path}: the run is read once")
            continue
        twin = next((seen for seen in runs if run.meta.run_id and seen.meta.run_id == run.meta.run_id), None)
        if twin is not None:
            raise UserInputError(
                f"run {run.meta.run_id} is also {twin.path} with other records (one of them was resumed or "
                "edited): give one of them",
                source=str(p),
            )
        runs.append(run)
    return runs, read_once


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
    runs, read_once = _open_once([paths] if isinstance(paths, (str, Path)) else list(paths))
    if not runs:
        raise UserInputError("no run folder given")
    problems = merge_problems(runs)
    if problems and not allow_mismatch:
        more = f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
        raise UserInputError(
            f"cannot merge runs: {'; '.join(problems[:3])}{more} (use --allow-mismatch to merge anyway)",
            source=str(runs[0].path),
        )
    records = [r.located(run.run_id, run.path) for run in runs for r in run.latest]
    warnings = [f"{run.run_id}: {w}" for run in runs for w in run.warnings]
    notes = [f"merged despite: {p}" for p in problems]
    return Runs(
        runs, records, objectives_of(runs[0].meta), runs[0].meta.constraints, notes, warnings, read_once
    )

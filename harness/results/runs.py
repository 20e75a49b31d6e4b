"""Finished run folders as every reader reads them: the report, the gate, the exports and the trackers.

- :class:`Run`: a run folder opened: ``run.json`` and the latest record of each job, with what reading passed
  over (a last line cut short);
- :func:`same_run`: when two folders hold one run (the same folder, a copy, the same run id with the same
  records), so that no reader compares a run with itself or shows it twice;
- :func:`environment_changes`, :func:`environment_differences`, :func:`fingerprint_differences`: what keeps
  two runs' numbers apart (the one definition is :func:`harness.results.environment.comparable_environment`);
  :class:`NotComparable`: the error that says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.errors import UserInputError
from harness.results.environment import comparable_environment, device_environment
from harness.results.identity import record_id, same_folder_or_file
from harness.results.record import Record
from harness.results.run_meta import RunMeta
from harness.results.store import RECORDS, RunStore

__all__ = [
    "NotComparable",
    "Run",
    "environment_changes",
    "environment_differences",
    "fingerprint_differences",
    "same_run",
]


@dataclass
class Run:
    """A finished run folder: its metadata and the latest record of each job (job id → record, in the order
    the jobs first appear in ``records.jsonl``)."""

    path: Path
    meta: RunMeta
    records: dict[str, Record]
    warnings: list[str] = field(default_factory=list)  # what reading passed over (a torn last line)
    torn: list[str] = field(default_factory=list)  # jobs whose record was cut short: they count as missing

    @classmethod
    def open(cls, path: str | Path, *, role: str = "", require_records: bool = True) -> Run:
        """Open a run folder. With ``require_records`` a run without a single complete record is bad input
        (a run that crashed before writing anything can judge nothing and be judged by nothing); ``role``
        names the run in that message (``head``, ``base``)."""
        store = RunStore.open(path)
        meta = store.meta()
        read = store.read()
        if require_records and not read.records:
            torn = f" ({read.warnings[0]})" if read.warnings else ""
            raise UserInputError(
                f"{role + ' ' if role else ''}run has no records: {RECORDS} is missing or empty{torn}; the "
                "run wrote no job (did it crash before the first job ended?)",
                source=str(store.path),
            )
        return cls(store.path, meta, {r.job_id: r for r in read.records}, read.warnings, read.torn_job_ids)

    @property
    def run_id(self) -> str:
        """The run's id (run.json's, else the folder's name)."""
        return str(self.meta.run_id or self.path.name)

    @property
    def latest(self) -> list[Record]:
        """The latest record of each job, in order."""
        return list(self.records.values())

    def device_environment(self) -> dict[str, Any]:
        """What the jobs' processes saw of the device (:func:`harness.results.environment.device_environment`)."""
        return device_environment(self.meta, self.latest)

    def comparable_environment(self) -> dict[str, Any]:
        """What makes this run's timings comparable with another's, label → value."""
        return comparable_environment(self.meta, self.latest)

    def metric_fingerprints(self) -> dict[str, list[str]]:
        """Per metric, the distinct fingerprints of its computed values (extractor, versions, options)."""
        out: dict[str, set[str]] = {}
        for r in self.latest:
            for name, mv in r.metrics.items():
                if mv.status == "ok" and mv.fingerprint:
                    out.setdefault(name, set()).add(mv.fingerprint)
        return {k: sorted(v) for k, v in sorted(out.items())}


def same_run(a: Run, b: Run) -> str | None:
    """Why ``a`` and ``b`` hold one run, or None: ``the same folder``, ``byte-identical records.jsonl``, or
    ``the same run ID`` (one run id, and the same records: job ids and start times,
    :func:`harness.results.identity.record_id`)."""
    why = same_folder_or_file(a.path, b.path)
    if why:
        return why
    if a.meta.run_id and a.meta.run_id == b.meta.run_id:
        ids = {record_id(r) for r in a.latest}
        if None not in ids and ids == {record_id(r) for r in b.latest}:
            return f"the same run {a.meta.run_id}"
    return None


class NotComparable(UserInputError):
    """The runs' environments or metric fingerprints differ."""

    def __init__(self, message: str, *, source: str, differences: list[str]):
        super().__init__(message, source=source)
        self.differences = differences


def environment_changes(a: Run, b: Run) -> list[tuple[str, Any, Any]]:
    """``(label, a's value, b's value)`` for each field of :meth:`Run.comparable_environment` that differs."""
    a_env, b_env = a.comparable_environment(), b.comparable_environment()
    return [(label, value, b_env[label]) for label, value in a_env.items() if value != b_env[label]]


def environment_differences(base: Run, head: Run) -> list[str]:
    """``label a → b`` for each field of the comparable environment that differs (on a CPU the device name is
    the CPU's: a change of both is said once)."""
    changes = environment_changes(base, head)
    device = next(((a, b) for label, a, b in changes if label == "device name"), None)
    return [f"{label} {a} → {b}" for label, a, b in changes if not (label == "cpu" and device == (a, b))]


def fingerprint_differences(base: Run, head: Run, keys: list[str]) -> list[str]:
    """``metric KEY fingerprint a → b`` for each of ``keys`` whose fingerprint differs in a job of both runs
    (the first job found)."""
    seen: dict[str, tuple[str, str]] = {}
    for jid in sorted(set(base.records) & set(head.records)):
        bm, hm = base.records[jid].metrics, head.records[jid].metrics
        for key in keys:
            fa = bm[key].fingerprint if key in bm else None
            fb = hm[key].fingerprint if key in hm else None
            if fa and fb and fa != fb:
                seen.setdefault(key, (fa, fb))
    return [f"metric {k} fingerprint {a} → {b}" for k, (a, b) in seen.items()]

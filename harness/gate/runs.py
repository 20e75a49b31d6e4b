"""The two runs a comparison reads, and what makes them comparable."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.core.errors import UserInputError
from harness.results.environment import comparable_environment, device_environment
from harness.results.record import Record
from harness.results.run_meta import RunMeta
from harness.results.store import RunStore


@dataclass
class Run:
    """A run folder as the gate reads it: its metadata and the latest record of each job."""

    path: Path
    meta: RunMeta
    records: dict[str, Record]
    warnings: list[str] = field(default_factory=list)
    torn: list[str] = field(default_factory=list)  # jobs whose record was cut short: they count as missing

    @classmethod
    def open(cls, path: str | Path, *, role: str = "run", require_records: bool = True) -> Run:
        """Open a run folder; with ``require_records`` a run without a single complete record is bad input
        (a run that crashed before writing anything can judge nothing and be judged by nothing)."""
        store = RunStore.open(path)
        meta = store.meta()
        read = store.read()
        if require_records and not read.records:
            torn = f" ({read.warnings[0]})" if read.warnings else ""
            raise UserInputError(
                f"{role} run has no records: records.jsonl is missing or empty{torn}; the run wrote no job "
                "(did it crash before the first job ended?)",
                source=str(store.path),
            )
        return cls(store.path, meta, {r.job_id: r for r in read.records}, read.warnings, read.torn_job_ids)

    @property
    def name(self) -> str:
        return self.meta.run_id or self.path.name

    def device_environment(self) -> dict:
        return device_environment(self.meta, list(self.records.values()))


class NotComparable(UserInputError):
    """The runs' environments or metric fingerprints differ."""

    def __init__(self, message: str, *, source: str, differences: list[str]):
        super().__init__(message, source=source)
        self.differences = differences


def environment_differences(base: Run, head: Run) -> list[str]:
    """``label a → b`` for each field of :func:`harness.results.environment.comparable_environment` that differs."""
    a_env = comparable_environment(base.meta, list(base.records.values()))
    b_env = comparable_environment(head.meta, list(head.records.values()))
    out = []
    for label, a in a_env.items():
        b = b_env[label]
        if label == "cpu" and (a_env["device name"], b_env["device name"]) == (a, b):
            continue  # on a CPU the device name is the CPU's: say it once
        if a != b:
            out.append(f"{label} {a} → {b}")
    return out


def fingerprint_differences(base: Run, head: Run, keys: list[str]) -> list[str]:
    seen: dict[str, tuple[str, str]] = {}
    for jid in sorted(set(base.records) & set(head.records)):
        bm, hm = base.records[jid].metrics, head.records[jid].metrics
        for key in keys:
            fa = bm[key].fingerprint if key in bm else None
            fb = hm[key].fingerprint if key in hm else None
            if fa and fb and fa != fb:
                seen.setdefault(key, (fa, fb))
    return [f"metric {k} fingerprint {a} → {b}" for k, (a, b) in seen.items()]

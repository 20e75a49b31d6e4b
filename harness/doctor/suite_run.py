"""A suite run through the library, as ``harness run`` runs it: planned, checked on this device, each job
through the local executor into a run folder, the records read back through the results package."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.backends.cache import check_cache_settings
from harness.config import load_suite
from harness.config.plan import check_on_device, plan, portable_path
from harness.core.errors import UserInputError
from harness.execute.local import LocalExecutor
from harness.measure.env import host_environment, resolve_device
from harness.results.outcome import Tally
from harness.results.record import Record
from harness.results.run_meta import RunMeta
from harness.results.store import RunStore


@dataclass
class SuiteRun:
    """The records of one run of a suite, the exit code ``harness run`` gives them, and the run folder."""

    records: list[Record]
    exit_code: int
    path: Path

    @property
    def ok(self) -> int:
        return sum(r.ok for r in self.records)


def run_suite(path: Path, out: Path, device: str | None = None) -> SuiteRun:
    """Run the suite at ``path`` on ``device`` (default: the suite's) into a new folder under ``out``.

    Bad input (the suite, its cards, a device without the meters its columns need) raises
    :class:`~harness.core.errors.UserInputError` before any job runs.
    """
    check_cache_settings()
    suite = load_suite(path)
    jobs = plan(suite)
    if not jobs:
        raise UserInputError("the suite has no job to run", source=str(path))
    where = resolve_device(device or suite.device)
    check_on_device(suite, where)
    isolation = suite.isolation
    store = RunStore.create(out, suite.name)
    store.write_meta(
        RunMeta(
            run_id=store.run_id,
            suite={**suite.model_dump(mode="json"), "path": portable_path(suite.path)},
            device=where,
            isolation=isolation,
            executor="local",
            environment=host_environment(),
            jobs=[j.to_portable_dict() for j in jobs],
        )
    )
    LocalExecutor(isolation).run(jobs, store, where)
    records = store.records()
    return SuiteRun(records, Tally.of_records(records).exit_code(), store.path)

"""Run jobs one after another on this machine: each in its own process (isolation ``process``, the
default), the variants of a card in one process on one load (``card``), or in this process (``none``).

Worker processes fork from a fork server that has imported torch, diffusers and everything else the run's
jobs will import (``harness.execute.warm``): each job forks in milliseconds, gets a fresh CUDA context and
its own peak-RSS figure, and a crash, an out-of-memory kill or a budget run out costs only that job.

Under ``card`` the jobs that agree on everything decided at load time (card, dtype, backend and its
options) form a group: one process loads the pipeline once and runs the group's jobs in plan order, each
with its own record (memory peaks reset between them). A crash or timeout there fails the group's jobs that
had not finished, each with its own record, and the run goes on. Every record is appended and fsynced as
soon as its job ends.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.backends.cache import configure_compiler_caches
from harness.config.job import Job
from harness.execute.budgets import Overrun, Watchdog
from harness.execute.progress import Progress, ProgressFile, read_progress
from harness.execute.shard_pool import RETRIES, run_shards, write_outcome
from harness.execute.warm import ENV
from harness.results.record import JobError, Record, parse_record
from harness.results.store import RunStore


def _child(
    job_dicts: list[dict[str, Any]],
    run_dir: str,
    device: str,
    result_paths: list[str],
    log_path: str,
    progress_paths: list[str],
    isolation: str,
    environ: dict[str, str],
) -> None:
    """A worker process: one job (isolation process), or a card's jobs on one load (card); each record is
    written, atomically, as soon as its job ends.

    ``environ`` is the parent's environment when it started the job: a child forked from the fork server
    would otherwise see the server's, as it was when the first run of this process started it (a second run
    in the same process, with another ``HARNESS_CACHE_DIR``, wrote to the first one's cache). What a library
    read at import in the server (OMP_NUM_THREADS, say) stays as it was read there."""
    os.environ.clear()
    os.environ.update(environ)
    configure_compiler_caches()  # this run's cache, where the parent has not pointed torch's elsewhere
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    from harness.execute.worker import run_card, run_job

    def done(i: int, record: Record) -> None:
        tmp = result_paths[i] + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(record.to_json())
        os.replace(tmp, result_paths[i])

    jobs = [Job.from_dict(d) for d in job_dicts]
    reports = [ProgressFile(Path(p)) for p in progress_paths]
    if isolation == "card":
        run_card(jobs, Path(run_dir), device, reports, done)
    else:
        done(0, run_job(jobs[0], Path(run_dir), device, reports[0], isolation="process"))


def lost_record(
    job: Job,
    device: str,
    error_type: str,
    message: str,
    *,
    status: str = "failed",
    advice: str | None = None,
    log: str | None = None,
    duration_s: float | None = None,
    stage: str | None = None,
    isolation: str | None = "process",
) -> Record:
    """The record of a job whose process produced none (timeout, crash, kill, Ctrl-C); ``stage`` is the last
    one its progress file named."""
    from harness.execute.worker import base_record

    record = base_record(job, device, status=status)
    record.isolation = isolation  # type: ignore[assignment]
    record.error = JobError(
        type=error_type, message=message, stage=stage, advice=advice, log=log, duration_s=duration_s
    )
    record.duration_s = duration_s
    return record


def read_result(path: Path) -> Record:
    """The record a job's process wrote (validated: a worker of another version must not slip through)."""
    return parse_record(json.loads(path.read_text()), where=str(path))


def exit_message(code: int | None) -> tuple[str, str, str | None]:
    if code is not None and code < 0:
        sig = signal.Signals(-code).name
        if -code == signal.SIGKILL:
            return (
                "WorkerKilled",
                f"the job's process was killed by {sig}",
                (
                    "often the host's out-of-memory killer: try a smaller batch_size or resolution, or fp16/bf16"
                ),
            )
        return "WorkerCrashed", f"the job's process died of {sig}", None
    return "WorkerCrashed", f"the job's process exited with code {code} without a record", None


def card_groups(jobs: list[Job]) -> list[list[Job]]:
    """Jobs that can share one load (isolation ``card``): same card, dtype, backend and backend options; groups
    in the order of their first job, jobs in plan order (a model's baseline stays before its variants)."""
    groups: dict[tuple[str, str, str, str], list[Job]] = {}
    for job in jobs:
        options = json.dumps(job.backend_options.model_dump(mode="json"), sort_keys=True)
        key = (job.card_path, job.dtype, job.backend, options)
        groups.setdefault(key, []).append(job)
    return list(groups.values())


def start_fork_server(jobs: list[Job]) -> None:
    """Start the fork server (once per process) with what ``jobs`` will import warmed in it: the targets travel
    in the environment it starts with, and are removed from ours right after."""
    from multiprocessing import forkserver

    from harness.execute.warm import warm_targets

    previous = os.environ.get(ENV)
    os.environ[ENV] = json.dumps(warm_targets(jobs))
    try:
        forkserver.ensure_running()
    finally:
        if previous is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = previous


class LocalExecutor:
    def __init__(self, isolation: str = "process"):
        if isolation not in ("process", "card", "none"):
            raise ValueError(f"isolation must be process, card or none, got {isolation!r}")
        self.isolation = isolation
        self._ctx: Any = None
        if isolation != "none":
            self._ctx = mp.get_context("forkserver")
            self._ctx.set_forkserver_preload(["harness.execute._preload"])

    def run(
        self,
        jobs: list[Job],
        store: RunStore,
        device: str,
        on_record: Callable[[Record], None] | None = None,
        on_progress: Callable[[Job, Progress], None] | None = None,
    ) -> list[Record]:
        """Run ``jobs`` in order; Ctrl-C records the current job as interrupted, then re-raises.
        ``on_progress(job, progress)`` hears the running job's stage (a few times a second)."""
        records: list[Record] = []
        current: list[Job | None] = [None]

        def emit(record: Record) -> None:
            store.append(record)
            records.append(record)
            if on_record:
                on_record(record)

        if self._ctx is not None:
            start_fork_server(jobs)
        groups = card_groups(jobs) if self.isolation == "card" else [[job] for job in jobs]
        try:
            for group in groups:
                group = self._run_shards(group, store, device, emit, on_progress, current)
                if not group:
                    continue
                if self.isolation == "none":
                    current[0] = group[0]
                    emit(self._run_here(group[0], store, device, on_progress))
                else:
                    self._run_group(group, store, device, emit, on_progress, current)
        except KeyboardInterrupt:
            if current[0] is not None:
                record = lost_record(
                    current[0],
                    device,
                    "KeyboardInterrupt",
                    "stopped by Ctrl-C",
                    status="interrupted",
                    isolation=self.isolation,
                )
                emit(record)
            raise
        return records

    def _run_shards(
        self,
        group: list[Job],
        store: RunStore,
        device: str,
        emit: Callable[[Record], None],
        on_progress: Callable[[Job, Progress], None] | None,
        current: list[Job | None],
    ) -> list[Job]:
        """The quality shards of the group's sharded jobs, before the jobs themselves (which merge them); a job
        with a shard lost twice is failed here, saying that ``--resume`` runs only the shards missing. Returns
        the jobs to run."""
        out = []
        for job in group:
            if job.shards < 2:
                out.append(job)
                continue
            current[0] = job
            outcome = run_shards(self._ctx, job, store.path, device, on_progress)
            write_outcome(store.path, job, outcome)
            if not outcome.lost:
                out.append(job)
                continue
            k, why = next(iter(sorted(outcome.lost.items())))
            emit(
                lost_record(
                    job,
                    device,
                    "ShardLost",
                    f"shard {k + 1} of {job.shards} of the quality pass was lost {RETRIES + 1} times: {why}",
                    advice=f"harness run --resume {store.path} runs only the shards without a state",
                    stage="quality shards",
                    isolation=self.isolation,
                )
            )
        return out

    @staticmethod
    def _run_here(
        job: Job, store: RunStore, device: str, on_progress: Callable[[Job, Progress], None] | None
    ) -> Record:
        """Isolation none: the job in this process."""
        from harness.execute.worker import run_job

        report = (lambda p: on_progress(job, p)) if on_progress else None
        return run_job(job, store.path, device, report, isolation="none")

    def _run_group(
        self,
        group: list[Job],
        store: RunStore,
        device: str,
        emit: Callable[[Record], None],
        on_progress: Callable[[Job, Progress], None] | None,
        current: list[Job | None],
    ) -> None:
        """A group's jobs in one worker process: one job (isolation process) or a card's (card). Each record is
        emitted as soon as its job ends; each job has its own budgets (load, compile, measure:
        :mod:`harness.execute.budgets`), counted from the end of the job before it (the first's includes the
        load), and a budget that runs out ends the process."""
        logs = store.path / "logs"
        results = [logs / f"{job.job_id}.record.json" for job in group]
        progress = [logs / f"{job.job_id}.progress" for job in group]
        log = logs / (f"{group[0].job_id}.card.log" if self.isolation == "card" else f"{group[0].job_id}.log")
        for path in results:
            path.unlink(missing_ok=True)
        proc = self._ctx.Process(
            target=_child,
            args=(
                [job.to_dict() for job in group],
                str(store.path),
                device,
                [str(p) for p in results],
                str(log),
                [str(p) for p in progress],
                self.isolation,
                dict(os.environ),
            ),
            daemon=True,
        )
        current[0] = group[0]
        proc.start()  # returns once forked (it waits while a new fork server is still importing)
        done, t_job, overrun = 0, time.perf_counter(), None
        watch = Watchdog(group[0], t_job)
        try:
            while done < len(group):
                while done < len(group) and results[done].exists():
                    emit(read_result(results[done]))
                    results[done].unlink()
                    progress[done].unlink(missing_ok=True)
                    done, t_job = done + 1, time.perf_counter()
                    current[0] = group[done] if done < len(group) else None
                    if done < len(group):
                        watch = Watchdog(group[done], t_job)
                if done == len(group) or not proc.is_alive():
                    break
                state = read_progress(progress[done])
                now = time.perf_counter()
                watch.observe(state, now)
                if on_progress is not None and state is not None:
                    on_progress(group[done], state)
                at, which = watch.deadline()
                if now >= at:
                    overrun = which
                    break
                proc.join(min(0.25, at - now))  # wake at the deadline, not up to 0.25 s past it
        except KeyboardInterrupt:
            proc.kill()
            proc.join()
            for path in progress:
                path.unlink(missing_ok=True)
            raise
        if proc.is_alive():
            proc.kill()
        proc.join()
        while done < len(group) and results[done].exists():  # written just before the process ended
            emit(read_result(results[done]))
            results[done].unlink()
            done += 1
        if done < len(group):
            self._fail_rest(group, done, store, device, emit, progress, log, overrun, t_job, proc.exitcode)
        current[0] = None

    def _fail_rest(
        self,
        group: list[Job],
        done: int,
        store: RunStore,
        device: str,
        emit: Callable[[Record], None],
        progress: list[Path],
        log: Path,
        overrun: Overrun | None,
        t_job: float,
        exitcode: int | None,
    ) -> None:
        """The job the worker process died in (a budget or the timeout ran out, a crash, a kill), and every job
        of its group it did not reach: a record each."""
        job = group[done]
        last = read_progress(progress[done])
        stage = last.stage if last is not None else None
        if overrun is not None:
            kind, message, advice = "TimeoutError", overrun.message(last), overrun.advice
        else:
            kind, message, advice = exit_message(exitcode)
        where = str(log.relative_to(store.path))
        first = lost_record(
            job,
            device,
            kind,
            message,
            advice=advice,
            log=where,
            duration_s=time.perf_counter() - t_job,
            stage=stage,
            isolation=self.isolation,
        )
        emit(first)
        for later in group[done + 1 :]:
            record = lost_record(
                later,
                device,
                "CardWorkerLost",
                f"not run: the card's shared process (isolation card) ended during {first.label} ({kind})",
                advice="run the card with --isolation process so each variant has its own process",
                log=where,
            )
            record.isolation = "card"
            emit(record)
        for path in progress:
            path.unlink(missing_ok=True)

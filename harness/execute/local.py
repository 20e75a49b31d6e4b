"""Run jobs one after another on this machine, each in its own process (default) or in-process.

Process isolation uses a fork server that has imported torch and diffusers once: each job forks from it
in milliseconds, gets a fresh CUDA context and its own peak-RSS figure, and a crash, an out-of-memory
kill or a timeout costs only that job. Every record is appended and fsynced before the next job starts.
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

from harness.execute.progress import Progress, ProgressFile, read_progress
from harness.plan import Job
from harness.results.schema import JobError, Record, parse_record
from harness.results.store import RunStore


def _child(
    job_dict: dict[str, Any], run_dir: str, device: str, result_path: str, log_path: str, progress_path: str
) -> None:
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    from harness.execute.worker import run_job

    record = run_job(Job.from_dict(job_dict), Path(run_dir), device, ProgressFile(Path(progress_path)))
    tmp = result_path + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(record.to_json())
    os.replace(tmp, result_path)


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
) -> Record:
    """The record of a job whose process produced none (timeout, crash, kill, Ctrl-C); ``stage`` is the last
    one its progress file named."""
    from harness.execute.worker import base_record

    record = base_record(job, device, status=status)
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


class LocalExecutor:
    def __init__(self, isolation: str = "process"):
        self.isolation = isolation
        self._ctx: Any = None
        if isolation == "process":
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
        records = []
        for job in jobs:
            try:
                record = self._run_one(job, store, device, on_progress)
            except KeyboardInterrupt:
                record = lost_record(
                    job, device, "KeyboardInterrupt", "stopped by Ctrl-C", status="interrupted"
                )
                store.append(record)
                if on_record:
                    on_record(record)
                raise
            store.append(record)
            records.append(record)
            if on_record:
                on_record(record)
        return records

    def _run_one(
        self,
        job: Job,
        store: RunStore,
        device: str,
        on_progress: Callable[[Job, Progress], None] | None = None,
    ) -> Record:
        if self.isolation == "none":
            from harness.execute.worker import run_job

            report = (lambda p: on_progress(job, p)) if on_progress else None
            return run_job(job, store.path, device, report)
        progress = store.path / "logs" / f"{job.job_id}.progress"
        result = store.path / "logs" / f"{job.job_id}.record.json"
        log = store.path / "logs" / f"{job.job_id}.log"
        result.unlink(missing_ok=True)
        timeout = float(job.measurement.get("timeout_s", 900.0))
        proc = self._ctx.Process(
            target=_child,
            args=(job.to_dict(), str(store.path), device, str(result), str(log), str(progress)),
            daemon=True,
        )
        t0 = time.perf_counter()
        proc.start()
        try:
            while proc.is_alive() and time.perf_counter() - t0 < timeout:
                proc.join(min(0.25, max(timeout - (time.perf_counter() - t0), 0.0)))
                if on_progress is not None:
                    state = read_progress(progress)
                    if state is not None:
                        on_progress(job, state)
        except KeyboardInterrupt:
            proc.kill()
            proc.join()
            progress.unlink(missing_ok=True)
            raise
        last = read_progress(progress)
        progress.unlink(missing_ok=True)
        stage = last.stage if last is not None else None
        if proc.is_alive():
            proc.kill()
            proc.join()
            return lost_record(
                job,
                device,
                "TimeoutError",
                f"the job ran past its timeout of {timeout:g} s (measurement.timeout_s)"
                + (f" in its {last.text()} stage" if last is not None else ""),
                duration_s=time.perf_counter() - t0,
                stage=stage,
            )
        if result.exists():
            record = read_result(result)
            result.unlink()
            return record
        kind, message, advice = exit_message(proc.exitcode)
        return lost_record(
            job, device, kind, message, advice=advice, log=str(log.relative_to(store.path)), stage=stage
        )

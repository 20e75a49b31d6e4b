"""Run jobs as Ray tasks on a cluster (or a local Ray started for the run).

Each job is one Ray task holding its GPUs (``--gpus-per-job``) or, on CPU-only jobs, a whole node's CPUs so
that two timed jobs never share cores. Inside the task the job runs in its own process, as with the local
executor; the task returns the record and the job's files (outputs for pairwise metrics, samples), and the
driver writes them into the run folder as they arrive. A variant waits for its baseline's outputs, which
travel to it through Ray's object store, so nodes need no shared file system.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from harness.config.job import Job
from harness.core.errors import HarnessError, UserInputError
from harness.execute.budgets import Overrun, Watchdog
from harness.execute.progress import read_progress
from harness.results.record import Record, parse_record
from harness.results.store import RunStore


def _run_task(
    job_dict: dict[str, Any], device: str, baseline_id: str | None, baseline_npz: bytes | None
) -> tuple[dict, dict]:
    """Body of the Ray task: one job in a fresh process; returns (record, {relative path: bytes})."""
    job = Job.from_dict(job_dict)
    with tempfile.TemporaryDirectory(prefix="harness-ray-") as tmp:
        run_dir = Path(tmp)
        for sub in ("samples", "outputs", "logs"):
            (run_dir / sub).mkdir()
        if baseline_id is not None and baseline_npz is not None:
            (run_dir / "outputs" / f"{baseline_id}.npz").write_bytes(baseline_npz)
        job_file = run_dir / "job.json"
        job_file.write_text(json.dumps(job.to_dict()))
        result = run_dir / "record.json"
        log = run_dir / "logs" / f"{job.job_id}.log"
        progress = run_dir / "logs" / f"{job.job_id}.progress"
        argv = [
            sys.executable,
            "-m",
            "harness.execute.worker",
            str(job_file),
            str(run_dir),
            device,
            str(result),
        ]
        with open(log, "w") as fh:
            proc = subprocess.Popen([*argv, str(progress)], stdout=fh, stderr=subprocess.STDOUT)
            code, overrun = _wait(proc, job, progress)
        from harness.execute.local import exit_message, lost_record, read_result

        if result.exists():
            record = read_result(result)
        else:
            if overrun is not None:
                last = read_progress(progress)
                record = lost_record(
                    job,
                    device,
                    "TimeoutError",
                    overrun.message(last),
                    advice=overrun.advice,
                    stage=last.stage if last is not None else None,
                )
            else:
                kind, message, advice = exit_message(-code if code > 128 else code)
                record = lost_record(job, device, kind, message, advice=advice)
        import socket

        record.node = socket.gethostname()
        files = {}
        for path in [
            run_dir / "outputs" / f"{job.job_id}.npz",
            log,
            *sorted((run_dir / "samples" / job.job_id).glob("*")),
            *sorted((run_dir / "loadgen" / job.job_id).rglob("*")),  # LoadGen's logs of a scenario job
        ]:
            if path.is_file():
                files[path.relative_to(run_dir).as_posix()] = path.read_bytes()
        return json.loads(record.to_json()), files  # plain data across Ray; the driver validates it


def _wait(proc: subprocess.Popen, job: Job, progress: Path) -> tuple[int | None, Overrun | None]:
    """Wait for the worker under the job's budgets (:class:`Watchdog`); kill it when one runs out."""
    watch = Watchdog(job, time.perf_counter())
    while True:
        now = time.perf_counter()
        watch.observe(read_progress(progress), now)
        at, which = watch.deadline()
        if now >= at:
            proc.kill()
            proc.wait()
            return None, which
        try:
            return proc.wait(timeout=min(0.25, at - now)), None
        except subprocess.TimeoutExpired:
            continue


def _safe_relpath(rel: str) -> PurePosixPath:
    p = PurePosixPath(rel)
    if (
        p.is_absolute()
        or ".." in p.parts
        or not p.parts
        or p.parts[0] not in ("outputs", "samples", "logs", "loadgen")
    ):
        raise HarnessError(f"a Ray task returned a file outside the run folder: {rel!r}")
    return p


class RayExecutor:
    def __init__(
        self, address: str | None = None, gpus_per_job: float = 0.0, cpus_per_job: float | None = None
    ):
        self.address = address
        self.gpus_per_job = gpus_per_job
        self.cpus_per_job = cpus_per_job

    def _init(self) -> Any:
        try:
            import ray
        except ImportError:
            raise UserInputError(
                "--executor ray needs Ray: pip install -e '.[ray]' (on every node of the cluster)"
            ) from None
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                "logging_level": "ERROR",
            }
            if self.address:
                kwargs["address"] = self.address
            try:
                ray.init(**kwargs)
            except ConnectionError as exc:
                raise UserInputError(
                    f"--address {self.address}: cannot reach a Ray cluster ({exc})"
                ) from None
        return ray

    def _cpus(self, ray: Any) -> float:
        if self.cpus_per_job is not None:
            return self.cpus_per_job
        if self.gpus_per_job > 0:
            return 1.0
        # CPU jobs hold a whole node's CPUs: two timed jobs must not share cores.
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        return min(float(n["Resources"].get("CPU", 1.0)) for n in nodes) if nodes else 1.0

    def run(
        self,
        jobs: list[Job],
        store: RunStore,
        device: str,
        on_record: Callable[[Record], None] | None = None,
        on_progress: Callable[..., None] | None = None,  # Ray tasks report only when they end
    ) -> list[Record]:
        ray = self._init()
        task = ray.remote(num_cpus=self._cpus(ray), num_gpus=self.gpus_per_job, max_retries=0)(_run_task)
        outputs: dict[str, Any] = {}  # baseline job id → ObjectRef of its npz bytes (or None if it failed)
        waiting = list(jobs)
        pending: dict[Any, Job] = {}
        records = []

        def submit_ready() -> None:
            for job in list(waiting):
                base = job.baseline_job_id
                if base is not None and base not in outputs and any(j.job_id == base for j in jobs):
                    continue  # its baseline has not finished yet
                ref = task.remote(job.to_dict(), device, base, outputs.get(base) if base else None)
                pending[ref] = job
                waiting.remove(job)

        submit_ready()
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                job = pending.pop(done[0])
                try:
                    data, files = ray.get(done[0])
                    record = parse_record(data, where=f"Ray task of {job.job_id}")
                except Exception as exc:  # the task itself died (node lost, worker killed)
                    from harness.execute.local import lost_record

                    record, files = lost_record(job, device, type(exc).__name__, str(exc).splitlines()[0]), {}
                for rel, blob in files.items():
                    path = store.path / _safe_relpath(rel)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(blob)
                npz = files.get(f"outputs/{job.job_id}.npz")
                # Shared through the object store: every variant of the model reads the same copy.
                outputs[job.job_id] = ray.put(npz) if npz is not None else None
                store.append(record)
                records.append(record)
                if on_record:
                    on_record(record)
                submit_ready()
        except KeyboardInterrupt:
            from harness.execute.local import lost_record

            for ref, job in pending.items():
                ray.cancel(ref, force=True)
                store.append(
                    lost_record(job, device, "KeyboardInterrupt", "stopped by Ctrl-C", status="interrupted")
                )
            raise
        return records

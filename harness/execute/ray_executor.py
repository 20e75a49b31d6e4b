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
from harness.execute.progress import Progress, read_progress
from harness.execute.shard_pool import ShardOutcome, write_outcome
from harness.execute.shards import durable_write, finished
from harness.results.record import Record, parse_record
from harness.results.store import RunStore

SHARD_RETRIES = 2  # Ray runs a shard again where its worker or node died


def _run_shard_task(
    job_dict: dict[str, Any], shard: int, device: str, baseline: tuple[str, bytes] | None
) -> dict[str, bytes]:
    """Body of a shard's Ray task: one shard of a job's quality pass, in the Ray worker's process (reused by the
    next shard on a CPU, so imports are paid once per worker; Ray gives a GPU task a fresh worker each time);
    returns its files ({relative path: bytes}): the state, the outputs pairwise metrics need, the samples.
    ``baseline``: the name and bytes of the baseline's outputs for this shard's items."""
    from harness.execute.shards import run_shard

    job = Job.from_dict(job_dict)
    with tempfile.TemporaryDirectory(prefix="harness-ray-shard-") as tmp:
        run_dir = Path(tmp)
        for sub in ("samples", "outputs", "logs"):
            (run_dir / sub).mkdir()
        if baseline is not None:
            (run_dir / "outputs" / baseline[0]).write_bytes(baseline[1])
        run_shard(job, shard, run_dir, device)
        files = {}
        for path in [*sorted((run_dir / "shards").rglob("*")), *sorted((run_dir / "samples").rglob("*"))]:
            if path.is_file() and not path.name.endswith(".tmp"):
                files[path.relative_to(run_dir).as_posix()] = path.read_bytes()
        return files


def _run_task(
    job_dict: dict[str, Any],
    device: str,
    baseline_id: str | None,
    baseline_npz: bytes | None,
    extra: dict[str, bytes] | None = None,
) -> tuple[dict, dict]:
    """Body of the Ray task: one job in a fresh process; returns (record, {relative path: bytes}). ``extra``:
    files the job reads from its run folder (its shards' states, which it merges)."""
    job = Job.from_dict(job_dict)
    with tempfile.TemporaryDirectory(prefix="harness-ray-") as tmp:
        run_dir = Path(tmp)
        for sub in ("samples", "outputs", "logs"):
            (run_dir / sub).mkdir()
        if baseline_id is not None and baseline_npz is not None:
            (run_dir / "outputs" / f"{baseline_id}.npz").write_bytes(baseline_npz)
        for rel, blob in (extra or {}).items():
            target = run_dir / _safe_relpath(rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(blob)
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
        or p.parts[0] not in ("outputs", "samples", "logs", "loadgen", "shards")
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
        # A shard holds one GPU share or one CPU; Ray runs it again where its worker or node dies. CPU workers
        # are reused (a shard's imports cost ~5 s here); a GPU task gets a fresh worker (Ray's max_calls=1).
        shard_task = ray.remote(
            num_cpus=1.0 if self.gpus_per_job else (self.cpus_per_job or 1.0),
            num_gpus=self.gpus_per_job,
            max_retries=SHARD_RETRIES,
        )(_run_shard_task)
        return _RayRun(ray, task, shard_task, jobs, store, device, on_record, on_progress).run()


class _RayRun:
    """One run's jobs on Ray: a job is submitted once its baseline has finished; a sharded job's shards first
    (their files written into the run folder as they arrive), then the job, which merges them."""

    def __init__(
        self,
        ray: Any,
        task: Any,
        shard_task: Any,
        jobs: list[Job],
        store: RunStore,
        device: str,
        on_record: Callable[[Record], None] | None,
        on_progress: Callable[..., None] | None = None,
    ) -> None:
        self.ray, self.task, self.shard_task = ray, task, shard_task
        self.on_progress = on_progress
        self.jobs, self.store, self.device, self.on_record = jobs, store, device, on_record
        self.outputs: dict[str, Any] = {}  # baseline job id → ObjectRef of its npz bytes (None if it failed)
        self.waiting = list(jobs)
        self.pending: dict[Any, tuple[Job, int | None]] = {}  # ref → (job, shard or None for the job itself)
        self.shards_left: dict[str, set[int]] = {}
        self.shards_started: dict[str, tuple[float, list[int]]] = {}  # job → (when its shards began, reused)
        self.records: list[Record] = []

    def run(self) -> list[Record]:
        self.submit_ready()
        try:
            while self.pending:
                done, _ = self.ray.wait(list(self.pending), num_returns=1)
                job, shard = self.pending.pop(done[0])
                if shard is not None:
                    self.shard_done(done[0], job, shard)
                    continue
                try:
                    data, files = self.ray.get(done[0])
                    record = parse_record(data, where=f"Ray task of {job.job_id}")
                except Exception as exc:  # the task itself died (node lost, worker killed)
                    from harness.execute.local import lost_record

                    record = lost_record(job, self.device, type(exc).__name__, str(exc).splitlines()[0])
                    files = {}
                self.finish(record, files, job)
                self.submit_ready()
        except KeyboardInterrupt:
            self.interrupted()
            raise
        return self.records

    def interrupted(self) -> None:
        from harness.execute.local import lost_record

        for ref, (job, shard) in self.pending.items():
            self.ray.cancel(ref, force=True)
            if shard is None or job.job_id in self.shards_left:
                self.shards_left.pop(job.job_id, None)
                self.store.append(
                    lost_record(
                        job, self.device, "KeyboardInterrupt", "stopped by Ctrl-C", status="interrupted"
                    )
                )

    def finish(self, record: Record, files: dict[str, bytes], job: Job) -> None:
        for rel, blob in files.items():
            path = self.store.path / _safe_relpath(rel)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(blob)
        npz = files.get(f"outputs/{job.job_id}.npz")
        # Shared through the object store: every variant of the model reads the same copy.
        self.outputs[job.job_id] = self.ray.put(npz) if npz is not None else None
        self.store.append(record)
        self.records.append(record)
        if self.on_record:
            self.on_record(record)

    def submit_job(self, job: Job) -> None:
        base = job.baseline_job_id
        extra = _job_files(self.store.path, job) if job.shards > 1 else None
        baseline = self.outputs.get(base) if base else None
        self.pending[self.task.remote(job.to_dict(), self.device, base, baseline, extra)] = (job, None)

    def submit_ready(self) -> None:
        for job in list(self.waiting):
            base = job.baseline_job_id
            if base is not None and base not in self.outputs and any(j.job_id == base for j in self.jobs):
                continue  # its baseline has not finished yet
            self.waiting.remove(job)
            todo = (
                [k for k in range(job.shards) if not finished(self.store.path, job, k)]
                if job.shards > 1
                else []
            )
            if not todo:
                self.submit_job(job)
                continue
            self.shards_left[job.job_id] = set(todo)
            reused = [k for k in range(job.shards) if k not in todo]
            self.shards_started[job.job_id] = (time.perf_counter(), reused)
            for k in todo:
                ref = self.shard_task.remote(job.to_dict(), k, self.device, self.baseline_slice(job, k))
                self.pending[ref] = (job, k)

    def baseline_slice(self, job: Job, shard: int) -> tuple[str, bytes] | None:
        """The baseline's outputs for the items of ``job``'s shard (where pairwise metrics compare them): only
        the baseline's item i travels to the shard that makes item i."""
        base = job.baseline_job_id
        ref = self.outputs.get(base) if base else None
        if ref is None:
            return None
        import io

        from harness.core.samples import Samples

        start, stop = job.shard_items(shard)
        full = Samples.load_npz(io.BytesIO(self.ray.get(ref)))
        buf = io.BytesIO()
        full.take(start, min(stop, len(full))).save_npz(buf)
        return f"{base}.items-{start}-{stop}.npz", buf.getvalue()

    def shard_done(self, ref: Any, job: Job, shard: int) -> None:
        """A shard's task ended: its files go into the run folder (durably); the job runs once its last shard
        is in. A shard lost after Ray's retries fails the job, and ``--resume`` runs only the missing ones."""
        if job.job_id not in self.shards_left:
            return  # the job already failed for another shard
        try:
            files = self.ray.get(ref)
        except Exception as exc:
            self.shard_lost(job, shard, exc)
            return
        for rel, blob in files.items():
            path = self.store.path / _safe_relpath(rel)
            path.parent.mkdir(parents=True, exist_ok=True)
            durable_write(path, lambda fh, blob=blob: fh.write(blob))
        left = self.shards_left[job.job_id]
        left.discard(shard)
        self.shard_progress(job, left)
        if not left:
            del self.shards_left[job.job_id]
            t0, reused = self.shards_started.pop(job.job_id)
            write_outcome(self.store.path, job, ShardOutcome({}, {}, reused, time.perf_counter() - t0))
            self.submit_job(job)

    def shard_progress(self, job: Job, left: set[int]) -> None:
        """Shards done / total and items/s across the cluster, as each shard's task ends (Ray tasks report
        only then)."""
        if self.on_progress is None:
            return
        items = sum(b - a for a, b in (job.shard_items(k) for k in range(job.shards) if k not in left))
        elapsed = time.perf_counter() - self.shards_started[job.job_id][0]
        done = job.shards - len(left)
        stage = f"quality shards {done}/{job.shards} done on Ray"
        rate = items / elapsed if elapsed > 0 else None
        self.on_progress(job, Progress(stage, items, job.num_samples, "items", rate, phase="measure"))

    def shard_lost(self, job: Job, shard: int, exc: Exception) -> None:
        from harness.execute.local import lost_record

        self.shards_left.pop(job.job_id)
        for other, (j, k) in list(self.pending.items()):
            if j.job_id == job.job_id and k is not None:
                self.ray.cancel(other, force=True)
        message = str(exc).strip().splitlines()[-1][:300] if str(exc).strip() else type(exc).__name__
        record = lost_record(
            job,
            self.device,
            "ShardLost",
            f"shard {shard + 1} of {job.shards} of the quality pass failed after {SHARD_RETRIES} retries: {message}",
            advice=f"harness run --resume {self.store.path} runs only the shards without a state",
            stage="quality shards",
        )
        self.finish(record, {}, job)
        self.submit_ready()  # its variants go on (their pairwise metrics say the baseline has no outputs)


def _job_files(run_dir: Path, job: Job) -> dict[str, bytes]:
    """A sharded job's shard states and first samples, for its task (on a node without the run folder)."""
    files = {}
    for folder in (run_dir / "shards" / job.job_id, run_dir / "samples" / job.job_id):
        for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
            if path.is_file() and not path.name.endswith(".tmp"):
                files[path.relative_to(run_dir).as_posix()] = path.read_bytes()
    return files

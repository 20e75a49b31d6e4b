"""The local executor's shards of one job's quality pass: worker processes, one per device or core group, each
making one shard (:mod:`harness.execute.shards`); a worker lost (killed, crashed, over its budget) is run again
once, and a shard whose file exists (a run resumed) is not run at all."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.backends.cache import configure_compiler_caches
from harness.config.job import Job
from harness.execute.budgets import Watchdog
from harness.execute.progress import Progress, ProgressFile, read_progress
from harness.execute.shards import finished, shard_path
from harness.measure.conditions import usable_cores

RETRIES = 1  # a lost shard is run again this many times before the job fails (then --resume runs it)


def _shard_child(
    job_dict: dict[str, Any], shard: int, run_dir: str, device: str, log: str, progress: str, environ: dict
) -> None:
    """A shard's worker process (forked from the fork server): one shard, its state file its result."""
    os.environ.clear()
    os.environ.update(environ)
    configure_compiler_caches()
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from harness.execute.shards import run_shard

    run_shard(Job.from_dict(job_dict), shard, Path(run_dir), device, ProgressFile(Path(progress)))


def shard_devices(job: Job, device: str) -> list[str]:
    """Where the shards run at once: each visible GPU (``cuda``), the one named (``cuda:1``), or on the CPU
    one worker per group of ``threads`` cores (one core each without ``threads``)."""
    if device == "cuda":
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        count = len([d for d in visible.split(",") if d.strip()]) if visible else _gpu_count()
        return [f"cuda:{i}" for i in range(max(1, min(count, job.shards)))]
    if device.startswith("cuda"):
        return [device]
    return ["cpu"] * max(1, min(job.shards, usable_cores() // (job.threads or 1)))


def _gpu_count() -> int:
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            return int(pynvml.nvmlDeviceGetCount())
        finally:
            pynvml.nvmlShutdown()
    except Exception:
        return 1


@dataclasses.dataclass
class ShardOutcome:
    lost: dict[int, str]  # shard → why its worker produced no state (after its retries)
    attempts: dict[int, int]
    reused: list[int]
    wall_s: float


def run_shards(
    ctx: Any,
    job: Job,
    run_dir: Path,
    device: str,
    on_progress: Callable[[Job, Progress], None] | None = None,
) -> ShardOutcome:
    """Run the shards of ``job`` that have no state yet, as many at once as :func:`shard_devices` gives; with
    ``ctx`` None (isolation none) one after another in this process."""
    t0 = time.perf_counter()
    todo = [k for k in range(job.shards) if not finished(run_dir, job, k)]
    reused = [k for k in range(job.shards) if k not in todo]
    attempts = dict.fromkeys(todo, 0)
    lost: dict[int, str] = {}
    slots = shard_devices(job, device)
    cpu_threads = job.threads or max(1, usable_cores() // len(slots))
    worker_job = dataclasses.replace(job, threads=cpu_threads) if not device.startswith("cuda") else job
    logs = Path(run_dir) / "logs"
    if ctx is None:
        from harness.execute.shards import run_shard

        for k in todo:
            attempts[k] += 1
            run_shard(worker_job, k, run_dir, device)
        return ShardOutcome(lost, attempts, reused, time.perf_counter() - t0)
    queue = list(todo)
    running: dict[int, tuple[Any, str, Path, Watchdog]] = {}  # shard → (process, device, progress, watchdog)
    free = list(slots)
    done_items = sum(job.shard_items(k)[1] - job.shard_items(k)[0] for k in reused)
    while queue or running:
        while queue and free:
            k, slot = queue.pop(0), free.pop(0)
            attempts[k] += 1
            progress = logs / f"{job.job_id}.shard{k}.progress"
            progress.unlink(missing_ok=True)
            proc = ctx.Process(
                target=_shard_child,
                args=(
                    worker_job.to_dict(),
                    k,
                    str(run_dir),
                    slot,
                    str(logs / f"{job.job_id}.shard{k}.log"),
                    str(progress),
                    dict(os.environ),
                ),
                daemon=True,
            )
            proc.start()
            running[k] = (proc, slot, progress, Watchdog(job, time.perf_counter()))
        now = time.perf_counter()
        items = done_items
        for k, (proc, slot, progress, watch) in list(running.items()):
            state = read_progress(progress)
            watch.observe(state, now)
            if state is not None and state.done and state.unit == "items":
                items += state.done
            at, which = watch.deadline()
            over = now >= at
            if over:
                proc.kill()
            if over or not proc.is_alive():
                proc.join()
                del running[k]
                free.append(slot)
                progress.unlink(missing_ok=True)
                if shard_path(run_dir, job, k).exists():
                    start, stop = job.shard_items(k)
                    done_items += stop - start
                    continue
                why = which.message(state) if over and which is not None else _exit_text(proc.exitcode)
                why += f" (log: logs/{job.job_id}.shard{k}.log)"
                if attempts[k] <= RETRIES:
                    queue.append(k)
                else:
                    lost[k] = why
        if on_progress is not None:
            elapsed = time.perf_counter() - t0
            finished_count = job.shards - len(queue) - len(running) - len(lost)
            on_progress(
                job,
                Progress(
                    f"quality shards {finished_count}/{job.shards} done, {len(running)} running",
                    done=items,
                    total=job.num_samples,
                    unit="items",
                    rate=items / elapsed if elapsed > 0 else None,
                    phase="measure",
                ),
            )
        if running:
            next(iter(running.values()))[0].join(0.25)
    return ShardOutcome(lost, attempts, reused, time.perf_counter() - t0)


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        return f"its worker was killed by {signal.Signals(-code).name}"
    return f"its worker exited with code {code} without a state"


def write_outcome(run_dir: Path, job: Job, outcome: ShardOutcome) -> None:
    """What the executor saw of the shards (attempts, reused, wall time), for the job's merge to record."""
    path = Path(run_dir) / "shards" / job.job_id / "executor.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps({"attempts": outcome.attempts, "reused": outcome.reused, "wall_s": outcome.wall_s})
    )

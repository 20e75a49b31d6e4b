"""Shards of one job's quality pass (#26): each makes whole batches of the single pass and sends back its
metrics' states, never partial scores; the job merges them in item order and computes.

A shard loads and prepares the job's pipeline on its own device (a hit of the artifact cache where the backend
compiles), generates its items (:meth:`Job.shard_items`: whole batches, so each item comes from the same seed
in the same batch as in one pass) and updates the job's metrics. Its result is one file,
``shards/<job_id>/<k>-of-<n>.npz``: the metrics' states as arrays and a JSON manifest (items, host, device,
wall time, the metrics it decided), written to a temporary name, fsynced and renamed, so a file that exists is
a finished shard. A killed worker loses only its shard: the executor runs it again, and ``harness run
--resume`` runs only the shards without a file. Speed is never pooled across shards: the timed loop, memory and
serving figures come from the job's own process on one device.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.config.job import Job
from harness.core.errors import HarnessError
from harness.core.samples import Samples
from harness.execute.load import base_record, load_pipeline, prepare, set_threads
from harness.execute.progress import Report, Stage
from harness.execute.quality import AUDIT_ITEMS, SAMPLES_SAVED, quality_record, save_samples
from harness.execute.scoring import MetricScorer
from harness.measure.env import device_environment
from harness.results.record import Record


class ShardMissing(HarnessError):
    """A shard of the job's quality pass has no finished state (its worker was lost and not run again)."""


def job_key(job: Job) -> str:
    """What a shard's state depends on (the whole job but the threads a worker ran with): a state made for
    another job is never merged."""
    data = {**job.to_dict(), "threads": None}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def shard_path(run_dir: Path, job: Job, shard: int) -> Path:
    return Path(run_dir) / "shards" / job.job_id / f"{shard}-of-{job.shards}.npz"


def outputs_path(run_dir: Path, job: Job, shard: int) -> Path:
    """A shard's outputs, kept where pairwise metrics compare variants with them (joined by the merge)."""
    return Path(run_dir) / "shards" / job.job_id / f"{shard}-of-{job.shards}.outputs.npz"


@dataclass
class ShardState:
    """A finished shard, read back: its manifest and its metrics' states."""

    manifest: dict[str, Any]
    states: dict[str, dict[str, np.ndarray]]
    audit: Samples | None = None


def finished(run_dir: Path, job: Job, shard: int) -> bool:
    """Whether ``shard`` of ``job`` has a state of this very job (a resume runs only the others); reads the
    manifest alone, not the states (features of a large pass run to gigabytes)."""
    path = shard_path(run_dir, job, shard)
    if not path.exists():
        return False
    try:
        with np.load(path, allow_pickle=False) as z:
            return json.loads(str(z["manifest"])).get("job_key") == job_key(job)
    except Exception:
        return False


def run_shard(job: Job, shard: int, run_dir: Path, device: str, report: Report | None = None) -> Path:
    """Make shard ``shard`` of ``job``'s quality pass on ``device`` and write its state file; returns its path."""
    t0 = time.perf_counter()
    start, stop = job.shard_items(shard)
    print(
        f"shard {shard + 1}/{job.shards} of {job.job_id}: items {start} to {stop - 1} on {device} "
        f"(pid {os.getpid()}, {socket.gethostname()})",
        flush=True,
    )
    stage = Stage(report)
    set_threads(job)
    stage.start("load", phase="load")
    loaded = load_pipeline(job, device)
    prepared = prepare(job, loaded, base_record(job, device), stage, shared=False)
    scorer = MetricScorer(job, Path(run_dir), device, start=start)
    kept: list[Samples] = []
    audit: Samples | None = None
    stage.start(f"quality shard {shard + 1}/{job.shards}", total=stop - start, unit="items", phase="measure")
    for request in job.quality_requests(shard):
        batch = prepared.generator.generate(request)
        scorer.update(batch)
        if audit is None:
            audit = batch.take(0, AUDIT_ITEMS)
        if scorer.keeps_outputs:
            kept.append(batch)
        if shard == 0 and start == 0 and scorer.items <= len(batch):
            save_samples(batch.take(0, SAMPLES_SAVED), Path(run_dir) / "samples" / job.job_id)
        stage.step(scorer.items)
    states, decided = scorer.shard_state()
    if kept:
        path = outputs_path(run_dir, job, shard)
        path.parent.mkdir(parents=True, exist_ok=True)
        durable_write(path, lambda fh: Samples.concat(kept).save_npz(fh))
    manifest = {
        "job_id": job.job_id,
        "job_key": job_key(job),
        "shard": shard,
        "shards": job.shards,
        "items": [start, stop],
        "count": scorer.items,
        "invalid": scorer.invalid,
        "decided": decided,
        "host": socket.gethostname(),
        "device": device,
        "device_name": device_environment(device)["device_name"],
        "wall_s": time.perf_counter() - t0,
    }
    return write_shard(shard_path(run_dir, job, shard), manifest, states, audit)


def write_shard(
    path: Path, manifest: dict[str, Any], states: dict[str, dict[str, np.ndarray]], audit: Samples | None
) -> Path:
    """The shard's file: states as ``m/<metric>/<field>`` arrays, the manifest as JSON, the audit outputs;
    durable before it has its name (a file that exists is a finished shard)."""
    arrays: dict[str, np.ndarray] = {"manifest": np.asarray(json.dumps(manifest))}
    for name, state in states.items():
        for field, value in state.items():
            arrays[f"m/{name}/{field}"] = np.asarray(value)
    if audit is not None:
        arrays["audit/data"] = audit.data
        arrays["audit/seeds"] = np.asarray(audit.seeds, dtype=np.int64)
        arrays["audit/modality"] = np.asarray(audit.modality)
    path.parent.mkdir(parents=True, exist_ok=True)
    durable_write(path, lambda fh: np.savez(fh, **arrays))
    return path


def durable_write(path: Path, write: Any) -> None:
    """``write(fh)`` to a temporary file beside ``path``, fsynced, then renamed to ``path`` (and the folder
    fsynced): a crash leaves the old file or the new one, never half of one."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        write(fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_shard(path: Path) -> ShardState:
    """A shard's file (arrays only: nothing in it is unpickled)."""
    with np.load(path, allow_pickle=False) as z:
        manifest = json.loads(str(z["manifest"]))
        states: dict[str, dict[str, np.ndarray]] = {}
        for key in z.files:
            if key.startswith("m/"):
                _, name, field = key.split("/", 2)
                states.setdefault(name, {})[field] = z[key]
        audit = None
        if "audit/data" in z.files:
            seeds = [int(s) for s in z["audit/seeds"]]
            audit = Samples(modality=str(z["audit/modality"]), data=z["audit/data"], seeds=seeds)  # type: ignore[arg-type]
    return ShardState(manifest, states, audit)


def merge_shards(job: Job, run_dir: Path, device: str, record: Record, stage: Stage) -> Samples | None:
    """The job's metrics from its shards' states, merged in item order; the record's quality pass (each
    shard's host, device and time), its samples, and the baseline's outputs joined where pairwise metrics need
    them. Returns the first shard's audit outputs (the check against the timed pass)."""
    parts = []
    for k in range(job.shards):
        path = shard_path(run_dir, job, k)
        if not path.exists():
            raise ShardMissing(
                f"shard {k + 1} of {job.shards} of the quality pass has no state ({path.name}): its worker was "
                "lost; harness run --resume RUN_DIR runs only the shards missing"
            )
        part = read_shard(path)
        if part.manifest.get("job_key") != job_key(job):
            raise ShardMissing(f"shard {k + 1} of {job.shards}: {path.name} holds the state of another job")
        parts.append(part)
    stage.start("merge shards", total=len(job.metrics), unit="metrics")
    scorer = MetricScorer(job, Path(run_dir), device)
    for part in parts:
        scorer.merge_shard(
            part.manifest["count"], part.manifest["invalid"], part.states, part.manifest["decided"]
        )
    if scorer.keeps_outputs:
        joined = [Samples.load_npz(outputs_path(run_dir, job, k)) for k in range(job.shards)]
        joined_path = Path(run_dir) / "outputs" / f"{job.job_id}.npz"
        joined_path.parent.mkdir(parents=True, exist_ok=True)
        Samples.concat(joined).save_npz(joined_path)
    folder = Path(run_dir) / "samples" / job.job_id
    record.samples = sorted(str(p.relative_to(run_dir)) for p in folder.glob("*")) if folder.is_dir() else []
    record.num_samples = scorer.items
    if scorer.invalid:
        record.quality_invalid = "outputs contain NaN or Inf"
    record.metrics = scorer.compute(on_metric=stage.step)
    seen = _executor_view(run_dir, job)
    manifests = []
    for k, part in enumerate(parts):
        m = dict(part.manifest)
        m["attempts"] = seen.get("attempts", {}).get(str(k))  # None: not counted (Ray's retries, or reused)
        m["reused"] = k in seen.get("reused", [])
        manifests.append(m)
    record.quality = quality_record(job, manifests, seen.get("wall_s"))
    return parts[0].audit


def _executor_view(run_dir: Path, job: Job) -> dict[str, Any]:
    """What the executor saw of the shards (``shards/<job_id>/executor.json``): attempts, reused, wall time."""
    path = Path(run_dir) / "shards" / job.job_id / "executor.json"
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}

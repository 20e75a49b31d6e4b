"""The quality part of a job: the quality set generated batch by batch and scored as it comes, its first items
saved to look at, and the fidelity check against the suite's bounds."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import numpy as np

from harness.config.job import Job
from harness.core.errors import HarnessError
from harness.core.samples import Samples
from harness.execute.progress import Stage
from harness.execute.scoring import MetricScorer
from harness.measure.env import device_environment
from harness.results.record import Audit, Fidelity, QualityPass, QualityShard, Record

SAMPLES_SAVED = 4
AUDIT_ITEMS = 4  # items of the first quality batch checked against the timed pass's outputs
HALF = ("float16", "fp16", "bfloat16", "bf16", "half")


class OutputMismatch(HarnessError):
    """The timed pass and the quality pass gave different outputs for the same seeds (MLPerf TEST01): the
    speed and the quality in the record would not be of the same system."""


def save_samples(samples: Samples, folder: Path, limit: int = SAMPLES_SAVED) -> list[str]:
    """A look at the outputs: PNG for images, GIF for video, WAV for audio."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths: list[str] = []
    for i in range(min(limit, len(samples))):
        seed = samples.seeds[i] if samples.seeds else i
        item = samples.data[i]
        if samples.modality == "image":
            path = folder / f"seed{seed}.png"
            arr = (np.clip(item, 0, 1) * 255).round().astype(np.uint8)
            Image.fromarray(arr.squeeze(-1) if arr.shape[-1] == 1 else arr).save(path)
        elif samples.modality == "video":
            path = folder / f"seed{seed}.gif"
            frames = (np.clip(item, 0, 1) * 255).round().astype(np.uint8)
            ims = [Image.fromarray(f.squeeze(-1) if f.shape[-1] == 1 else f) for f in frames]
            duration = int(1000 / (samples.fps or 8))
            ims[0].save(path, save_all=True, append_images=ims[1:], duration=duration, loop=0)
        else:
            import soundfile as sf

            path = folder / f"seed{seed}.wav"
            sf.write(path, np.clip(item.T, -1, 1), samples.sample_rate or 16000, subtype="PCM_16")
        paths.append(str(path))
    return paths


def quality_pass(
    job: Job, generator: Any, run_dir: Path, device: str, record: Record, stage: Stage
) -> Samples | None:
    """Generate the quality set batch by batch, each batch scored as it comes (memory: a batch and what the
    metrics keep), its first items saved to look at; the outputs kept on disk only where pairwise metrics
    compare variants with them (then they are held until the end). Returns the first items (the audit's)."""
    t0 = time.perf_counter()
    scorer = MetricScorer(job, run_dir, device)
    kept: list[Samples] = []
    shown: list[Samples] = []
    stage.start("quality pass", total=job.num_samples, unit="items")
    for r in job.quality_requests():
        batch = generator.generate(r)
        scorer.update(batch)  # checks the batch for NaN and Inf (then nothing is scored: invalid)
        if scorer.keeps_outputs:
            kept.append(batch)
        if sum(len(s) for s in shown) < max(SAMPLES_SAVED, AUDIT_ITEMS):
            shown.append(batch.take(0, max(SAMPLES_SAVED, AUDIT_ITEMS)))
        stage.step(scorer.items)
    if kept:
        Samples.concat(kept).save_npz(run_dir / "outputs" / f"{job.job_id}.npz")
    if shown:
        folder = run_dir / "samples" / job.job_id
        record.samples = [
            str(Path(p).relative_to(run_dir)) for p in save_samples(Samples.concat(shown), folder)
        ]
    record.num_samples = scorer.items
    wall = time.perf_counter() - t0
    one = {
        "shard": 0,
        "items": [0, scorer.items],
        "host": socket.gethostname(),
        "device": device,
        "wall_s": wall,
        "attempts": 1,
    }
    record.quality = quality_record(
        job, [{**one, "device_name": device_environment(device)["device_name"]}], wall
    )
    if scorer.invalid:
        record.quality_invalid = "outputs contain NaN or Inf"
    stage.start("metrics", total=len(job.metrics), unit="metrics")
    record.metrics = scorer.compute(on_metric=stage.step)
    return Samples.concat(shown).take(0, AUDIT_ITEMS) if shown else None


def audit_atol(job: Job) -> float:
    """How far the timed pass's outputs may be from the quality pass's for the same seeds: the suite's
    ``audit_atol``, else by dtype (float32 1e-3; half precision 5e-2, as its kernels may differ by batch)."""
    if job.audit_atol is not None:
        return job.audit_atol
    return 5e-2 if str(job.dtype).lower() in HALF else 1e-3


def audit(job: Job, timed: Samples | None, quality: Samples | None, record: Record) -> Audit | None:
    """MLPerf TEST01's check: the timed pass's last outputs against the quality pass's for the same seeds.
    Raises :class:`OutputMismatch` (the job fails, with the largest difference) beyond the tolerance."""
    if timed is None or quality is None:
        return None
    where = {seed: i for i, seed in enumerate(timed.seeds)}
    common = [(where[s], j, s) for j, s in enumerate(quality.seeds) if s in where]
    if not common:
        return None
    atol = audit_atol(job)
    seeds = [s for _, _, s in common]
    if record.quality_invalid:
        record.audit = Audit(
            seeds=seeds, atol=atol, ok=False, note="not compared: the outputs hold NaN or Inf"
        )
        return record.audit
    a = timed.data[[i for i, _, _ in common]].astype(np.float64)
    b = quality.data[[j for _, j, _ in common]].astype(np.float64)
    if a.shape != b.shape:
        raise OutputMismatch(
            f"the timed pass's outputs have shape {list(a.shape)}, the quality pass's {list(b.shape)} for the "
            "same seeds: the two passes did not run the same system"
        )
    diff = float(np.abs(a - b).max())
    ok = bool(diff <= atol)
    record.audit = Audit(seeds=seeds, max_abs_diff=diff, atol=atol, ok=ok)
    if not ok:
        raise OutputMismatch(
            f"the timed pass's outputs differ from the quality pass's for the same seeds {seeds}: max |Δ| "
            f"{diff:.3g} > {atol:g} (workload.audit_atol): the speed and the quality would not be of one system"
        )
    return record.audit


def check_fidelity(job: Job, record: Record) -> Fidelity | None:
    """Flag a variant whose outputs are NaN/Inf or drift past a suite-set bound (the job stays ok)."""
    if job.baseline_job_id is None and not record.quality_invalid:
        return None
    violations = [record.quality_invalid] if record.quality_invalid else []
    for c in job.fidelity_bounds:
        problem = c.violation(record.metric_value(c.metric))
        if problem:
            violations.append(problem)
    if not job.fidelity_bounds and not violations:
        return None
    return Fidelity(ok=not violations, violations=violations)


def quality_record(job: Job, manifests: list[dict[str, Any]], wall_s: float | None = None) -> QualityPass:
    """The record's account of the quality pass: each shard's items, host, device and time, and their sum (the
    device-seconds the evaluation cost)."""
    shards = [
        QualityShard(
            index=m["shard"],
            items=list(m["items"]),
            host=m.get("host"),
            device=m.get("device"),
            device_name=m.get("device_name"),
            wall_s=m.get("wall_s"),
            attempts=m.get("attempts"),
            reused=bool(m.get("reused", False)),
        )
        for m in manifests
    ]
    device_s = sum(s.wall_s or 0.0 for s in shards)
    wall = wall_s if wall_s is not None else max((s.wall_s or 0.0 for s in shards), default=None)
    items = sum(s.items[1] - s.items[0] for s in shards)
    return QualityPass(
        shards=job.shards,
        parts=shards,
        device_s=device_s,
        wall_s=wall,
        items_per_s=items / wall if wall else None,
    )

"""The quality part of a job: the quality set generated batch by batch and scored as it comes, its first items
saved to look at, and the fidelity check against the suite's bounds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from harness.config.job import Job
from harness.core.samples import Samples
from harness.execute.progress import Stage
from harness.execute.scoring import MetricScorer
from harness.results.record import Fidelity, Record

SAMPLES_SAVED = 4


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


def quality_pass(job: Job, generator: Any, run_dir: Path, device: str, record: Record, stage: Stage) -> None:
    """Generate the quality set batch by batch, each batch scored as it comes (memory: a batch and what the
    metrics keep), its first items saved to look at; the outputs kept on disk only where pairwise metrics
    compare variants with them (then they are held until the end)."""
    scorer = MetricScorer(job, run_dir, device)
    kept: list[Samples] = []
    shown: list[Samples] = []
    stage.start("quality pass", total=job.num_samples, unit="items")
    for r in job.quality_requests():
        batch = generator.generate(r)
        scorer.update(batch)  # checks the batch for NaN and Inf (then nothing is scored: invalid)
        if scorer.keeps_outputs:
            kept.append(batch)
        if sum(len(s) for s in shown) < SAMPLES_SAVED:
            shown.append(batch.take(0, SAMPLES_SAVED))
        stage.step(scorer.items)
    if kept:
        Samples.concat(kept).save_npz(run_dir / "outputs" / f"{job.job_id}.npz")
    if shown:
        folder = run_dir / "samples" / job.job_id
        record.samples = [
            str(Path(p).relative_to(run_dir)) for p in save_samples(Samples.concat(shown), folder)
        ]
    record.num_samples = scorer.items
    if scorer.invalid:
        record.quality_invalid = "outputs contain NaN or Inf"
    stage.start("metrics", total=len(job.metrics), unit="metrics")
    record.metrics = scorer.compute(on_metric=stage.step)


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

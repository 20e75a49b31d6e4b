"""One Job → one Record. Runs inside the job's own process (or in-process with ``--isolation none``)."""

from __future__ import annotations

import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from harness.config import load_card
from harness.errors import HarnessError, MetricSkipped, UserInputError, WeightsNotFoundError
from harness.loaders.base import Request, Samples
from harness.plan import Job

SAMPLES_SAVED = 4


def requests_for(job: Job) -> list[Request]:
    """The quality pass: ``num_samples`` items in batches; item i has seed ``seed + i``."""
    call = job.call_args
    out = []
    for start in range(0, job.num_samples, job.batch_size):
        idx = list(range(start, min(start + job.batch_size, job.num_samples)))
        out.append(
            Request(
                seeds=[job.seed + i for i in idx],
                call=call,
                prompts=[job.prompts[i % len(job.prompts)] for i in idx] if job.prompts else None,
                class_labels=[job.class_labels[i % len(job.class_labels)] for i in idx]
                if job.class_labels
                else None,
            )
        )
    return out


def timed_request(job: Job) -> Request:
    """The timed request: always a full batch (items 0 … batch_size-1)."""
    n = job.batch_size
    return Request(
        seeds=[job.seed + i for i in range(n)],
        call=job.call_args,
        prompts=[job.prompts[i % len(job.prompts)] for i in range(n)] if job.prompts else None,
        class_labels=[job.class_labels[i % len(job.class_labels)] for i in range(n)]
        if job.class_labels
        else None,
    )


def items_per_call(job: Job, samples: Samples) -> tuple[float, str]:
    """Throughput unit per modality: images, video frames, or seconds of audio generated per call."""
    if samples.modality == "image":
        return float(len(samples)), "images/s"
    if samples.modality == "video":
        return float(samples.data.shape[0] * samples.data.shape[1]), "frames/s"
    sr = samples.sample_rate or 0
    seconds = samples.data.shape[0] * samples.data.shape[-1] / sr if sr else float("nan")
    return float(seconds), "audio_s/s"


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


def run_metrics(job: Job, samples: Samples, run_dir: Path, device: str = "cpu") -> dict[str, Any]:
    """Every metric of the job: a value, or skipped with the reason. A metric's failure is its own."""
    from harness.metrics import METRICS

    out: dict[str, Any] = {}
    reference: Samples | None = None
    reference_error: str | None = None
    if job.baseline_job_id is None:
        reference = samples  # this job is the baseline: pairwise metrics against itself are the identity
    else:
        ref_path = run_dir / "outputs" / f"{job.baseline_job_id}.npz"
        if ref_path.exists():
            reference = Samples.load_npz(ref_path)
        else:
            reference_error = "the baseline variant produced no outputs (its job failed or was not run)"
    finite = bool(np.isfinite(samples.data).all())
    for spec in job.metrics:
        name, options = spec["name"], spec.get("options") or {}
        cls = METRICS.get(name)
        if not finite:  # a score of NaN outputs would be a number that means nothing
            out[name] = {
                "value": None,
                "unit": cls.unit,
                "higher_is_better": cls.higher_is_better,
                "status": "invalid",
                "reason": "the outputs contain NaN or Inf",
            }
            continue
        try:
            metric = cls(device=device, **options) if cls.accepts_device else cls(**options)
        except TypeError as exc:
            out[name] = {
                "value": None,
                "unit": cls.unit,
                "higher_is_better": cls.higher_is_better,
                "status": "failed",
                "reason": f"bad options for {name}: {exc}",
            }
            continue
        try:
            if job.modality not in cls.modalities:
                raise MetricSkipped(f"applies to {', '.join(cls.modalities)}, not {job.modality}")
            if cls.requires_trained_weights and job.random_weights:
                raise MetricSkipped(
                    "the model has random weights (source: config): a quality score would be noise"
                )
            if cls.kind == "pairwise":
                if reference is None:
                    raise MetricSkipped(reference_error or "no reference")
                metric.update(samples, reference)
            else:
                metric.update(samples)
            value = metric.compute()
            if cls.kind == "pairwise" and job.baseline_job_id is None:
                value.details["note"] = "baseline variant: compared with itself"
            out[name] = value.to_dict()
        except (MetricSkipped, WeightsNotFoundError) as exc:
            # Missing weights are not the job's failure: the metric is skipped, saying what to provide.
            out[name] = metric.skipped(str(exc)).to_dict()
            if job.modality not in cls.modalities:
                out[name]["applicable"] = False  # reports leave it blank instead of listing it as skipped
        except Exception as exc:
            mv = metric.skipped(f"{type(exc).__name__}: {exc}")
            mv.status = "failed"
            out[name] = mv.to_dict()
    return out


def check_fidelity(job: Job, record: dict[str, Any]) -> dict[str, Any] | None:
    """Flag a variant whose outputs are NaN/Inf or drift past a suite-set bound (the job stays ok)."""
    from harness.config import Constraint

    if job.baseline_job_id is None and not record.get("quality_invalid"):
        return None
    violations = [record["quality_invalid"]] if record.get("quality_invalid") else []
    for bound in job.fidelity_bounds:
        c = Constraint(**bound)
        mv = (record.get("metrics") or {}).get(c.metric) or {}
        value = mv.get("value") if mv.get("status") == "ok" else None
        problem = c.violation(float(value) if value is not None else None)
        if problem:
            violations.append(problem)
    if not job.fidelity_bounds and not violations:
        return None
    return {"ok": not violations, "violations": violations}


def _set_threads(job: Job) -> None:
    import torch

    if job.threads:
        torch.set_num_threads(job.threads)


def base_record(job: Job, device: str, status: str = "failed") -> dict[str, Any]:
    """The identity part of a record, shared by the worker and by executors that record a lost job."""
    return {
        "schema": 1,
        "job_id": job.job_id,
        "suite": job.suite,
        "model": job.model,
        "variant": job.variant,
        "backend": job.backend,
        "precision": job.dtype,
        "modality": job.modality,
        "task": job.task,
        "device": device,
        "batch_size": job.batch_size,
        "call": job.call,
        "random_weights": job.random_weights,
        "baseline_job_id": job.baseline_job_id,
        "status": status,
        "error": None,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def run_job(job: Job, run_dir: Path, device: str) -> dict[str, Any]:
    """Load, prepare, warm up, time, profile stages, generate the quality set, score. Never raises
    (except KeyboardInterrupt, which the executor records as an interrupted job)."""
    from harness.measure.env import device_environment

    record = base_record(job, device)
    t_start = time.perf_counter()
    try:
        _measure(job, run_dir, device, record)
        record["status"] = "ok"
    except Exception as exc:
        record["error"] = {
            "type": type(exc).__name__,
            "message": str(exc).splitlines()[0][:500] if str(exc) else type(exc).__name__,
            "traceback": traceback.format_exc()[-4000:],
            "stage": record.get("_stage"),
            "advice": _advice(exc),
        }
    finally:
        record.pop("_stage", None)
        record["duration_s"] = time.perf_counter() - t_start
        try:
            from harness.measure.memory import peak_rss_mib

            record.setdefault("memory", {"peak_rss_mib": peak_rss_mib()})
            record["environment"] = device_environment(device)
        except Exception:
            pass
    return record


def _advice(exc: BaseException) -> str | None:
    text = f"{type(exc).__name__}: {exc}"
    if "out of memory" in text.lower() or isinstance(exc, MemoryError):
        return "out of memory: try a smaller batch_size or resolution, or a lower precision (fp16/bf16)"
    if isinstance(exc, (UserInputError, HarnessError)):
        return None
    return None


def _measure(job: Job, run_dir: Path, device: str, record: dict[str, Any]) -> None:
    import torch

    from harness.backends import BACKENDS
    from harness.loaders import load_generator
    from harness.measure.memory import NvmlPeak, cuda_reset_peak, memory_summary
    from harness.measure.stages import profile_stages, stage_summary
    from harness.measure.stats import summarize
    from harness.measure.timing import time_call, timed_loop

    _set_threads(job)
    m = job.measurement
    record["_stage"] = "load"
    card = load_card(job.card_path)
    cuda_reset_peak(device)
    with NvmlPeak() as nvml:
        t0 = time.perf_counter()
        generator = load_generator(card, device, job.dtype)
        record["load_s"] = time.perf_counter() - t0
        if hasattr(generator, "parameter_count"):
            record["parameters"] = generator.parameter_count()

        record["_stage"] = "prepare"
        t0 = time.perf_counter()
        prepared = BACKENDS.get(job.backend)().prepare(generator, job)
        record["prepare_s"] = time.perf_counter() - t0
        generator = prepared.generator
        record["compile_s"] = prepared.compile_s
        record["capture_s"] = prepared.capture_s
        record["cache_hit"] = prepared.cache_hit
        record["precision"] = prepared.precision
        record["backend_notes"] = prepared.notes
        record["backend_details"] = prepared.details

        request = timed_request(job)
        record["_stage"] = "warmup"
        # The first call pays for lazy initialisation (kernels, allocator, compilation): reported apart.
        first_ms, out = time_call(lambda: generator.generate(request), device)
        record["first_call_ms"] = first_ms
        for _ in range(max(m["warmup"] - 1, 0)):
            time_call(lambda: generator.generate(request), device)

        record["_stage"] = "timed"
        before = prepared.recompiles() if prepared.recompiles else None
        samples_ms, out = timed_loop(
            lambda: generator.generate(request),
            device,
            min_iterations=m["min_iterations"],
            max_iterations=m["max_iterations"],
            min_duration_s=m["min_duration_s"],
        )
        lat = summarize(samples_ms)
        record["latency_ms"] = lat
        if before is not None:
            # Recompilation inside the timed loop would mix compile time into latency: say so.
            record["recompiled_in_timed_loop"] = prepared.recompiles() - before
            if record["recompiled_in_timed_loop"]:
                record["backend_notes"].append(
                    f"{record['recompiled_in_timed_loop']} recompilation(s) happened in the timed loop"
                )
        items, unit = items_per_call(job, out)
        record["latency_per_item_ms"] = {"p50": lat["p50"] / max(len(out), 1)}
        record["throughput"] = {"value": items / (lat["p50"] / 1000.0), "unit": unit, "per_call": items}
        record["output_shape"] = list(out.data.shape)

        if m.get("profile_stages", True):
            record["_stage"] = "profile_stages"
            with profile_stages(generator.components(), device) as times:
                total_ms, _ = time_call(lambda: generator.generate(request), device)
            record["stages_ms"] = stage_summary(times, total_ms)

        record["_stage"] = "quality_pass"
        parts = [generator.generate(r) for r in requests_for(job)]
        samples = Samples.concat(parts)
        if not np.isfinite(samples.data).all():
            record["quality_invalid"] = "outputs contain NaN or Inf"
        samples.save_npz(run_dir / "outputs" / f"{job.job_id}.npz")
        record["samples"] = [
            str(Path(p).relative_to(run_dir)) for p in save_samples(samples, run_dir / "samples" / job.job_id)
        ]
        record["num_samples"] = len(samples)

        record["_stage"] = "metrics"
        record["metrics"] = run_metrics(job, samples, run_dir, device)
        record["fidelity"] = check_fidelity(job, record)
    record["memory"] = memory_summary(device, nvml)
    generator = prepared = None  # free the pipeline before the next job reuses the process
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def main(argv: list[str] | None = None) -> int:
    """``python -m harness.execute.worker JOB.json RUN_DIR DEVICE RESULT.json``: one job in a fresh process."""
    import json
    import sys

    from harness.results import dumps

    args = sys.argv[1:] if argv is None else argv
    job_file, run_dir, device, result = args
    job = Job.from_dict(json.loads(Path(job_file).read_text()))
    record = run_job(job, Path(run_dir), device)
    tmp = result + ".tmp"
    Path(tmp).write_text(dumps(record))
    Path(tmp).replace(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

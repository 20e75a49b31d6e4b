"""One Job → one Record. Runs inside the job's own process (or in-process with ``--isolation none``)."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.config.job import Job
from harness.core.errors import advice_for
from harness.core.samples import Samples
from harness.execute.budgets import job_budgets
from harness.execute.preflight import WontFit
from harness.execute.progress import Report, Stage
from harness.execute.scoring import MetricScorer, run_metrics  # noqa: F401  (run_metrics: also public here)
from harness.results.outcome import scenario_failure
from harness.results.record import (
    Conditions,
    Cost,
    DeviceEnvironment,
    Energy,
    Fidelity,
    GpuConditions,
    JobError,
    Latency,
    LoadgenRun,
    Memory,
    PerItemLatency,
    Record,
    ScenarioResult,
    Stages,
    Throughput,
)
from harness.results.values import started_at_now

SAMPLES_SAVED = 4


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


def _set_threads(job: Job) -> None:
    """The suite's ``threads``, else one per core this process may use (its affinity: a container's or
    ``taskset``'s share, not the machine's core count that torch would take)."""
    import torch

    from harness.measure.conditions import usable_cores

    torch.set_num_threads(job.threads or usable_cores())


def base_record(job: Job, device: str, status: str = "failed") -> Record:
    """The identity part of a record, shared by the worker and by executors that record a lost job."""
    return Record(
        job_id=job.job_id,
        suite=job.suite,
        model=job.model,
        variant=job.variant,
        backend=job.backend,
        precision=job.dtype,
        modality=job.modality,
        task=job.task,
        device=device,
        batch_size=job.batch_size,
        call=job.call.model_dump(exclude_none=True),
        random_weights=job.random_weights,
        baseline_job_id=job.baseline_job_id,
        scenario=job.scenario.display_name if job.scenario else None,
        status=status,
        started_at=started_at_now(),
    )


def run_job(
    job: Job,
    run_dir: Path,
    device: str,
    report: Report | None = None,
    *,
    loaded: Loaded | None = None,
    isolation: str = "process",
) -> Record:
    """Load, prepare, warm up, time, profile stages, generate the quality set, score. Never raises
    (except KeyboardInterrupt, which the executor records as an interrupted job). ``report`` hears where
    the job is (:mod:`harness.execute.progress`). With ``loaded`` (isolation ``card``) the job runs on a
    pipeline already loaded by :func:`load_pipeline`, and gives it back as it found it."""
    from harness.measure.env import device_environment

    record = base_record(job, device)
    record.isolation = isolation  # type: ignore[assignment]
    stage = Stage(report)
    t_start = time.perf_counter()
    try:
        _measure(job, run_dir, device, record, stage, loaded)
        record.status = "ok"
    except Exception as exc:
        record.error = error_of(exc, stage.name)
        if isinstance(exc, WontFit):
            record.memory_estimate = exc.estimate
    finally:
        record.duration_s = time.perf_counter() - t_start
        try:
            from harness.measure.memory import peak_rss_mib

            if record.memory.peak_rss_mib is None:
                record.memory = Memory(peak_rss_mib=peak_rss_mib())
            record.environment = DeviceEnvironment(**device_environment(device))
        except Exception:
            pass
    return record


def error_of(exc: BaseException, stage: str | None) -> JobError:
    """The record's error for an exception raised while ``stage`` ran (call from inside ``except``)."""
    return JobError(
        type=type(exc).__name__,
        message=str(exc).splitlines()[0][:500] if str(exc).strip() else type(exc).__name__,
        traceback=traceback.format_exc()[-4000:],
        stage=stage,
        advice=advice_for(exc),
    )


@dataclass
class Loaded:
    """A card's pipeline loaded once and shared by the variants that agree on everything decided at load time
    (isolation ``card``): card, dtype, backend and its options, device."""

    generator: Any
    load_s: float
    parameters: dict[str, int] | None = None
    broken: str | None = None  # why the variants still to run must not use it (a prepare left it changed)
    estimate: Any = None  # the pre-flight memory estimate made before the load (a MemoryEstimate)


def load_pipeline(job: Job, device: str) -> Loaded:
    """Load ``job``'s card on ``device`` in its dtype, timed, once the pre-flight memory estimate says it fits
    (:class:`~harness.execute.preflight.WontFit` where it cannot)."""
    from harness.execute.preflight import preflight
    from harness.loaders import load_generator

    _set_threads(job)
    estimate = preflight(job, job.card, device)
    t0 = time.perf_counter()
    generator = load_generator(job.card, device, job.dtype)
    load_s = time.perf_counter() - t0
    params = generator.parameter_count() if hasattr(generator, "parameter_count") else None
    return Loaded(generator=generator, load_s=load_s, parameters=params, estimate=estimate)


def run_card(
    jobs: list[Job],
    run_dir: Path,
    device: str,
    reports: list[Report | None],
    on_record: Any,
) -> None:
    """Isolation ``card``: load the jobs' card once, then run each job on it in order; ``on_record(i, record)``
    hears each as it ends. A load that fails fails every job, each with its own record; a pipeline that cannot
    be given back after a job fails the jobs after it (they would run on a pipeline another variant changed)."""
    from harness.measure.memory import reset_peaks

    stage = Stage(reports[0])
    stage.start("load (shared by the card's variants)", phase="load")
    t0 = time.perf_counter()
    loaded: Loaded | None = None
    broken: JobError | None = None
    refused = None
    try:
        loaded = load_pipeline(jobs[0], device)
    except Exception as exc:
        broken = error_of(exc, stage.name)
        refused = exc.estimate if isinstance(exc, WontFit) else None
    for i, job in enumerate(jobs):
        if loaded is not None and loaded.broken is not None and broken is None:
            broken = JobError(
                type="SharedPipelineBroken",
                message=loaded.broken,
                stage="prepare",
                advice="run this card with --isolation process to give each variant its own load",
            )
        if broken is not None:
            record = base_record(job, device)
            record.isolation = "card"
            record.error = broken
            record.memory_estimate = refused
            record.duration_s = time.perf_counter() - t0 if i == 0 else 0.0
            on_record(i, record)
            continue
        # Each record's memory is its own: the allocator's peak and the process's VmHWM start again here.
        rss_reset = reset_peaks(device)
        record = run_job(job, run_dir, device, reports[i], loaded=loaded, isolation="card")
        record.load_shared = i > 0
        if i > 0 and not rss_reset:
            record.memory.note = "peak RSS could not be reset here: it is the card worker's peak so far"
        on_record(i, record)


def _gpu_index(device: str) -> int:
    if not device.startswith("cuda"):
        return -1  # no GPU: the sampler finds no device and reads nothing
    import torch

    return int(torch.cuda.current_device())


def measured_conditions(cpu: Any, gpu: Any, load_before: tuple[float, float, float] | None) -> Conditions:
    """The record's conditions from what :class:`CpuLoad` and :class:`GpuSampler` saw around the timed loop."""
    import dataclasses

    from harness.measure.conditions import cpu_governor, describe, load_average, thread_settings, usable_cores

    cores, threads = usable_cores(), thread_settings()
    verdict = describe(cores=cores, threads=threads.torch_threads, load=cpu, gpu=gpu)
    return Conditions(
        load_before=load_before,
        load_after=load_average(),
        cores=cores,
        torch_threads=threads.torch_threads,
        omp_num_threads=threads.omp_num_threads,
        governor=cpu_governor(),
        other_cores=cpu.other_cores,
        steal_cores=cpu.steal_cores,
        own_cores=cpu.own_cores,
        gpu=GpuConditions(**dataclasses.asdict(gpu)) if gpu is not None else None,
        contention=verdict.contention,
        oversubscribed=verdict.oversubscribed,
        throttled=verdict.throttled,
        notes=verdict.notes,
    )


def energy_of(reading: Any, iterations: int, items: int) -> Energy:
    """Per call and per item from the timed loop's total; None with the reason where nothing was measured."""
    if reading.total_j is None:
        return Energy(reason=reading.reason, iterations=iterations)
    per_call = reading.total_j / max(iterations, 1)
    return Energy(
        energy_j=per_call,
        energy_per_item_j=per_call / items,
        total_j=reading.total_j,
        gpu_j=reading.gpu_j,
        cpu_j=reading.cpu_j,
        dram_j=reading.dram_j,
        seconds=reading.seconds,
        iterations=iterations,
        sources=list(reading.sources),
    )


def cost_of(job: Job, device: str, ms_per_item: float) -> Cost | None:
    """USD per 1,000 items at the suite's price of this device (None when the suite gives no price)."""
    if job.cost is None:
        return None
    from harness.measure.env import device_environment

    found = job.cost.price(device, device_environment(device).get("device_name"))
    if found is None:
        return None
    usd_per_hour, key = found
    return Cost(
        usd_per_hour=usd_per_hour,
        per_1k_items_usd=usd_per_hour * ms_per_item / 3600.0,
        basis=f"{usd_per_hour:g} USD/h (cost.{key}) × latency_per_item_ms.p50 {ms_per_item:.4g} ms",
    )


def run_job_scenario(
    job: Job,
    generator: Any,
    spec: Any,
    run_dir: Path,
    device: str,
    on_query: Callable[[int], None] | None = None,
) -> ScenarioResult:
    """The job's LoadGen scenario on the loaded generator: every batch size it will see warmed up (a compiled
    backend must not compile inside LoadGen's run), the capacity at those sizes calibrated (LoadGen's Offline
    query size, the Server search's bracket), then the scenario. Logs go to ``loadgen/<job_id>/``.
    ``on_query(n)`` hears each generation call (the executor's watchdog sees the scenario progress)."""
    import dataclasses
    import itertools

    from harness.measure.timing import time_call
    from harness.scenarios.loadgen import loadgen_version, require_loadgen
    from harness.scenarios.run import run_scenario

    require_loadgen()
    if spec.kind == "offline":
        sizes = list(spec.batch_sweep or [spec.max_batch])
    else:
        sizes = list(range(1, spec.max_batch + 1))
    capacity: dict[int, float] = {}
    calls = itertools.count(1)

    def called() -> None:
        n = next(calls)  # atomic: LoadGen may issue from several threads
        if on_query is not None:
            on_query(n)

    for b in sizes:
        request = job.request_for(list(range(b)))
        time_call(lambda r=request: generator.generate(r), device)  # warm this shape
        called()
        if b in (1, spec.max_batch) or spec.kind == "offline":
            ms = sorted(time_call(lambda r=request: generator.generate(r), device)[0] for _ in range(3))[1]
            capacity[b] = b * 1000.0 / ms
            called()

    def per_batch(b: int) -> float:
        if b in capacity:
            return capacity[b]
        known = max(k for k in capacity if k <= b) if any(k <= b for k in capacity) else min(capacity)
        return capacity[known]

    def generate(indices: list[int]) -> Any:
        out = generator.generate(job.request_for(indices))
        called()
        return out

    log_dir = run_dir / "loadgen" / job.job_id
    out = run_scenario(generate, max(job.num_samples, max(sizes)), spec, log_dir, per_batch)
    runs = []
    for r in out.runs:
        data = dataclasses.asdict(r)
        data.pop("trace", None)
        data["logs"] = [Path(p).relative_to(run_dir).as_posix() for p in r.logs]  # the run folder travels
        runs.append(LoadgenRun(**data))
    return ScenarioResult(
        name=out.name,
        kind=out.kind,
        runs=runs,
        throughput=out.throughput,
        best_batch=out.best_batch,
        max_qps=out.max_qps,
        p99_ms=out.p99_ms,
        latency_bound_ms=spec.latency_bound_ms,
        percentile=spec.percentile,
        search=out.search,
        capacity={str(b): v for b, v in capacity.items()},
        loadgen_version=loadgen_version(),
        reason=out.reason,
        require_valid=spec.require_valid,
    )


def _measure(
    job: Job, run_dir: Path, device: str, record: Record, stage: Stage, loaded: Loaded | None = None
) -> None:
    import torch

    from harness.backends import BACKENDS
    from harness.measure.energy import EnergyMeter
    from harness.measure.memory import NvmlPeak, cuda_reset_peak, memory_summary

    _set_threads(job)
    meter = EnergyMeter(device)  # before the load: starting Zeus's monitor is not the job's time
    shared = loaded is not None
    if not shared:
        cuda_reset_peak(device)
    with NvmlPeak() as nvml:
        if loaded is None:
            stage.start("load", phase="load")
            loaded = load_pipeline(job, device)
        record.load_s, record.parameters = loaded.load_s, loaded.parameters
        record.memory_estimate = loaded.estimate
        generator = loaded.generator
        # The compile and measure budgets scale with the parameters just loaded; the executor applies them.
        count = sum(loaded.parameters.values()) if loaded.parameters else None
        stage.set_budgets(job_budgets(job, count).to_dict())
        reloaded = _reload_released(generator, stage)

        stage.start(f"prepare ({job.backend})", phase="compile")
        t0 = time.perf_counter()
        try:
            prepared = BACKENDS.get(job.backend)().prepare(generator, job)
        except BaseException:
            if shared:  # it may have replaced part of the pipeline before it failed: nothing can trust it now
                loaded.broken = f"the shared pipeline was left changed by {record.label}'s failed prepare"
            raise
        record.prepare_s = time.perf_counter() - t0
        prepared.notes[:0] = reloaded
        try:
            _measure_prepared(job, run_dir, device, record, stage, prepared, meter)
        finally:
            if shared:
                _give_back(prepared, loaded, record.label)
    record.memory = Memory(**asdict(memory_summary(device, nvml)))
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def _reload_released(generator: Any, stage: Stage) -> list[str]:
    """Isolation card: the weights the variant before released (a backend that ran them outside torch) are
    loaded again before this one prepares, so it starts from the pipeline as loaded; returns its note."""
    if not getattr(generator, "released", None):
        return []
    stage.start("reload released weights")
    t0 = time.perf_counter()
    roles = generator.reload_released()
    return [
        f"torch weights of {', '.join(roles)} loaded again ({time.perf_counter() - t0:.1f} s): the variant "
        "before released them"
    ]


def _give_back(prepared: Any, loaded: Loaded, label: str) -> None:
    """Undo the backend's changes to the shared pipeline; if that fails the variants after this one must not run
    on it (``loaded.broken`` says why)."""
    try:
        prepared.restore()
    except Exception as exc:
        loaded.broken = (
            f"the shared pipeline could not be restored after {label}: {type(exc).__name__}: {exc}"
        )


def _measure_prepared(
    job: Job, run_dir: Path, device: str, record: Record, stage: Stage, prepared: Any, meter: Any
) -> None:
    """Warm-up, the timed loop, stages, the LoadGen scenario, the quality pass and its metrics."""
    from harness.measure.conditions import CpuLoad, GpuSampler, load_average
    from harness.measure.stages import profile_stages, stage_summary
    from harness.measure.stats import first_call_excess, summarize
    from harness.measure.timing import time_call, timed_loop

    m = job.measurement
    generator = prepared.generator
    record.compile_s = prepared.compile_s
    record.capture_s = prepared.capture_s
    record.cache_hit = prepared.cache_hit
    record.precision = prepared.precision
    record.backend_notes = list(prepared.notes)
    record.backend_details = dict(prepared.details)

    request = job.timed_request()
    stage.start("warmup", total=max(m.warmup, 1), unit="calls")
    # The first call pays for lazy initialisation (kernels, allocator, compilation): reported apart.
    first_ms, out = time_call(lambda: generator.generate(request), device)
    record.first_call_ms = first_ms
    stage.step(1, phase="measure")  # the first call ends the compile phase: each call after is a step
    for i in range(max(m.warmup - 1, 0)):
        time_call(lambda: generator.generate(request), device)
        stage.step(i + 2)

    stage.start("timed loop", total=m.min_iterations, unit="calls")
    before = prepared.recompiles() if prepared.recompiles else None
    load_before = load_average()
    # What else the machine did while this job was timed, the GPU's clocks and throttling, and the
    # energy of the loop: read around it, so the loop itself is the harness's ordinary timing path.
    with CpuLoad() as cpu, GpuSampler(_gpu_index(device)) as gpu, meter.window() as energy:
        samples_ms, out = timed_loop(
            lambda: generator.generate(request),
            device,
            min_iterations=m.min_iterations,
            max_iterations=m.max_iterations,
            min_duration_s=m.min_duration_s,
            on_iteration=stage.step,
        )
    record.conditions = measured_conditions(cpu, gpu.reading, load_before)
    lat = Latency(**summarize(samples_ms))
    record.latency_ms = lat
    if prepared.first_call_s is not None:
        # A lazy compiler's cost: its first call beyond the median of the steady calls just timed.
        excess, steady_s = first_call_excess(prepared.first_call_s, samples_ms)
        record.compile_s = prepared.compile_s + excess
        record.compile_first_call_s = prepared.first_call_s
        record.compile_steady_call_s = steady_s
        record.compile_steady_calls = len(samples_ms)
    if before is not None:
        # Recompilation inside the timed loop would mix compile time into latency: say so.
        record.recompiled_in_timed_loop = prepared.recompiles() - before
        if record.recompiled_in_timed_loop:
            record.backend_notes.append(
                f"{record.recompiled_in_timed_loop} recompilation(s) happened in the timed loop"
            )
    items, unit = items_per_call(job, out)
    record.latency_per_item_ms = PerItemLatency(p50=lat.p50 / max(len(out), 1))
    record.throughput = Throughput(value=items / (lat.p50 / 1000.0), unit=unit, per_call=items)
    record.output_shape = list(out.data.shape)
    record.energy = energy_of(energy[0], len(samples_ms), max(len(out), 1))
    record.cost = cost_of(job, device, record.latency_per_item_ms.p50)

    if m.profile_stages:
        stage.start("profile stages")
        graphs = prepared.recompiles() if prepared.recompiles else None
        with profile_stages(generator, device) as times:
            total_ms, _ = time_call(lambda: generator.generate(request), device)
        summary = asdict(stage_summary(times, total_ms))
        record.stages_ms = Stages(**summary["stages"], total_ms=summary["total_ms"])
        if graphs is not None:
            # The profile must time the graphs the timed loop ran, not a retrace of them.
            record.stages_ms.recompiles = prepared.recompiles() - graphs
            if record.stages_ms.recompiles:
                record.backend_notes.append(
                    f"{record.stages_ms.recompiles} recompilation(s) happened in the stage profile"
                )

    spec = job.scenario
    if spec is not None:
        stage.start(f"scenario {spec.display_name} (LoadGen)", unit="queries")
        record.loadgen = run_job_scenario(job, generator, spec, run_dir, device, on_query=stage.step)

    quality_pass(job, generator, run_dir, device, record, stage)
    record.fidelity = check_fidelity(job, record)
    if record.loadgen is not None:
        # A scenario without its headline, or with it from a run LoadGen calls INVALID (unless the suite opted
        # out), fails the job; the quality pass ran first so that other variants' pairwise metrics keep this
        # one's outputs, and the record keeps every LoadGen run and its logs.
        failure = scenario_failure(record.loadgen, logs=f"loadgen/{job.job_id}/")
        if failure is not None:
            stage.start(f"scenario {spec.display_name} (LoadGen)")
            raise failure


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


def main(argv: list[str] | None = None) -> int:
    """``python -m harness.execute.worker JOB.json RUN_DIR DEVICE RESULT.json [PROGRESS]``: one job in a fresh
    process; with PROGRESS it reports its stage and budgets there (:class:`~harness.execute.progress.ProgressFile`)."""
    import json
    import sys

    from harness.execute.progress import ProgressFile

    args = sys.argv[1:] if argv is None else argv
    job_file, run_dir, device, result, *progress = args
    job = Job.from_dict(json.loads(Path(job_file).read_text()))
    record = run_job(job, Path(run_dir), device, ProgressFile(Path(progress[0])) if progress else None)
    tmp = result + ".tmp"
    Path(tmp).write_text(record.to_json())
    Path(tmp).replace(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

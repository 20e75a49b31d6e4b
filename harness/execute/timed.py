"""The speed part of a job: the warm-up, the timed loop with what the machine did around it (conditions, energy),
the figures derived from it (per item, throughput, cost, a lazy compiler's cost) and the stage profile."""

from __future__ import annotations

import dataclasses
from typing import Any

from harness.backends.base import Prepared
from harness.config.job import Job
from harness.core.samples import Samples
from harness.execute.progress import Stage
from harness.loaders.base import Request
from harness.measure.conditions import (
    CpuLoad,
    GpuSampler,
    cpu_governor,
    describe,
    load_average,
    thread_settings,
    usable_cores,
)
from harness.measure.energy import EnergyMeter
from harness.measure.env import device_environment
from harness.measure.stages import profile_stages, stage_summary
from harness.measure.stats import first_call_excess, summarize
from harness.measure.timing import time_call, timed_loop
from harness.results.record import (
    Conditions,
    Cost,
    Energy,
    GpuConditions,
    Latency,
    PerItemLatency,
    Record,
    Stages,
    Throughput,
)


def items_per_call(samples: Samples) -> tuple[float, str]:
    """Throughput unit per modality: images, video frames, or seconds of audio generated per call."""
    if samples.modality == "image":
        return float(len(samples)), "images/s"
    if samples.modality == "video":
        return float(samples.data.shape[0] * samples.data.shape[1]), "frames/s"
    sr = samples.sample_rate or 0
    seconds = samples.data.shape[0] * samples.data.shape[-1] / sr if sr else float("nan")
    return float(seconds), "audio_s/s"


def warm_up(
    job: Job, prepared: Prepared, request: Request, device: str, record: Record, stage: Stage
) -> None:
    """Every call before the timed loop; the first, which pays for lazy initialisation (kernels, allocator,
    compilation), is reported apart (``first_call_ms``)."""
    generator = prepared.generator
    warmup = job.measurement.warmup
    stage.start("warmup", total=max(warmup, 1), unit="calls")
    record.first_call_ms, _ = time_call(lambda: generator.generate(request), device)
    stage.step(1, phase="measure")  # the first call ends the compile phase: each call after is a step
    for i in range(max(warmup - 1, 0)):
        time_call(lambda: generator.generate(request), device)
        stage.step(i + 2)


def time_job(
    job: Job,
    prepared: Prepared,
    request: Request,
    device: str,
    record: Record,
    stage: Stage,
    meter: EnergyMeter,
) -> Samples:
    """The timed loop, and the record's latency, conditions, compile cost, throughput, energy and cost;
    returns the last call's outputs (checked against the quality pass's for the same seeds)."""
    m, generator = job.measurement, prepared.generator
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
    items, unit = items_per_call(out)
    record.latency_per_item_ms = PerItemLatency(p50=lat.p50 / max(len(out), 1))
    record.throughput = Throughput(value=items / (lat.p50 / 1000.0), unit=unit, per_call=items)
    record.output_shape = list(out.data.shape)
    record.energy = energy_of(energy[0], len(samples_ms), max(len(out), 1))
    record.cost = cost_of(job, device, record.latency_per_item_ms.p50)
    return out


def profile(prepared: Prepared, request: Request, device: str, record: Record, stage: Stage) -> None:
    """One more call with each stage (text encode, denoise steps, decode) timed: ``record.stages_ms``."""
    generator = prepared.generator
    stage.start("profile stages")
    graphs = prepared.recompiles() if prepared.recompiles else None
    with profile_stages(generator, device) as times:
        total_ms, _ = time_call(lambda: generator.generate(request), device)
    summary = dataclasses.asdict(stage_summary(times, total_ms))
    record.stages_ms = Stages(**summary["stages"], total_ms=summary["total_ms"])
    if graphs is not None:
        # The profile must time the graphs the timed loop ran, not a retrace of them.
        record.stages_ms.recompiles = prepared.recompiles() - graphs
        if record.stages_ms.recompiles:
            record.backend_notes.append(
                f"{record.stages_ms.recompiles} recompilation(s) happened in the stage profile"
            )


def _gpu_index(device: str) -> int:
    if not device.startswith("cuda"):
        return -1  # no GPU: the sampler finds no device and reads nothing
    import torch

    return int(torch.cuda.current_device())


def measured_conditions(cpu: Any, gpu: Any, load_before: tuple[float, float, float] | None) -> Conditions:
    """The record's conditions from what :class:`CpuLoad` and :class:`GpuSampler` saw around the timed loop."""
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
    found = job.cost.price(device, device_environment(device).get("device_name"))
    if found is None:
        return None
    usd_per_hour, key = found
    return Cost(
        usd_per_hour=usd_per_hour,
        per_1k_items_usd=usd_per_hour * ms_per_item / 3600.0,
        basis=f"{usd_per_hour:g} USD/h (cost.{key}) × latency_per_item_ms.p50 {ms_per_item:.4g} ms",
    )

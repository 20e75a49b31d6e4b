"""One Job → one Record. Runs inside the job's own process (or in-process with ``--isolation none``).

The steps live by job: the load and the backend's prepare (:mod:`harness.execute.load`), the warm-up, timed
loop and stage profile (:mod:`harness.execute.timed`), the LoadGen scenario (:mod:`harness.execute.scenario`),
the quality pass and its metrics (:mod:`harness.execute.quality`, :mod:`harness.execute.scoring`); this module
runs them in order and turns what happens into the record.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from harness.backends.base import Prepared
from harness.config.job import Job
from harness.core.errors import advice_for
from harness.execute.budgets import job_budgets
from harness.execute.load import Loaded, base_record, give_back, load_pipeline, prepare, set_threads
from harness.execute.preflight import WontFit
from harness.execute.progress import Report, Stage
from harness.execute.quality import SAMPLES_SAVED, audit, check_fidelity, quality_pass, save_samples
from harness.execute.scenario import run_job_scenario
from harness.execute.scoring import run_metrics
from harness.execute.shards import merge_shards
from harness.execute.timed import (
    cost_of,
    energy_of,
    items_per_call,
    measured_conditions,
    profile,
    time_job,
    warm_up,
)
from harness.measure.energy import EnergyMeter
from harness.measure.env import device_environment
from harness.measure.memory import NvmlPeak, cuda_reset_peak, memory_summary, peak_rss_mib, reset_peaks
from harness.results.outcome import scenario_failure
from harness.results.record import DeviceEnvironment, JobError, Memory, Record

# Also public here, where the executors and tests have always imported them from.
__all__ = [
    "SAMPLES_SAVED",
    "Loaded",
    "base_record",
    "check_fidelity",
    "cost_of",
    "energy_of",
    "error_of",
    "items_per_call",
    "load_pipeline",
    "measured_conditions",
    "quality_pass",
    "run_card",
    "run_job",
    "run_job_scenario",
    "run_metrics",
    "save_samples",
]


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


def run_card(
    jobs: list[Job],
    run_dir: Path,
    device: str,
    reports: list[Report | None],
    on_record: Callable[[int, Record], None],
) -> None:
    """Isolation ``card``: load the jobs' card once, then run each job on it in order; ``on_record(i, record)``
    hears each as it ends. A load that fails fails every job, each with its own record; a pipeline that cannot
    be given back after a job fails the jobs after it (they would run on a pipeline another variant changed)."""
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


def _measure(
    job: Job, run_dir: Path, device: str, record: Record, stage: Stage, loaded: Loaded | None = None
) -> None:
    """Load (unless the card's pipeline is shared), prepare, measure; the record's memory is the job's peak."""
    set_threads(job)
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
        # The compile and measure budgets scale with the parameters just loaded; the executor applies them.
        count = sum(loaded.parameters.values()) if loaded.parameters else None
        stage.set_budgets(job_budgets(job, count).to_dict())
        prepared = prepare(job, loaded, record, stage, shared=shared)
        try:
            _measure_prepared(job, run_dir, device, record, stage, prepared, meter)
        finally:
            if shared:
                give_back(prepared, loaded, record.label)
    record.memory = Memory(**asdict(memory_summary(device, nvml)))
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()


def _measure_prepared(
    job: Job, run_dir: Path, device: str, record: Record, stage: Stage, prepared: Prepared, meter: EnergyMeter
) -> None:
    """Warm-up, the timed loop, stages, the LoadGen scenario, the quality pass and its metrics."""
    generator = prepared.generator
    record.compile_s = prepared.compile_s
    record.capture_s = prepared.capture_s
    record.cache_hit = prepared.cache_hit
    record.precision = prepared.precision
    record.backend_notes = list(prepared.notes)
    record.backend_details = dict(prepared.details)

    request = job.timed_request()
    warm_up(job, prepared, request, device, record, stage)
    timed = time_job(job, prepared, request, device, record, stage, meter)
    if job.measurement.profile_stages:
        profile(prepared, request, device, record, stage)

    spec = job.scenario
    if spec is not None:
        stage.start(f"scenario {spec.display_name} (LoadGen)", unit="queries")
        record.loadgen = run_job_scenario(job, generator, spec, run_dir, device, on_query=stage.step)

    if job.shards > 1:  # its shards ran before it (the executor's): their states merged here
        first = merge_shards(job, run_dir, device, record, stage)
    else:
        first = quality_pass(job, generator, run_dir, device, record, stage)
    record.fidelity = check_fidelity(job, record)
    audit(job, timed, first, record)  # the timed and the quality pass ran the same system (MLPerf TEST01)
    if spec is not None and record.loadgen is not None:
        # A scenario without its headline, or with it from a run LoadGen calls INVALID (unless the suite opted
        # out), fails the job; the quality pass ran first so that other variants' pairwise metrics keep this
        # one's outputs, and the record keeps every LoadGen run and its logs.
        failure = scenario_failure(record.loadgen, logs=f"loadgen/{job.job_id}/")
        if failure is not None:
            stage.start(f"scenario {spec.display_name} (LoadGen)")
            raise failure


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

"""A job's first steps: its threads, the pre-flight memory check and the timed load, then the backend's prepare
(on a pipeline of its own, or on one a card's variants share under isolation ``card``)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from harness.backends import BACKENDS
from harness.backends.base import Prepared
from harness.config.job import Job
from harness.execute.preflight import preflight
from harness.execute.progress import Stage
from harness.loaders import load_generator
from harness.measure.conditions import usable_cores
from harness.results.record import MemoryEstimate, Record
from harness.results.values import started_at_now


@dataclass
class Loaded:
    """A card's pipeline loaded once and shared by the variants that agree on everything decided at load time
    (isolation ``card``): card, dtype, backend and its options, device."""

    generator: Any
    load_s: float
    parameters: dict[str, int] | None = None
    broken: str | None = None  # why the variants still to run must not use it (a prepare left it changed)
    estimate: MemoryEstimate | None = None  # the pre-flight memory estimate made before the load


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


def set_threads(job: Job) -> None:
    """The suite's ``threads``, else one per core this process may use (its affinity: a container's or
    ``taskset``'s share, not the machine's core count that torch would take)."""
    import torch

    torch.set_num_threads(job.threads or usable_cores())


def load_pipeline(job: Job, device: str) -> Loaded:
    """Load ``job``'s card on ``device`` in its dtype, timed, once the pre-flight memory estimate says it fits
    (:class:`~harness.execute.preflight.WontFit` where it cannot)."""
    set_threads(job)
    estimate = preflight(job, job.card, device)
    t0 = time.perf_counter()
    generator = load_generator(job.card, device, job.dtype)
    load_s = time.perf_counter() - t0
    params = generator.parameter_count() if hasattr(generator, "parameter_count") else None
    return Loaded(generator=generator, load_s=load_s, parameters=params, estimate=estimate)


def prepare(job: Job, loaded: Loaded, record: Record, stage: Stage, *, shared: bool) -> Prepared:
    """The job's backend prepares the loaded pipeline (weights a variant before released are loaded again
    first); ``record.prepare_s`` is its time. A failed prepare on a shared pipeline marks it broken."""
    reloaded = _reload_released(loaded.generator, stage)
    stage.start(f"prepare ({job.backend})", phase="compile")
    t0 = time.perf_counter()
    try:
        prepared = BACKENDS.get(job.backend)().prepare(loaded.generator, job)
    except BaseException:
        if shared:  # it may have replaced part of the pipeline before it failed: nothing can trust it now
            loaded.broken = f"the shared pipeline was left changed by {record.label}'s failed prepare"
        raise
    record.prepare_s = time.perf_counter() - t0
    prepared.notes[:0] = reloaded
    return prepared


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


def give_back(prepared: Prepared, loaded: Loaded, label: str) -> None:
    """Undo the backend's changes to the shared pipeline; if that fails the variants after this one must not run
    on it (``loaded.broken`` says why)."""
    try:
        prepared.restore()
    except Exception as exc:
        loaded.broken = (
            f"the shared pipeline could not be restored after {label}: {type(exc).__name__}: {exc}"
        )

"""The pre-flight memory check (#24 item 4): before a job loads anything, the memory it will need, against
what the machine has available; a job that cannot fit is refused (a failed record saying why, with the
numbers), not left to be killed by the OOM killer minutes into a multi-gigabyte load.

The estimate is the growth of the job's process: parameters (counted without loading:
:mod:`harness.loaders.footprint`) × bytes per parameter of the job's dtype × the backend's measured factor
(:class:`harness.backends.base.MemoryFactor`: peak RSS growth per byte of weights on a real-size model, the
activations at that size included). It is compared with the host's available memory on the CPU, or the
device's free memory on CUDA (weights alone there: no factor has been measured on a GPU).

Refused only where the estimate stands on measured numbers, or on the weights alone (a floor: they must be
loaded whatever the backend); an estimate that borrows another backend's factor only warns, and one that
cannot count the parameters says so. ``HARNESS_MEMORY_CHECK=warn`` turns refusals into warnings, ``off``
skips the check.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from harness.core.errors import HarnessError, UserInputError
from harness.results.record import MemoryEstimate

if TYPE_CHECKING:
    from harness.config import ModelCard
    from harness.config.job import Job

ENV = "HARNESS_MEMORY_CHECK"
MODES = ("refuse", "warn", "off")
BYTES_PER_PARAMETER = {"fp32": 4, "fp16": 2, "bf16": 2}
GIB = 1024**3
MIB = 1024**2


class WontFit(HarnessError):
    """The pre-flight estimate says the job cannot fit in the machine's memory; nothing was loaded."""

    advice = (
        "a lower precision (fp16/bf16) halves the weights; or a backend that holds fewer copies, a machine with "
        f"more memory, or {ENV}=warn to run it anyway"
    )

    def __init__(self, message: str, estimate: MemoryEstimate):
        super().__init__(message)
        self.estimate = estimate


def memory_check_mode() -> str:
    """``$HARNESS_MEMORY_CHECK``: refuse (the default), warn or off."""
    mode = os.environ.get(ENV, "refuse").strip().lower() or "refuse"
    if mode not in MODES:
        raise UserInputError(f"{os.environ[ENV]!r} is not a mode (allowed: {', '.join(MODES)})", source=ENV)
    return mode


def _size(n_bytes: float) -> str:
    return f"{n_bytes / GIB:.1f} GiB" if n_bytes >= GIB else f"{n_bytes / MIB:.1f} MiB"


def _count(n: int) -> str:
    return f"{n / 1e9:.2f} B" if n >= 1e9 else f"{n / 1e6:.2f} M"


def estimate_job(job: Job, card: ModelCard, device: str) -> MemoryEstimate:
    """What ``job`` will need beyond this process as it stands, against what ``device`` has available."""
    from harness.backends import BACKENDS
    from harness.loaders.footprint import count_card_parameters
    from harness.measure.memory import available_memory, current_rss_mib

    cuda = device.startswith("cuda")
    bpp = BYTES_PER_PARAMETER[job.dtype]
    available, total = available_memory(device)
    base: dict[str, Any] = {
        "memory": "vram" if cuda else "ram",
        "bytes_per_parameter": bpp,
        "available_mib": available / MIB,
        "total_mib": total / MIB,
        "rss_before_mib": current_rss_mib(),
    }
    try:
        count = count_card_parameters(card)
    except Exception as exc:  # a config the meta device cannot build, an unreadable folder: no estimate
        return MemoryEstimate(
            verdict="unknown", note=f"parameters not counted ({type(exc).__name__}: {exc})", **base
        )
    if count.total is None:
        return MemoryEstimate(verdict="unknown", note=f"parameters not counted: {count.how}", **base)
    weights = float(count.total * bpp)
    measured = BACKENDS.get(job.backend).memory_factor
    if cuda:
        factor, note = None, "the weights alone: no backend's factor has been measured on a GPU"
    elif measured is not None:
        factor, note = measured, None
    else:
        eager = BACKENDS.get("eager").memory_factor
        factor = eager and type(eager)(
            eager.value, f"borrowed from eager (none measured for {job.backend}): {eager.basis}"
        )
        note = "only the weights can refuse: the factor is eager's"
    need = weights * (factor.value if factor is not None else 1.0)
    if need <= available:
        verdict = "fits"
    elif measured is not None or factor is None or weights > available:
        verdict = "refused"
    else:
        verdict = "may_not_fit"
    return MemoryEstimate(
        parameters=count.total,
        parameters_from=count.how,
        factor=factor.value if factor is not None else None,
        factor_basis=factor.basis if factor is not None else None,
        estimate_mib=need / MIB,
        verdict=verdict,
        note=note,
        **base,
    )


def describe(est: MemoryEstimate, job: Job) -> str:
    """One line with the numbers: the estimate, how it was made, and the memory available."""
    where = "of GPU memory free" if est.memory == "vram" else "of RAM available"
    params = f"{_count(est.parameters or 0)} parameters × {est.bytes_per_parameter} bytes ({job.dtype})"
    how = params
    if est.factor is not None:
        whose = "eager's" if (est.factor_basis or "").startswith("borrowed") else f"{job.backend}'s measured"
        how = f"{params} × {est.factor:.2f}, {whose} factor"
    return (
        f"estimated to need {_size((est.estimate_mib or 0) * MIB)} ({how}) against "
        f"{_size((est.available_mib or 0) * MIB)} {where} on this machine (of {_size((est.total_mib or 0) * MIB)})"
    )


def preflight(job: Job, card: ModelCard, device: str) -> MemoryEstimate:
    """The job's estimate; raises :class:`WontFit` (with the numbers) where it is refused. A warning (an
    uncertain estimate beyond the memory available, or a refusal under ``HARNESS_MEMORY_CHECK=warn``) is the
    estimate's note and a line on stderr (the job's log)."""
    import sys

    mode = memory_check_mode()
    if mode == "off":
        return MemoryEstimate(
            memory="vram" if device.startswith("cuda") else "ram",
            bytes_per_parameter=BYTES_PER_PARAMETER[job.dtype],
            verdict="not_checked",
            note=f"{ENV}=off",
        )
    est = estimate_job(job, card, device)
    if est.verdict == "refused" and mode == "refuse":
        est.note = describe(est, job)
        raise WontFit(f"refused before loading: {est.note}", est)
    if est.verdict in ("refused", "may_not_fit"):
        why = f" ({ENV}=warn)" if est.verdict == "refused" else ""
        est.verdict = "may_not_fit"
        est.note = f"may not fit{why}: {describe(est, job)}" + (f"; {est.note}" if est.note else "")
        print(f"warning: {job.model} / {job.variant} / {job.backend}: {est.note}", file=sys.stderr)
    return est

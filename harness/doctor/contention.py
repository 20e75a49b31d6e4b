"""Contention for the CPU: other processes' load against the cores, torch/OpenMP threads against the idle
cores, and the frequency governor. On a shared 2-core machine one other busy process made a UNet step 140×
slower while the run's own spread stayed at 6 %: the samples cannot show it, so it is measured here."""

from __future__ import annotations

from harness.doctor.findings import Finding
from harness.measure.conditions import (
    CONTENTION_CORES,
    busy_cores,
    cpu_governor,
    load_average,
    thread_settings,
    usable_cores,
)

SLACK_CORES = 0.25  # idle cores short of the threads by less than this still fit


def contention_findings(device: str, threads: int | None = None) -> list[Finding]:
    """Other processes' load, ``threads`` (else torch's, else one per core) against the idle cores, and the
    governor. ``device`` is accepted for symmetry with the other checks (the GPU has its own:
    :mod:`harness.doctor.gpu`)."""
    cores = usable_cores()
    load = load_average()
    others = busy_cores(1.0)
    idle = max(cores - others, 0.0)
    settings = thread_settings()
    wanted = threads or settings.torch_threads or cores
    fits = wanted <= idle + SLACK_CORES
    return [
        _load_finding(cores, load, others, fits),
        _threads_finding(wanted, idle, fits, settings.omp_num_threads),
        _governor_finding(),
    ]


def _load_finding(cores: int, load: tuple[float, float, float] | None, others: float, fits: bool) -> Finding:
    averages = ", ".join(f"{v:.2f}" for v in load) if load else "?"
    quiet = others < CONTENTION_CORES
    return Finding(
        "contention",
        "other processes' load",
        f"{others:.2f} of {cores} core(s) busy (load average {averages})",
        None if quiet else fits,
        ""
        if quiet or fits
        else f"other processes keep {others:.1f} core(s) busy: jobs would compete for the cores",
        {"other_cores": others, "cores": cores, "load_average": list(load) if load else None},
    )


def _threads_finding(wanted: int, idle: float, fits: bool, omp: str | None) -> Finding:
    why = (
        f"{wanted} threads on {idle:.1f} idle core(s): oversubscribed (OpenMP spins; a shared 2-core "
        "machine made a UNet step 140× slower this way); set the suite's threads to the idle cores"
    )
    return Finding(
        "contention",
        "torch threads against idle cores",
        f"{wanted} thread(s), {idle:.1f} idle core(s) (OMP_NUM_THREADS={omp or 'unset'})",
        fits,
        "" if fits else why,
        {"threads": wanted, "idle_cores": idle},
    )


def _governor_finding() -> Finding:
    gov = cpu_governor()
    return Finding(
        "contention",
        "CPU frequency governor",
        gov or "not readable here",
        None,
        "powersave lets clocks drift: prefer performance" if gov and "powersave" in gov else "",
    )

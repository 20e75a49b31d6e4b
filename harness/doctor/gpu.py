"""The GPU's state before any load, through NVML (:class:`~harness.measure.conditions.GpuSampler`): clocks,
persistence mode, throttle reasons, ECC and MIG, and other processes on the device."""

from __future__ import annotations

import time

from harness.doctor.findings import Finding
from harness.measure.conditions import GpuReading, GpuSampler


def gpu_findings(device: str) -> list[Finding]:
    """What NVML shows of the current CUDA device over 0.2 s; nothing for another device."""
    if not device.startswith("cuda"):
        return []
    import torch

    with GpuSampler(torch.cuda.current_device()) as sampler:
        time.sleep(0.2)
    if sampler.reading is None:
        return [
            Finding("gpu", "NVML", "not readable", None, "install nvidia-ml-py for clocks and throttling")
        ]
    return state_findings(sampler.reading)


def _clock(now: list[float], top: float | None) -> str:
    return f"{now[-1] if now else '?'} / {top or '?'} MHz"


def state_findings(g: GpuReading) -> list[Finding]:
    """The findings of one reading: clocks and settings are information; throttling and other processes
    make the GPU unfit to measure."""
    off = g.persistence_mode is False
    busy = bool(g.other_processes)
    return [
        Finding(
            "gpu",
            f"clocks ({g.name})",
            f"SM {_clock(g.sm_clock_mhz, g.sm_clock_max_mhz)}, memory {_clock(g.mem_clock_mhz, g.mem_clock_max_mhz)}",
            None,
            "idle clocks are low; a job's record shows them under load",
        ),
        Finding(
            "gpu",
            "persistence mode",
            str(g.persistence_mode),
            None,
            "off: the driver may unload between jobs (slower first calls); nvidia-smi -pm 1" if off else "",
        ),
        Finding(
            "gpu",
            "throttle reasons now",
            ", ".join(g.throttle_reasons) or "none",
            not g.throttled,
            "" if not g.throttled else "the GPU is throttling (power or thermal) before any load",
        ),
        Finding(
            "gpu",
            "ECC / MIG",
            f"ECC {g.ecc}, MIG {g.mig}",
            None,
            "MIG slices share the GPU: numbers are per slice" if g.mig else "",
        ),
        Finding(
            "gpu",
            "other processes on the device",
            str(g.other_processes or 0),
            not busy,
            "" if not busy else "other processes share the GPU: timings and memory are not this job's alone",
        ),
    ]

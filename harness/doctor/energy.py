"""Which energy counters a job here would read (NVML's total energy on a GPU, RAPL's package and DRAM zones)
and their effective time resolution: how often each cumulative counter changes."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from harness.doctor.findings import Finding
from harness.measure.energy import counters, nvml_counter, rapl_zones


def energy_findings(device: str) -> list[Finding]:
    """The counters available (and those absent, with the reason), then the resolution of each one read."""
    available, absent = counters(device)
    out = [
        Finding(
            "energy",
            "energy counters",
            ", ".join(available) if available else "none",
            None,
            "; ".join(absent) if absent else "",
            {"available": available, "absent": absent},
        )
    ]
    zones, _ = rapl_zones()
    for z in zones[:1]:
        out.append(update_interval(f"RAPL {z.name} counter", z.read_uj, "µJ"))
    if device.startswith("cuda"):
        import torch

        read, why = nvml_counter(int(torch.cuda.current_device()))
        if read is not None:
            out.append(update_interval("NVML total-energy counter", read, "mJ"))
        else:
            out.append(Finding("energy", "NVML total-energy counter", "not readable", None, why or ""))
    return out


def update_interval(name: str, read: Callable[[], float], unit: str, seconds: float = 0.5) -> Finding:
    """How often a cumulative counter changes over ``seconds``: its effective time resolution."""
    changes, last = [], read()
    t_end = time.perf_counter() + seconds
    t_last = time.perf_counter()
    while time.perf_counter() < t_end:
        v = read()
        if v != last:
            now = time.perf_counter()
            changes.append(now - t_last)
            t_last, last = now, v
    interval = float(np.median(changes)) * 1000.0 if changes else None
    return Finding(
        "energy",
        f"{name} resolution",
        f"1 {unit} steps, updated every {interval:.1f} ms"
        if interval
        else f"did not change in {seconds:g} s",
        None,
        "",
        {"unit": unit, "update_ms": interval},
    )

"""Energy of the timed loop: NVIDIA GPUs' total-energy counter through NVML, CPU packages and DRAM through
RAPL's powercap files.

* **NVML** (``nvmlDeviceGetTotalEnergyConsumption``, millijoules since the driver loaded, Volta and later)
  through nvidia-ml-py, NVIDIA's own bindings.
* **RAPL** (``/sys/class/powercap/intel-rapl:N/energy_uj``, microjoules, one zone per CPU package and a
  ``dram`` subzone where the CPU has one; AMD CPUs expose the same files) read directly: a counter that wraps
  at ``max_energy_range_uj``, so a thread re-reads it every second and counts the wraps.

Why not Zeus, ML.ENERGY's library, which does both: every Zeus release (0.11 to 0.16) requires the ``amdsmi``
package, which raises ``KeyError: 'libamd_smi.so'`` at import on machines without AMD's library, and Ray
imports it while starting a node — installing Zeus broke ``harness run --executor ray`` here. What is left
to write by hand is a sysfs read with wraparound; NVML is nvidia-ml-py's.

Where neither counter is readable (these CPU machines: no NVIDIA GPU, no powercap files) the energy is None
with the reason — never 0.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

POWERCAP = Path("/sys/class/powercap")


@dataclass
class EnergyReading:
    """Joules over one window, by source; None where the source is not measured here."""

    total_j: float | None
    gpu_j: float | None
    cpu_j: float | None
    dram_j: float | None
    seconds: float
    sources: list[str] = field(default_factory=list)
    reason: str | None = None


@dataclass
class RaplZone:
    name: str
    path: Path
    max_uj: int

    def read_uj(self) -> int:
        return int((self.path / "energy_uj").read_text().strip())


def rapl_zones(root: Path = POWERCAP) -> tuple[list[RaplZone], str | None]:
    """The package zones (``intel-rapl:N``) and their ``dram`` subzones; or [] and why not."""
    if not root.exists():
        return [], f"powercap files absent ({root})"
    zones = []
    for pkg in sorted(root.glob("intel-rapl:*")):
        if pkg.name.count(":") != 1:
            continue
        for zone in [pkg, *sorted(pkg.glob(f"{pkg.name}:*"))]:
            try:
                name = (zone / "name").read_text().strip()
                max_uj = int((zone / "max_energy_range_uj").read_text().strip())
                (zone / "energy_uj").read_text()
            except PermissionError:
                return [], f"powercap present but energy_uj is not readable ({zone}; RAPL needs root here)"
            except (OSError, ValueError):
                continue
            if zone is pkg or name == "dram":
                zones.append(RaplZone("dram" if name == "dram" else name, zone, max_uj))
    if not zones:
        return [], f"no RAPL package zone under {root}"
    return zones, None


def nvml_counter(device_index: int, nvml: Any = None) -> tuple[Any, str | None]:
    """A callable returning the GPU's total energy in mJ, or None and why not (``nvml``: a stand-in in tests)."""
    try:
        if nvml is None:
            import pynvml as nvml
        nvml.nvmlInit()
        handle = nvml.nvmlDeviceGetHandleByIndex(device_index)
        nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    except ImportError:
        return None, "nvidia-ml-py is not installed (pip install -e '.[run]')"
    except Exception as exc:
        text = str(exc).strip() or type(exc).__name__
        return None, f"NVML total energy unavailable ({text})"
    return (lambda: nvml.nvmlDeviceGetTotalEnergyConsumption(handle)), None


class Counters(NamedTuple):
    """The energy counters a job on a device would read: those available, and those absent with the reason."""

    available: list[str]
    absent: list[str]


def counters(device: str, *, root: Path = POWERCAP, nvml: Any = None) -> Counters:
    """The energy counters (available, and absent with the reason) for a job on ``device``."""
    available, absent = [], []
    if device.startswith("cuda"):
        fn, why = nvml_counter(_index(device), nvml)
        if fn:
            available.append("nvml (total-energy counter, mJ)")
        else:
            absent.append(f"nvml: {why}")
    else:
        absent.append("nvml: not a CUDA job")
    zones, why = rapl_zones(root)
    if zones:
        available.append(f"rapl ({', '.join(z.name for z in zones)}; µJ)")
    else:
        absent.append(f"rapl: {why}")
    return Counters(available, absent)


def _index(device: str) -> int:
    if ":" in device:
        return int(device.split(":", 1)[1])
    try:
        import torch

        return int(torch.cuda.current_device())
    except Exception:
        return 0


class EnergyMeter:
    """A measurement window over the job's GPU (NVML) and the CPU packages and DRAM (RAPL)."""

    def __init__(self, device: str, *, root: Path = POWERCAP, nvml: Any = None, poll_s: float = 1.0):
        self.device = device
        self._gpu = None
        reasons = []
        if device.startswith("cuda"):
            self._gpu, why = nvml_counter(_index(device), nvml)
            if why:
                reasons.append(f"nvml: {why}")
        else:
            reasons.append("nvml: not a CUDA job")
        self._zones, why = rapl_zones(root)
        if why:
            reasons.append(f"rapl: {why}")
        self._poll_s = poll_s
        self.reason = None if self.available else "no energy counter here: " + "; ".join(reasons)

    @property
    def available(self) -> bool:
        return self._gpu is not None or bool(self._zones)

    @contextlib.contextmanager
    def window(self):
        """Yields a one-item list that holds the :class:`EnergyReading` once the block ends."""
        out: list[EnergyReading] = []
        if not self.available:
            yield out
            out.append(EnergyReading(None, None, None, None, 0.0, [], self.reason))
            return
        t0 = time.perf_counter()
        gpu0 = self._gpu() if self._gpu else None
        last = [z.read_uj() for z in self._zones]
        wraps = [0] * len(self._zones)
        lock, stop = threading.Lock(), threading.Event()

        def poll() -> None:  # a counter that wraps between two reads would lose max_energy_range_uj
            while not stop.wait(self._poll_s):
                with lock:
                    for i, z in enumerate(self._zones):
                        v = z.read_uj()
                        if v < last[i]:
                            wraps[i] += 1
                        last[i] = v

        first = list(last)
        thread = threading.Thread(target=poll, daemon=True) if self._zones else None
        if thread is not None:
            thread.start()
        try:
            yield out
        finally:
            stop.set()
            if thread is not None:
                thread.join()
            gpu_j = (self._gpu() - gpu0) / 1000.0 if self._gpu else None
            cpu_j = dram_j = None
            with lock:
                for i, z in enumerate(self._zones):
                    v = z.read_uj()
                    if v < last[i]:
                        wraps[i] += 1
                    joules = (v - first[i] + wraps[i] * z.max_uj) / 1e6
                    if z.name == "dram":
                        dram_j = (dram_j or 0.0) + joules
                    else:
                        cpu_j = (cpu_j or 0.0) + joules
            parts = [v for v in (gpu_j, cpu_j, dram_j) if v is not None]
            sources = [
                s for s, v in (("nvml", gpu_j), ("rapl", cpu_j), ("rapl-dram", dram_j)) if v is not None
            ]
            out.append(EnergyReading(sum(parts), gpu_j, cpu_j, dram_j, time.perf_counter() - t0, sources))

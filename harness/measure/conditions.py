"""The conditions a job is measured under: other load on the CPU, threads against the cores there are, the
frequency governor, and on an NVIDIA GPU its clocks, temperature, power and throttle reasons.

A 2-core machine with one other busy process made a UNet step 140× slower while the run's own CV stayed at
6 %: the spread of a job's samples cannot reveal contention, so it is measured directly. During the timed
loop :class:`CpuLoad` compares the CPU time the whole machine spent busy with the CPU time this process
spent: the difference is what other processes took (and ``steal``, what the hypervisor took).
:class:`GpuSampler` polls NVML on a thread (every 50 ms) for clocks, temperature, power and the throttle
reasons seen, OR-ed over the loop.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from harness.measure.polling import Poller

# A job's measurement is "under contention" when other processes kept at least this many cores busy on
# average while it was timed and the cores were not enough for both.
CONTENTION_CORES = 0.5

# NVML's clock-event (throttle) reason bits (nvml.h: nvmlClocksEventReason*). Idle and application-clock
# settings are not throttling; the rest slow the GPU down under load.
THROTTLE_BITS = {
    0x1: "gpu_idle",
    0x2: "applications_clocks_setting",
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}
NOT_THROTTLING = frozenset({"gpu_idle", "applications_clocks_setting", "display_clock_setting", "sync_boost"})


def usable_cores() -> int:
    """The cores this process may run on (its affinity), else the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def load_average() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except (AttributeError, OSError):
        return None


def cpu_governor() -> str | None:
    """The cpufreq governor(s) of the usable cores (``performance``, ``powersave``…), where readable."""
    root = Path("/sys/devices/system/cpu")
    found = set()
    for cpu in sorted(root.glob("cpu[0-9]*"))[:256]:
        try:
            found.add((cpu / "cpufreq" / "scaling_governor").read_text().strip())
        except OSError:
            continue
    return ",".join(sorted(found)) if found else None


@dataclass(frozen=True)
class ThreadSettings:
    """torch's intra-op threads (None when torch is not loaded) and the variables that set them."""

    torch_threads: int | None
    omp_num_threads: str | None
    mkl_num_threads: str | None


def thread_settings() -> ThreadSettings:
    """torch's intra-op threads (when torch is loaded) and the OpenMP/MKL variables that set them."""
    import sys

    torch = sys.modules.get("torch")
    return ThreadSettings(
        torch_threads=torch.get_num_threads() if torch is not None else None,
        omp_num_threads=os.environ.get("OMP_NUM_THREADS"),
        mkl_num_threads=os.environ.get("MKL_NUM_THREADS"),
    )


def busy_cores(interval_s: float = 0.5) -> float:
    """Cores other processes keep busy, measured over ``interval_s`` (this process excluded)."""
    with CpuLoad() as load:
        time.sleep(interval_s)
    return load.other_cores or 0.0


class CpuLoad:
    """Other processes' CPU use while the block runs: (busy CPU time of the machine − this process's CPU
    time) / wall time, in cores; ``steal_cores`` is what a hypervisor took. Needs psutil (the run extra)."""

    def __init__(self) -> None:
        self.other_cores: float | None = None
        self.steal_cores: float | None = None
        self.own_cores: float | None = None
        self.wall_s: float | None = None

    def __enter__(self) -> CpuLoad:
        try:
            import psutil

            self._ps = psutil
            self._proc = psutil.Process()
            self._t0 = time.perf_counter()
            self._sys0 = psutil.cpu_times()
            self._own0 = self._proc.cpu_times()
        except Exception:  # psutil missing or /proc unreadable: the figures stay None
            self._ps = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._ps is None:
            return
        sys1, own1 = self._ps.cpu_times(), self._proc.cpu_times()
        wall = time.perf_counter() - self._t0
        if wall <= 0:
            return

        def busy(t: Any) -> float:
            idle = t.idle + getattr(t, "iowait", 0.0)
            return sum(t) - idle

        own = (own1.user - self._own0.user) + (own1.system - self._own0.system)
        machine = busy(sys1) - busy(self._sys0)
        steal = getattr(sys1, "steal", 0.0) - getattr(self._sys0, "steal", 0.0)
        self.wall_s = wall
        self.own_cores = own / wall
        self.other_cores = max(machine - own - steal, 0.0) / wall
        self.steal_cores = max(steal, 0.0) / wall


def throttle_names(mask: int) -> list[str]:
    return [name for bit, name in THROTTLE_BITS.items() if mask & bit]


@dataclass
class GpuReading:
    """What :class:`GpuSampler` saw on one GPU during the block."""

    name: str | None = None
    sm_clock_mhz: list[float] = field(default_factory=list)  # [min, max] seen
    sm_clock_max_mhz: float | None = None
    mem_clock_mhz: list[float] = field(default_factory=list)
    mem_clock_max_mhz: float | None = None
    temperature_c_max: float | None = None
    power_w_max: float | None = None
    power_limit_w: float | None = None
    throttle_reasons: list[str] = field(default_factory=list)
    persistence_mode: bool | None = None
    ecc: bool | None = None
    mig: bool | None = None
    other_processes: int | None = None
    samples: int = 0

    @property
    def throttled(self) -> bool:
        return any(r not in NOT_THROTTLING for r in self.throttle_reasons)


def _try(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception:
        return None


class GpuSampler(Poller):
    """Polls NVML every ``interval_s`` on a thread while the block runs. ``nvml`` is the ``pynvml`` module
    (nvidia-ml-py); tests pass a stand-in, since these CPU machines have no NVML. Without NVML the reading
    stays None."""

    def __init__(self, device_index: int = 0, interval_s: float = 0.05, nvml: Any = None):
        super().__init__(interval_s)
        self.reading: GpuReading | None = None
        self._mask = 0
        try:
            if nvml is None:
                import pynvml as nvml
            nvml.nvmlInit()
            self._nvml = nvml
            self._h = nvml.nvmlDeviceGetHandleByIndex(device_index)
        except Exception:
            self._nvml = None

    def _static(self) -> GpuReading:
        n, h = self._nvml, self._h
        r = GpuReading()
        name = _try(n.nvmlDeviceGetName, h)
        r.name = name.decode() if isinstance(name, bytes) else name
        r.sm_clock_max_mhz = _try(n.nvmlDeviceGetMaxClockInfo, h, n.NVML_CLOCK_SM)
        r.mem_clock_max_mhz = _try(n.nvmlDeviceGetMaxClockInfo, h, n.NVML_CLOCK_MEM)
        limit = _try(n.nvmlDeviceGetEnforcedPowerLimit, h)
        r.power_limit_w = limit / 1000.0 if limit is not None else None
        persistence = _try(n.nvmlDeviceGetPersistenceMode, h)
        r.persistence_mode = bool(persistence) if persistence is not None else None
        ecc = _try(n.nvmlDeviceGetCurrentEccMode, h) if hasattr(n, "nvmlDeviceGetCurrentEccMode") else None
        if ecc is None and hasattr(n, "nvmlDeviceGetEccMode"):
            pair = _try(n.nvmlDeviceGetEccMode, h)
            ecc = pair[0] if pair else None
        r.ecc = bool(ecc) if ecc is not None else None
        mig = _try(n.nvmlDeviceGetMigMode, h) if hasattr(n, "nvmlDeviceGetMigMode") else None
        r.mig = bool(mig[0]) if mig else None
        return r

    def _sample(self) -> None:
        n, h, r = self._nvml, self._h, self.reading
        if r is None:
            return
        sm = _try(n.nvmlDeviceGetClockInfo, h, n.NVML_CLOCK_SM)
        mem = _try(n.nvmlDeviceGetClockInfo, h, n.NVML_CLOCK_MEM)
        if sm is not None:
            r.sm_clock_mhz = [min([sm, *r.sm_clock_mhz[:1]]), max([sm, *r.sm_clock_mhz[1:]])]
        if mem is not None:
            r.mem_clock_mhz = [min([mem, *r.mem_clock_mhz[:1]]), max([mem, *r.mem_clock_mhz[1:]])]
        temp = _try(n.nvmlDeviceGetTemperature, h, n.NVML_TEMPERATURE_GPU)
        if temp is not None:
            r.temperature_c_max = max(temp, r.temperature_c_max or temp)
        power = _try(n.nvmlDeviceGetPowerUsage, h)
        if power is not None:
            r.power_w_max = max(power / 1000.0, r.power_w_max or 0.0)
        getter = getattr(n, "nvmlDeviceGetCurrentClocksEventReasons", None) or getattr(
            n, "nvmlDeviceGetCurrentClocksThrottleReasons", None
        )
        mask = _try(getter, h) if getter is not None else None
        if mask is not None:
            self._mask |= int(mask)
            r.throttle_reasons = throttle_names(self._mask)
        procs = _try(n.nvmlDeviceGetComputeRunningProcesses, h)
        if procs is not None:
            others = len({p.pid for p in procs if p.pid != os.getpid()})
            r.other_processes = max(others, r.other_processes or 0)
        r.samples += 1

    def _begin(self) -> bool:
        if self._nvml is None:
            return False
        self.reading = self._static()
        self._sample()
        return True


class Verdict(NamedTuple):
    """What the conditions around a timed loop mean for its timings, with a note for each finding."""

    contention: bool  # other processes (or a hypervisor) took cores the job needed, or shared its GPU
    oversubscribed: bool  # more torch threads than usable cores
    throttled: bool  # the GPU slowed down (power or thermal) during the loop
    notes: list[str]


def describe(
    *,
    cores: int,
    threads: int | None,
    load: CpuLoad | None,
    gpu: GpuReading | None,
) -> Verdict:
    """What was measured around the timed loop, judged: contention, oversubscription, throttling, notes."""
    notes = []
    oversubscribed = threads is not None and threads > cores
    if oversubscribed:
        notes.append(f"{threads} torch threads on {cores} usable core(s): oversubscribed")
    contention = False
    if load is not None and load.other_cores is not None:
        others = load.other_cores + (load.steal_cores or 0.0)
        wanted = (threads or 1) + others
        if others >= CONTENTION_CORES and wanted > cores + 0.25:
            contention = True
            notes.append(
                f"other processes kept {others:.1f} of {cores} core(s) busy while this job used "
                f"{threads or '?'} thread(s)"
            )
    throttled = bool(gpu is not None and gpu.throttled)
    if throttled:
        reasons = [r for r in gpu.throttle_reasons if r not in NOT_THROTTLING]
        notes.append(f"GPU throttled during the timed loop ({', '.join(reasons)})")
    if gpu is not None and gpu.other_processes:
        contention = True
        notes.append(f"{gpu.other_processes} other process(es) on the GPU")
    return Verdict(contention, oversubscribed, throttled, notes)

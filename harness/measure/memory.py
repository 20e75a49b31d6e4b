"""Peak memory: the job process's RSS on the host; on CUDA the allocator's and NVML's per-process peak.

ONNX Runtime and TensorRT allocate outside PyTorch's allocator, so NVML's per-process figure is the one
that counts for them; it is sampled by a background thread while the job runs.
"""

from __future__ import annotations

import os
import resource
import sys
from dataclasses import dataclass
from typing import Any

from harness.measure.polling import Poller

MIB = 1024 * 1024


def peak_rss_mib() -> float:
    """Peak resident set size of this process (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024.0 if sys.platform != "darwin" else peak / MIB


class NvmlPeak(Poller):
    """Samples this process's GPU memory through NVML every ``interval_s``; ``peak_mib`` is None without NVML."""

    def __init__(self, device_index: int = 0, interval_s: float = 0.01):
        super().__init__(interval_s)
        self.peak_mib: float | None = None
        self._handle: Any = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(device_index)
            self.peak_mib = 0.0
        except Exception:  # no NVML (CPU machine, or nvidia-ml-py not installed)
            self._nvml = None

    def _sample(self) -> None:
        pid = os.getpid()
        for getter in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
            try:
                for proc in getattr(self._nvml, getter)(self._handle):
                    if proc.pid == pid and proc.usedGpuMemory:
                        self.peak_mib = max(self.peak_mib or 0.0, proc.usedGpuMemory / MIB)
            except Exception:
                pass

    def _begin(self) -> bool:
        return self._nvml is not None


def current_rss_mib() -> float:
    """This process's resident set size now."""
    import psutil

    return psutil.Process().memory_info().rss / MIB


def _cgroup_room() -> tuple[float, float] | None:
    """(limit, room left) of this process's cgroup v2 memory limit in bytes, or None where no limit is set. The
    room counts the cgroup's working set (its usage less inactive file cache, as container runtimes do)."""
    root = "/sys/fs/cgroup"
    try:
        with open("/proc/self/cgroup") as fh:
            rel = next((line.split("::", 1)[1].strip() for line in fh if line.startswith("0::")), None)
        if rel is None:
            return None
        folder = os.path.join(root, rel.lstrip("/"))
        with open(os.path.join(folder, "memory.max")) as fh:
            raw = fh.read().strip()
        if raw == "max":
            return None
        with open(os.path.join(folder, "memory.current")) as fh:
            usage = int(fh.read())
        inactive = 0
        with open(os.path.join(folder, "memory.stat")) as fh:
            for line in fh:
                key, _, value = line.partition(" ")
                if key == "inactive_file":
                    inactive = int(value)
        return float(raw), float(int(raw) - (usage - inactive))
    except (OSError, ValueError):
        return None


def available_memory(device: str) -> tuple[float, float]:
    """(available, total) bytes of the memory a job on ``device`` allocates from: on CUDA the device's free and
    total memory; on the CPU the host's available memory (MemAvailable) and total, within the cgroup's limit
    where one is set."""
    if device.startswith("cuda"):
        import torch

        free, total = torch.cuda.mem_get_info(torch.device(device))
        return float(free), float(total)
    import psutil

    vm = psutil.virtual_memory()
    available, total = float(vm.available), float(vm.total)
    room = _cgroup_room()
    if room is not None and room[0] < total:
        total, available = room[0], min(available, room[1])
    return available, total


def return_freed_memory(device: str = "cpu") -> None:
    """Collect garbage and hand the heap's free pages back to the OS (glibc's ``malloc_trim``), so memory a job
    has let go of (released weights, closed sessions) stops counting in its RSS before it allocates more; on
    CUDA the caching allocator's free blocks go back to the driver, for libraries that allocate outside it."""
    import contextlib
    import ctypes
    import gc

    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()
    if sys.platform.startswith("linux"):
        # Not glibc (musl): no malloc_trim, and the pages stay with the allocator.
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)


def cuda_reset_peak(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.reset_peak_memory_stats()


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS to its current RSS (Linux: writing 5 to /proc/self/clear_refs resets VmHWM,
    which ``ru_maxrss`` reads too). False where the kernel does not offer it: the peak then stays the process's."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


def reset_peaks(device: str) -> bool:
    """Before a job that shares its process with the card's other variants: the allocator's peak and the
    process's peak RSS start again from what is allocated now (the loaded pipeline), so each record's
    memory is its own. Returns whether the RSS peak could be reset."""
    cuda_reset_peak(device)
    return reset_peak_rss()


@dataclass(frozen=True)
class MemoryPeaks:
    """The peaks of a job: the process's RSS; on CUDA the allocator's (allocated, reserved) and NVML's per
    process (None where NVML is not readable). None on the CPU for the GPU's."""

    peak_rss_mib: float
    peak_vram_allocated_mib: float | None = None
    peak_vram_reserved_mib: float | None = None
    peak_vram_nvml_mib: float | None = None


def memory_summary(device: str, nvml: NvmlPeak | None = None) -> MemoryPeaks:
    """The peaks since the last reset (:func:`reset_peaks`), read now."""
    if not device.startswith("cuda"):
        return MemoryPeaks(peak_rss_mib())
    import torch

    return MemoryPeaks(
        peak_rss_mib(),
        peak_vram_allocated_mib=torch.cuda.max_memory_allocated() / MIB,
        peak_vram_reserved_mib=torch.cuda.max_memory_reserved() / MIB,
        peak_vram_nvml_mib=nvml.peak_mib if nvml is not None else None,
    )

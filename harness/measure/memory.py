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

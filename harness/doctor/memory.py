"""Memory meters against a known allocation: the host's RSS; on CUDA the allocator's count and NVML's
per-process figure (ONNX Runtime and TensorRT allocate outside PyTorch, so NVML's is the one they rely on)."""

from __future__ import annotations

import numpy as np

from harness.doctor.findings import Finding
from harness.measure.memory import MIB, NvmlPeak

MEMORY_TOLERANCE = 0.05
ALLOC_MIB = 256


def memory_findings(device: str) -> list[Finding]:
    """RSS growth for a host allocation of :data:`ALLOC_MIB`; on CUDA the device meters too."""
    out = [rss_finding()]
    if device.startswith("cuda"):
        out += cuda_memory_findings(device)
    return out


def rss_finding() -> Finding:
    """RSS growth for a host allocation of :data:`ALLOC_MIB` (every page written)."""
    import psutil  # the run extra

    proc = psutil.Process()
    before = proc.memory_info().rss
    block = np.ones(ALLOC_MIB * MIB, dtype=np.uint8)  # np.ones writes every page: resident, not just mapped
    grown = (proc.memory_info().rss - before) / MIB
    del block
    err = grown / ALLOC_MIB - 1.0
    ok = abs(err) <= MEMORY_TOLERANCE
    return Finding(
        "memory",
        f"RSS growth for a {ALLOC_MIB} MiB host allocation",
        f"{grown:.1f} MiB ({err:+.1%})",
        ok,
        "" if ok else f"RSS reports {err:+.1%} off a known allocation",
        {"expected_mib": ALLOC_MIB, "measured_mib": grown},
    )


def _nvml_now(nv: NvmlPeak) -> float | None:
    """NVML's figure for this process now (None without NVML)."""
    nv.peak_mib = 0.0 if nv.peak_mib is not None else None
    nv._sample()
    return nv.peak_mib


def cuda_memory_findings(device: str) -> list[Finding]:
    """The CUDA allocator's count and NVML's per-process figure for one tensor of :data:`ALLOC_MIB`."""
    import torch

    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    a0 = torch.cuda.memory_allocated()
    nv = NvmlPeak()
    n0 = _nvml_now(nv)
    t = torch.empty(ALLOC_MIB * MIB, dtype=torch.uint8, device=device)
    torch.cuda.synchronize()
    alloc = (torch.cuda.memory_allocated() - a0) / MIB
    n1 = _nvml_now(nv)
    del t
    torch.cuda.empty_cache()
    ok = abs(alloc - ALLOC_MIB) < 1.0
    out = [
        Finding(
            "memory",
            f"CUDA allocator for a {ALLOC_MIB} MiB tensor",
            f"{alloc:.1f} MiB",
            ok,
            "" if ok else "the allocator's count is off a known allocation",
            {"expected_mib": ALLOC_MIB, "allocator_mib": alloc},
        )
    ]
    if n0 is None or n1 is None:
        out.append(
            Finding(
                "memory", "NVML per-process memory", "not readable", None, "nvidia-ml-py/NVML unavailable"
            )
        )
        return out
    grown = n1 - n0
    seen = grown >= ALLOC_MIB - 2.0
    out.append(
        Finding(
            "memory",
            f"NVML per-process memory for the same {ALLOC_MIB} MiB",
            f"+{grown:.1f} MiB",
            seen,
            "" if seen else "NVML's per-process figure did not see the allocation",
            {"expected_mib": ALLOC_MIB, "nvml_mib": grown},
        )
    )
    return out

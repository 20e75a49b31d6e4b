"""The environment of a run: versions from package metadata (no imports), device facts from torch."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import harness
from harness.core.paths import REPO_ROOT

PACKAGES = (
    "torch",
    "diffusers",
    "transformers",
    "numpy",
    "onnx",
    "onnxruntime",
    "onnxruntime-gpu",
    "tensorrt",
    "torchmetrics",
    "pytorch-fid",
    "lpips",
    "scikit-learn",
)


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def harness_commit() -> str | None:
    root = REPO_ROOT
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def host_environment() -> dict[str, Any]:
    """What can be known without importing torch."""
    return {
        "harness_version": harness.__version__,
        "harness_commit": harness_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "packages": package_versions(),
    }


def device_environment(device: str) -> dict[str, Any]:
    """Device facts, read inside the job's process (imports torch)."""
    import torch

    out: dict[str, Any] = {
        "device": device,
        "torch_threads": torch.get_num_threads(),
        "device_name": cpu_name(),
        "cuda": None,
        "driver": None,
        "cudnn": None,
    }
    if device.startswith("cuda"):
        # The device named (a shard on cuda:3), else the current one.
        index = torch.device(device).index if ":" in device else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        out.update(
            device_name=props.name,
            cuda=torch.version.cuda,
            cudnn=torch.backends.cudnn.version(),
            gpu_memory_mib=props.total_memory / 2**20,
            compute_capability=f"{props.major}.{props.minor}",
        )
        try:
            import pynvml

            pynvml.nvmlInit()
            out["driver"] = pynvml.nvmlSystemGetDriverVersion()
        except Exception:
            out["driver"] = None
    return out


def resolve_device(requested: str) -> str:
    """auto → cuda when a GPU is visible, else cpu. cuda without a GPU is bad input."""
    import torch

    from harness.core.errors import UserInputError

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise UserInputError("--device cuda: no CUDA device is visible to torch (allowed here: cpu, auto)")
    return requested

"""What makes two runs' numbers comparable: the one definition ``harness compare`` and ``harness report`` use."""

from __future__ import annotations

from typing import Any

from harness.results.record import Record
from harness.results.run_meta import RunMeta

# (label, where it is read): "device_environment" is what the job's process saw (the first record's
# environment when run.json lacks it); "environment" is run.json's host environment.
ENV_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("device", ("device",)),
    # process and card isolation measure memory differently (a shared load's transient peak is in the first
    # variant's record only), so runs of the two are not compared silently.
    ("isolation", ("isolation",)),
    ("device name", ("device_environment", "device_name")),
    ("cpu", ("environment", "cpu")),
    ("torch threads", ("device_environment", "torch_threads")),
    ("cuda", ("device_environment", "cuda")),
    ("driver", ("device_environment", "driver")),
    ("python", ("environment", "python")),
    ("torch", ("environment", "packages", "torch")),
    ("diffusers", ("environment", "packages", "diffusers")),
    ("onnxruntime", ("environment", "packages", "onnxruntime")),
    ("onnxruntime-gpu", ("environment", "packages", "onnxruntime-gpu")),
    ("tensorrt", ("environment", "packages", "tensorrt")),
)

# Package fields of ENV_FIELDS that matter only to the jobs of one backend.
BACKEND_PACKAGES = {"onnxruntime": "onnxruntime", "onnxruntime-gpu": "onnxruntime", "tensorrt": "tensorrt"}


def device_environment(meta: RunMeta, records: list[Record]) -> dict[str, Any]:
    """What the jobs' processes saw of the device: run.json's copy, else the first record's."""
    env = meta.device_environment or next((r.environment for r in records if r.environment), None)
    return env.model_dump() if env is not None else {}


def comparable_environment(meta: RunMeta, records: list[Record]) -> dict[str, Any]:
    """The parts of a run's environment that make its timings comparable with another run's, label →
    value. Python counts as major.minor: patch releases do not change timings. A backend's runtime counts
    only for runs that use that backend (an eager suite ignores ONNX Runtime's version)."""
    sources = {
        "device_environment": device_environment(meta, records),
        "environment": meta.environment.model_dump(),
        "device": meta.device,
        "isolation": meta.isolation or "process",  # runs older than isolation card were process (or none)
    }
    backends = {r.backend for r in records}
    out: dict[str, Any] = {}
    for label, path in ENV_FIELDS:
        value: Any = sources[path[0]]
        for part in path[1:]:
            value = value.get(part) if isinstance(value, dict) else None
        if label == "python" and value:
            value = ".".join(str(value).split(".")[:2])
        if label in BACKEND_PACKAGES and BACKEND_PACKAGES[label] not in backends:
            value = None
        out[label] = value
    return out

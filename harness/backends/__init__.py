"""Backends behind a registry (imported lazily)."""

from __future__ import annotations

from harness.registry import Registry

BACKENDS = Registry("backend")
BACKENDS.register("eager", "harness.backends.eager:EagerBackend", "PyTorch eager (fp32 | fp16 | bf16, channels_last)")

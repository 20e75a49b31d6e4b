"""The backends' options: the typed model of each backend's ``backend_options``, by backend name.

They live in ``config`` so the plan validates a variant's options, and a :class:`~harness.config.job.Job` carries
them typed, without importing the backends themselves (``harness.backends`` imports its option model from
here; its registry of names, with the classes, stays there and a test checks the two name the same backends).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.core.errors import UserInputError
from harness.core.registry import did_you_mean
from harness.core.validation import parse_options


class BackendOptions(BaseModel):
    """Options of a backend, as a suite's variant gives them (``backend_options``): unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class EagerOptions(BackendOptions):
    channels_last: bool = False
    attention: Literal["sdpa", "math"] | None = None  # None: what the pipeline uses (SDPA on torch 2)


class CompileOptions(BackendOptions):
    mode: Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"] = "default"
    fullgraph: bool = False
    dynamic: bool | None = None
    backend: str = "inductor"
    components: list[Literal["denoiser", "vae_decoder"]] = Field(
        default_factory=lambda: ["denoiser", "vae_decoder"]
    )
    channels_last: bool = False


class OrtOptions(BackendOptions):
    components: list[Literal["denoiser", "vae_decoder", "text_encoder"]] = Field(
        default_factory=lambda: ["denoiser", "vae_decoder", "text_encoder"]
    )
    exporter: Literal["auto", "dynamo", "legacy"] = "auto"
    dynamic_batch: bool = True
    provider: Literal["auto", "cpu", "cuda", "tensorrt"] = "auto"
    opset: int = Field(default=18, ge=14, le=23)
    vae_fp32: bool = True
    io_binding: bool = True
    graph_optimization: Literal["disable", "basic", "extended", "all"] = "all"
    # False (as deployed): the torch weights of the exported components are freed before their sessions are
    # built; True keeps them loaded beside the sessions (twice the memory) for a quick switch back to torch.
    keep_torch_weights: bool = False
    # ONNX Runtime's CPU memory arena keeps every block it grows to (by powers of two): with it SD 1.5 at 256²
    # peaked 0.8 GB higher (0.5 GB for the UNet's session alone) and ran no faster here (#24), so it is off
    # unless asked for.
    cpu_mem_arena: bool = False


class TrtOptions(BackendOptions):
    components: list[str] = Field(default_factory=lambda: ["denoiser", "vae_decoder"])
    fp16: bool = True
    vae_fp32: bool = True  # build the decoder without FP16 (fp16 VAE decoders overflow on real SD weights)
    min_batch: int = Field(default=1, ge=1)
    max_batch: int | None = Field(default=None, ge=1, description="default: the timed batch (×2 for CFG)")
    spatial_range: tuple[float, float] = (1.0, 1.0)  # scale of dims ≥ 2 admitted by the profile (min, max)
    workspace_gib: float = Field(default=4.0, gt=0)
    opset: int = Field(default=18, ge=14, le=23)
    exporter: str = "auto"
    builder_optimization_level: int = Field(default=3, ge=0, le=5)
    # False (as deployed): the torch weights of the components run by engines are freed once exported, before
    # the builder (which reads the ONNX files) runs; True keeps them loaded for a quick switch back to torch.
    keep_torch_weights: bool = False


# Backend name → its options model; the names are those of ``harness.backends.BACKENDS``.
BACKEND_OPTIONS: dict[str, type[BackendOptions]] = {
    "eager": EagerOptions,
    "onnxruntime": OrtOptions,
    "compile": CompileOptions,
    "tensorrt": TrtOptions,
}


def check_backend(name: str, *, source: str | None = None, field: str | None = None) -> None:
    """``name`` is a backend; else ``unknown backend 'x' (did you mean ...)`` as bad input."""
    if name not in BACKEND_OPTIONS:
        raise UserInputError(
            f"unknown backend '{name}' ({did_you_mean(name, BACKEND_OPTIONS)})", source=source, field=field
        )


def parse_backend_options(
    backend: str, options: Mapping[str, Any] | None, *, source: str | None = None, field: str | None = None
) -> BackendOptions:
    """``options`` (a variant's ``backend_options``) validated as ``backend``'s options model.

    Raises:
        UserInputError: an unknown backend, or ``<backend> backend options: option: what is wrong (allowed)``.
    """
    check_backend(backend, source=source, field=field)
    return parse_options(
        BACKEND_OPTIONS[backend], options, f"{backend} backend options", source=source, field=field
    )

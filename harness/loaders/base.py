"""The contract every loader returns: a Generator that turns a Request into Samples."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from harness.config import CallArgs
from harness.core.samples import Modality, Samples

if TYPE_CHECKING:
    import torch


@dataclass
class Request:
    """One generation call. Item ``i`` is generated from ``seeds[i]`` (and ``prompts[i]`` / ``class_labels[i]``)."""

    seeds: list[int]
    call: CallArgs
    prompts: list[str] | None = None
    class_labels: list[int] | None = None

    @property
    def batch_size(self) -> int:
        return len(self.seeds)


@runtime_checkable
class Generator(Protocol):
    """What every loader returns; backends wrap or replace its components."""

    modality: Modality
    random_weights: bool

    def components(self) -> Mapping[str, torch.nn.Module]:
        """The pipeline's parts by role: "denoiser", "vae_decoder", "text_encoder", ..."""
        ...

    def replace_component(self, role: str, module: Any) -> None:
        """Swap a component (a compiled or exported wrapper) in place."""
        ...

    def generate(self, request: Request) -> Samples: ...

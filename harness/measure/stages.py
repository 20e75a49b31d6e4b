"""Per-stage time of a diffusers pipeline call: text encoding, each denoiser call, decoding.

The stages are timed at the pipeline's call sites, outside the components: for the profiled call each
component is put back into the pipeline behind a thin wrapper that reads the clock around the pipeline's call
of it (``component(...)`` for the denoiser and the text encoders, ``component.decode(...)`` for the VAE) and
then hands the call to the component unchanged. The component itself is never touched, so a compiled graph
stays whole and is not retraced (timing inside the compiled ``forward`` made Dynamo break the graph and
recompile: on tiny-sd a 50 ms call took 16 s to profile), and an exported stand-in keeps running in place.
Each boundary synchronises the device, which perturbs the timing, so stage profiling runs in its own pass
after the timed loop and never inside it.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from harness.measure.timing import synchronize

# role → (stage, the method the pipeline calls); text encoders are "text_encoder", "text_encoder_2", ...
STAGES = {"denoiser": ("denoise_step", "__call__"), "vae_decoder": ("decode", "decode")}
TEXT_STAGE = ("text_encode", "__call__")

_WRAPPER: Any = None


def _stage_of(role: str) -> tuple[str, str] | None:
    if role.startswith("text_encoder"):
        return TEXT_STAGE
    return STAGES.get(role)


def _wrapper_class() -> Any:
    """The wrapper type, built once (torch is imported only when a profile runs)."""
    global _WRAPPER
    if _WRAPPER is not None:
        return _WRAPPER
    import torch

    class TimedCall(torch.nn.Module):
        """Stands in the pipeline for one component during the profiled call: times the pipeline's call of
        it, outside whatever the component runs (a compiled graph, an ONNX Runtime session)."""

        def __init__(self, inner: Any, stage: str, method: str, record: Any) -> None:
            super().__init__()
            self.inner = inner  # a submodule: parameters(), modules() and .to() reach the component's own
            object.__setattr__(self, "_call", (getattr(inner, method), record, stage))
            object.__setattr__(self, "_timed_method", method)

        # Pipelines branch on their components' classes (isinstance(self.vae, AutoencoderKLWan)): the wrapper
        # answers as the component, so the profiled call takes the same path as a timed one.
        @property  # type: ignore[misc]
        def __class__(self) -> type:
            return type(self._modules["inner"])

        def __getattr__(self, name: str) -> Any:
            try:
                return super().__getattr__(name)
            except AttributeError:
                return getattr(self._modules["inner"], name)

        def _timed(self, *args: Any, **kwargs: Any) -> Any:
            fn, record, stage = self._call
            return record(stage, fn, args, kwargs)

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            if self._timed_method == "__call__":
                return self._timed(*args, **kwargs)
            return self._modules["inner"](*args, **kwargs)

        def forward(self, *args: Any, **kwargs: Any) -> Any:
            return self._modules["inner"].forward(*args, **kwargs)

        def decode(self, *args: Any, **kwargs: Any) -> Any:
            if self._timed_method == "decode":
                return self._timed(*args, **kwargs)
            return self._modules["inner"].decode(*args, **kwargs)

    _WRAPPER = TimedCall
    return TimedCall


@contextmanager
def profile_stages(generator: Any, device: str) -> Iterator[dict[str, list[float]]]:
    """Yield a dict stage → list of milliseconds, filled by the calls made while the context is open.

    ``generator`` gives its ``components()`` by role and swaps them with ``replace_component(role, module)``;
    every component is back in its place when the context closes, exactly as it was.
    """
    times: dict[str, list[float]] = defaultdict(list)

    def record(stage: str, fn: Any, args: tuple, kwargs: dict) -> Any:
        synchronize(device)
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        synchronize(device)
        times[stage].append((time.perf_counter() - t0) * 1000.0)
        return out

    wrapper = _wrapper_class()
    swapped: list[tuple[str, Any]] = []
    try:
        for role, module in dict(generator.components()).items():
            found = _stage_of(role)
            if found is None or not hasattr(module, found[1]):
                continue
            stage, method = found
            generator.replace_component(role, wrapper(module, stage, method, record))
            swapped.append((role, module))
        yield times
    finally:
        for role, module in reversed(swapped):
            generator.replace_component(role, module)


@dataclass(frozen=True)
class StageTiming:
    """One stage of the profiled call: its total, how many calls it made, the median call."""

    total_ms: float
    calls: int
    p50_ms: float


@dataclass(frozen=True)
class StageSummary:
    """The profiled call by stage (``other`` included) and end to end."""

    stages: dict[str, StageTiming]
    total_ms: float


def stage_summary(times: Mapping[str, list[float]], total_ms: float) -> StageSummary:
    """Totals per stage, the per-step median, and what the stages did not cover ("other": the pipeline's own
    code between its components: tokenising, the scheduler, pre- and post-processing)."""
    import numpy as np

    stages: dict[str, StageTiming] = {}
    covered = 0.0
    for stage, values in times.items():
        total = float(sum(values))
        covered += total
        stages[stage] = StageTiming(total_ms=total, calls=len(values), p50_ms=float(np.median(values)))
    rest = max(total_ms - covered, 0.0)
    stages["other"] = StageTiming(total_ms=rest, calls=1, p50_ms=rest)
    return StageSummary(stages, total_ms)

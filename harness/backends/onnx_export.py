"""ONNX export for the backends that run outside torch (onnxruntime, tensorrt): record how the pipeline calls
each component, export each with torch.onnx (or find it in the artifact cache), release the torch weights a
deployment would not hold, and put the original modules back afterwards.

Export: the dynamo exporter (needs onnxscript) by default, the legacy TorchScript exporter as a fallback or
on request; batch axes static or dynamic; Python timesteps become tensor inputs so they are not baked in.

External data: an ONNX file is a protobuf, which cannot exceed 2 GiB. A component whose weights fit in
:data:`EXTERNAL_DATA_ABOVE_BYTES` is one self-contained ``model.onnx``; above it (SD 1.5's 3.4 GB UNet) the
weights go to external data beside it in the same cache entry: ``model.onnx.data`` from the dynamo exporter
(asked for explicitly here, at torch's own threshold), one file per tensor from the legacy exporter (which
decides by itself above 2 GiB). ONNX Runtime and TensorRT's parser read them from beside the model.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.backends.cache import ArtifactCache
from harness.backends.export import (
    call_signature,
    capture_calls,
    dtypes_of,
    export_module,
    shapes_of,
)
from harness.backends.keys import module_fingerprint
from harness.measure.memory import return_freed_memory

# Weights above this go to external data (torch's threshold for its dynamo exporter: below protobuf's 2 GiB).
EXTERNAL_DATA_ABOVE_BYTES = 1536 * 2**20


def weight_bytes(module: Any) -> int:
    """Bytes of a module's parameters and buffers (what an export writes as initializers)."""
    tensors = [*module.parameters(), *module.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


def needs_external_data(module: Any) -> bool:
    """Whether ``module``'s weights must go to external data beside the ONNX file (see the module's doc)."""
    return weight_bytes(module) > EXTERNAL_DATA_ABOVE_BYTES


def export_onnx(
    module: Any, example: list[Any], path: Any, *, exporter: str, dynamic_batch: bool, opset: int
) -> str:
    """Export ``module(*example)`` to ``path``; returns the exporter that succeeded. The weights are inside the
    file, or beside it as external data where they are too big for one (:func:`needs_external_data`)."""
    import torch

    names = [f"in{i}" for i in range(len(example))]
    with torch.inference_mode(False), torch.no_grad():
        outs = module(*example)
    out_names = [f"out{i}" for i in range(len(outs))]
    dynamic_axes = None
    if dynamic_batch:
        # Separate names per input: no equality between batch sizes is assumed (CFG doubles some).
        dynamic_axes = {n: {0: f"{n}_b"} for n, t in zip(names, example) if t.dim() > 0}
        dynamic_axes.update({n: {0: f"{n}_b"} for n in out_names})
    tries = ["dynamo", "legacy"] if exporter == "auto" else [exporter]
    errors = []
    for which in tries:
        try:
            with torch.no_grad():
                kwargs: dict[str, Any] = dict(
                    input_names=names, output_names=out_names, opset_version=opset, dynamic_axes=dynamic_axes
                )
                if which == "dynamo":
                    kwargs.pop("dynamic_axes")
                    dyn = None
                    if dynamic_batch:
                        auto = torch.export.Dim.AUTO
                        dyn = (tuple({0: auto} if t.dim() > 0 else None for t in example),)
                    try:
                        torch.onnx.export(
                            module,
                            tuple(example),
                            str(path),
                            dynamo=True,
                            external_data=needs_external_data(module),
                            verbose=False,
                            dynamic_shapes=dyn,
                            **kwargs,
                        )
                    finally:
                        forget_exported_graphs()
                else:
                    torch.onnx.export(
                        module, tuple(example), str(path), dynamo=False, do_constant_folding=True, **kwargs
                    )
            return which
        except Exception as exc:
            errors.append(f"{which}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    raise RuntimeError("ONNX export failed (" + "; ".join(errors) + ")")


def forget_exported_graphs() -> None:
    """Drop what onnxscript keeps of the last graph it optimised. Its rewrite rules are module-level objects
    whose pattern matchers hold the last graph they matched (``_graph``, ``_current_node``, ``_match``,
    ``_tracer``), and that graph's initializers wrap the exported module's own weight tensors: without this,
    weights released after a dynamo export stay in memory (SD 1.5's UNet: 3.4 GB, measured) until the next
    export replaces the graph."""
    import gc

    try:
        from onnxscript.rewriter._matcher import PatternMatcher
    except ImportError:  # another onnxscript layout: nothing known to clear
        return
    for obj in gc.get_objects():
        if isinstance(obj, PatternMatcher):
            for attr in ("_graph", "_current_node", "_match", "_tracer"):
                if attr in vars(obj):
                    setattr(obj, attr, None)


def put_back(generator: Any, replaced: list[tuple[str, Any]]) -> None:
    """The original modules in place of their stand-ins (the exports were made from copies when cast). Modules
    whose weights were released go back on the meta device: the generator loads them again
    (``reload_released``) before anything runs them, which the worker does before the card's next variant."""
    for role, module in replaced:
        generator.replace_component(role, module)
    # The stand-ins and their sessions (a stand-in refers to itself: a cycle, freed by the collector).
    return_freed_memory(str(getattr(generator, "device", "cpu")))


class WeightRelease:
    """Frees the torch weights of each component as soon as it is exported (or found in the cache), before the
    next one is exported and before any session or engine is built, so the job holds one copy of the weights
    as a deployment would (releasing them all at the end left SD 1.5's UNet in memory while the text encoder's
    export serialised, a peak 1.1 GB higher: #24). ``keep`` (the backend's ``keep_torch_weights``) leaves them
    loaded. Called with each :class:`Exported` by :func:`export_components`."""

    def __init__(self, generator: Any, *, keep: bool):
        self.generator = generator
        self.keep = keep
        self.released: list[str] = []
        self.kept: list[str] = []

    def __call__(self, ex: Exported) -> None:
        if ex.call is None:
            return  # not run outside torch: it stays as it is
        release = getattr(self.generator, "release_component", None)
        if self.keep or release is None or not release(ex.role):
            self.kept.append(ex.role)
            return
        self.released.append(ex.role)
        return_freed_memory(str(getattr(self.generator, "device", "cpu")))

    def notes(self) -> list[str]:
        """What the record says about the torch weights."""
        if self.released:
            return [
                f"torch weights of {', '.join(self.released)} released once exported "
                "(keep_torch_weights: true keeps them)"
            ]
        if self.kept and self.keep:
            return ["torch weights kept beside the exported graphs (keep_torch_weights: true)"]
        if self.kept:
            return [f"torch weights kept: {type(self.generator).__name__} cannot load released weights again"]
        return []


@dataclass
class Exported:
    role: str
    module: Any
    call: Any
    onnx_path: Any = None
    export_dtype: Any = None
    exporter: str | None = None
    key: str | None = None
    hit: bool = False
    entry: Any = None
    capture_s: float = 0.0  # the one generation that recorded the calls (not compile time)
    notes: list[str] = field(default_factory=list)  # what the cache evicted to stay within its budget
    key_s: float = 0.0  # hashing the module for its cache key
    external_data: list[str] | None = None  # files beside model.onnx holding its weights ([]: none needed)


def export_components(
    generator,
    job,
    roles,
    *,
    backend: str,
    exporter: str,
    dynamic_batch: bool,
    opset: int,
    fp32_roles: set[str],
    extra_key: dict[str, Any] | None = None,
    cache: ArtifactCache | None = None,
    on_exported: Callable[[Exported], None] | None = None,
) -> list[Exported]:
    """Record how the pipeline calls each component, then export each to ONNX (or reuse the cached file);
    ``on_exported`` hears each component as soon as its file is there (:class:`WeightRelease`).

    The onnxruntime backend commits each entry when its export is written; the tensorrt backend commits its
    ONNX entries once the engine built from them is (``extra_key`` keeps them apart).
    """
    import torch

    device = str(getattr(generator, "device", "cpu"))
    comps = generator.components()
    roles = [r for r in roles if r in comps]
    request = job.timed_request()
    # One generation records how the pipeline calls each component (shapes, flags, Nones).
    t0 = time.perf_counter()
    captured = capture_calls(generator, lambda: generator.generate(request), roles)
    capture_s = time.perf_counter() - t0
    cache = cache or ArtifactCache()
    out = []
    for role in roles:
        call = captured.get(role)
        module = comps[role]
        if call is None:
            out.append(Exported(role=role, module=module, call=None))
            continue
        export_dtype = torch.float32 if role in fp32_roles else module.dtype
        example = [t.to(export_dtype) if t.is_floating_point() else t for t in call.example]
        t_key = time.perf_counter()
        fingerprint = module_fingerprint(module)  # part of compile_s: every hit pays for it
        key_s = time.perf_counter() - t_key
        parts = {
            "component": role,
            "module": fingerprint,
            "call": call_signature(call),
            "shapes": shapes_of(example),
            "dtypes": dtypes_of(example),
            "dynamic_batch": dynamic_batch,
            "opset": opset,
            "exporter": exporter,
            "export_dtype": str(export_dtype),
            "torch": torch.__version__,
            "onnx": _version("onnx"),
            "device": torch.cuda.get_device_name() if device.startswith("cuda") else "cpu",
            **(extra_key or {}),
        }
        entry = cache.entry(backend, parts)
        path = entry.file("model.onnx")
        notes: list[str] = []
        if entry.hit:
            used, external = entry.meta.get("exporter_used", "cached"), entry.meta.get("external_data")
        else:
            src = module if export_dtype == module.dtype else _cast_copy(module, export_dtype)
            before = {p.name for p in path.parent.iterdir()}
            used = export_onnx(
                export_module(src, call),
                example,
                path,
                exporter=exporter,
                dynamic_batch=dynamic_batch,
                opset=opset,
            )
            external = sorted({p.name for p in path.parent.iterdir()} - before - {path.name})
            if backend == "onnxruntime":
                notes = entry.commit(exporter_used=used, external_data=external)
        out.append(
            Exported(
                role=role,
                module=module,
                call=call,
                onnx_path=path,
                export_dtype=export_dtype,
                exporter=used,
                key=entry.key,
                hit=entry.hit,
                entry=entry,
                notes=notes,
                key_s=key_s,
                external_data=external,
            )
        )
        if on_exported is not None:
            on_exported(out[-1])
    for ex in out:
        ex.capture_s = capture_s
    return out


def _cast_copy(module: Any, dtype: Any) -> Any:
    import copy

    return copy.deepcopy(module).to(dtype)


def _version(pkg: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None

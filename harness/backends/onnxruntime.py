"""ONNX Runtime: export the denoiser, VAE decoder and text encoder with torch.onnx, run them through ORT.

Export: the dynamo exporter (needs onnxscript) by default, the legacy TorchScript exporter as a fallback or
on request; batch axes static or dynamic; Python timesteps become tensor inputs so they are not baked in.
Run: CPU, CUDA or TensorRT execution providers; on CUDA, inputs and outputs are bound on the device
(IO binding) so no host copies land in the timed loop. fp16 on a GPU where asked, with the VAE decoder
kept in fp32 by default (its fp16 overflows on real SD weights).

External data: an ONNX file is a protobuf, which cannot exceed 2 GiB. A component whose weights fit in
:data:`EXTERNAL_DATA_ABOVE_BYTES` is one self-contained ``model.onnx``; above it (SD 1.5's 3.4 GB UNet) the
weights go to external data beside it in the same cache entry: ``model.onnx.data`` from the dynamo exporter
(asked for explicitly here, at torch's own threshold), one file per tensor from the legacy exporter (which
decides by itself above 2 GiB). ONNX Runtime reads them from beside the model.

Needs the ``onnx`` extra (``pip install -e '.[onnx]'``: onnx, onnxscript, onnxruntime); without ONNX Runtime
the job fails with that command in its error.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.backends.base import Backend, BackendUnavailable, MemoryFactor, Prepared
from harness.backends.cache import ArtifactCache, CacheEntry
from harness.backends.export import (
    call_signature,
    capture_calls,
    dtypes_of,
    export_module,
    make_standin,
    shapes_of,
)
from harness.backends.keys import module_fingerprint
from harness.config.backends import OrtOptions
from harness.core.errors import UserInputError
from harness.measure.env import cpu_name

INSTALL = "pip install -e '.[onnx]'"
# Weights above this go to external data (torch's threshold for its dynamo exporter: below protobuf's 2 GiB).
EXTERNAL_DATA_ABOVE_BYTES = 1536 * 2**20

PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}


def _torch_to_np_dtype(t: Any) -> Any:
    import numpy as np
    import torch

    return {
        torch.float32: np.float32,
        torch.float16: np.float16,
        torch.int64: np.int64,
        torch.int32: np.int32,
        torch.bool: np.bool_,
        torch.bfloat16: np.float32,
    }[t.dtype]


def import_onnxruntime() -> Any:
    """ONNX Runtime, or one line that names the install command."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise BackendUnavailable(
            f"the onnxruntime backend needs ONNX Runtime, which is not installed here ({exc}): "
            f"install the onnx extra with `{INSTALL}` (onnx, onnxscript, onnxruntime)"
        ) from None
    return onnxruntime


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


class OrtRunner:
    """Runs one ONNX model; returns torch tensors on the original device and dtype."""

    def __init__(
        self,
        path: Any,
        provider: str,
        device: str,
        threads: int,
        out_dtype: Any,
        opt_level: str,
        io_binding: bool,
        cpu_mem_arena: bool = False,
        save_optimized: Any = None,
    ):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.enable_cpu_mem_arena = cpu_mem_arena
        if save_optimized is not None:  # the graph as optimised for this session, weights in a file beside it
            so.optimized_model_filepath = str(save_optimized)
            so.add_session_config_entry(
                "session.optimized_model_external_initializers_file_name", f"{Path(save_optimized).name}.data"
            )
            so.add_session_config_entry(
                "session.optimized_model_external_initializers_min_size_in_bytes", "1024"
            )
        so.graph_optimization_level = {
            "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }[opt_level]
        providers: list[Any] = [PROVIDERS[provider]]
        if provider == "tensorrt":
            providers = [
                (PROVIDERS["tensorrt"], {"trt_fp16_enable": out_dtype != "float32"}),
                PROVIDERS["cuda"],
            ]
        if provider != "cpu":
            providers.append(PROVIDERS["cpu"])
        self.session = ort.InferenceSession(str(path), sess_options=so, providers=providers)
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.device = device
        self.out_dtype = out_dtype
        self.io_binding = io_binding and device.startswith("cuda")
        self.provider = self.session.get_providers()[0]

    def __call__(self, tensors: list[Any]) -> list[Any]:
        import torch

        if self.io_binding:
            binding = self.session.io_binding()
            keep = []
            for name, t in zip(self.inputs, tensors):
                t = t.contiguous()
                keep.append(t)
                binding.bind_input(
                    name, "cuda", t.device.index or 0, _torch_to_np_dtype(t), tuple(t.shape), t.data_ptr()
                )
            for name in self.outputs:
                binding.bind_output(name, "cuda")
            self.session.run_with_iobinding(binding)
            outs = []
            for ov in binding.get_outputs():
                if hasattr(ov, "to_dlpack"):
                    outs.append(torch.from_dlpack(ov.to_dlpack()))
                else:  # older ORT: one copy through the host
                    outs.append(torch.from_numpy(ov.numpy()).to(self.device))
            return [o.to(self.out_dtype) for o in outs]
        feeds = {n: t.detach().cpu().numpy() for n, t in zip(self.inputs, tensors)}
        outs = self.session.run(self.outputs, feeds)
        return [torch.from_numpy(o).to(device=self.device, dtype=self.out_dtype) for o in outs]


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"
    options_model = OrtOptions
    # Measured here (#24 item 4), as eager's: sd15-arch, fp32, 256², batch 1, 2 steps, 1 thread, CPU provider,
    # torch weights released as each component is exported, no CPU arena. A cache miss (export in the job)
    # peaked at 5,574 MiB, a hit at 5,122 MiB (eager: 4,978-4,986), from 513 MiB before the load: the miss,
    # (5,574 - 513) / 4,067 MiB of weights = 1.25, so a first run is covered. (Before the release: 10,066 MiB.)
    memory_factor = MemoryFactor(
        1.25,
        "sd15-arch fp32 256² batch 1 on the CPU, cache miss: peak RSS grew 5,061 MiB for 4,067 MiB of weights",
    )

    def prepare(self, generator, job) -> Prepared:
        import torch

        ort = import_onnxruntime()
        opts = job.backend_options
        device = str(getattr(generator, "device", "cpu"))
        provider = opts.provider
        if provider == "auto":
            provider = "cuda" if device.startswith("cuda") else "cpu"
        available = ort.get_available_providers()
        if PROVIDERS[provider] not in available:
            raise UserInputError(
                f"onnxruntime has no {PROVIDERS[provider]} here (available: {', '.join(available)}); "
                "install onnxruntime-gpu for cuda/tensorrt",
                field="backend_options.provider",
            )
        if provider != "cpu" and not device.startswith("cuda"):
            raise UserInputError(f"provider {provider} needs --device cuda", field="backend_options.provider")
        if provider == "cpu" and job.dtype == "bf16":
            # Said before the export (minutes at real sizes), not by the session that cannot be built after it.
            raise UserInputError(
                "ONNX Runtime's CPU provider has no bf16 kernels (Gemm, Conv...): run this variant in fp32, "
                "or bf16 on CUDA",
                field="dtype",
            )
        t0 = time.perf_counter()
        cache = ArtifactCache()
        release = WeightRelease(generator, keep=opts.keep_torch_weights)
        exported = export_components(
            generator,
            job,
            opts.components,
            backend="onnxruntime",
            exporter=opts.exporter,
            dynamic_batch=opts.dynamic_batch,
            opset=opts.opset,
            fp32_roles={"vae_decoder"} if opts.vae_fp32 else set(),
            cache=cache,
            on_exported=release,
        )
        notes: list[str] = release.notes() + [n for ex in exported for n in ex.notes]
        details = {}
        replaced: list[tuple[str, Any]] = []
        entries = [ex.entry for ex in exported if ex.entry is not None]
        session_hits: list[bool] = []
        for ex in exported:
            if ex.call is None:
                notes.append(f"{ex.role}: not called by the pipeline; kept eager")
                continue
            t_session = time.perf_counter()
            optimized = optimized_entry(cache, ex, provider, opts.graph_optimization, ort.__version__)
            if optimized is not None and optimized.hit:  # optimised before: nothing left to do but load it
                source, level, save = optimized.file("model.onnx"), "disable", None
            else:
                source, level = ex.onnx_path, opts.graph_optimization
                save = optimized.file("model.onnx") if optimized is not None else None
            runner = OrtRunner(
                source,
                provider,
                device,
                torch.get_num_threads(),
                ex.module.dtype,
                level,
                opts.io_binding,
                opts.cpu_mem_arena,
                save_optimized=save,
            )
            if optimized is not None:
                if not optimized.hit:
                    notes += optimized.commit()
                entries.append(optimized)
                session_hits.append(optimized.hit)

            def run(tensors, __runner=runner, __dtype=ex.export_dtype):
                tensors = [t.to(__dtype) if t.is_floating_point() else t for t in tensors]
                return __runner(tensors)

            generator.replace_component(ex.role, make_standin(ex.module, ex.call, run, device=device))
            replaced.append((ex.role, ex.module))
            details[ex.role] = {
                "exporter": ex.exporter,
                "cache_key": ex.key,
                "key_s": ex.key_s,
                "session_s": time.perf_counter() - t_session,
                "session_from": "optimized cache" if optimized is not None and optimized.hit else "export",
                "provider": runner.provider,
                "export_dtype": str(ex.export_dtype).replace("torch.", ""),
                "external_data": ex.external_data,
            }
        for entry in entries:  # the sessions hold the models now: the files may be evicted
            entry.release()
        capture_s = exported[0].capture_s if exported else 0.0
        # compile_s is export + session creation; the recording generation is reported apart.
        compile_s = time.perf_counter() - t0 - capture_s
        hits = [ex.hit for ex in exported if ex.call is not None] + session_hits
        fp32_vae = opts.vae_fp32 and job.dtype != "fp32" and "vae_decoder" in details
        return Prepared(
            generator=generator,
            precision=job.dtype + ("+vae_fp32" if fp32_vae else ""),
            compile_s=compile_s,
            capture_s=capture_s,
            cache_hit=bool(hits) and all(hits),
            notes=notes,
            details=details,
            restore=lambda: put_back(generator, replaced),
        )


def optimized_entry(
    cache: ArtifactCache, ex: Exported, provider: str, level: str, ort_version: str
) -> CacheEntry | None:
    """The cache entry for the graph ONNX Runtime optimised from this export, on the CPU provider.

    Building a session optimises the graph each time (SD 1.5's UNet: 5.6 s at level ``all`` here, most of a
    cache hit's compile_s); a session built from the saved optimised graph with optimisation off took 0.6 s,
    and runs the same kernels. Level ``all`` lays out tensors for this CPU's instruction set, so the key names
    the CPU; the GPU providers (which compile nodes ORT cannot save) keep optimising at each session.
    """
    if provider != "cpu" or level == "disable" or ex.key is None:
        return None
    parts = {
        "stage": "optimized-session",
        "export_key": ex.key,
        "onnxruntime": ort_version,
        "provider": provider,
        "graph_optimization": level,
        "cpu": cpu_name(),
    }
    return cache.entry("onnxruntime", parts)


def put_back(generator: Any, replaced: list[tuple[str, Any]]) -> None:
    """The original modules in place of their stand-ins (the exports were made from copies when cast). Modules
    whose weights were released go back on the meta device: the generator loads them again
    (``reload_released``) before anything runs them, which the worker does before the card's next variant."""
    from harness.measure.memory import return_freed_memory

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
        from harness.measure.memory import return_freed_memory

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

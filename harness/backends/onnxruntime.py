"""ONNX Runtime: the denoiser, VAE decoder and text encoder exported with torch.onnx
(:mod:`harness.backends.onnx_export`) and run by ORT sessions behind stand-in modules.

Run: CPU, CUDA or TensorRT execution providers; on CUDA, inputs and outputs are bound on the device
(IO binding) so no host copies land in the timed loop. fp16 on a GPU where asked, with the VAE decoder
kept in fp32 by default (its fp16 overflows on real SD weights). On the CPU provider the graph a session
optimised is cached beside its export, so a cache hit builds its sessions without optimising again.

Needs the ``onnx`` extra (``pip install -e '.[onnx]'``: onnx, onnxscript, onnxruntime); without ONNX Runtime
the job fails with that command in its error.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from harness.backends.base import Backend, BackendUnavailable, MemoryFactor, Prepared
from harness.backends.cache import ArtifactCache, CacheEntry
from harness.backends.export import make_standin
from harness.backends.onnx_export import Exported, WeightRelease, export_components, put_back
from harness.config.backends import OrtOptions
from harness.core.errors import UserInputError
from harness.measure.env import cpu_name

INSTALL = "pip install -e '.[onnx]'"
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
        ort = import_onnxruntime()
        opts = job.backend_options
        device = str(getattr(generator, "device", "cpu"))
        provider = _provider(ort, opts.provider, device, job.dtype)
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
            runner, optimized = _session(ex, cache, provider, device, opts, ort.__version__)
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


def _provider(ort: Any, asked: str, device: str, dtype: str) -> str:
    """The execution provider the job runs on, checked before anything is exported (minutes at real sizes)."""
    provider = asked if asked != "auto" else ("cuda" if device.startswith("cuda") else "cpu")
    available = ort.get_available_providers()
    if PROVIDERS[provider] not in available:
        raise UserInputError(
            f"onnxruntime has no {PROVIDERS[provider]} here (available: {', '.join(available)}); "
            "install onnxruntime-gpu for cuda/tensorrt",
            field="backend_options.provider",
        )
    if provider != "cpu" and not device.startswith("cuda"):
        raise UserInputError(f"provider {provider} needs --device cuda", field="backend_options.provider")
    if provider == "cpu" and dtype == "bf16":
        # Said before the export, not by the session that cannot be built after it.
        raise UserInputError(
            "ONNX Runtime's CPU provider has no bf16 kernels (Gemm, Conv...): run this variant in fp32, "
            "or bf16 on CUDA",
            field="dtype",
        )
    return provider


def _session(
    ex: Exported, cache: ArtifactCache, provider: str, device: str, opts: OrtOptions, ort_version: str
) -> tuple[OrtRunner, CacheEntry | None]:
    """The session for one exported component: from the optimised graph cached before (optimisation off), or
    from the export, saving the graph it optimises where that can be cached."""
    import torch

    optimized = optimized_entry(cache, ex, provider, opts.graph_optimization, ort_version)
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
    return runner, optimized


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
        "component": ex.role,  # what `harness cache ls` names it by
        "export_key": ex.key,
        "onnxruntime": ort_version,
        "provider": provider,
        "graph_optimization": level,
        "cpu": cpu_name(),
    }
    return cache.entry("onnxruntime", parts)

"""TensorRT: ONNX → engine with TensorRT's builder (fp16, optimisation profiles, timing cache), run in place.

Written against TensorRT 10's Python API (named I/O tensors, ``execute_async_v3``). TensorRT's libraries
cannot be installed everywhere (its PyPI wheels fetch NVIDIA's libraries at install time): when it is
absent, selecting this backend fails the job with one clear line; the export, the profiles and the cache
keys are plain code, tested without it.
"""

from __future__ import annotations

import time
from importlib import metadata
from typing import Any

from harness.backends.base import Backend, BackendUnavailable, Prepared
from harness.backends.export import make_standin
from harness.backends.onnx_export import WeightRelease, export_components, put_back
from harness.config.backends import TrtOptions
from harness.core.errors import HarnessError


class TensorRTNotAvailable(BackendUnavailable):
    pass


def tensorrt_version() -> str | None:
    try:
        return metadata.version("tensorrt")
    except metadata.PackageNotFoundError:
        return None


def import_tensorrt() -> Any:
    try:
        import tensorrt as trt
    except Exception as exc:  # ImportError, or OSError for a missing libnvinfer
        raise TensorRTNotAvailable(
            f"TensorRT is not usable here ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
            "install it on a GPU machine with `pip install -e '.[tensorrt]'` (NVIDIA's libraries are fetched from "
            "NVIDIA's index at install time), or use the onnxruntime backend with provider: tensorrt"
        ) from None
    return trt


def optimization_profile(
    shapes: list[list[int]], *, min_batch: int, max_batch: int | None, spatial_range: tuple[float, float]
) -> list[tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]:
    """(min, opt, max) shape per input: the batch axis from min to max, spatial axes (≥ 2) scaled.

    ``opt`` is the captured shape: TensorRT tunes its kernels for it, and it is what the timed loop runs.
    Inputs of rank 0 or 1 whose first axis is not a batch (e.g. a scalar timestep) keep their shape.
    """
    out = []
    lo_s, hi_s = spatial_range
    if lo_s <= 0 or hi_s < lo_s or lo_s > 1.0 or hi_s < 1.0:
        raise ValueError(f"spatial_range must satisfy 0 < min ≤ 1 ≤ max, got {spatial_range}")
    for shape in shapes:
        opt = tuple(int(d) for d in shape)
        if len(opt) == 0:
            out.append((opt, opt, opt))
            continue
        mn, mx = list(opt), list(opt)
        batch_max = max_batch if max_batch is not None else opt[0]
        if batch_max < opt[0]:
            raise ValueError(f"max_batch {batch_max} is below the timed batch {opt[0]}")
        mn[0] = min(min_batch, opt[0])
        mx[0] = batch_max
        for axis in range(2, len(opt)):
            mn[axis] = max(1, int(opt[axis] * lo_s))
            mx[axis] = max(opt[axis], round(opt[axis] * hi_s))
        out.append((tuple(mn), opt, tuple(mx)))
    return out


def build_engine(
    trt: Any,
    onnx_path: Any,
    engine_path: Any,
    timing_cache_path: Any,
    profile: list,
    names: list[str],
    *,
    fp16: bool,
    workspace_gib: float,
    opt_level: int,
) -> None:
    """ONNX → serialized engine with one optimisation profile; the timing cache is read and written back."""
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise HarnessError(f"TensorRT could not parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * 2**30))
    config.builder_optimization_level = opt_level
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    from pathlib import Path

    blob = Path(timing_cache_path).read_bytes() if Path(timing_cache_path).exists() else b""
    cache = config.create_timing_cache(blob)
    config.set_timing_cache(cache, ignore_mismatch=False)
    opt_profile = builder.create_optimization_profile()
    for name, (mn, opt, mx) in zip(names, profile):
        opt_profile.set_shape(name, mn, opt, mx)
    config.add_optimization_profile(opt_profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise HarnessError(f"TensorRT failed to build an engine from {onnx_path} (see the job's log)")
    Path(engine_path).write_bytes(bytes(serialized))
    Path(timing_cache_path).write_bytes(bytes(config.get_timing_cache().serialize()))


class TrtRunner:
    """Runs an engine on the current CUDA stream with device tensors (no host copies)."""

    def __init__(self, trt: Any, engine_path: Any, out_dtype: Any):
        from pathlib import Path

        self.trt = trt
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)
        self.engine = self.runtime.deserialize_cuda_engine(Path(engine_path).read_bytes())
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        self.out_dtype = out_dtype

    def _torch_dtype(self, name: str) -> Any:
        import torch

        trt = self.trt
        return {
            trt.float32: torch.float32,
            trt.float16: torch.float16,
            trt.bfloat16: torch.bfloat16,
            trt.int32: torch.int32,
            trt.int64: torch.int64,
            trt.bool: torch.bool,
        }[self.engine.get_tensor_dtype(name)]

    def __call__(self, tensors: list[Any]) -> list[Any]:
        import torch

        keep = []
        for name, t in zip(self.inputs, tensors):
            t = t.to(self._torch_dtype(name)).contiguous()
            keep.append(t)
            self.context.set_input_shape(name, tuple(t.shape))
            self.context.set_tensor_address(name, t.data_ptr())
        outs = []
        for name in self.outputs:
            shape = tuple(self.context.get_tensor_shape(name))
            o = torch.empty(shape, dtype=self._torch_dtype(name), device="cuda")
            self.context.set_tensor_address(name, o.data_ptr())
            outs.append(o)
        stream = torch.cuda.current_stream()
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise HarnessError("TensorRT execution failed")
        return [o.to(self.out_dtype) for o in outs]


class TensorRTBackend(Backend):
    name = "tensorrt"
    options_model = TrtOptions

    def prepare(self, generator, job) -> Prepared:
        opts = job.backend_options
        trt = import_tensorrt()
        device = str(getattr(generator, "device", "cpu"))
        if not device.startswith("cuda"):
            raise HarnessError("the tensorrt backend needs --device cuda")
        import torch

        from harness.backends.cache import ArtifactCache

        t0 = time.perf_counter()
        cache = ArtifactCache()
        # The builder reads the ONNX files: the torch weights leave the GPU as each export is written.
        release = WeightRelease(generator, keep=opts.keep_torch_weights)
        exported = export_components(
            generator,
            job,
            opts.components,
            backend="tensorrt",
            exporter=opts.exporter,
            dynamic_batch=True,
            opset=opts.opset,
            fp32_roles={"vae_decoder"},
            extra_key={"stage": "onnx-for-tensorrt"},
            cache=cache,
            on_exported=release,
        )
        device_name = torch.cuda.get_device_name()
        hits, details, notes = [], {}, release.notes()
        entries = [ex.entry for ex in exported if ex.entry is not None]
        replaced: list[tuple[str, Any]] = []
        for ex in exported:
            if ex.call is None:
                notes.append(f"{ex.role}: not called by the pipeline; kept eager")
                continue
            shapes = [list(t.shape) for t in ex.call.example]
            profile = optimization_profile(
                shapes, min_batch=opts.min_batch, max_batch=opts.max_batch, spatial_range=opts.spatial_range
            )
            fp16 = opts.fp16 and not (ex.role == "vae_decoder" and opts.vae_fp32)
            entry = cache.entry(
                "tensorrt",
                {
                    "onnx": ex.key,
                    "profile": profile,
                    "fp16": fp16,
                    "tensorrt": tensorrt_version(),
                    "device": device_name,
                    "workspace_gib": opts.workspace_gib,
                    "opt_level": opts.builder_optimization_level,
                },
            )
            entries.append(entry)
            engine_path = entry.file("model.engine")
            if not entry.hit:
                names = [f"in{i}" for i in range(len(shapes))]
                # The timing cache is shared by every build on this TensorRT and device: an entry of its own.
                timing = cache.entry(
                    "tensorrt", {"timing_cache": True, "tensorrt": tensorrt_version(), "device": device_name}
                )
                entries.append(timing)
                build_engine(
                    trt,
                    ex.onnx_path,
                    engine_path,
                    timing.file("timing.cache"),
                    profile,
                    names,
                    fp16=fp16,
                    workspace_gib=opts.workspace_gib,
                    opt_level=opts.builder_optimization_level,
                )
                notes += timing.commit()
                notes += entry.commit()
            if not ex.hit:  # the ONNX the engine was built from (or found beside it)
                notes += ex.entry.commit(exporter_used=ex.exporter)
            hits.append(entry.hit)
            runner = TrtRunner(trt, engine_path, ex.module.dtype)
            generator.replace_component(ex.role, make_standin(ex.module, ex.call, runner, device=device))
            replaced.append((ex.role, ex.module))
            details[ex.role] = {
                "engine_key": entry.key,
                "fp16": fp16,
                "profile": [list(map(list, p)) for p in profile],
            }
        for e in entries:  # the engines are deserialized: the files may be evicted
            e.release()
        precision = "fp16" if opts.fp16 else "fp32"
        capture_s = exported[0].capture_s if exported else 0.0
        return Prepared(
            generator=generator,
            precision=precision,
            compile_s=time.perf_counter() - t0 - capture_s,
            capture_s=capture_s,
            cache_hit=bool(hits) and all(hits),
            notes=notes,
            details=details,
            restore=lambda: put_back(generator, replaced),
        )

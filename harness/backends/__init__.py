"""Backends behind a registry (imported lazily)."""

from __future__ import annotations

from harness.core.registry import Registry

BACKENDS = Registry("backend")
BACKENDS.register(
    "eager", "harness.backends.eager:EagerBackend", "PyTorch eager (fp32 | fp16 | bf16, channels_last)"
)
BACKENDS.register(
    "onnxruntime",
    "harness.backends.onnxruntime:OnnxRuntimeBackend",
    "ONNX export (dynamo or legacy) run by ONNX Runtime (CPU, CUDA or TensorRT EP), cached",
)
BACKENDS.register(
    "compile",
    "harness.backends.compile:CompileBackend",
    "torch.compile of denoiser and VAE decoder (Inductor)",
)
BACKENDS.register(
    "tensorrt",
    "harness.backends.tensorrt:TensorRTBackend",
    "ONNX → TensorRT engine (fp16, optimisation profiles, timing cache); needs TensorRT and a GPU",
)

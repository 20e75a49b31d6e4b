"""Quality metrics behind a registry (imported lazily: ``harness ls metrics`` imports no torch)."""

from __future__ import annotations

from harness.registry import Registry

METRICS = Registry("metric")
METRICS.register("psnr", "harness.metrics.pairwise:PSNR", "pairwise: PSNR vs the baseline variant (dB)")
METRICS.register("ssim", "harness.metrics.pairwise:SSIM", "pairwise: SSIM vs the baseline variant (image, video)")
METRICS.register(
    "max_abs_diff", "harness.metrics.pairwise:MaxAbsDiff", "pairwise: largest |difference| from the baseline"
)
METRICS.register("si_sdr", "harness.metrics.pairwise:SISDR", "pairwise: SI-SDR vs the baseline variant (audio, dB)")

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

# Feature-based distribution metrics (harness.metrics.distribution; extractors in harness.metrics.extractors).
METRICS.register(
    "fid",
    "harness.metrics.distribution:FID",
    "distribution: FID (pytorch-fid Inception) vs reference_path .npz",
)
METRICS.register(
    "kid", "harness.metrics.distribution:KID", "distribution: KID vs reference features (.npz with features)"
)
METRICS.register(
    "inception_score",
    "harness.metrics.distribution:InceptionScore",
    "distribution: Inception Score (splits 10)",
)


def register_fd(extractor: str, summary: str = "") -> None:
    """``fd_<extractor>``: the Fréchet distance on a registered extractor's features (one line per extractor)."""
    METRICS.register(
        f"fd_{extractor}",
        f"harness.metrics.distribution:fd_{extractor}",
        summary or f"distribution: Fréchet distance on {extractor} features vs reference_path .npz",
    )


register_fd("clip-vit-b-32", "distribution: FD-CLIP (CLIP ViT-B/32 image features) vs reference_path .npz")

METRICS.register(
    "lpips",
    "harness.metrics.lpips_metric:LPIPS",
    "pairwise: LPIPS vs the baseline variant (net alex|vgg|squeeze)",
)
METRICS.register(
    "ms_ssim",
    "harness.metrics.lpips_metric:MSSSIM",
    "pairwise: MS-SSIM vs the baseline (>= 176 px at 5 scales)",
)
METRICS.register(
    "clip_score",
    "harness.metrics.alignment:CLIPScore",
    "per sample: CLIP score x100 with the prompt (ViT-B/32)",
)

# The embedded mini zoo's digit metrics (harness.zoo.metrics; extractor and reference statistics ship in model_cards/zoo).
METRICS.register("fd_digits", "harness.zoo.metrics:FDDigits", "distribution: Fréchet distance on the zoo's digits-CNN features vs held-out digits")
METRICS.register("class_accuracy", "harness.zoo.metrics:ClassAccuracy", "per sample: share of samples the digits CNN classifies as the requested class")

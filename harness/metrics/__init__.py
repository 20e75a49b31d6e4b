"""Quality metrics behind a registry (imported lazily: ``harness ls metrics`` imports no torch)."""

from __future__ import annotations

from harness.core.registry import Registry

METRICS = Registry("metric")
METRICS.register("psnr", "harness.metrics.pairwise:PSNR", "pairwise: PSNR vs the baseline variant (dB)")
METRICS.register(
    "ssim", "harness.metrics.pairwise:SSIM", "pairwise: SSIM vs the baseline variant (image, video)"
)
METRICS.register(
    "max_abs_diff", "harness.metrics.pairwise:MaxAbsDiff", "pairwise: largest |difference| from the baseline"
)
METRICS.register(
    "si_sdr", "harness.metrics.pairwise:SISDR", "pairwise: SI-SDR vs the baseline variant (audio, dB)"
)

# Feature-based distribution metrics (harness.metrics.frechet_metric, kid_metric, inception_score; extractors in
# harness.metrics.extractors).
METRICS.register(
    "fid",
    "harness.metrics.frechet_metric:FID",
    "distribution: FID (pytorch-fid Inception) vs reference_path .npz",
)
METRICS.register(
    "kid", "harness.metrics.kid_metric:KID", "distribution: KID vs reference features (.npz with features)"
)
METRICS.register(
    "inception_score",
    "harness.metrics.inception_score:InceptionScore",
    "distribution: Inception Score (splits 10)",
)
METRICS.register(
    "cmmd",
    "harness.metrics.cmmd:CMMD",
    "distribution: CMMD (CLIP ViT-L/14@336 embeddings, RBF MMD) vs reference_path .npz",
)


def register_fd(extractor: str, summary: str = "") -> None:
    """``fd_<extractor>``: the Fréchet distance on a registered extractor's features (one line per extractor)."""
    METRICS.register(
        f"fd_{extractor}",
        f"harness.metrics.frechet_metric:fd_{extractor}",
        summary or f"distribution: Fréchet distance on {extractor} features vs reference_path .npz",
    )


register_fd("clip-vit-b-32", "distribution: FD-CLIP (CLIP ViT-B/32 image features) vs reference_path .npz")
# FD-DINOv2 (Stein et al. 2023; dgm-eval's features): fd_dinov2 is ViT-L/14, the other sizes by their extractor name.
METRICS.register(
    "fd_dinov2",
    "harness.metrics.frechet_metric:FDDINOv2",
    "distribution: FD-DINOv2 (DINOv2 ViT-L/14 CLS features, dgm-eval) vs reference_path .npz",
)
for _size in ("s", "b", "l", "g"):
    register_fd(f"dinov2-vit-{_size}-14")

# Precision, recall, density, coverage (harness.metrics.prdc_metric): k-NN manifolds on any extractor's features,
# vs reference_path features or the extractor's own real set (the zoo's held-out digits); one computation per job.
# Prefixed: a record's "precision" column is its numeric precision (fp32, fp16).
METRICS.register(
    "prdc_precision",
    "harness.metrics.prdc_metric:Precision",
    "distribution: share of samples inside the real k-NN manifold (k 5)",
)
METRICS.register(
    "prdc_recall",
    "harness.metrics.prdc_metric:Recall",
    "distribution: share of real features inside the samples' k-NN manifold (k 5)",
)
METRICS.register(
    "prdc_density",
    "harness.metrics.prdc_metric:Density",
    "distribution: real k-NN balls holding each sample, / k (about 1 when matched)",
)
METRICS.register(
    "prdc_coverage",
    "harness.metrics.prdc_metric:Coverage",
    "distribution: share of real k-NN balls holding a sample (k 5)",
)


# Detectability and diversity on any registered extractor (harness.metrics.c2st, harness.metrics.vendi): one class
# per extractor made on demand; the zoo's digits CNN is named after its data (c2st_digits, as fd_digits).
def register_feature_family(extractor: str, short: str | None = None) -> None:
    """``c2st_<short>`` and ``vendi_<short>`` on the registered extractor ``extractor`` (``short``: its name)."""
    short = short or extractor
    METRICS.register(
        f"c2st_{short}",
        f"harness.metrics.c2st:c2st_{short}",
        f"distribution: C2ST detectability, held-out ROC AUC on {extractor} features (0.5 = indistinguishable)",
    )
    METRICS.register(
        f"vendi_{short}",
        f"harness.metrics.vendi:vendi_{short}",
        f"distribution: Vendi diversity score on {extractor} features (cosine kernel, no reference)",
    )


for _ext, _short in (
    ("inception-v3-fid", None),
    ("inception-v3-fid-logits", None),
    ("clip-vit-b-32", None),
    ("clip-vit-l-14-336", None),
    ("digits-extractor", "digits"),
    ("i3d-kinetics-400", None),
    ("vggish", None),
    ("clap-htsat-unfused", None),
    *((f"dinov2-vit-{size}-14", None) for size in ("s", "b", "l", "g")),
):
    register_feature_family(_ext, _short)
del _ext, _short

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

# Human preference and aesthetics (harness.metrics.preference): per sample with the prompt, mean and bootstrap CI.
METRICS.register(
    "image_reward",
    "harness.metrics.preference:ImageRewardScore",
    "per sample: ImageReward v1.0 with the prompt (BLIP, image-reward)",
)
METRICS.register(
    "hps_v21",
    "harness.metrics.preference:HPSv21",
    "per sample: HPS v2.1 with the prompt (open_clip ViT-H-14)",
)
METRICS.register(
    "pickscore",
    "harness.metrics.preference:PickScore",
    "per sample: PickScore v1 with the prompt (logit scale x cosine)",
)
METRICS.register(
    "aesthetic",
    "harness.metrics.preference:Aesthetic",
    "per sample: LAION aesthetic predictor v2 on CLIP ViT-L/14 (1-10)",
)

# The embedded mini zoo's digit metrics (harness.zoo.metrics; extractor and reference statistics ship in model_cards/zoo).
METRICS.register(
    "fd_digits",
    "harness.zoo.metrics:FDDigits",
    "distribution: Fréchet distance on the zoo's digits-CNN features vs held-out digits",
)
METRICS.register(
    "class_accuracy",
    "harness.zoo.metrics:ClassAccuracy",
    "per sample: share of samples the digits CNN classifies as the requested class",
)


# Video and audio (harness.metrics.video, temporal, warping; harness.metrics.audio, stft).
def register_video_fd(extractor: str, summary: str = "", module: str = "harness.metrics.video") -> None:
    """``fd_<extractor>`` for a clip-feature network registered with ``register_video_extractor`` in ``module``."""
    METRICS.register(
        f"fd_{extractor}",
        f"{module}:fd_{extractor}",
        summary
        or f"distribution: Fréchet distance on {extractor} clip features vs reference_path .npz (video)",
    )


def register_audio_fd(extractor: str, summary: str = "", module: str = "harness.metrics.audio") -> None:
    """``fd_<extractor>`` for an audio network registered with ``register_audio_extractor`` in ``module``."""
    METRICS.register(
        f"fd_{extractor}",
        f"{module}:fd_{extractor}",
        summary
        or f"distribution: Fréchet distance on {extractor} audio embeddings vs reference_path .npz (audio)",
    )


METRICS.register(
    "fvd",
    "harness.metrics.video:FVD",
    "distribution: FVD (StyleGAN-V I3D, 16 frames, 400 logits) vs reference_path .npz",
)
METRICS.register(
    "fid_frames",
    "harness.metrics.video:FIDFrames",
    "distribution: FID over every video frame vs reference_path .npz",
)
METRICS.register(
    "clip_score_frames",
    "harness.metrics.video:CLIPScoreFrames",
    "per sample: CLIP score x100 of each frame with the prompt, mean over frames",
)
METRICS.register(
    "temporal_psnr",
    "harness.metrics.temporal:TemporalPSNR",
    "per sample: PSNR between consecutive frames (dB; +inf when still)",
)
METRICS.register(
    "temporal_ssim", "harness.metrics.temporal:TemporalSSIM", "per sample: SSIM between consecutive frames"
)
METRICS.register(
    "flicker",
    "harness.metrics.temporal:Flicker",
    "per sample: mean |change| of frame mean luma between consecutive frames",
)
METRICS.register(
    "warping_error",
    "harness.metrics.warping:WarpingError",
    "per sample: RAFT-flow warping error between consecutive frames (masked L2)",
)
METRICS.register(
    "fad",
    "harness.metrics.audio:FAD",
    "distribution: FAD (VGGish, 0.96 s windows, 128-d) vs reference_path .npz",
)
METRICS.register(
    "fad_vggish",
    "harness.metrics.audio:FADVGGish",
    "distribution: FAD on VGGish embeddings vs reference_path .npz",
)
METRICS.register(
    "fad_clap",
    "harness.metrics.audio:FADClap",
    "distribution: FAD on CLAP (HTSAT-unfused) embeddings vs reference_path .npz",
)
METRICS.register(
    "clap_score", "harness.metrics.audio:CLAPScore", "per sample: CLAP text-audio score x100 with the prompt"
)
METRICS.register(
    "stft_distance",
    "harness.metrics.stft:STFTDistance",
    "pairwise: multi-resolution STFT distance vs the baseline (audio)",
)

# The mini zoo's video and audio metrics (harness.zoo.av.metrics; extractors and held-out statistics ship in model_cards/zoo).
METRICS.register(
    "fvd_digits",
    "harness.zoo.av.metrics:FVDDigits",
    "distribution: Fréchet video distance on the zoo's moving-digits 3-D CNN features vs held-out clips",
)
METRICS.register(
    "fad_notes",
    "harness.zoo.av.metrics:FADNotes",
    "distribution: Fréchet audio distance on the zoo's notes STFT-CNN features vs held-out notes",
)
METRICS.register(
    "class_accuracy_video",
    "harness.zoo.av.metrics:ClassAccuracyVideo",
    "per sample: share of clips the moving-digits 3-D CNN classifies as the requested digit",
)
METRICS.register(
    "class_accuracy_audio",
    "harness.zoo.av.metrics:ClassAccuracyAudio",
    "per sample: share of notes the notes STFT-CNN classifies as the requested pitch",
)

# VBench's dimensions through vbench's own code, and MLPerf v6.0's text-to-video score (harness.metrics.vbench).
for _dim, _summary in (
    ("subject_consistency", "DINO ViT-B/16 similarity to the first and previous frame"),
    ("background_consistency", "CLIP ViT-B/32 similarity to the first and previous frame"),
    ("motion_smoothness", "AMT-S interpolation error of the odd frames (AMT-S unpinned: skipped)"),
    ("dynamic_degree", "share of videos RAFT finds moving"),
    ("appearance_style", "CLIP ViT-B/32 similarity of the frames to the prompt's style phrase"),
    ("scene", "Tag2Text captions naming the prompt's scene (not runnable here: skipped)"),
):
    METRICS.register(
        f"vbench_{_dim}",
        f"harness.metrics.vbench.metrics:{''.join(w.title() for w in _dim.split('_'))}",
        f"per sample: VBench {_dim.replace('_', ' ')}, [0, 1]: {_summary}",
    )
del _dim, _summary
METRICS.register(
    "vbench_mlperf",
    "harness.metrics.vbench.metrics:VBenchMLPerf",
    "per sample: MLPerf v6.0 text-to-video accuracy, 100 x mean of six VBench dimensions (all six or none)",
)

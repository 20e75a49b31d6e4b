"""VBench's video dimensions (Huang et al., CVPR 2024) and MLPerf Inference v6.0's text-to-video accuracy score.

Metrics (``per_sample``, video, higher is better, values in [0, 1] as VBench reports them; the value is VBench's
own aggregate, Σ per-video numerators / Σ denominators, with a bootstrap 95% interval over videos and ``n``):

==========================  ==============================================================  ===================
metric                      protocol (vbench 0.1.5, read as MLPerf runs it: decoded frames)  runs through
==========================  ==============================================================  ===================
vbench_subject_consistency  DINO ViT-B/16 [CLS] of every frame (shorter side resized to 224  vbench's code, our
                            bilinear, no crop, ImageNet mean/std); mean over frames t ≥ 1     DINO (torch.hub
                            of (max(0, cos(t, t-1)) + max(0, cos(t, 0))) / 2                   needs the network)
vbench_background_...       the same with CLIP ViT-B/32 image features (224 bicubic, centre   vbench's code
                            crop, CLIP mean/std)
vbench_motion_smoothness    AMT-S interpolates the odd frames from the even ones; score        vbench's code
                            (255 − mean |interpolated − real|) / 255, mean over videos
vbench_dynamic_degree       RAFT (things, 20 iterations) on every round(fps/8)-th frame; a    vbench's code
                            pair moves if the mean of its top 5 % flow magnitudes exceeds
                            6 · min(H, W) / 256; a video moves if round(4 · frames / 16)
                            pairs do; share of moving videos
vbench_appearance_style     CLIP ViT-B/32 logit / 100 (the cosine) of every frame with the    vbench's code
                            prompt's style phrase; mean over frames
vbench_scene                Tag2Text captions of 16 frames contain every scene word           skipped here (see
                                                                                              below)
vbench_mlperf               100 × the mean of the six above (MLPerf's accuracy; threshold     the six metrics
                            69.7752 = 99 % of 70.48); only when all six have a value
==========================  ==============================================================  ===================

Each dimension scores only the videos whose prompt VBench lists for it in ``VBench_full_info.json`` (VBench's
standard mode, which MLPerf uses: 72 prompts for subject consistency, motion smoothness and dynamic degree, 86
scene prompts for scene and background consistency, 90 style prompts for appearance style); ``appearance_style``
and ``scene`` take the style phrase and the scene words from that file, as VBench does.

Differences from MLPerf's pipeline, on purpose: MLPerf writes each video to MP4 (diffusers ``export_to_video``,
H.264 at imageio's quality 5) and VBench decodes it; here the frames are quantised exactly as ``export_to_video``
does (x · 255 truncated to uint8) and handed to VBench's code without the lossy codec. VBench run on 8 GPUs
(MLPerf's default) aggregates ``appearance_style`` from the last frame of each video; this is the one-process
aggregate (all frames).

What does not run here (and why): vbench's ``scene`` code imports ``apply_chunking_to_forward`` from
``transformers.modeling_utils``, gone in transformers 5 (VBench pins 4.33.2), and generates captions through the
transformers 4 ``generate`` API; and the Tag2Text and AMT-S checkpoints have no sha256 published anywhere we found,
so they are not pinned (``nets.UNPINNED``) and never used unverified. ``vbench_scene`` and
``vbench_motion_smoothness`` are therefore skipped with the reason, and so is ``vbench_mlperf``.
"""

from __future__ import annotations

from harness.metrics.vbench.metrics import (
    DIMENSION_METRICS,
    MLPERF_DIMENSIONS,
    AppearanceStyle,
    BackgroundConsistency,
    DynamicDegree,
    MotionSmoothness,
    Scene,
    SubjectConsistency,
    VBenchDimension,
    VBenchMLPerf,
    VBenchOptions,
)

__all__ = [
    "DIMENSION_METRICS",
    "MLPERF_DIMENSIONS",
    "AppearanceStyle",
    "BackgroundConsistency",
    "DynamicDegree",
    "MotionSmoothness",
    "Scene",
    "SubjectConsistency",
    "VBenchDimension",
    "VBenchMLPerf",
    "VBenchOptions",
]

"""Video clip features: videos checked and cut into clips, and StyleGAN-V's I3D (FVD's detector) as an extractor.

``i3d-kinetics-400``, the StyleGAN-V protocol (``universome/stylegan-v`` ``src/metrics/frechet_video_distance.py``,
checked against the TF original by ``universome/fvd-comparison``):

- network: the TorchScript I3D ``i3d_torchscript.pt`` (tf.hub ``i3d-kinetics-400`` weights, Kinetics-400), our
  located and verified copy (``harness.metrics.weights`` entry ``i3d-torchscript``), loaded with ``torch.jit.load``;
- clip: the first 16 consecutive frames of each video (frame stride 1, no random offset: StyleGAN-V's generator
  path), one clip per video; shorter videos are skipped with the reason (``num_frames`` / ``frame_stride``
  change the protocol and the fingerprint);
- values: frames quantised to uint8 (what StyleGAN-V feeds), then each frame resized to 224 × 224 with PyTorch
  bilinear interpolation (``align_corners=False``, no antialiasing; ``resize: center_crop`` scales the shorter
  side to 224 and crops the centre instead), scaled to [-1, 1]; the detector is called with
  ``rescale=False, resize=False`` (our resize replaces its internal one), layout (B, 3, 16, 224, 224);
- features: ``return_features=True``: the 400 Kinetics logits before the softmax (400-d), float64 statistics.

TF1's ``resize_bilinear`` (the original FVD) has no half-pixel centres; PyTorch's has: StyleGAN-V notes its FVD
"matches the original up to the upsampling operation". Grayscale videos are repeated to RGB.

Other clip networks (the mini zoo's) register with ``register_video_extractor``; ``fd_<name>`` is then their
Fréchet metric (:func:`harness.metrics.video.video_frechet_metric`). Torch is imported only when a network is built.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Any, ClassVar

import numpy as np

from harness.core.errors import MetricSkipped
from harness.core.samples import Samples
from harness.metrics import weights as W
from harness.metrics.extractors import ExtractorSpec, FeatureExtractor, quantize, register_extractor
from harness.metrics.loading import WeightsLoadError, cached_model
from harness.metrics.pairwise import check_range

__all__ = [
    "VIDEO_EXTRACTORS",
    "I3DKinetics400",
    "VideoFeatureExtractor",
    "check_videos",
    "load_torchscript",
    "register_video_extractor",
    "video_frames",
]

VIDEO_EXTRACTORS: set[str] = set()


def check_videos(videos: np.ndarray, name: str = "videos") -> np.ndarray:
    """(N, F, H, W, C) in [0, 1], C 1 or 3 → float32 RGB (grayscale repeated), with one-line errors."""
    videos = np.asarray(videos)
    if videos.ndim != 5:
        raise ValueError(f"{name}: expected videos of shape (N, F, H, W, C), got {videos.shape}")
    c = videos.shape[-1]
    if c not in (1, 3):
        raise ValueError(
            f"{name}: expected RGB (3 channels) or grayscale (1), got {c} channels (shape {videos.shape})"
        )
    check_range(name, videos, 0.0, 1.0)
    if c == 1:
        videos = np.repeat(videos, 3, axis=-1)
    return videos.astype(np.float32, copy=False)


class VideoFeatureExtractor(FeatureExtractor):
    """Turns (N, F, H, W, 3) videos in [0, 1] into (N, d) float64 clip features, a batch of clips at a time.

    Subclasses implement ``_forward`` on a batch of clips (B, T, H, W, 3) float32 and may override ``clips`` (which
    frames of each video form its clip). ``protocol()`` says what defines the features, as for image extractors.
    """

    modality: ClassVar[str] = "video"

    def clips(self, videos: np.ndarray) -> np.ndarray:
        """The clip of each video (default: all its frames)."""
        return videos

    def iter_features(self, videos: np.ndarray) -> Any:
        clips = self.clips(check_videos(videos))
        for i in range(0, len(clips), self.batch_size):
            out = self._forward(np.ascontiguousarray(clips[i : i + self.batch_size], dtype=np.float32))
            if hasattr(out, "detach"):
                out = out.detach().cpu().double().numpy()
            yield np.asarray(out, dtype=np.float64).reshape(len(out), -1)

    def samples_features(self, samples: Samples) -> np.ndarray:
        if samples.modality != "video":
            raise ValueError(f"video feature extractors take videos, not {samples.modality}")
        return self.features(samples.data)


def register_video_extractor(spec: ExtractorSpec, *, replace: bool = False) -> ExtractorSpec:
    """Register a clip-feature network (a ``VideoFeatureExtractor`` builder) in the shared extractor registry.

    ``fd_<spec.name>`` is then ``video_frechet_metric(spec.name)``: to list it as a metric, add one line in
    ``harness.metrics``: ``register_video_fd(name, module=...)`` where ``module`` registers the spec on import.
    """
    register_extractor(spec, replace=replace)
    VIDEO_EXTRACTORS.add(spec.name)
    return spec


def _resize_frames(x: Any, size: int, mode: str) -> Any:
    """(M, 3, H, W) float tensor → (M, 3, size, size): ``stretch`` (bilinear) or ``center_crop`` (shorter side)."""
    import torch.nn.functional as F

    h, w = x.shape[-2:]
    if mode == "stretch":
        if (h, w) == (size, size):
            return x
        return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    scale = size / min(h, w)
    th, tw = (size, math.ceil(w * scale)) if h <= w else (math.ceil(h * scale), size)
    if (th, tw) != (h, w):
        x = F.interpolate(x, size=(th, tw), mode="bilinear", align_corners=False)
    top, left = (th - size) // 2, (tw - size) // 2
    return x[..., top : top + size, left : left + size]


def load_torchscript(path: os.PathLike[str] | str, device: str) -> Any:
    """A TorchScript module from a verified file (``torch.jit.load``; the hash check comes first)."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore", FutureWarning
        )  # torch.jit.load is deprecated; the file is TorchScript
        try:
            net = torch.jit.load(str(path), map_location=device)
        except Exception as exc:
            raise WeightsLoadError(f"{path}: cannot be read as a TorchScript module: {exc}") from None
    return net.eval()


class I3DKinetics400(VideoFeatureExtractor):
    """StyleGAN-V's TorchScript I3D (Kinetics-400): 400 logits of a 16-frame clip (see the module docstring)."""

    RESIZES: ClassVar[tuple[str, ...]] = ("stretch", "center_crop")

    def __init__(
        self,
        *,
        device: str = "cpu",
        weights_dir: str | os.PathLike[str] | None = None,
        batch_size: int = 4,
        num_frames: int = 16,
        frame_stride: int = 1,
        resize: str = "stretch",
    ) -> None:
        super().__init__(batch_size)
        for label, v in (("num_frames", num_frames), ("frame_stride", frame_stride)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{label} must be a positive integer, got {v!r}")
        if resize not in self.RESIZES:
            raise ValueError(f"resize must be one of {', '.join(self.RESIZES)}, got {resize!r}")
        import torch

        self.located = W.locate("i3d-torchscript", weights_dir)
        self.device, self.num_frames, self.frame_stride, self.resize = (
            device,
            num_frames,
            frame_stride,
            resize,
        )
        self.size, self.dim = 224, 400
        path = self.located.files["i3d_torchscript.pt"]
        sha = self.located.sha256.get("i3d_torchscript.pt")
        self._net = cached_model(("i3d-torchscript", sha, device), lambda: load_torchscript(path, device))
        self._torch = torch

    def protocol(self) -> dict[str, Any]:
        return {
            **super().protocol(),
            "network": "I3D Kinetics-400 TorchScript (StyleGAN-V), called with rescale=False, resize=False, "
            "return_features=True",
            "weights": self.located.details(),
            "clip": f"first {self.num_frames} frames, stride {self.frame_stride}, one clip per video",
            "input": "frames quantised to uint8, /255, resized to 224x224, scaled to [-1, 1]; (B, 3, T, 224, 224)",
            "resize": self.resize,
            "resize_detail": "bilinear, align_corners=False, no antialias"
            + (
                ", shorter side to 224 then centre crop"
                if self.resize == "center_crop"
                else " (aspect not kept)"
            ),
            "output": "400 Kinetics logits before the softmax",
            "dtype": "float32 network, float64 features",
        }

    def clips(self, videos: np.ndarray) -> np.ndarray:
        need = (self.num_frames - 1) * self.frame_stride + 1
        if videos.shape[1] < need:
            raise MetricSkipped(
                f"the I3D clip protocol takes {self.num_frames} frames at stride {self.frame_stride} ({need} "
                f"frames), the videos have {videos.shape[1]} (options.num_frames changes the protocol)"
            )
        return videos[:, : need : self.frame_stride]

    def _forward(self, batch: np.ndarray) -> Any:
        torch = self._torch
        b, t, h, w, _ = batch.shape
        u8 = torch.from_numpy(quantize(batch)).to(self.device)
        x = u8.permute(0, 1, 4, 2, 3).reshape(b * t, 3, h, w).float() / 255.0
        x = _resize_frames(x, self.size, self.resize)
        x = x.reshape(b, t, 3, self.size, self.size).permute(0, 2, 1, 3, 4).contiguous() * 2.0 - 1.0
        with torch.inference_mode():
            return self._net(x, rescale=False, resize=False, return_features=True)


def video_frames(name: str, samples: Samples) -> np.ndarray:
    """The (N, F, H, W, C) videos of ``samples`` for a metric of consecutive frames: skipped for other samples or
    videos of one frame; values checked in [0, 1]."""
    if samples.modality != "video":
        raise MetricSkipped(f"applies to video, not {samples.modality}")
    data = samples.data
    if data.shape[1] < 2:
        raise MetricSkipped(f"{name} compares consecutive frames: the videos have {data.shape[1]} frame")
    check_range(name, data, 0.0, 1.0)
    return data


register_video_extractor(
    ExtractorSpec(
        name="i3d-kinetics-400",
        builder="harness.metrics.video_features:I3DKinetics400",
        dim=400,
        weights="i3d-torchscript",
        protocol="first 16 frames; uint8; bilinear 224x224; [-1,1]; 400 logits (StyleGAN-V FVD)",
        summary="I3D Kinetics-400 TorchScript (StyleGAN-V's FVD detector), 400 logits of a 16-frame clip",
    )
)

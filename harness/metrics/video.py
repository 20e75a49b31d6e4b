"""Video quality: FVD and the Fréchet family on clip features, per-frame FID/CLIP, temporal consistency.

Distribution (pinned weights, reference statistics ``reference_path`` as for ``fid``):

* ``fvd``: Fréchet distance on I3D features, the StyleGAN-V protocol (``universome/stylegan-v``
  ``src/metrics/frechet_video_distance.py``, checked against the TF original by ``universome/fvd-comparison``):

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
* ``fd_<extractor>`` for a 3-D network registered with ``register_video_extractor`` (the mini zoo's): the same
  Fréchet core (``harness.metrics.frechet``) on its clip features; ``video_frechet_metric(name)`` makes the class
  (a ``harness.metrics.modal.ModalFrechet``, shared with audio).
  A module that registers its ``ExtractorSpec`` on import and exposes ``fd_<name> = video_frechet_metric(name)``
  is listed with one line in ``harness.metrics``: ``register_video_fd(name, module="that.module")``.
* ``fid_frames``: FID on every frame of every video (the image FID path on N·F images).
* ``clip_score_frames``: CLIP score of each frame with its video's prompt, averaged over frames, then videos.

Per video, without weights (diagnostics of the video itself, ``requires_trained_weights`` False; a still video
is perfectly "consistent": read them next to a motion-aware metric):

* ``temporal_psnr``: PSNR between consecutive frames t and t+1 (data range 1), the MSE pooled over every pair of
  every video (as ``psnr``); +inf for a still video.
* ``temporal_ssim``: SSIM (Gaussian 11, σ 1.5, as ``ssim``) of frames t and t+1, averaged over pairs, then videos.
* ``flicker``: mean over t of |Y(t+1) − Y(t)|, Y the frame's mean BT.601 luma (0.299 R + 0.587 G + 0.114 B on the
  [0, 1] values), averaged over videos. A linear luminance ramp of step s gives s.
* ``warping_error`` (RAFT-small weights, skipped without them): flow F from frame t+1 to frame t (torchvision
  ``raft_small`` C_T_V2, ``num_flow_updates`` 12, frames in [-1, 1] upscaled bilinearly to ≥ 128 px and a multiple
  of 8, the flow scaled back), frame t warped to t+1 (``Ŵ(x) = I_t(x + F(x))``, bilinear), error
  ``Σ M |I_{t+1} − Ŵ|² / Σ M`` (``norm: l1`` for |·|) over pixels M whose source lies inside the frame and, with
  ``occlusion: true`` (default), that pass the forward-backward check of Lai et al. 2018 (``|F_b + F_f(x+F_b)|² <
  0.01 (|F_b|² + |F_f(x+F_b)|²) + 0.5``); mean over pairs, then videos.

Pairwise fidelity of a variant to its baseline per frame: ``psnr``, ``ssim``, ``lpips`` already take videos.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from harness.core.errors import MetricSkipped, WeightsNotFoundError
from harness.core.samples import Samples
from harness.metrics.alignment import CLIPScore
from harness.metrics.base import Metric, MetricOptions, MetricValue, version_of
from harness.metrics.distribution import FID
from harness.metrics.extractors import (
    ExtractorSpec,
    FeatureExtractor,
    WeightsLoadError,
    cached_model,
    quantize,
    register_extractor,
)
from harness.metrics.modal import ModalFrechet, ModalFrechetOptions, save_reference_stats
from harness.metrics.pairwise import check_range

__all__ = [
    "FVD",
    "VIDEO_EXTRACTORS",
    "CLIPScoreFrames",
    "FIDFrames",
    "FVDOptions",
    "Flicker",
    "I3DKinetics400",
    "ModalFrechet",
    "RAFTFlow",
    "TemporalPSNR",
    "TemporalSSIM",
    "VideoFeatureExtractor",
    "WarpingError",
    "WarpingErrorOptions",
    "check_videos",
    "consistent",
    "register_video_extractor",
    "save_reference_stats",
    "video_frechet_metric",
    "warp",
    "warping_error_pair",
]

VIDEO_EXTRACTORS: set[str] = set()
LUMA_BT601 = (0.299, 0.587, 0.114)


# --------------------------------------------------------------------------------------------- clip extractors


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

        from harness.metrics import weights as W

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


def _build_i3d(**kw: Any) -> I3DKinetics400:
    return I3DKinetics400(**kw)


register_video_extractor(
    ExtractorSpec(
        name="i3d-kinetics-400",
        builder="harness.metrics.video:_build_i3d",
        dim=400,
        weights="i3d-torchscript",
        protocol="first 16 frames; uint8; bilinear 224x224; [-1,1]; 400 logits (StyleGAN-V FVD)",
        summary="I3D Kinetics-400 TorchScript (StyleGAN-V's FVD detector), 400 logits of a 16-frame clip",
    )
)


# --------------------------------------------------------------------------------------------- Fréchet metrics


def _option_int(name: str, value: Any) -> int | None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise TypeError(f"{name} must be a positive integer, got {value!r}")
    return value


class FVDOptions(ModalFrechetOptions):
    """``fvd``: the Fréchet options plus the I3D clip protocol (null: the extractor's 16 frames, stride 1)."""

    num_frames: int | None = Field(None, ge=1)
    frame_stride: int | None = Field(None, ge=1)


class FVD(ModalFrechet):
    """Fréchet Video Distance (StyleGAN-V protocol, see the module docstring) to ``reference_path`` statistics.

    Options as ``fid`` (``reference_path``, ``batch_size``, ``weights_dir``, ``bootstrap``, ``allow_mismatch``,
    ``seed``), plus ``num_frames`` (16), ``frame_stride`` (1) and ``resize`` (``stretch`` | ``center_crop``).
    """

    name: ClassVar[str] = "fvd"
    default_extractor: ClassVar[str] = "i3d-kinetics-400"
    Options: ClassVar[type[MetricOptions]] = FVDOptions

    def __init__(
        self,
        device: str = "cpu",
        *,
        num_frames: int | None = None,
        frame_stride: int | None = None,
        **kw: Any,
    ) -> None:
        opts = {
            k: v
            for k, v in (
                ("num_frames", _option_int("num_frames", num_frames)),
                ("frame_stride", _option_int("frame_stride", frame_stride)),
            )
            if v is not None
        }
        super().__init__(
            device, extractor_options={**opts, **(kw.pop("extractor_options", None) or {})}, **kw
        )


_VIDEO_FD: dict[str, type[ModalFrechet]] = {}


def video_frechet_metric(extractor: str) -> type[ModalFrechet]:
    """The metric class ``fd_<extractor>`` for a video extractor: Fréchet distance on its clip features."""
    if extractor not in _VIDEO_FD:
        _VIDEO_FD[extractor] = type(
            f"VideoFD_{extractor}",
            (ModalFrechet,),
            {
                "name": f"fd_{extractor}",
                "default_extractor": extractor,
                "__doc__": f"Fréchet distance on '{extractor}' clip features (see ModalFrechet).",
                "__module__": __name__,
            },
        )
    return _VIDEO_FD[extractor]


def __getattr__(attr: str) -> Any:
    # "harness.metrics.video:fd_<name>" in the metric registry resolves here.
    if attr.startswith("fd_") and len(attr) > 3:
        return video_frechet_metric(attr[3:])
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


# --------------------------------------------------------------------------------------------- per-frame wrappers


class FIDFrames(FID):
    """FID over every frame of every video (N·F images through the image ``fid`` path, same options)."""

    name: ClassVar[str] = "fid_frames"
    modalities: ClassVar[tuple[str, ...]] = ("video",)


class CLIPScoreFrames(CLIPScore):
    """CLIP score ×100 of each frame with its video's prompt, mean over frames, then videos (``clip_score``'s
    machinery and options)."""

    name: ClassVar[str] = "clip_score_frames"
    modalities: ClassVar[tuple[str, ...]] = ("video",)


# --------------------------------------------------------------------------------------------- temporal consistency


def _video_frames(name: str, samples: Samples) -> np.ndarray:
    if samples.modality != "video":
        raise MetricSkipped(f"applies to video, not {samples.modality}")
    data = samples.data
    if data.shape[1] < 2:
        raise MetricSkipped(f"{name} compares consecutive frames: the videos have {data.shape[1]} frame")
    check_range(name, data, 0.0, 1.0)
    return data


class _TemporalMetric(Metric):
    kind: ClassVar = "per_sample"
    modalities: ClassVar[tuple[str, ...]] = ("video",)
    requires_trained_weights: ClassVar[bool] = False
    definition: ClassVar[str] = ""

    def __init__(self) -> None:
        self._values: list[float] = []

    def fingerprint_details(self) -> dict[str, Any]:
        return {
            **super().fingerprint_details(),
            "definition": self.definition,
            "dtype": "float64",
            "libraries": {"numpy": version_of("numpy"), "torch": version_of("torch")},
        }

    def compute(self) -> MetricValue:
        if not self._values:
            return self.skipped("no samples")
        v = np.asarray(self._values)
        std = float(v.std(ddof=1)) if len(v) > 1 and np.isfinite(v).all() else None
        return self.value(float(v.mean()), n=len(v), std=std)


class TemporalPSNR(_TemporalMetric):
    """PSNR (dB, data range 1) between consecutive frames, the MSE pooled over all pairs of all videos."""

    name: ClassVar[str] = "temporal_psnr"
    unit: ClassVar[str] = "dB"
    higher_is_better: ClassVar[bool] = True
    definition: ClassVar[str] = (
        "10 log10(1 / MSE), MSE of frame t+1 - frame t pooled over every pair of every video; +inf when still"
    )

    def __init__(self) -> None:
        super().__init__()
        self._sq, self._count = 0.0, 0

    def update(self, samples: Samples, reference: Samples | None = None) -> None:
        data = _video_frames(self.name, samples).astype(np.float64)
        diff = data[:, 1:] - data[:, :-1]
        sq = np.square(diff).reshape(len(data), -1)
        self._sq += float(sq.sum())
        self._count += sq.size
        for mse in sq.mean(axis=1):
            self._values.append(float("inf") if mse == 0 else float(-10.0 * np.log10(mse)))

    def compute(self) -> MetricValue:
        if not self._count:
            return self.skipped("no samples")
        mse = self._sq / self._count
        value = float("inf") if mse == 0.0 else float(-10.0 * np.log10(mse))
        v = np.asarray(self._values)
        std = float(v.std(ddof=1)) if len(v) > 1 and np.isfinite(v).all() else None
        return self.value(value, n=len(v), std=std, details={"mse": mse, **self.fingerprint_details()})


class TemporalSSIM(_TemporalMetric):
    """SSIM of frames t and t+1 (Gaussian window 11, σ 1.5, data range 1), mean over pairs, then videos."""

    name: ClassVar[str] = "temporal_ssim"
    unit: ClassVar[str] = ""
    higher_is_better: ClassVar[bool] = True
    definition: ClassVar[str] = (
        "torchmetrics SSIM(frame t, frame t+1), kernel 11 (odd min(11, H, W) when smaller), sigma 1.5"
    )

    def fingerprint_details(self) -> dict[str, Any]:
        d = super().fingerprint_details()
        d["libraries"]["torchmetrics"] = version_of("torchmetrics")
        return d

    def update(self, samples: Samples, reference: Samples | None = None) -> None:
        import torch
        from torchmetrics.functional.image import structural_similarity_index_measure as ssim

        data = _video_frames(self.name, samples)
        h, w = data.shape[2:4]
        kernel = min(11, h, w)
        kernel -= 1 - kernel % 2  # odd
        for video in data:
            frames = torch.from_numpy(np.ascontiguousarray(video.transpose(0, 3, 1, 2))).double()
            per = ssim(frames[1:], frames[:-1], data_range=1.0, kernel_size=kernel, reduction="none")
            self._values.append(float(per.mean()))


class Flicker(_TemporalMetric):
    """Mean |ΔY| of the per-frame mean BT.601 luma between consecutive frames (fraction of full scale)."""

    name: ClassVar[str] = "flicker"
    unit: ClassVar[str] = ""
    higher_is_better: ClassVar[bool] = False
    definition: ClassVar[str] = (
        "mean_t |Y(t+1) - Y(t)|, Y = mean over pixels of 0.299 R + 0.587 G + 0.114 B (gray: the value), "
        "values in [0, 1]; mean over videos"
    )

    def update(self, samples: Samples, reference: Samples | None = None) -> None:
        data = _video_frames(self.name, samples).astype(np.float64)
        if data.shape[-1] == 3:
            luma = data @ np.asarray(LUMA_BT601)
        elif data.shape[-1] == 1:
            luma = data[..., 0]
        else:
            raise ValueError(f"{self.name}: expected RGB or grayscale frames, got {data.shape[-1]} channels")
        y = luma.reshape(len(data), data.shape[1], -1).mean(axis=2)  # (N, F)
        self._values.extend(float(v) for v in np.abs(np.diff(y, axis=1)).mean(axis=1))


# --------------------------------------------------------------------------------------------- warping error


def warp(image: Any, flow: Any) -> tuple[Any, Any]:
    """Backward warp: ``out(x) = image(x + flow(x))`` (bilinear, pixel units, ``flow[:, 0]`` horizontal).

    Args:
        image: (B, C, H, W) tensor.
        flow: (B, 2, H, W) tensor: for each output pixel, the displacement to where it is read in ``image``.

    Returns:
        ``(warped, inside)``: the warped image and a (B, 1, H, W) boolean mask of pixels whose source lies inside
        the image (integer flows read pixels exactly: grid_sample with align_corners=True).
    """
    import torch
    import torch.nn.functional as F

    h, w = image.shape[-2:]
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=flow.dtype, device=flow.device),
        torch.arange(w, dtype=flow.dtype, device=flow.device),
        indexing="ij",
    )
    sx = xs[None] + flow[:, 0]
    sy = ys[None] + flow[:, 1]
    grid = torch.stack((2.0 * sx / max(w - 1, 1) - 1.0, 2.0 * sy / max(h - 1, 1) - 1.0), dim=-1)
    warped = F.grid_sample(
        image.to(flow.dtype), grid, mode="bilinear", padding_mode="zeros", align_corners=True
    )
    eps = 1e-6
    inside = (sx >= -eps) & (sx <= w - 1 + eps) & (sy >= -eps) & (sy <= h - 1 + eps)
    return warped, inside[:, None]


def consistent(flow_b: Any, flow_f: Any) -> Any:
    """Forward-backward check (Sundaram et al. 2010, as Lai et al. 2018): (B, 1, H, W) True where the flow from
    t+1 to t (``flow_b``) and the flow from t to t+1 (``flow_f``) read at ``x + flow_b(x)`` cancel."""
    f_at, _ = warp(flow_f, flow_b)
    s = flow_b + f_at
    lhs = (s**2).sum(dim=1, keepdim=True)
    rhs = 0.01 * ((flow_b**2).sum(dim=1, keepdim=True) + (f_at**2).sum(dim=1, keepdim=True)) + 0.5
    return lhs < rhs


def warping_error_pair(
    frame_t: Any, frame_t1: Any, flow_b: Any, flow_f: Any | None = None, *, norm: str = "l2"
) -> Any:
    """Masked warping error of each pair: frame t warped to t+1 by ``flow_b`` (t+1 → t) against frame t+1.

    Args:
        frame_t, frame_t1: (B, C, H, W) tensors in [0, 1].
        flow_b: (B, 2, H, W) flow from frame t+1 to frame t (pixels).
        flow_f: (B, 2, H, W) flow from frame t to t+1, for the occlusion check (None: no occlusion mask).
        norm: ``l2`` (mean squared difference) or ``l1`` (mean absolute difference), over channels and masked pixels.

    Returns:
        (B,) float64 tensor; NaN where no pixel is left in the mask.
    """
    warped, mask = warp(frame_t.double(), flow_b.double())
    if flow_f is not None:
        mask = mask & consistent(flow_b.double(), flow_f.double())
    diff = frame_t1.double() - warped
    per_pixel = (diff.abs() if norm == "l1" else diff**2).mean(dim=1, keepdim=True)
    m = mask.double()
    count = m.flatten(1).sum(dim=1)
    return (per_pixel * m).flatten(1).sum(dim=1) / count


class RAFTFlow:
    """torchvision ``raft_small`` on our located, verified ``raft_small_C_T_V2-01064c6d.pth``."""

    def __init__(
        self,
        device: str = "cpu",
        weights_dir: str | os.PathLike[str] | None = None,
        *,
        updates: int = 12,
        min_size: int = 128,
    ) -> None:
        import torch

        from harness.metrics import weights as W

        self.located = W.locate("torchvision-raft-small", weights_dir)
        sha = self.located.sha256[self.located.path.name]
        self.device, self.updates, self.min_size = device, updates, min_size
        self.model = cached_model(("raft-small", sha, device), lambda: self._load(self.located.path, device))
        self._torch = torch

    @staticmethod
    def _load(path: Path, device: str) -> Any:
        import torch
        from torchvision.models.optical_flow import raft_small

        from harness.metrics.extractors import load_state_dict_file, load_strict

        with torch.device("meta"):  # every tensor comes from the file
            model = raft_small(weights=None)
        load_strict(model, load_state_dict_file(path), path, assign=True)
        return model.eval().to(device)

    def details(self) -> dict[str, Any]:
        return {
            "network": "torchvision raft_small (C_T_V2)",
            "weights": self.located.details(),
            "num_flow_updates": self.updates,
            "input": f"[-1, 1], bilinear to >= {self.min_size} px and a multiple of 8, flow scaled back",
        }

    def __call__(self, a: Any, b: Any) -> Any:
        """Flow from ``a`` to ``b``: (B, 3, H, W) in [0, 1] → (B, 2, H, W) in pixels of the input size."""
        import torch.nn.functional as F

        torch = self._torch
        h, w = a.shape[-2:]
        scale = max(1.0, self.min_size / min(h, w))
        th, tw = (int(math.ceil(h * scale / 8) * 8), int(math.ceil(w * scale / 8) * 8))
        x1, x2 = a.float().to(self.device), b.float().to(self.device)
        if (th, tw) != (h, w):
            x1 = F.interpolate(x1, size=(th, tw), mode="bilinear", align_corners=False)
            x2 = F.interpolate(x2, size=(th, tw), mode="bilinear", align_corners=False)
        with torch.inference_mode():
            flow = self.model(x1 * 2 - 1, x2 * 2 - 1, num_flow_updates=self.updates)[-1]
        if (th, tw) != (h, w):
            flow = F.interpolate(flow, size=(h, w), mode="bilinear", align_corners=False)
            flow = flow * torch.tensor([w / tw, h / th], dtype=flow.dtype, device=flow.device).view(
                1, 2, 1, 1
            )
        return flow.double().cpu()


class WarpingErrorOptions(MetricOptions):
    """``warping_error``."""

    norm: Literal["l2", "l1"] = "l2"
    occlusion: bool = True
    flow_updates: int = Field(12, ge=1, description="RAFT's num_flow_updates")
    batch_size: int = Field(8, ge=1, description="frame pairs per RAFT call")
    weights_dir: str | None = None


class WarpingError(Metric):
    """Flow-based warping error between consecutive frames (see the module docstring); lower is steadier.

    Options: ``norm`` (``l2`` | ``l1``), ``occlusion`` (forward-backward mask, true), ``flow_updates`` (12),
    ``batch_size`` (frame pairs per RAFT call), ``weights_dir``.
    """

    name: ClassVar[str] = "warping_error"
    unit: ClassVar[str] = ""
    higher_is_better: ClassVar[bool] = False
    kind: ClassVar = "per_sample"
    modalities: ClassVar[tuple[str, ...]] = ("video",)
    requires_trained_weights: ClassVar[bool] = False
    accepts_device: ClassVar[bool] = True
    Options: ClassVar[type[MetricOptions]] = WarpingErrorOptions

    def __init__(
        self,
        device: str = "cpu",
        *,
        norm: str = "l2",
        occlusion: bool = True,
        flow_updates: int = 12,
        batch_size: int = 8,
        weights_dir: str | None = None,
    ) -> None:
        if norm not in ("l1", "l2"):
            raise TypeError(f"norm must be l1 or l2, got {norm!r}")
        if not isinstance(occlusion, bool):
            raise TypeError(f"occlusion must be true or false, got {occlusion!r}")
        _option_int("flow_updates", flow_updates)
        _option_int("batch_size", batch_size)
        if weights_dir is not None and not isinstance(weights_dir, (str, os.PathLike)):
            raise TypeError(f"weights_dir must be a string, got {weights_dir!r}")
        self.device, self.norm, self.occlusion = device, norm, occlusion
        self.flow_updates, self.batch_size = flow_updates, batch_size
        self.weights_dir = None if weights_dir is None else os.fspath(weights_dir)
        self._flow: Any = None
        self._values: list[float] = []
        self._empty = 0

    def flow_model(self) -> Any:
        if self._flow is None:
            try:
                self._flow = RAFTFlow(self.device, self.weights_dir, updates=self.flow_updates)
            except WeightsNotFoundError as exc:
                raise MetricSkipped(str(exc)) from None
        return self._flow

    def update(self, samples: Samples, reference: Samples | None = None) -> None:
        import torch

        data = _video_frames(self.name, samples)
        flow = self.flow_model()
        for video in data:
            frames = torch.from_numpy(
                np.ascontiguousarray(check_videos(video[None])[0].transpose(0, 3, 1, 2))
            )
            a, b = frames[:-1], frames[1:]  # pairs (t, t+1)
            errs = []
            for i in range(0, len(a), self.batch_size):
                ft, ft1 = a[i : i + self.batch_size], b[i : i + self.batch_size]
                if self.occlusion:  # both directions in one call
                    both = flow(torch.cat([ft1, ft]), torch.cat([ft, ft1]))
                    flow_b, flow_f = both[: len(ft)], both[len(ft) :]
                else:
                    flow_b, flow_f = flow(ft1, ft), None
                errs.append(warping_error_pair(ft, ft1, flow_b, flow_f, norm=self.norm))
            e = torch.cat(errs).numpy()
            self._empty += int(np.isnan(e).sum())
            if np.isnan(e).all():
                continue
            self._values.append(float(np.nanmean(e)))

    def compute(self) -> MetricValue:
        if not self._values:
            return self.skipped(
                "no samples" if not self._empty else "every pixel was masked (occluded or outside)"
            )
        v = np.asarray(self._values)
        details = self.fingerprint_details()
        if self._empty:
            details["pairs_fully_masked"] = self._empty
        return self.value(
            float(v.mean()), n=len(v), std=float(v.std(ddof=1)) if len(v) > 1 else None, details=details
        )

    def fingerprint_details(self) -> dict[str, Any]:
        d = super().fingerprint_details()
        d.update(
            flow=self._flow.details()
            if self._flow is not None
            else {"weights": "torchvision-raft-small", "num_flow_updates": self.flow_updates},
            direction="flow from frame t+1 to frame t; frame t warped to t+1 (bilinear)",
            norm=self.norm,
            mask="source inside the frame"
            + (" and forward-backward consistent (Lai et al. 2018)" if self.occlusion else ""),
            libraries={"torch": version_of("torch"), "torchvision": version_of("torchvision")},
        )
        return d

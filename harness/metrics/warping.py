"""``warping_error``: flow-based warping error between consecutive frames (RAFT-small weights; lower is steadier).

Flow F from frame t+1 to frame t (torchvision ``raft_small`` C_T_V2, ``num_flow_updates`` 12, frames in [-1, 1]
upscaled bilinearly to ≥ 128 px and a multiple of 8, the flow scaled back), frame t warped to t+1
(``Ŵ(x) = I_t(x + F(x))``, bilinear), error ``Σ M |I_{t+1} − Ŵ|² / Σ M`` (``norm: l1`` for |·|) over pixels M
whose source lies inside the frame and, with ``occlusion: true`` (default), that pass the forward-backward check
of Lai et al. 2018 (``|F_b + F_f(x+F_b)|² < 0.01 (|F_b|² + |F_f(x+F_b)|²) + 0.5``); mean over pairs, then videos.
Without the RAFT weights the metric is skipped with the reason. A diagnostic of the video itself
(``requires_trained_weights`` False).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from harness.core.errors import MetricSkipped, WeightsNotFoundError
from harness.core.samples import Samples
from harness.metrics import weights as W
from harness.metrics.base import Metric, MetricResult, versions_of
from harness.metrics.loading import cached_model, load_network
from harness.metrics.options import MetricOptions, flag_option, int_option, path_option
from harness.metrics.video_features import check_videos, video_frames

__all__ = ["RAFTFlow", "WarpingError", "WarpingErrorOptions", "consistent", "warp", "warping_error_pair"]


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

        self.located = W.locate("torchvision-raft-small", weights_dir)
        sha = self.located.sha256[self.located.path.name]
        self.device, self.updates, self.min_size = device, updates, min_size
        self.model = cached_model(("raft-small", sha, device), lambda: self._load(self.located.path, device))
        self._torch = torch

    @staticmethod
    def _load(path: Path, device: str) -> Any:
        from torchvision.models.optical_flow import raft_small

        return load_network(lambda: raft_small(weights=None), path).eval().to(device)

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

    name = "warping_error"
    higher_is_better = False
    kind = "per_sample"
    modalities = ("video",)
    requires_trained_weights = False
    accepts_device = True
    Options = WarpingErrorOptions
    # Per video in sample order; pairs fully masked; the flow network that ran (every shard must run the same).
    state_fields: ClassVar[dict[str, str]] = {"_values": "cat", "_empty": "sum", "_flow_details": "same"}

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
        self.device, self.norm, self.occlusion = device, norm, flag_option("occlusion", occlusion)
        self.flow_updates = int_option("flow_updates", flow_updates)
        self.batch_size = int_option("batch_size", batch_size)
        self.weights_dir = path_option("weights_dir", weights_dir)
        self._flow: Any = None
        self._flow_details: dict[str, Any] | None = None
        self._values: list[float] = []
        self._empty = 0

    def flow_model(self) -> Any:
        if self._flow is None:
            try:
                self._flow = RAFTFlow(self.device, self.weights_dir, updates=self.flow_updates)
            except WeightsNotFoundError as exc:
                raise MetricSkipped(str(exc)) from None
            self._flow_details = self._flow.details()
        return self._flow

    def update(self, samples: Samples, reference: Samples | None = None) -> None:
        import torch

        data = video_frames(self.name, samples)
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

    def compute(self) -> MetricResult:
        if not self._values and self._empty:
            return self.skipped("every pixel was masked (occluded or outside)")
        details = self.fingerprint_details()
        if self._empty:
            details["pairs_fully_masked"] = self._empty
        return self.mean_of(self._values, details=details)

    def fingerprint_details(self) -> dict[str, Any]:
        d = super().fingerprint_details()
        d.update(
            flow=self._flow_details
            or {"weights": "torchvision-raft-small", "num_flow_updates": self.flow_updates},
            direction="flow from frame t+1 to frame t; frame t warped to t+1 (bilinear)",
            norm=self.norm,
            mask="source inside the frame"
            + (" and forward-backward consistent (Lai et al. 2018)" if self.occlusion else ""),
            libraries=versions_of(("torch", "torchvision")),
        )
        return d

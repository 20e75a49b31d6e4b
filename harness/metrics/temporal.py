"""Temporal consistency of each video, without weights: ``temporal_psnr``, ``temporal_ssim``, ``flicker``.

Diagnostics of the video itself (``requires_trained_weights`` False; a still video is perfectly "consistent":
read them next to a motion-aware metric such as ``warping_error`` or VBench's dynamic degree):

* ``temporal_psnr``: PSNR between consecutive frames t and t+1 (data range 1), the MSE pooled over every pair of
  every video (as ``psnr``); +inf for a still video.
* ``temporal_ssim``: SSIM (Gaussian 11, σ 1.5, as ``ssim``) of frames t and t+1, averaged over pairs, then videos.
* ``flicker``: mean over t of |Y(t+1) − Y(t)|, Y the frame's mean BT.601 luma (0.299 R + 0.587 G + 0.114 B on the
  [0, 1] values), averaged over videos. A linear luminance ramp of step s gives s.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from harness.core.samples import Samples
from harness.metrics.base import Metric, MetricResult, version_of, versions_of
from harness.metrics.video_features import video_frames

__all__ = ["LUMA_BT601", "Flicker", "TemporalPSNR", "TemporalSSIM"]

LUMA_BT601 = (0.299, 0.587, 0.114)


class _TemporalMetric(Metric):
    kind = "per_sample"
    modalities = ("video",)
    requires_trained_weights = False
    definition: ClassVar[str] = ""
    state_fields: ClassVar[dict[str, str]] = {"_values": "cat"}  # per video, in sample order

    def __init__(self) -> None:
        self._values: list[float] = []

    def fingerprint_details(self) -> dict[str, Any]:
        return {
            **super().fingerprint_details(),
            "definition": self.definition,
            "dtype": "float64",
            "libraries": versions_of(("numpy", "torch")),
        }

    def compute(self) -> MetricResult:
        return self.mean_of(self._values)


class TemporalPSNR(_TemporalMetric):
    """PSNR (dB, data range 1) between consecutive frames, the MSE pooled over all pairs of all videos."""

    name = "temporal_psnr"
    unit = "dB"
    higher_is_better = True
    definition = (
        "10 log10(1 / MSE), MSE of frame t+1 - frame t pooled over every pair of every video; +inf when still"
    )

    state_fields: ClassVar[dict[str, str]] = {
        **_TemporalMetric.state_fields,
        "_sq": "sum",
        "_count": "sum",
    }  # the pooled squared error

    def __init__(self) -> None:
        super().__init__()
        self._sq, self._count = 0.0, 0

    def update(self, samples: Samples, reference: Samples | None = None) -> None:
        data = video_frames(self.name, samples).astype(np.float64)
        diff = data[:, 1:] - data[:, :-1]
        sq = np.square(diff).reshape(len(data), -1)
        self._sq += float(sq.sum())
        self._count += sq.size
        for mse in sq.mean(axis=1):
            self._values.append(float("inf") if mse == 0 else float(-10.0 * np.log10(mse)))

    def compute(self) -> MetricResult:
        if not self._count:
            return self.skipped("no samples")
        mse = self._sq / self._count
        value = float("inf") if mse == 0.0 else float(-10.0 * np.log10(mse))
        v = np.asarray(self._values)
        std = float(v.std(ddof=1)) if len(v) > 1 and np.isfinite(v).all() else None
        return self.value(value, n=len(v), std=std, details={"mse": mse, **self.fingerprint_details()})


class TemporalSSIM(_TemporalMetric):
    """SSIM of frames t and t+1 (Gaussian window 11, σ 1.5, data range 1), mean over pairs, then videos."""

    name = "temporal_ssim"
    higher_is_better = True
    definition = (
        "torchmetrics SSIM(frame t, frame t+1), kernel 11 (odd min(11, H, W) when smaller), sigma 1.5"
    )

    def fingerprint_details(self) -> dict[str, Any]:
        d = super().fingerprint_details()
        d["libraries"]["torchmetrics"] = version_of("torchmetrics")
        return d

    def update(self, samples: Samples, reference: Samples | None = None) -> None:
        import torch
        from torchmetrics.functional.image import structural_similarity_index_measure as ssim

        data = video_frames(self.name, samples)
        h, w = data.shape[2:4]
        kernel = min(11, h, w)
        kernel -= 1 - kernel % 2  # odd
        for video in data:
            frames = torch.from_numpy(np.ascontiguousarray(video.transpose(0, 3, 1, 2))).double()
            per = ssim(frames[1:], frames[:-1], data_range=1.0, kernel_size=kernel, reduction="none")
            self._values.append(float(per.mean()))


class Flicker(_TemporalMetric):
    """Mean |ΔY| of the per-frame mean BT.601 luma between consecutive frames (fraction of full scale)."""

    name = "flicker"
    higher_is_better = False
    definition = (
        "mean_t |Y(t+1) - Y(t)|, Y = mean over pixels of 0.299 R + 0.587 G + 0.114 B (gray: the value), "
        "values in [0, 1]; mean over videos"
    )

    def update(self, samples: Samples, reference: Samples | None = None) -> None:
        data = video_frames(self.name, samples).astype(np.float64)
        if data.shape[-1] == 3:
            luma = data @ np.asarray(LUMA_BT601)
        elif data.shape[-1] == 1:
            luma = data[..., 0]
        else:
            raise ValueError(f"{self.name}: expected RGB or grayscale frames, got {data.shape[-1]} channels")
        y = luma.reshape(len(data), data.shape[1], -1).mean(axis=2)  # (N, F)
        self._values.extend(float(v) for v in np.abs(np.diff(y, axis=1)).mean(axis=1))

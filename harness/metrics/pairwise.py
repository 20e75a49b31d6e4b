"""Fidelity of a variant to its baseline on identical seeds: PSNR, SSIM (images, video frames), SI-SDR (audio).

Computed with torchmetrics' functional implementations, per item, then averaged over items.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from harness.core.samples import Samples
from harness.metrics.base import Metric, MetricResult, version_of


def check_pair(name: str, samples: Samples, reference: Samples | None) -> Samples:
    if reference is None:
        raise ValueError(f"{name}: needs the baseline variant's samples as reference")
    if samples.modality != reference.modality:
        raise ValueError(f"{name}: modality {samples.modality} vs reference {reference.modality}")
    if samples.data.shape != reference.data.shape:
        raise ValueError(
            f"{name}: samples of shape {samples.data.shape} cannot be compared with the baseline's "
            f"{reference.data.shape} (same seeds, batch and resolution are needed)"
        )
    if samples.seeds and reference.seeds and samples.seeds != reference.seeds:
        raise ValueError(
            f"{name}: seeds differ from the baseline's ({samples.seeds[:3]}… vs {reference.seeds[:3]}…)"
        )
    return reference


def check_range(name: str, data: np.ndarray, lo: float, hi: float) -> None:
    if not np.isfinite(data).all():
        raise ValueError(f"{name}: samples contain NaN or Inf")
    dmin, dmax = float(data.min()), float(data.max())
    tol = 1e-3 * (hi - lo)
    if dmin < lo - tol or dmax > hi + tol:
        raise ValueError(f"{name}: expected values in [{lo}, {hi}], received min {dmin:.4g} max {dmax:.4g}")


def as_nchw(data: np.ndarray) -> Any:
    """(N,H,W,C) or (N,F,H,W,C) → a float64 torch tensor (N*F, C, H, W)."""
    import torch

    if data.ndim == 5:
        data = data.reshape(-1, *data.shape[2:])
    return torch.from_numpy(np.ascontiguousarray(data.transpose(0, 3, 1, 2))).double()


class PerItemPairwise(Metric):
    kind = "pairwise"
    requires_trained_weights = False
    state_fields: ClassVar[dict[str, str]] = {"_values": "cat"}  # per item, in sample order

    def __init__(self) -> None:
        self._values: list[float] = []

    def fingerprint_details(self) -> dict[str, Any]:
        return {
            **super().fingerprint_details(),
            "torchmetrics": version_of("torchmetrics"),
            "dtype": "float64",
        }

    def compute(self) -> MetricResult:
        return self.mean_of(self._values)


class PSNR(PerItemPairwise):
    """Peak signal-to-noise ratio in dB over all items (the MSE pooled, as torchmetrics with dim=None).

    Data range 1 for images and video in [0, 1], 2 for audio in [-1, 1]. +inf when identical.
    """

    name = "psnr"
    unit = "dB"
    higher_is_better = True
    # The pooled squared error and its count; the data range, which the modality fixes.
    state_fields: ClassVar[dict[str, str]] = {
        **PerItemPairwise.state_fields,
        "_sq_err": "sum",
        "_count": "sum",
        "_range": "same",
    }

    def __init__(self) -> None:
        super().__init__()
        self._sq_err = 0.0
        self._count = 0
        self._range: float | None = None  # 1 for images and video, 2 for audio; None before any sample

    def update(self, samples: Samples, reference: Samples | None = None) -> None:
        ref = check_pair(self.name, samples, reference)
        lo, hi = (-1.0, 1.0) if samples.modality == "audio" else (0.0, 1.0)
        check_range(self.name, samples.data, lo, hi)
        check_range(self.name, ref.data, lo, hi)
        self._range = hi - lo
        diff = samples.data.astype(np.float64) - ref.data.astype(np.float64)
        self._sq_err += float(np.square(diff).sum())
        self._count += diff.size
        self._values.extend(float(v) for v in np.square(diff).reshape(len(samples), -1).mean(axis=1))

    def compute(self) -> MetricResult:
        if not self._count:
            return self.skipped("no samples")
        mse = self._sq_err / self._count
        value = float("inf") if mse == 0.0 else float(10.0 * np.log10(self._range**2 / mse))
        return self.value(value, n=len(self._values), details={"mse": mse, **self.fingerprint_details()})


class SSIM(PerItemPairwise):
    """Structural similarity (Gaussian window 11, σ 1.5), per image or per video frame, averaged."""

    name = "ssim"
    higher_is_better = True
    modalities = ("image", "video")

    def fingerprint_details(self) -> dict[str, Any]:
        return {**super().fingerprint_details(), "kernel": 11, "sigma": 1.5, "data_range": 1.0}

    def update(self, samples: Samples, reference: Samples | None = None) -> None:
        from torchmetrics.functional.image import structural_similarity_index_measure as ssim

        ref = check_pair(self.name, samples, reference)
        check_range(self.name, samples.data, 0.0, 1.0)
        check_range(self.name, ref.data, 0.0, 1.0)
        frames = samples.data.shape[1] if samples.data.ndim == 5 else 1
        h, w = samples.data.shape[-3:-1]
        kernel = min(11, h, w) if min(h, w) < 11 else 11
        kernel -= 1 - kernel % 2  # odd
        # In chunks of items: torchmetrics keeps several padded float64 copies of its whole input.
        step = max(1, 256 // frames)
        for start in range(0, len(samples), step):
            a = as_nchw(samples.data[start : start + step])
            b = as_nchw(ref.data[start : start + step])
            per = ssim(a, b, data_range=1.0, kernel_size=kernel, reduction="none")
            per = per.reshape(-1, frames).mean(dim=1)  # frames of a video averaged per item
            self._values.extend(float(v) for v in per)


class SISDR(PerItemPairwise):
    """Scale-invariant signal-to-distortion ratio of each waveform against the baseline's (dB)."""

    name = "si_sdr"
    unit = "dB"
    higher_is_better = True
    modalities = ("audio",)

    def update(self, samples: Samples, reference: Samples | None = None) -> None:
        import torch
        from torchmetrics.functional.audio import scale_invariant_signal_distortion_ratio as si_sdr

        ref = check_pair(self.name, samples, reference)
        for data in (samples.data, ref.data):  # scale-invariant: only finiteness matters, not the range
            if not np.isfinite(data).all():
                raise ValueError(f"{self.name}: samples contain NaN or Inf")
        a = torch.from_numpy(samples.data).double()
        b = torch.from_numpy(ref.data).double()
        per = si_sdr(a, b).reshape(len(samples), -1).mean(dim=1)
        self._values.extend(float(v) for v in per)


class MaxAbsDiff(PerItemPairwise):
    """Largest absolute difference from the baseline over every value of every item (images in [0, 1])."""

    name = "max_abs_diff"
    higher_is_better = False
    state_fields: ClassVar[dict[str, str]] = {**PerItemPairwise.state_fields, "_max": "max"}

    def __init__(self) -> None:
        super().__init__()
        self._max = 0.0

    def update(self, samples: Samples, reference: Samples | None = None) -> None:
        ref = check_pair(self.name, samples, reference)
        diff = np.abs(samples.data.astype(np.float64) - ref.data.astype(np.float64))
        if np.isnan(diff).any():
            raise ValueError(f"{self.name}: samples contain NaN")
        per = diff.reshape(len(samples), -1).max(axis=1)
        self._values.extend(float(v) for v in per)
        self._max = max(self._max, float(per.max()))

    def compute(self) -> MetricResult:
        if not self._values:
            return self.skipped("no samples")
        return self.value(self._max, n=len(self._values))

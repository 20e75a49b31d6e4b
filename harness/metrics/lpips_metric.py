"""Perceptual fidelity of a variant to its baseline on identical seeds: LPIPS and MS-SSIM (images, video frames).

* ``lpips``: the ``lpips`` package (v0.1, linear layers shipped inside the package) on a backbone whose
  ImageNet weights come from OUR located, verified torchvision file (``alexnet-owt-7be5be79.pth`` by default,
  ``vgg16-397923af.pth`` with ``net: vgg``, ``squeezenet1_1-b8a52dc0.pth`` with ``net: squeeze``): the model is
  built with ``lpips.LPIPS(pretrained=True, net=..., pnet_rand=True)`` (no download) and the backbone's
  ``features`` tensors are then loaded into its ``net`` slices. Inputs are checked in [0, 1] and mapped to
  [-1, 1]. Lower is closer. ``requires_trained_weights`` is False: it compares a variant with its baseline
  (fidelity), which stays meaningful for generators with random weights; the backbone itself is always trained.
* ``ms_ssim``: torchmetrics' multi-scale SSIM (Gaussian window 11, σ 1.5, its 5 default exponents, ``relu``
  normalisation as its functional default). With ``scales < 5`` the first exponents are renormalised to sum 1.
  Images smaller than the scales need are skipped with the size required.

Per item (a video's frames averaged), then averaged over items.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator

from harness.core.errors import MetricSkipped
from harness.core.samples import Samples
from harness.metrics import weights as W
from harness.metrics.base import Metric, MetricResult, version_of, versions_of
from harness.metrics.loading import cached_model, load_network, load_strict
from harness.metrics.options import MetricOptions, int_option, path_option
from harness.metrics.pairwise import as_nchw, check_pair, check_range

__all__ = [
    "LPIPS",
    "MSSSIM",
    "LPIPSOptions",
    "MSSSIMOptions",
    "build_lpips",
    "linear_weights",
    "ms_ssim_min_size",
]

_BACKBONES = {
    "alex": ("torchvision-alexnet", "alexnet"),
    "vgg": ("torchvision-vgg16", "vgg16"),
    "squeeze": ("torchvision-squeezenet1_1", "squeezenet1_1"),
}


def build_lpips(net: str = "alex", weights_dir: str | os.PathLike[str] | None = None, device: str = "cpu"):
    """``(lpips.LPIPS model, located backbone weights)``; nothing is downloaded.

    Raises:
        WeightsNotFoundError / WeightsMismatchError: the torchvision backbone file is absent or not the pinned one.
        WeightsLoadError: the file does not hold the backbone's tensors.
    """
    if net not in _BACKBONES:
        raise ValueError(f"net must be one of {', '.join(_BACKBONES)}, got {net!r}")
    weights_name, tv_name = _BACKBONES[net]
    located = W.locate(weights_name, weights_dir)
    sha = located.sha256[located.path.name]
    model = cached_model(("lpips", net, sha, device), lambda: _build(net, tv_name, located, device))
    return model, located


def _build(net: str, tv_name: str, located: Any, device: str) -> Any:
    import lpips
    import torchvision

    # The full torchvision model checks that the file holds exactly its tensors; lpips keeps only `features`.
    tv_model = load_network(lambda: getattr(torchvision.models, tv_name)(weights=None), located.path)
    with warnings.catch_warnings():  # lpips calls torchvision's deprecated pretrained=False
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(pretrained=True, net=net, version="0.1", pnet_rand=True, verbose=False)
    features = tv_model.features.state_dict()
    # lpips splits torchvision's `features` into slices that keep the global layer indices: sliceK.<i>.<param>.
    backbone = {key: features[key.split(".", 1)[1]] for key in model.net.state_dict()}
    load_strict(model.net, backbone, located.path)
    return model.eval().to(device)


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def linear_weights(net: str) -> dict[str, str]:
    """The lpips package's linear layers for ``net`` (shipped inside the package): file and sha256."""
    import lpips

    lin = Path(lpips.__file__).parent / "weights" / "v0.1" / f"{net}.pth"
    return {"file": f"lpips/weights/v0.1/{net}.pth", "sha256": _file_sha256(lin)}


class LPIPSOptions(MetricOptions):
    """``lpips``: the backbone (``_BACKBONES``), pairs per forward pass, where its weights lie."""

    net: Literal["alex", "vgg", "squeeze"] = "alex"
    batch_size: int = Field(16, ge=1)
    weights_dir: str | None = None


class LPIPS(Metric):
    """LPIPS distance to the baseline variant's samples (see the module docstring). Options: ``net``
    (``alex`` | ``vgg`` | ``squeeze``), ``batch_size``, ``weights_dir``."""

    name = "lpips"
    higher_is_better = False
    kind = "pairwise"
    modalities = ("image", "video")
    requires_trained_weights = False
    accepts_device = True
    Options = LPIPSOptions
    # Per item in sample order; the weights that made them (every shard must run the same).
    state_fields: ClassVar[dict[str, str]] = {"_values": "cat", "_weights": "same"}

    def __init__(
        self, device: str = "cpu", *, net: str = "alex", batch_size: int = 16, weights_dir: str | None = None
    ):
        if net not in _BACKBONES:
            raise TypeError(f"net must be one of {', '.join(_BACKBONES)}, got {net!r}")
        self.device, self.net, self.batch_size = device, net, int_option("batch_size", batch_size)
        self.weights_dir = path_option("weights_dir", weights_dir)
        self._model: Any = None
        self._weights: dict[str, Any] | None = None  # backbone and linear weights, once the model is built
        self._values: list[float] = []

    def model(self) -> Any:
        if self._model is None:
            self._model, located = build_lpips(self.net, self.weights_dir, self.device)
            self._weights = {
                "backbone_weights": located.details(),
                "linear_weights": linear_weights(self.net),
            }
        return self._model

    def distances(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """LPIPS of image pairs (N, H, W, C) in [0, 1] → (N,) float64."""
        import torch

        model = self.model()
        out = []
        x_all, y_all = as_nchw(a), as_nchw(b)
        if x_all.shape[1] == 1:
            x_all, y_all = x_all.repeat(1, 3, 1, 1), y_all.repeat(1, 3, 1, 1)
        with torch.inference_mode():
            for i in range(0, len(x_all), self.batch_size):
                x = (x_all[i : i + self.batch_size].float() * 2 - 1).to(self.device)
                y = (y_all[i : i + self.batch_size].float() * 2 - 1).to(self.device)
                out.append(model(x, y).flatten().double().cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0)

    def update(self, samples: Samples, reference: Samples | None = None) -> None:
        ref = check_pair(self.name, samples, reference)
        check_range(self.name, samples.data, 0.0, 1.0)
        check_range(self.name, ref.data, 0.0, 1.0)
        if samples.data.shape[-1] not in (1, 3):
            raise ValueError(
                f"{self.name}: expected RGB or grayscale images, got {samples.data.shape[-1]} channels"
            )
        per = self.distances(samples.data, ref.data).reshape(len(samples), -1).mean(axis=1)
        self._values.extend(float(v) for v in per)

    def compute(self) -> MetricResult:
        return self.mean_of(self._values)

    def fingerprint_details(self) -> dict[str, Any]:
        d = {
            **super().fingerprint_details(),
            "net": self.net,
            "version": "0.1",
            "input": "[0, 1] mapped to [-1, 1]",
            "dtype": "float32 network, float64 mean",
            "libraries": versions_of(("lpips", "torch", "torchvision")),
        }
        if self._weights is not None:
            d.update(self._weights)
        d["n"] = len(self._values)
        return d


_MS_SSIM_BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def ms_ssim_min_size(scales: int, kernel_size: int) -> int:
    """Smallest height/width torchmetrics accepts for ``scales`` exponents and this window (its own checks)."""
    div = max(1, scales - 1) ** 2
    # torchmetrics: side >= 2**scales and side // div > kernel_size - 1 (that is side >= kernel_size * div);
    # and its reflection padding at the last scale (side halved scales-1 times), int(3.5σ + 0.5) = 5 px for its
    # Gaussian σ = 1.5 whatever kernel_size, must be smaller than the side there.
    return max(2**scales, kernel_size * div, 6 * 2 ** (scales - 1))


class MSSSIMOptions(MetricOptions):
    """``ms_ssim``: torchmetrics has 5 exponents (``scales`` 1-5); its Gaussian window needs an odd size >= 3."""

    scales: int = Field(5, ge=1, le=len(_MS_SSIM_BETAS))
    kernel_size: int = Field(11, ge=3, description="odd")

    @field_validator("kernel_size")
    @classmethod
    def _odd(cls, v: int) -> int:
        if v % 2 == 0:
            raise ValueError(f"must be odd, got {v}")
        return v


class MSSSIM(Metric):
    """Multi-scale SSIM to the baseline variant's samples (see the module docstring). Options: ``scales`` (1-5),
    ``kernel_size`` (odd, default 11)."""

    name = "ms_ssim"
    higher_is_better = True
    kind = "pairwise"
    modalities = ("image", "video")
    requires_trained_weights = False
    Options = MSSSIMOptions
    state_fields: ClassVar[dict[str, str]] = {"_values": "cat"}  # per item, in sample order

    def __init__(self, *, scales: int = 5, kernel_size: int = 11) -> None:
        if not isinstance(scales, int) or isinstance(scales, bool) or not 1 <= scales <= 5:
            raise TypeError(f"scales must be an integer from 1 to 5, got {scales!r}")
        if (
            not isinstance(kernel_size, int)
            or isinstance(kernel_size, bool)
            or kernel_size < 3
            or kernel_size % 2 == 0
        ):
            raise TypeError(f"kernel_size must be an odd integer >= 3, got {kernel_size!r}")
        self.scales, self.kernel_size = scales, kernel_size
        betas = _MS_SSIM_BETAS[:scales]
        self.betas = betas if scales == 5 else tuple(b / sum(betas) for b in betas)
        self._values: list[float] = []

    def update(self, samples: Samples, reference: Samples | None = None) -> None:
        from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as ms_ssim

        ref = check_pair(self.name, samples, reference)
        check_range(self.name, samples.data, 0.0, 1.0)
        check_range(self.name, ref.data, 0.0, 1.0)
        h, w = samples.data.shape[-3:-1]
        need = ms_ssim_min_size(self.scales, self.kernel_size)
        if min(h, w) < need:
            raise MetricSkipped(
                f"images are {h}x{w} px; MS-SSIM with {self.scales} scales and an {self.kernel_size}-px window "
                f"needs at least {need} px on each side (set options.scales lower, or use ssim)"
            )
        per = ms_ssim(
            as_nchw(samples.data),
            as_nchw(ref.data),
            data_range=1.0,
            kernel_size=self.kernel_size,
            betas=self.betas,
            reduction="none",
        )
        per = per.reshape(len(samples), -1).mean(dim=1)
        self._values.extend(float(v) for v in per)

    def compute(self) -> MetricResult:
        return self.mean_of(self._values)

    def fingerprint_details(self) -> dict[str, Any]:
        return {
            **super().fingerprint_details(),
            "scales": self.scales,
            "betas": list(self.betas),
            "kernel_size": self.kernel_size,
            "sigma": 1.5,
            "data_range": 1.0,
            "normalize": "relu",
            "dtype": "float64",
            "torchmetrics": version_of("torchmetrics"),
            "n": len(self._values),
        }

"""Feature extractors behind a registry: Samples (images, or the frames of videos) → (N, d) float64 features.

An entry is a name, the pinned weights it needs (a ``harness.metrics.weights`` name), a builder, the feature dimension
and its input protocol. The base class ``FeatureExtractor`` turns images in [0, 1] into features batch by batch and
fingerprints its protocol. Registered here (each family in its own module):

* ``inception-v3-fid`` and ``inception-v3-fid-logits``: pytorch-fid's FID Inception-v3, pool3 features or the
  1008 logits, with clean-fid's three resizes (:mod:`harness.metrics.inception`).
* ``clip-vit-b-32``: OpenAI CLIP ViT-B/32 image embeddings; ``clip-vit-l-14-336``: CLIP ViT-L/14@336 as CMMD
  computes them (:mod:`harness.metrics.clip_features`).
* ``dinov2-vit-{s,b,l,g}-14``: DINOv2 CLS features with dgm-eval's preprocessing (FD-DINOv2;
  :mod:`harness.metrics.dinov2`); ``fd_dinov2`` is ViT-L/14's.
* ``digits-extractor``: the mini zoo's digits CNN (``harness.zoo.features.DigitsFeatures``; fd_digits' 64-d
  features); it ships its real set: ``reference_features()`` are the held-out digits' features.

Video clip networks register in :mod:`harness.metrics.video_features` (I3D), audio ones in
:mod:`harness.metrics.audio_features` (VGGish, CLAP). More: ``register_extractor(ExtractorSpec(...))``; the builder
is a ``"module:attribute"`` string or a callable ``builder(device=..., weights_dir=..., batch_size=...,
**options) -> FeatureExtractor`` (a ``FeatureExtractor`` class is one).

Torch is imported only when an extractor is built.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from harness.core.errors import UserInputError
from harness.core.registry import did_you_mean
from harness.core.samples import Samples
from harness.metrics.base import fingerprint_of, versions_of

__all__ = [
    "EXTRACTORS",
    "ExtractorSpec",
    "FeatureExtractor",
    "build_extractor",
    "extractor_spec",
    "images_of",
    "quantize",
    "register_extractor",
    "registered",
]


@dataclass(frozen=True)
class ExtractorSpec:
    """A registry entry: name, weights, builder, feature dimension and input protocol."""

    name: str
    builder: str | Callable[..., FeatureExtractor]
    dim: int
    weights: str | None
    protocol: str
    summary: str = ""
    defaults: dict[str, Any] = field(default_factory=dict)  # builder options preset by this entry


EXTRACTORS: dict[str, ExtractorSpec] = {}


def register_extractor(spec: ExtractorSpec, *, replace: bool = False) -> ExtractorSpec:
    """Add an extractor to the registry (``replace=True`` to overwrite, as tests do)."""
    if spec.name in EXTRACTORS and not replace:
        raise ValueError(f"extractor '{spec.name}' is already registered")
    EXTRACTORS[spec.name] = spec
    return spec


def extractor_spec(name: str) -> ExtractorSpec:
    if name not in EXTRACTORS:
        raise UserInputError(f"unknown extractor '{name}' ({did_you_mean(name, EXTRACTORS)})")
    return EXTRACTORS[name]


def build_extractor(
    name: str,
    *,
    device: str = "cpu",
    weights_dir: str | os.PathLike[str] | None = None,
    batch_size: int | None = None,
    **options: Any,
) -> FeatureExtractor:
    """Build the registered extractor ``name`` (locating and verifying its weights; nothing is downloaded)."""
    spec = extractor_spec(name)
    builder = spec.builder
    if isinstance(builder, str):
        module, _, attr = builder.partition(":")
        builder = getattr(importlib.import_module(module), attr)
    kwargs = {**spec.defaults, **{k: v for k, v in options.items() if v is not None}}
    if batch_size is not None:
        kwargs["batch_size"] = batch_size
    ext = builder(device=device, weights_dir=weights_dir, **kwargs)
    ext.name = spec.name
    return ext


@contextlib.contextmanager
def registered(spec: ExtractorSpec) -> Iterator[ExtractorSpec]:
    """Register ``spec`` for the duration of a ``with`` block (tests, experiments)."""
    previous = EXTRACTORS.get(spec.name)
    register_extractor(spec, replace=True)
    try:
        yield spec
    finally:
        if previous is None:
            EXTRACTORS.pop(spec.name, None)
        else:
            EXTRACTORS[spec.name] = previous


# --------------------------------------------------------------------------------------------- base


def images_of(samples: Samples) -> np.ndarray:
    """The images of ``samples`` as (N, H, W, C): images as they are, videos as all their frames."""
    if samples.modality == "image":
        return samples.data
    if samples.modality == "video":
        return samples.data.reshape(-1, *samples.data.shape[2:])
    raise ValueError(f"image feature extractors take images or video frames, not {samples.modality}")


def _check_images(images: np.ndarray) -> np.ndarray:
    if images.ndim != 4:
        raise ValueError(f"expected images of shape (N, H, W, C), got {images.shape}")
    c = images.shape[-1]
    if c == 1:
        images = np.repeat(images, 3, axis=-1)  # grayscale → RGB, as image loaders do
    elif c != 3:
        raise ValueError(
            f"expected RGB (3 channels) or grayscale (1) images, got {c} channels (shape {images.shape})"
        )
    if not np.isfinite(images).all():
        raise ValueError("images contain NaN or Inf")
    lo, hi = float(images.min()), float(images.max())
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise ValueError(f"expected values in [0, 1], received min {lo:.4g} max {hi:.4g}")
    return images


def quantize(images: np.ndarray) -> np.ndarray:
    """[0, 1] float → uint8, rounding (what saving a PNG does)."""
    return np.clip(np.rint(images * 255.0), 0, 255).astype(np.uint8)


class FeatureExtractor(ABC):
    """Turns (N, H, W, 3) images in [0, 1] into (N, d) float64 features, in batches.

    Subclasses implement ``_forward`` on one batch and describe their protocol in ``protocol()`` (what
    changes the features: weights hash, resize, output layer, dtype); ``fingerprint()`` hashes it, so
    statistics files from another protocol are recognised.
    """

    name: str = ""
    dim: int = 0
    packages: ClassVar[tuple[str, ...]] = ("numpy", "torch")  # whose versions ``libraries()`` reports

    def __init__(self, batch_size: int = 50) -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.batch_size = batch_size

    @abstractmethod
    def _forward(self, batch: np.ndarray) -> Any:
        """One batch (B, H, W, 3) float32 in [0, 1] → (B, d) array or tensor."""

    def protocol(self) -> dict[str, Any]:
        """What defines the features (compared between statistics files)."""
        return {"extractor": self.name, "dim": self.dim}

    def details(self) -> dict[str, Any]:
        """The protocol plus the library versions (for records; not part of ``fingerprint``)."""
        return {**self.protocol(), "fingerprint": self.fingerprint(), "libraries": self.libraries()}

    def libraries(self) -> dict[str, str | None]:
        return versions_of(self.packages)

    def fingerprint(self) -> str:
        return fingerprint_of(self.protocol())

    def iter_features(self, images: np.ndarray) -> Iterator[np.ndarray]:
        """Features batch by batch (float64), for streaming statistics."""
        images = _check_images(images)
        for i in range(0, len(images), self.batch_size):
            out = self._forward(np.ascontiguousarray(images[i : i + self.batch_size], dtype=np.float32))
            if hasattr(out, "detach"):
                out = out.detach().cpu().double().numpy()
            yield np.asarray(out, dtype=np.float64).reshape(len(out), -1)

    def features(self, images: np.ndarray) -> np.ndarray:
        """All features of (N, H, W, C) images, shape (N, d), float64."""
        parts = list(self.iter_features(images))
        return np.concatenate(parts) if parts else np.zeros((0, self.dim))

    def samples_features(self, samples: Samples) -> np.ndarray:
        """Features of image samples, or of every frame of video samples (N·F rows)."""
        return self.features(images_of(samples))


# --------------------------------------------------------------------------------------------- registry

register_extractor(
    ExtractorSpec(
        name="inception-v3-fid",
        builder="harness.metrics.inception:InceptionFID",
        dim=2048,
        weights="pytorch-fid-inception",
        protocol="RGB [0,1]; resize legacy_pytorch (pytorch-fid, default), clean (clean-fid) or "
        "legacy_tensorflow (TTUR) to 299; pool3 2048-d",
        summary="FID Inception-v3 (pytorch-fid), pool3 features",
    )
)
register_extractor(
    ExtractorSpec(
        name="inception-v3-fid-logits",
        builder="harness.metrics.inception:InceptionFID",
        dim=1008,
        weights="pytorch-fid-inception",
        protocol="as inception-v3-fid; 1008 logits without the fc bias (torch-fidelity's logits_unbiased)",
        summary="FID Inception-v3 logits, for the Inception Score",
        defaults={"output": "logits"},
    )
)
register_extractor(
    ExtractorSpec(
        name="clip-vit-b-32",
        builder="harness.metrics.clip_features:CLIPImageFeatures",
        dim=512,
        weights="clip-vit-base-patch32",
        protocol="RGB uint8; the folder's CLIPImageProcessor (224 bicubic, centre crop, CLIP mean/std); "
        "projected image embedding 512-d",
        summary="OpenAI CLIP ViT-B/32 image embeddings (FD-CLIP)",
    )
)
register_extractor(
    ExtractorSpec(
        name="clip-vit-l-14-336",
        builder="harness.metrics.clip_features:CMMDClipEmbeddings",
        dim=768,
        weights="clip-vit-large-patch14-336",
        protocol="RGB uint8; centre crop, PIL bicubic 336, CLIP mean/std (google-research cmmd); "
        "projected image embedding 768-d, L2-normalised",
        summary="OpenAI CLIP ViT-L/14@336 image embeddings as CMMD computes them",
    )
)

# DINOv2 as dgm-eval computes it (harness.metrics.dinov2): one name per size; weights from the HF folder or hub file.
for _size, _dim, _label in (("s", 384, "S"), ("b", 768, "B"), ("l", 1024, "L"), ("g", 1536, "g")):
    register_extractor(
        ExtractorSpec(
            name=f"dinov2-vit-{_size}-14",
            builder="harness.metrics.dinov2:DINOv2Features",
            dim=_dim,
            weights=f"dinov2-vit{_size}14",  # or dinov2-<small|base|large|giant>-hf
            protocol="RGB uint8; PIL bicubic 224x224 (no crop), /255, ImageNet mean/std (dgm-eval); hub position "
            f"embeddings resampled (scale (16+0.1)/37); CLS token after the final LayerNorm, {_dim}-d",
            summary=f"DINOv2 ViT-{_label}/14 CLS features as dgm-eval computes them (FD-DINOv2)",
            defaults={"size": _size},
        )
    )

# The mini zoo's digits CNN (weights ship in model_cards/zoo; its held-out digits are the default reference).
register_extractor(
    ExtractorSpec(
        name="digits-extractor",
        builder="harness.zoo.features:DigitsFeatures",
        dim=64,
        weights=None,
        protocol="16x16 gray in [0,1] (RGB averaged, other sizes bilinear antialiased); "
        "the zoo's digits CNN, fc1 before its ReLU, 64-d",
        summary="the mini zoo's digits CNN (fd_digits' features); reference: its held-out digits",
    )
)

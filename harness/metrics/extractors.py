"""Feature extractors behind a registry: Samples (images, or the frames of videos) → (N, d) float64 features.

An entry is a name, the pinned weights it needs (a ``harness.metrics.weights`` name), a builder, the feature dimension
and its input protocol. Registered here:

* ``inception-v3-fid``: pytorch-fid's ``InceptionV3`` (``use_fid_inception=True``, pool3, 2048-d) with the
  weights loaded from OUR located, verified ``pt_inception-2015-12-05-6726825d.pth`` (never via its URL).
  ``resize`` takes clean-fid's three names (the choice alone moves FID by several points on identical images).
  Every mode first quantises the [0, 1] images to 8 bits (``quantize``: ``rint(255 x)``), because the tools
  they reproduce read 8-bit image files (pytorch-fid, clean-fid, TTUR, torch-fidelity); a float image off that
  grid would differ by up to half a level (#23 item 7). ``legacy_pytorch`` (default) is pytorch-fid's protocol:
  ``u8 / 255`` (torchvision's ``ToTensor``), ``F.interpolate`` bilinear to 299 (``align_corners=False``) inside
  the network, then ``2x − 1``; ``clean`` is clean-fid's: PIL bicubic per channel in float mode to 299 × 299,
  clip to [0, 255]; ``legacy_tensorflow`` is the original TTUR / TensorFlow FID's: TF1 ``resize_bilinear``
  (``align_corners=False``, no half-pixel centres: source = destination × in / out) of the [0, 255] image
  (``tf1_resize_bilinear``). After ``clean`` and ``legacy_tensorflow`` the network runs without its own resize
  on ``(x − 128) / 128``, the TensorFlow graph's input scaling (clean-fid feeds its TF-ported Inception so in
  both modes).
* ``inception-v3-fid-logits``: the same network's 1008 logits without the fc bias (``logits_unbiased``, what
  torch-fidelity / torchmetrics' InceptionScore use), for the Inception Score.
* ``clip-vit-b-32``: transformers' ``CLIPModel`` built from the local folder (config.json, pytorch_model.bin,
  preprocessor_config.json, tokenizer files as openai/clip-vit-base-patch32 publishes them); images are
  quantised to uint8 and prepared by the folder's ``CLIPImageProcessor``; features are the projected image
  embeddings (512-d, not L2-normalised; ``normalize=True`` for unit vectors).
* ``clip-vit-l-14-336``: OpenAI CLIP ViT-L/14 at 336 px (``clip-vit-large-patch14-336``) prepared as
  google-research's CMMD reference code does (``cmmd/io_util.py``, ``embedding.py``): uint8, centre crop to a
  square, PIL bicubic to 336 × 336, /255, CLIP mean/std; the projected image embedding, L2-normalised (768-d).
* ``digits-extractor``: the mini zoo's digits CNN (``harness.zoo.features.DigitsFeatures``; fd_digits' 64-d
  features); it ships its real set: ``reference_features()`` are the held-out digits' features.

More: ``register_extractor(ExtractorSpec(...))``; the builder is a ``"module:function"`` string or a callable
``builder(device=..., weights_dir=..., batch_size=..., **options) -> FeatureExtractor``.

Torch is imported only when an extractor is built.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from harness.core.errors import HarnessError, UserInputError
from harness.core.registry import did_you_mean
from harness.core.samples import Samples
from harness.metrics.base import fingerprint_of, version_of

__all__ = [
    "EXTRACTORS",
    "ExtractorSpec",
    "FeatureExtractor",
    "WeightsLoadError",
    "build_extractor",
    "extractor_spec",
    "images_of",
    "load_clip",
    "register_extractor",
]


class WeightsLoadError(HarnessError):
    """A verified weights file does not fit the architecture (missing or misshapen tensors)."""


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
        return {"numpy": version_of("numpy"), "torch": version_of("torch")}

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


# --------------------------------------------------------------------------------------------- inception

_PATCH_LOCK = threading.Lock()


def _fid_inception_architecture() -> Any:
    """pytorch-fid's ``fid_inception_v3()`` without its download: the same modules, uninitialised weights."""
    import pytorch_fid.inception as pi

    inc = pi._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    inc.Mixed_5b = pi.FIDInceptionA(192, pool_features=32)
    inc.Mixed_5c = pi.FIDInceptionA(256, pool_features=64)
    inc.Mixed_5d = pi.FIDInceptionA(288, pool_features=64)
    inc.Mixed_6b = pi.FIDInceptionC(768, channels_7x7=128)
    inc.Mixed_6c = pi.FIDInceptionC(768, channels_7x7=160)
    inc.Mixed_6d = pi.FIDInceptionC(768, channels_7x7=160)
    inc.Mixed_6e = pi.FIDInceptionC(768, channels_7x7=192)
    inc.Mixed_7b = pi.FIDInceptionE_1(1280)
    inc.Mixed_7c = pi.FIDInceptionE_2(2048)
    return inc


def load_state_dict_file(path: os.PathLike[str] | str) -> dict[str, Any]:
    """A checkpoint of tensors only (``weights_only=True``: no code runs from the file)."""
    import torch

    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsLoadError(f"{path}: cannot be read as a PyTorch state dict: {exc}") from None
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise WeightsLoadError(f"{path}: expected a state dict, got {type(sd).__name__}")
    return sd


def load_strict(module: Any, sd: dict[str, Any], path: Any, *, assign: bool = False) -> None:
    """Load every tensor, refusing missing, unexpected or misshapen ones (no silent random weights)."""
    try:
        module.load_state_dict(sd, strict=True, assign=assign)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise WeightsLoadError(
            f"{path}: does not fit the architecture: {' '.join(first[:3])[:400]}"
        ) from None


_MODELS: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_MODELS_KEPT = 3
_MODELS_LOCK = threading.Lock()


def cached_model(key: tuple[Any, ...], factory: Callable[[], Any]) -> Any:
    """One loaded network per (weights hash, options, device) in this process: fid, kid and inception_score
    of a job share one Inception; the few most recent are kept."""
    with _MODELS_LOCK:
        if key in _MODELS:
            _MODELS.move_to_end(key)
            return _MODELS[key]
    model = factory()
    with _MODELS_LOCK:
        _MODELS[key] = model
        while len(_MODELS) > _MODELS_KEPT:
            _MODELS.popitem(last=False)
    return model


def build_fid_inception(pt_path: os.PathLike[str] | str, *, resize_input: bool) -> Any:
    """pytorch-fid's ``InceptionV3([3], use_fid_inception=True)`` with the state dict read from ``pt_path``.

    Returns:
        ``(net, fc)``: the wrapper (pool3 output) and the 1008-class fc layer (for logits).
    """
    import pytorch_fid.inception as pi
    import torch

    with torch.device("meta"):  # no initialisation: every tensor comes from the file
        inc = _fid_inception_architecture()
    load_strict(inc, load_state_dict_file(pt_path), pt_path, assign=True)
    # InceptionV3.__init__ calls pytorch_fid.inception.fid_inception_v3(), which downloads; hand it ours.
    with _PATCH_LOCK:
        original = pi.fid_inception_v3
        pi.fid_inception_v3 = lambda: inc
        try:
            net = pi.InceptionV3(
                output_blocks=[pi.InceptionV3.BLOCK_INDEX_BY_DIM[2048]],
                resize_input=resize_input,
                normalize_input=True,
                requires_grad=False,
                use_fid_inception=True,
            )
        finally:
            pi.fid_inception_v3 = original
    return net.eval(), inc.fc


def clean_resize(images_u8: np.ndarray, size: int = 299) -> np.ndarray:
    """clean-fid's "clean" resize: PIL bicubic on each channel as float ('F' mode), clipped to [0, 255].

    Args:
        images_u8: (B, H, W, 3) uint8.

    Returns:
        (B, size, size, 3) float32 in [0, 255].
    """
    from PIL import Image

    out = np.empty((len(images_u8), size, size, 3), dtype=np.float32)
    for i, img in enumerate(images_u8):
        for c in range(3):
            ch = Image.fromarray(img[:, :, c].astype(np.float32), mode="F")
            out[i, :, :, c] = np.asarray(ch.resize((size, size), resample=Image.BICUBIC)).clip(0, 255)
    return out


def _tf1_taps(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # TF1's legacy scaler in float32: source s = i * (in / out); lower floor(s), upper min(ceil(s), in - 1).
    scale = np.float32(in_size) / np.float32(out_size)
    s = np.arange(out_size, dtype=np.float32) * scale
    floor = np.floor(s)
    lower = np.maximum(floor.astype(np.int64), 0)
    upper = np.minimum(np.ceil(s).astype(np.int64), in_size - 1)
    return lower, upper, (s - floor).astype(np.float32)


def tf1_resize_bilinear(images: Any, size: int = 299) -> Any:
    """TensorFlow 1's ``tf.image.resize_bilinear`` (``align_corners=False``, no half-pixel centres), in torch.

    The resize of the original TTUR / TensorFlow FID: output pixel ``i`` samples the input at
    ``s = i · in / out`` with ``lower = floor(s)``, ``upper = min(ceil(s), in − 1)`` and weight ``s − floor(s)``;
    rows are blended as ``top + (bottom − top) · wy`` after ``left + (right − left) · wx`` along x, in float32.

    Args:
        images: (B, C, H, W) float tensor (FID feeds it the [0, 255] image).
        size: The output height and width.

    Returns:
        (B, C, size, size) float32 tensor on the input's device.
    """
    import torch

    x = images.float()
    y0, y1, wy = (torch.from_numpy(a).to(x.device) for a in _tf1_taps(x.shape[-2], size))
    x0, x1, wx = (torch.from_numpy(a).to(x.device) for a in _tf1_taps(x.shape[-1], size))
    top, bottom = x[..., y0, :], x[..., y1, :]
    top = top[..., x0] + (top[..., x1] - top[..., x0]) * wx
    bottom = bottom[..., x0] + (bottom[..., x1] - bottom[..., x0]) * wx
    return top + (bottom - top) * wy[:, None]


# The resize modes of the FID Inception, named as clean-fid names them; the detail goes into the fingerprint.
FID_RESIZES: dict[str, str] = {
    "legacy_pytorch": "uint8 (as pytorch-fid reads image files), /255, bilinear to 299 inside the network "
    "(F.interpolate, align_corners=False), then 2x - 1, as pytorch-fid",
    "clean": "uint8, PIL bicubic per channel in float mode to 299, clip [0, 255], then (x - 128) / 128, "
    "as clean-fid",
    "legacy_tensorflow": "uint8 (as TTUR reads image files) as [0, 255], TF1 resize_bilinear to 299 "
    "(align_corners=False, no half-pixel centres), then (x - 128) / 128, as the TTUR / TensorFlow FID",
}
RENAMED_RESIZES: dict[str, str] = {"bilinear": "legacy_pytorch"}


def check_fid_resize(resize: Any) -> str:
    """``resize`` if it is one of ``FID_RESIZES``; a one-line ValueError otherwise (naming renamed modes)."""
    if resize in RENAMED_RESIZES:
        raise ValueError(
            f"resize {resize!r} is now called {RENAMED_RESIZES[resize]!r} (the same resize, clean-fid's name; "
            f"allowed: {', '.join(FID_RESIZES)})"
        )
    if resize not in FID_RESIZES:
        raise ValueError(f"resize must be one of {', '.join(FID_RESIZES)}, got {resize!r}")
    return resize


class InceptionFID(FeatureExtractor):
    """pytorch-fid's FID Inception-v3 on our verified weights file (see the module docstring)."""

    RESIZES: ClassVar[tuple[str, ...]] = tuple(FID_RESIZES)
    OUTPUTS: ClassVar[dict[str, int]] = {"pool": 2048, "logits": 1008}

    def __init__(
        self,
        *,
        device: str = "cpu",
        weights_dir: str | os.PathLike[str] | None = None,
        batch_size: int = 50,
        resize: str = "legacy_pytorch",
        output: str = "pool",
    ) -> None:
        super().__init__(batch_size)
        check_fid_resize(resize)
        if output not in self.OUTPUTS:
            raise ValueError(f"output must be one of {', '.join(self.OUTPUTS)}, got {output!r}")
        import torch

        from harness.metrics import weights

        self.located = weights.locate("pytorch-fid-inception", weights_dir)
        self.resize, self.output, self.device = resize, output, device
        self.dim = self.OUTPUTS[output]
        sha = self.located.sha256[self.located.path.name]
        resize_input = resize == "legacy_pytorch"

        def load() -> tuple[Any, Any]:
            net, fc = build_fid_inception(self.located.path, resize_input=resize_input)
            return net.to(device), fc.weight.detach().to(device)

        self._net, self._fc_weight = cached_model(("inception-fid", sha, resize_input, device), load)
        self._torch = torch

    def protocol(self) -> dict[str, Any]:
        return {
            **super().protocol(),
            "network": "pytorch-fid InceptionV3 (use_fid_inception=True)",
            "weights": self.located.details(),
            "resize": self.resize,
            "resize_detail": FID_RESIZES[self.resize],
            "input": "RGB in [0, 1]",
            "output": "pool3 (2048)" if self.output == "pool" else "logits without bias (1008)",
            "dtype": "float32 network, float64 features",
        }

    def libraries(self) -> dict[str, str | None]:
        return {
            **super().libraries(),
            "torchvision": version_of("torchvision"),
            "pytorch-fid": version_of("pytorch-fid"),
            "pillow": version_of("pillow"),
        }

    def network_input(self, batch: np.ndarray) -> Any:
        """(B, H, W, 3) in [0, 1] → the (B, 3, h, w) float32 tensor the wrapped network is given.

        Every mode starts from the 8-bit image, as the reference tools read it from a file. The network scales
        its input by ``2x − 1``: ``legacy_pytorch`` hands it ``u8 / 255`` (its own resize runs first); the other
        modes hand it the resized [0, 255] image / 256, so that it sees ``(x − 128) / 128``.
        """
        torch = self._torch
        u8 = quantize(batch)
        if self.resize == "clean":
            x = torch.from_numpy(clean_resize(u8).transpose(0, 3, 1, 2))
            return x.to(self.device) / 256.0
        x = torch.from_numpy(np.ascontiguousarray(u8.transpose(0, 3, 1, 2))).to(self.device).float()
        if self.resize == "legacy_tensorflow":
            return tf1_resize_bilinear(x) / 256.0
        return x / 255.0

    def _forward(self, batch: np.ndarray) -> Any:
        torch = self._torch
        with torch.inference_mode():
            pool = self._net(self.network_input(batch))[0].flatten(1)
            if self.output == "logits":
                return pool @ self._fc_weight.T
            return pool


def _build_inception(**kw: Any) -> InceptionFID:
    return InceptionFID(**kw)


# --------------------------------------------------------------------------------------------- CLIP


def load_clip(located: Any, device: str = "cpu") -> tuple[Any, Any]:
    """``(CLIPModel, CLIPProcessor)`` from a located CLIP folder; the weights from its pytorch_model.bin only.

    The model is built from config.json and every tensor of the verified checkpoint is loaded (missing ones are
    an error, not random weights); the processor (tokenizer and image processor) from the same folder, offline.
    """
    sha = located.sha256.get("pytorch_model.bin")
    return cached_model(("clip", str(located.root), sha, device), lambda: _load_clip(located, device))


def load_clip_model(located: Any, device: str = "cpu") -> Any:
    """The ``CLIPModel`` alone (``load_clip`` without the processor: no tokenizer files needed)."""
    sha = located.sha256.get("pytorch_model.bin")
    return cached_model(
        ("clip-model", str(located.root), sha, device), lambda: _load_clip_model(located, device)
    )


def _load_clip(located: Any, device: str) -> tuple[Any, Any]:
    from transformers import CLIPProcessor

    model = load_clip_model(located, device)
    return model, CLIPProcessor.from_pretrained(str(located.root), local_files_only=True)


def _load_clip_model(located: Any, device: str) -> Any:
    from transformers import CLIPModel

    folder = str(located.root)
    weights_file = located.files["pytorch_model.bin"]
    if Path(weights_file).parent != Path(folder):
        raise WeightsLoadError(f"{weights_file}: expected in {folder} with the config and tokenizer files")
    # use_safetensors=False: read exactly the verified pytorch_model.bin (weights_only), even where an
    # unpinned model.safetensors sits next to it (a Hugging Face cache snapshot).
    model, info = CLIPModel.from_pretrained(
        folder, local_files_only=True, use_safetensors=False, output_loading_info=True
    )
    # Older checkpoints carry position_ids buffers that newer transformers compute instead.
    unexpected = [k for k in info.get("unexpected_keys", ()) if not str(k).endswith("position_ids")]
    missing = list(info.get("missing_keys", ()))
    mismatched = list(info.get("mismatched_keys", ()))
    if missing or unexpected or mismatched:
        raise WeightsLoadError(
            f"{weights_file}: does not fit the CLIP config (no random weights are used): missing {sorted(missing)[:5]}, "
            f"unexpected {sorted(unexpected)[:5]}, mismatched {sorted(map(str, mismatched))[:5]}"
        )
    return model.eval().to(device)


def embeddings(out: Any) -> Any:
    """``get_image_features`` / ``get_text_features`` return a tensor (transformers 4) or an output whose
    ``pooler_output`` holds the projected embedding (transformers 5)."""
    return out if hasattr(out, "norm") else out.pooler_output


class CLIPImageFeatures(FeatureExtractor):
    """CLIP image embeddings (see the module docstring)."""

    def __init__(
        self,
        *,
        device: str = "cpu",
        weights_dir: str | os.PathLike[str] | None = None,
        batch_size: int = 32,
        normalize: bool = False,
        weights: str = "clip-vit-base-patch32",
    ) -> None:
        super().__init__(batch_size)
        if not isinstance(normalize, bool):
            raise ValueError(f"normalize must be true or false, got {normalize!r}")
        import torch

        from harness.metrics import weights as W

        self.located = W.locate(weights, weights_dir)
        self.model, self.processor = load_clip(self.located, device)
        self.device, self.normalize = device, normalize
        self.dim = int(self.model.config.projection_dim)
        self._torch = torch

    def protocol(self) -> dict[str, Any]:
        ip = self.processor.image_processor
        return {
            **super().protocol(),
            "network": "transformers CLIPModel.get_image_features",
            "weights": self.located.details(),
            "preprocess": f"uint8 → {type(ip).__name__} (resize {getattr(ip, 'size', None)}, "
            f"crop {getattr(ip, 'crop_size', None)}, mean/std normalised)",
            "output": "projected image embedding" + (", L2-normalised" if self.normalize else ""),
            "dtype": "float32 network, float64 features",
        }

    def libraries(self) -> dict[str, str | None]:
        return {
            **super().libraries(),
            "transformers": version_of("transformers"),
            "pillow": version_of("pillow"),
        }

    def pixel_values(self, batch: np.ndarray) -> Any:
        images = list(quantize(batch))
        return self.processor.image_processor(images=images, return_tensors="pt")["pixel_values"]

    def _forward(self, batch: np.ndarray) -> Any:
        torch = self._torch
        with torch.inference_mode():
            emb = embeddings(
                self.model.get_image_features(pixel_values=self.pixel_values(batch).to(self.device))
            )
            if self.normalize:
                emb = emb / emb.norm(dim=-1, keepdim=True)
            return emb


def _build_clip(**kw: Any) -> CLIPImageFeatures:
    return CLIPImageFeatures(**kw)


# OpenAI CLIP's normalisation (scenic's clip.normalize_image, which CMMD's embedding.py applies).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def center_crop_resize(image_u8: np.ndarray, size: int) -> np.ndarray:
    """CMMD's ``_center_crop_and_resize``: the centred square of side min(h, w), PIL bicubic to size × size.

    Args:
        image_u8: (H, W, 3) uint8.

    Returns:
        (size, size, 3) uint8 (PIL's bicubic antialiases when it shrinks).
    """
    from PIL import Image

    h, w = image_u8.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    im = Image.fromarray(image_u8).crop((left, top, left + side, top + side))
    return np.asarray(im.resize((size, size), resample=Image.BICUBIC))


class CMMDClipEmbeddings(FeatureExtractor):
    """CLIP image embeddings as google-research's CMMD computes them (see the module docstring).

    Per image: quantise to uint8 (what reading the reference code's PNG/JPEG files gives), centre crop and PIL
    bicubic to the model's resolution (336 for ViT-L/14@336; ``jax.image.resize`` to the same size in
    ``embedding.py`` is then the identity), /255, ``(x − mean) / std`` with CLIP's constants, the projected image
    embedding divided by its L2 norm (scenic's ``encode_image(normalize=True)``).
    """

    def __init__(
        self,
        *,
        device: str = "cpu",
        weights_dir: str | os.PathLike[str] | None = None,
        batch_size: int = 32,
        weights: str = "clip-vit-large-patch14-336",
    ) -> None:
        super().__init__(batch_size)
        import torch

        from harness.metrics import weights as W

        self.located = W.locate(weights, weights_dir)
        self.model = load_clip_model(self.located, device)
        self.device, self._torch = device, torch
        self.size = int(self.model.config.vision_config.image_size)
        self.dim = int(self.model.config.projection_dim)

    def protocol(self) -> dict[str, Any]:
        return {
            **super().protocol(),
            "network": "transformers CLIPModel.get_image_features",
            "weights": self.located.details(),
            "preprocess": f"uint8; centre crop to a square ((h - l) // 2, (w - l) // 2); PIL bicubic to "
            f"{self.size}x{self.size}; /255; (x - mean) / std, CLIP mean {CLIP_MEAN} std {CLIP_STD} "
            "(google-research cmmd)",
            "output": "projected image embedding, L2-normalised",
            "dtype": "float32 network, float64 features",
        }

    def libraries(self) -> dict[str, str | None]:
        return {
            **super().libraries(),
            "transformers": version_of("transformers"),
            "pillow": version_of("pillow"),
        }

    def pixel_values(self, batch: np.ndarray) -> np.ndarray:
        """(B, H, W, 3) in [0, 1] → (B, 3, size, size) float32, normalised as CMMD's embedding.py."""
        resized = np.stack([center_crop_resize(img, self.size) for img in quantize(batch)])
        x = resized.astype(np.float32) / np.float32(255.0)
        x = (x - np.asarray(CLIP_MEAN, np.float32)) / np.asarray(CLIP_STD, np.float32)
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))

    def _forward(self, batch: np.ndarray) -> Any:
        torch = self._torch
        x = torch.from_numpy(self.pixel_values(batch)).to(self.device)
        with torch.inference_mode():
            emb = embeddings(self.model.get_image_features(pixel_values=x))
            return emb / emb.norm(dim=-1, keepdim=True)


def _build_cmmd_clip(**kw: Any) -> CMMDClipEmbeddings:
    return CMMDClipEmbeddings(**kw)


# --------------------------------------------------------------------------------------------- registry

register_extractor(
    ExtractorSpec(
        name="inception-v3-fid",
        builder="harness.metrics.extractors:_build_inception",
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
        builder="harness.metrics.extractors:_build_inception",
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
        builder="harness.metrics.extractors:_build_clip",
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
        builder="harness.metrics.extractors:_build_cmmd_clip",
        dim=768,
        weights="clip-vit-large-patch14-336",
        protocol="RGB uint8; centre crop, PIL bicubic 336, CLIP mean/std (google-research cmmd); "
        "projected image embedding 768-d, L2-normalised",
        summary="OpenAI CLIP ViT-L/14@336 image embeddings as CMMD computes them",
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

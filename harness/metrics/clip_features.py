"""CLIP image embeddings as feature extractors: ``clip-vit-b-32`` (FD-CLIP, clip_score) and ``clip-vit-l-14-336``
(CMMD).

* ``clip-vit-b-32``: transformers' ``CLIPModel`` built from the local folder (config.json, pytorch_model.bin,
  preprocessor_config.json, tokenizer files as openai/clip-vit-base-patch32 publishes them); images are
  quantised to uint8 and prepared by the folder's ``CLIPImageProcessor``; features are the projected image
  embeddings (512-d, not L2-normalised; ``normalize=True`` for unit vectors).
* ``clip-vit-l-14-336``: OpenAI CLIP ViT-L/14 at 336 px (``clip-vit-large-patch14-336``) prepared as
  google-research's CMMD reference code does (``cmmd/io_util.py``, ``embedding.py``): uint8, centre crop to a
  square, PIL bicubic to 336 × 336, /255, CLIP mean/std; the projected image embedding, L2-normalised (768-d).

Torch and transformers are imported only when an extractor is built.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from harness.metrics import weights as W
from harness.metrics.extractors import FeatureExtractor, quantize
from harness.metrics.loading import WeightsLoadError, cached_model, check_loading_info, embeddings

__all__ = [
    "CLIP_MEAN",
    "CLIP_STD",
    "CLIPImageFeatures",
    "CMMDClipEmbeddings",
    "center_crop_resize",
    "load_clip",
    "load_clip_model",
]


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
    check_loading_info(info, f"{weights_file}: does not fit the CLIP config")
    return model.eval().to(device)


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

        self.located = W.locate(weights, weights_dir)
        self.model, self.processor = load_clip(self.located, device)
        self.device, self.normalize = device, normalize
        self.dim = int(self.model.config.projection_dim)
        self._torch = torch

    packages = (*FeatureExtractor.packages, "transformers", "pillow")

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

        self.located = W.locate(weights, weights_dir)
        self.model = load_clip_model(self.located, device)
        self.device, self._torch = device, torch
        self.size = int(self.model.config.vision_config.image_size)
        self.dim = int(self.model.config.projection_dim)

    packages = (*FeatureExtractor.packages, "transformers", "pillow")

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

"""Helpers of the metric tests: weights files made here (random init, the real file names), fake extractors.

Real weights are never downloaded: a test builds the architecture with random weights, saves its state dict
under the pinned file name, and re-pins the registry entry to that file's hash (``pin_to``).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from harness.metrics import weights as W
from harness.metrics.extractors import ExtractorSpec, FeatureExtractor


def pin_to(monkeypatch, name: str, where: Path) -> W.WeightsSpec:
    """Re-pin the entry ``name`` to the files made here (``where``: the file, or the bundle folder)."""
    spec = W.WEIGHTS[name]
    files = []
    for wf in spec.files:
        path = where / wf.filename if spec.is_bundle else where
        if path.is_file():
            wf = dataclasses.replace(
                wf, sha256=W.sha256_of(path), sha256_prefix=None, size=path.stat().st_size
            )
        files.append(wf)
    new = dataclasses.replace(spec, files=tuple(files))
    monkeypatch.setitem(W.WEIGHTS, name, new)
    return new


def random_state_dict(factory, seed: int = 0) -> dict:
    """The state dict of ``factory()``'s architecture filled with seeded random values (built on the meta
    device: no slow initialisation). Conv/linear weights ~ N(0, 1/fan_in), BatchNorm statistics neutral."""
    import torch

    with torch.device("meta"):
        module = factory()
    g = torch.Generator().manual_seed(seed)
    out = {}
    for key, t in module.state_dict().items():
        if key.endswith("num_batches_tracked"):
            out[key] = torch.zeros((), dtype=torch.long)
        elif key.endswith("running_var"):
            out[key] = torch.ones(t.shape)
        elif key.endswith("running_mean"):
            out[key] = torch.zeros(t.shape)
        elif t.ndim >= 2:
            fan_in = t[0].numel()
            out[key] = torch.randn(t.shape, generator=g) / fan_in**0.5
        elif key.endswith("weight"):
            out[key] = 1 + 0.1 * torch.randn(t.shape, generator=g)
        else:
            out[key] = 0.1 * torch.randn(t.shape, generator=g)
    return out


def make_inception_file(folder: Path, seed: int = 0) -> Path:
    """pytorch-fid's FID Inception architecture with random weights, saved as pt_inception-…pth."""
    import torch

    from harness.metrics.inception import _fid_inception_architecture

    path = folder / W.WEIGHTS["pytorch-fid-inception"].files[0].filename
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(random_state_dict(_fid_inception_architecture, seed), path)
    return path


def make_alexnet_file(folder: Path, seed: int = 0) -> Path:
    """torchvision AlexNet with random weights, saved as alexnet-owt-7be5be79.pth."""
    import torch
    import torchvision

    path = folder / W.WEIGHTS["torchvision-alexnet"].files[0].filename
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(random_state_dict(lambda: torchvision.models.alexnet(weights=None), seed), path)
    return path


TINY_VOCAB_CHARS = "abcdefghijklmnopqrstuvwxyz"


def make_tiny_clip(folder: Path, seed: int = 3, image_size: int = 32) -> Path:
    """A tiny random CLIP laid out as openai/clip-vit-base-patch32's files (pytorch_model.bin, no safetensors).

    Seed 3 gives image-text cosines of both signs on the tests' prompts, so max(cos, 0) is exercised both ways.
    """
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab: dict[str, int] = {}
    for c in TINY_VOCAB_CHARS:
        vocab[c] = len(vocab)
    for c in TINY_VOCAB_CHARS:
        vocab[c + "</w>"] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tok = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"))
    n = len(vocab)
    cfg = CLIPConfig(
        text_config=dict(
            vocab_size=n,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            max_position_embeddings=16,
            bos_token_id=n - 2,
            eos_token_id=n - 1,
            pad_token_id=n - 1,
        ),
        vision_config=dict(
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=image_size,
            patch_size=8,
        ),
        projection_dim=8,
    )
    torch.manual_seed(seed)
    model = CLIPModel(cfg).eval()
    cfg.save_pretrained(folder)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    CLIPImageProcessor(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
    ).save_pretrained(folder)
    tok.save_pretrained(folder)
    for extra in ("model.safetensors", "processor_config.json", "chat_template.jinja"):
        (folder / extra).unlink(missing_ok=True)
    return folder


# --------------------------------------------------------------------------------------------- fake extractors


class FlatPixels(FeatureExtractor):
    """Identity on flattened pixels (float64): known features for exact-answer tests."""

    def __init__(
        self, *, device: str = "cpu", weights_dir=None, batch_size: int = 7, scale: float = 1.0
    ) -> None:
        super().__init__(batch_size)
        self.scale = scale
        self.calls = 0

    def protocol(self) -> dict:
        return {"extractor": self.name, "scale": self.scale}  # d is known only after the first batch

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        self.calls += 1
        self.dim = int(np.prod(batch.shape[1:]))
        return batch.reshape(len(batch), -1).astype(np.float64) * self.scale


LOGIT_CLASSES = 10


def logit_matrix(d: int, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((d, LOGIT_CLASSES)) * 4.0


class PixelLogits(FeatureExtractor):
    """Logits = flattened pixels @ a fixed random matrix (a stand-in classifier for the Inception Score)."""

    def __init__(self, *, device: str = "cpu", weights_dir=None, batch_size: int = 5) -> None:
        super().__init__(batch_size)
        self.dim = LOGIT_CLASSES

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        flat = batch.reshape(len(batch), -1).astype(np.float64)
        return flat @ logit_matrix(flat.shape[1])


FLAT = ExtractorSpec(
    name="test-flat-pixels", builder=FlatPixels, dim=0, weights=None, protocol="flattened pixels"
)
FLAT_X2 = ExtractorSpec(
    name="test-flat-pixels-x2",
    builder=FlatPixels,
    dim=0,
    weights=None,
    protocol="flattened pixels x2",
    defaults={"scale": 2.0},
)
# A network whose outputs went NaN (an fp16 overflow, say) on finite images: flattened pixels times NaN.
FLAT_NAN = ExtractorSpec(
    name="test-flat-pixels-nan",
    builder=FlatPixels,
    dim=0,
    weights=None,
    protocol="flattened pixels x NaN",
    defaults={"scale": float("nan")},
)
LOGITS = ExtractorSpec(
    name="test-pixel-logits", builder=PixelLogits, dim=LOGIT_CLASSES, weights=None, protocol="pixels @ W"
)


def write_pngs(folder: Path, images: np.ndarray) -> Path:
    """Save (N, H, W, 3) images in [0, 1] as PNG files 000.png, 001.png, ..."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        Image.fromarray(np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)).save(folder / f"{i:03d}.png")
    return folder


def quantized(images: np.ndarray) -> np.ndarray:
    """What a PNG round trip gives back (float32 in [0, 1])."""
    return (np.clip(np.rint(images * 255), 0, 255).astype(np.uint8) / np.float32(255.0)).astype(np.float32)

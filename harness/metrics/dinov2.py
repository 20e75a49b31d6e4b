"""DINOv2 image features as dgm-eval computes them (FD-DINOv2, Stein et al., NeurIPS 2023).

The reference is layer6ai-labs/dgm-eval (``dgm_eval/models/dinov2.py``, ``dataloaders.py``,
``representations.py``); this module matches its default path, written here from reading it:

* input: RGB uint8 (dgm-eval reads image files with PIL and ``convert('RGB')``; our [0, 1] images are quantised as
  saving a PNG does, grayscale repeated to RGB);
* resize: PIL bicubic straight to 224 × 224 (torchvision ``Resize((224, 224), BICUBIC)`` on a PIL image; no crop, the
  aspect ratio is not kept); then /255 to float32 (``ToTensor``) and ImageNet mean (0.485, 0.456, 0.406) / std
  (0.229, 0.224, 0.225) (``Normalize``); dgm-eval's optional ``--clean_resize`` is not its default and not offered;
* network: facebookresearch/dinov2's torch hub backbone ``dinov2_vit{s,b,l,g}14`` (ViT-L/14 unless another ``arch``);
  its position embeddings (trained at 518 px, 37 × 37 patches) are resampled to the 16 × 16 patches of 224 px as
  the hub code does: bicubic with ``scale_factor`` (16 + 0.1) / 37, no antialias (transformers' own
  ``Dinov2Model`` resamples to a ``size`` instead, which gives other values, so the resampled table is computed here
  once and set on the model);
* feature: the CLS token after the final LayerNorm (the hub model's forward, ``x_norm_clstoken``), float32, not
  normalised; 384 / 768 / 1024 / 1536-d.

The architecture is transformers' ``Dinov2Model``; the weights come from either the torch hub checkpoint
(``dinov2_vitl14_pretrain.pth``; its keys are mapped onto transformers' names here) or the Hugging Face
``facebook/dinov2-*`` folder (config.json + model.safetensors), whichever the user has (``source: auto`` tries the
Hugging Face folder first, then the torch hub file).

Torch and transformers are imported only when an extractor is built.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.core.errors import WeightsNotFoundError
from harness.core.registry import did_you_mean
from harness.metrics import weights as W
from harness.metrics.extractors import FeatureExtractor, quantize
from harness.metrics.loading import WeightsLoadError, cached_model, check_loading_info, load_state_dict_file

__all__ = [
    "ARCHS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "INPUT_SIZE",
    "SOURCES",
    "DINOv2Arch",
    "DINOv2Features",
    "hub_pos_embed",
    "hub_to_transformers",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INPUT_SIZE = 224
PATCH = 14
TRAIN_SIZE = 518  # the hub backbones' img_size: 37 × 37 position embeddings
INTERPOLATE_OFFSET = 0.1  # the hub code's interpolate_offset


@dataclass(frozen=True)
class DINOv2Arch:
    """One DINOv2 size: its widths and the two weights entries that hold it."""

    size: str
    hidden: int
    layers: int
    heads: int
    swiglu: bool
    hub_weights: str
    hf_weights: str


# facebookresearch/dinov2 hubconf: vit_small / base / large (mlp) and giant2 (swiglufused); all layerscale 1.0,
# qkv bias, LayerNorm eps 1e-6.
ARCHS: dict[str, DINOv2Arch] = {
    "s": DINOv2Arch("s", 384, 12, 6, False, "dinov2-vits14", "dinov2-small-hf"),
    "b": DINOv2Arch("b", 768, 12, 12, False, "dinov2-vitb14", "dinov2-base-hf"),
    "l": DINOv2Arch("l", 1024, 24, 16, False, "dinov2-vitl14", "dinov2-large-hf"),
    "g": DINOv2Arch("g", 1536, 40, 24, True, "dinov2-vitg14", "dinov2-giant-hf"),
}
SOURCES = ("auto", "hf", "torch-hub")


def _config(arch: DINOv2Arch) -> Any:
    from transformers import Dinov2Config

    return Dinov2Config(
        hidden_size=arch.hidden,
        num_hidden_layers=arch.layers,
        num_attention_heads=arch.heads,
        mlp_ratio=4,
        use_swiglu_ffn=arch.swiglu,
        image_size=TRAIN_SIZE,
        patch_size=PATCH,
        layer_norm_eps=1e-6,
        layerscale_value=1.0,
        qkv_bias=True,
        hidden_act="gelu",
    )


def hub_to_transformers(sd: dict[str, Any], model_keys: set[str]) -> dict[str, Any]:
    """A torch hub DINOv2 state dict (``blocks.N.attn.qkv``, ``ls1.gamma``, ``mlp.w12`` ...) under the names of
    transformers' ``Dinov2Model`` (``model_keys``: its state dict's keys; the names of transformers 5, or the older
    ``attention.attention.query`` ones). Keys it does not know are kept as they are, so a strict load names them."""
    new_names = "encoder.layer.0.attention.q_proj.weight" in model_keys
    out: dict[str, Any] = {}
    top = {
        "cls_token": "embeddings.cls_token",
        "mask_token": "embeddings.mask_token",
        "pos_embed": "embeddings.position_embeddings",
        "patch_embed.proj.weight": "embeddings.patch_embeddings.projection.weight",
        "patch_embed.proj.bias": "embeddings.patch_embeddings.projection.bias",
        "norm.weight": "layernorm.weight",
        "norm.bias": "layernorm.bias",
    }
    if new_names:
        attn_q, attn_k, attn_v, attn_o = (
            "attention.q_proj",
            "attention.k_proj",
            "attention.v_proj",
            "attention.o_proj",
        )
        gate_up, down = ("mlp.gate_proj", "mlp.up_proj"), "mlp.down_proj"
    else:
        attn_q, attn_k, attn_v = (
            "attention.attention.query",
            "attention.attention.key",
            "attention.attention.value",
        )
        attn_o = "attention.output.dense"
        gate_up, down = None, "mlp.weights_out"
    for key, t in sd.items():
        if key in top:
            out[top[key]] = t
            continue
        parts = key.split(".")
        if parts[0] != "blocks" or len(parts) < 4:
            out[key] = t
            continue
        pre, rest, leaf = f"encoder.layer.{parts[1]}", ".".join(parts[2:-1]), parts[-1]
        if rest == "attn.qkv":  # rows: q, k, v
            q, k, v = t.chunk(3, dim=0)
            out[f"{pre}.{attn_q}.{leaf}"], out[f"{pre}.{attn_k}.{leaf}"], out[f"{pre}.{attn_v}.{leaf}"] = (
                q,
                k,
                v,
            )
        elif rest == "attn.proj":
            out[f"{pre}.{attn_o}.{leaf}"] = t
        elif rest in ("ls1", "ls2") and leaf == "gamma":
            out[f"{pre}.layer_scale{rest[-1]}.lambda1"] = t
        elif rest == "mlp.w12":  # the hub's SwiGLU: silu(first half) * second half
            if gate_up is None:
                out[f"{pre}.mlp.weights_in.{leaf}"] = t
            else:
                gate, up = t.chunk(2, dim=0)
                out[f"{pre}.{gate_up[0]}.{leaf}"], out[f"{pre}.{gate_up[1]}.{leaf}"] = gate, up
        elif rest == "mlp.w3":
            out[f"{pre}.{down}.{leaf}"] = t
        else:  # norm1, norm2, mlp.fc1, mlp.fc2 keep their names
            out[f"{pre}.{rest}.{leaf}"] = t
    return out


def hub_pos_embed(pos_embed: Any, size: int = INPUT_SIZE) -> Any:
    """The position embeddings for ``size`` px as facebookresearch/dinov2's ``interpolate_pos_encoding`` makes
    them: float32, bicubic, ``scale_factor`` (patches + 0.1) / trained patches, no antialias; CLS row unchanged."""
    import math

    import torch

    dtype = pos_embed.dtype
    pos = pos_embed.float()
    n = pos.shape[1] - 1
    m = int(math.sqrt(n))
    if m * m != n:
        raise WeightsLoadError(f"position embeddings of {n} patches are not a square grid")
    w0 = size // PATCH
    if w0 == m:
        return pos_embed
    scale = float(w0 + INTERPOLATE_OFFSET) / m
    grid = pos[:, 1:].reshape(1, m, m, -1).permute(0, 3, 1, 2)
    grid = torch.nn.functional.interpolate(grid, scale_factor=(scale, scale), mode="bicubic", antialias=False)
    if tuple(grid.shape[-2:]) != (w0, w0):
        raise WeightsLoadError(f"resampled position embeddings are {tuple(grid.shape[-2:])}, expected {w0}")
    grid = grid.permute(0, 2, 3, 1).reshape(1, w0 * w0, -1)
    return torch.cat((pos[:, :1], grid), dim=1).to(dtype)


def _set_pos_embed(model: Any) -> Any:
    import torch

    emb = model.embeddings
    with torch.no_grad():
        emb.position_embeddings = torch.nn.Parameter(hub_pos_embed(emb.position_embeddings.data))
    return model


def _load_hub(arch: DINOv2Arch, located: W.Located, device: str) -> Any:
    from transformers import Dinov2Model

    path = located.path
    model = Dinov2Model(_config(arch))
    sd = hub_to_transformers(load_state_dict_file(path), set(model.state_dict()))
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as exc:
        first = " ".join(str(exc).strip().splitlines()[:3])[:400]
        raise WeightsLoadError(f"{path}: does not fit DINOv2 ViT-{arch.size.upper()}/14: {first}") from None
    return _set_pos_embed(model).eval().to(device)


def _load_hf(arch: DINOv2Arch, located: W.Located, device: str) -> Any:
    from transformers import Dinov2Model

    folder = str(located.root)
    model, info = Dinov2Model.from_pretrained(
        folder, local_files_only=True, use_safetensors=True, output_loading_info=True
    )
    check_loading_info(
        info, f"{located.files.get('model.safetensors', folder)}: does not fit the DINOv2 config"
    )
    if int(model.config.hidden_size) != arch.hidden:
        raise WeightsLoadError(
            f"{folder}: hidden size {model.config.hidden_size}, expected {arch.hidden} for ViT-{arch.size.upper()}/14"
        )
    return _set_pos_embed(model.float()).eval().to(device)


def _locate(arch: DINOv2Arch, source: str, weights_dir: Any) -> W.Located:
    names = {"hf": [arch.hf_weights], "torch-hub": [arch.hub_weights]}.get(
        source, [arch.hf_weights, arch.hub_weights]
    )
    missing: list[str] = []
    for name in names:
        try:
            return W.locate(name, weights_dir)
        except WeightsNotFoundError as exc:
            missing.append(str(exc))
    if len(missing) == 1:
        raise WeightsNotFoundError(missing[0])
    raise WeightsNotFoundError(
        f"DINOv2 ViT-{arch.size.upper()}/14 needs either of two weights; " + " | or: ".join(missing)
    )


class DINOv2Features(FeatureExtractor):
    """DINOv2 CLS features with dgm-eval's preprocessing (see the module docstring).

    Options: ``size`` (``s``, ``b``, ``l``, ``g``: ViT-S/B/L/g/14; the registered names preset it), ``source``
    (``auto``: the Hugging Face folder, else the torch hub file; ``hf``; ``torch-hub``), ``batch_size``.
    """

    packages = (*FeatureExtractor.packages, "transformers", "pillow")

    def __init__(
        self,
        *,
        device: str = "cpu",
        weights_dir: str | os.PathLike[str] | None = None,
        batch_size: int = 50,
        size: str = "l",
        source: str = "auto",
    ) -> None:
        super().__init__(batch_size)
        if size not in ARCHS:
            raise ValueError(
                f"size: unknown DINOv2 size {size!r} ({did_you_mean(str(size), ARCHS)}; s, b, l or g)"
            )
        if source not in SOURCES:
            raise ValueError(f"source: unknown weights source {source!r} ({', '.join(SOURCES)})")
        import torch

        self.arch = ARCHS[size]
        self.located = _locate(self.arch, source, weights_dir)
        load = _load_hub if self.located.spec.host == "torch-hub" else _load_hf
        key = (
            "dinov2",
            self.located.spec.name,
            str(self.located.root),
            tuple(sorted(self.located.sha256.items())),
        )
        self.model = cached_model((*key, device), lambda: load(self.arch, self.located, device))
        self.device = device
        self.dim = self.arch.hidden
        self._torch = torch
        self._mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(1, 3, 1, 1)
        self._std = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(1, 3, 1, 1)

    def protocol(self) -> dict[str, Any]:
        return {
            **super().protocol(),
            "network": f"DINOv2 ViT-{self.arch.size.upper()}/14 (facebookresearch/dinov2 backbone, "
            "transformers Dinov2Model)",
            "size": self.arch.size,
            "weights": self.located.details(),
            "preprocess": f"RGB uint8 → PIL bicubic {INPUT_SIZE}x{INPUT_SIZE} (no crop) → /255 → ImageNet mean "
            f"{IMAGENET_MEAN} std {IMAGENET_STD} (dgm-eval)",
            "pos_embed": f"hub interpolate_pos_encoding: bicubic scale_factor ({INPUT_SIZE // PATCH}+"
            f"{INTERPOLATE_OFFSET})/{TRAIN_SIZE // PATCH}, no antialias",
            "output": "CLS token after the final LayerNorm (x_norm_clstoken), not normalised",
            "dtype": "float32 network, float64 features",
        }

    def pixel_values(self, batch: np.ndarray) -> Any:
        """(B, H, W, 3) [0, 1] → (B, 3, 224, 224) float32, as dgm-eval's transform makes them."""
        from PIL import Image

        torch = self._torch
        resized = [
            np.asarray(Image.fromarray(u8).resize((INPUT_SIZE, INPUT_SIZE), Image.BICUBIC))
            for u8 in quantize(batch)
        ]
        x = torch.from_numpy(np.stack(resized)).permute(0, 3, 1, 2).contiguous().float().div(255)
        return (x - self._mean) / self._std

    def _forward(self, batch: np.ndarray) -> Any:
        torch = self._torch
        with torch.inference_mode():
            out = self.model(pixel_values=self.pixel_values(batch).to(self.device))
            return out.pooler_output

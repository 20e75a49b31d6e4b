"""The networks of VBench's dimensions, built from pinned, verified files (never downloaded, never random).

* DINO ViT-B/16 (``subject_consistency``): VBench loads it with ``torch.hub.load('facebookresearch/dino:main',
  'dino_vitb16')``, which needs the network. ``DinoViT`` is the same architecture (facebookresearch/dino
  ``vision_transformer.py``: pre-norm blocks, LayerNorm eps 1e-6, qkv bias, the [CLS] token after the last norm,
  the position embedding resized bicubically for inputs other than 224 × 224, with DINO's +0.1 offset), loaded
  strictly from ``dino_vitbase16_pretrain.pth``.
* CLIP ViT-B/32 (``background_consistency``, ``appearance_style``): the ``clip`` package's own ``clip.load`` on
  our verified ``ViT-B-32.pt`` (fp16 on CUDA, fp32 on the CPU, as ``clip.load`` does).
* RAFT (``dynamic_degree``) and AMT-S (``motion_smoothness``): vbench's vendored code, on our verified files.

``require_vbench(module)`` imports ``vbench.<module>``; where it does not import, the metric is skipped with the
import error and what to install.
"""

from __future__ import annotations

import importlib
import math
import os
from typing import Any

from harness.core.errors import MetricSkipped
from harness.metrics import weights as W
from harness.metrics.loading import (
    WeightsLoadError,
    cached_model,
    load_network,
    load_state_dict_file,
)

VBENCH_INSTALL = (
    "pip install 'harness[vbench]' && pip install --no-deps vbench==0.1.5 "
    "(vbench's own pins, transformers 4.33.2 and numpy<2, would downgrade this environment)"
)

# Checkpoints of VBench's dimensions with no sha256 published anywhere we could find: not in
# ``harness.metrics.weights.WEIGHTS`` until one is, so they are never used unverified.
UNPINNED = {
    "vbench-amt-s": "amt-s.pth (https://huggingface.co/lalala125/AMT/resolve/main/amt-s.pth)",
    "vbench-tag2text-swin-14m": "tag2text_swin_14m.pth "
    "(https://huggingface.co/spaces/xinyu1205/recognize-anything/resolve/main/tag2text_swin_14m.pth)",
}


def require_vbench(module: str) -> Any:
    """``vbench.<module>``, or ``MetricSkipped`` naming the import error and the install command."""
    try:
        return importlib.import_module(f"vbench.{module}")
    except ImportError as exc:
        raise MetricSkipped(
            f"vbench's {module} code does not import here ({type(exc).__name__}: {exc}); {VBENCH_INSTALL}"
        ) from None


def locate(name: str, weights_dir: str | None) -> Any:
    """The verified weights ``name`` (``harness.metrics.weights.locate``); unpinned ones are a skip with the reason."""
    if name not in W.WEIGHTS and name in UNPINNED:
        raise MetricSkipped(
            f"weights '{name}' ({UNPINNED[name]}) have no published sha256 that the harness could pin, "
            "so they are not used unverified; add its rows to harness/metrics/weight_pins.py once one is known"
        )
    return W.locate(name, weights_dir)


# --------------------------------------------------------------------------------------------- DINO


def dino_vit(
    *, dim: int = 768, depth: int = 12, heads: int = 12, patch: int = 16, grid: int = 14, mlp: int = 4
) -> Any:
    """DINO's ViT (``vit_base`` with patch 16 by default), uninitialised parameters."""
    import torch
    from torch import nn

    class Attention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.qkv = nn.Linear(dim, dim * 3)
            self.proj = nn.Linear(dim, dim)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            b, n, c = x.shape
            q, k, v = self.qkv(x).reshape(b, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
            attn = ((q @ k.transpose(-2, -1)) * (c // heads) ** -0.5).softmax(dim=-1)
            return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))

    class Mlp(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1, self.act, self.fc2 = nn.Linear(dim, dim * mlp), nn.GELU(), nn.Linear(dim * mlp, dim)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc2(self.act(self.fc1(x)))

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm1, self.attn = nn.LayerNorm(dim, eps=1e-6), Attention()
            self.norm2, self.mlp = nn.LayerNorm(dim, eps=1e-6), Mlp()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = x + self.attn(self.norm1(x))
            return x + self.mlp(self.norm2(x))

    class PatchEmbed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)

    class DinoViT(nn.Module):
        """[CLS] features (B, dim) of (B, 3, H, W) images, any H and W (position embedding resized)."""

        def __init__(self) -> None:
            super().__init__()
            self.patch, self.grid = patch, grid
            self.patch_embed = PatchEmbed()
            self.cls_token = nn.Parameter(torch.empty(1, 1, dim))
            self.pos_embed = nn.Parameter(torch.empty(1, grid * grid + 1, dim))
            self.blocks = nn.ModuleList(Block() for _ in range(depth))
            self.norm = nn.LayerNorm(dim, eps=1e-6)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            rows, cols = x.shape[-2:]
            t = self.patch_embed.proj(x).flatten(2).transpose(1, 2)
            t = torch.cat((self.cls_token.expand(len(t), -1, -1), t), dim=1)
            t = t + resized_pos_embed(self.pos_embed, rows // self.patch, cols // self.patch)
            for blk in self.blocks:
                t = blk(t)
            return self.norm(t)[:, 0]

    return DinoViT()


def resized_pos_embed(pos: Any, rows: int, cols: int) -> Any:
    """DINO's position embedding for a ``rows`` × ``cols`` patch grid: bicubic ``scale_factor`` resize of the
    square grid, with the +0.1 DINO adds against rounding down (unchanged for the square training grid)."""
    import torch
    import torch.nn.functional as F

    n = pos.shape[1] - 1
    side = int(math.sqrt(n))
    if rows * cols == n and rows == cols:
        return pos
    grid = pos[:, 1:].reshape(1, side, side, -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, scale_factor=((rows + 0.1) / side, (cols + 0.1) / side), mode="bicubic")
    if grid.shape[-2:] != (rows, cols):
        raise ValueError(f"DINO position embedding resized to {tuple(grid.shape[-2:])}, not {(rows, cols)}")
    return torch.cat((pos[:, :1], grid.permute(0, 2, 3, 1).reshape(1, rows * cols, -1)), dim=1)


def dino_shape(sd: dict[str, Any]) -> dict[str, int]:
    """DINO's architecture read from a checkpoint's tensor shapes (heads of 64 channels, as DINO's ViTs)."""
    dim = int(sd["cls_token"].shape[-1])
    return {
        "dim": dim,
        "depth": len({k.split(".")[1] for k in sd if k.startswith("blocks.")}),
        "heads": max(1, dim // 64),
        "patch": int(sd["patch_embed.proj.weight"].shape[-1]),
        "grid": math.isqrt(int(sd["pos_embed"].shape[1]) - 1),
        "mlp": int(sd["blocks.0.mlp.fc1.weight"].shape[0]) // dim,
    }


def load_dino(located: Any, device: str) -> Any:
    """DINO's ViT (B/16 for the pinned file) with every tensor from the verified checkpoint (strict)."""

    path = located.path

    def build() -> Any:
        sd = load_state_dict_file(path)
        try:
            shape = dino_shape(sd)
        except (KeyError, IndexError) as exc:
            raise WeightsLoadError(f"{path}: not a DINO ViT checkpoint (no {exc})") from None
        return load_network(lambda: dino_vit(**shape), path, sd).eval().to(device)

    return cached_model(("vbench-dino", located.sha256.get(path.name), device), build)


# --------------------------------------------------------------------------------------------- CLIP


def load_clip_b32(located: Any, device: str) -> Any:
    """``clip.load`` on the verified ViT-B-32.pt: ``(model, preprocess)`` as VBench gets them."""

    def build() -> Any:
        import warnings

        import clip

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # clip's pkg_resources and torch.jit deprecation notes
            return clip.load(os.fspath(located.path), device=device)

    return cached_model(("vbench-clip-b32", located.sha256.get(located.path.name), device), build)

"""Training recipes of the zoo: one frozen dataclass per model, everything that defines its weights.

``harness zoo train NAME`` (``harness.zoo.train.train``) rebuilds a model from its recipe. With the same
recipe, thread count, library versions and CPU the weights are bitwise identical: the seed fixes the
initialisation, the batches, the timesteps and the noise, and ``threads`` pins torch's intra-op threads
(reductions are split differently with another count, so the last bits differ).

Defaults of the threads: 1. On a shared 2-core machine two OpenMP threads stalled each other (a training
step of the small UNet took 3.2 s with 2 threads against 0.6 s with 1 while other jobs ran), and one
thread per training lets two trainings run side by side.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from harness.core.registry import did_you_mean


@dataclass(frozen=True)
class ExtractorRecipe:
    """The digits classifier whose penultimate features define ``fd_digits`` (a LeNet-like CNN)."""

    name: str
    kind: Literal["extractor"] = "extractor"
    description: str = ""
    channels: tuple[int, int] = (32, 64)  # conv 1→c0, c0→c0, pool, c0→c1, pool
    feature_dim: int = 64  # fc1 output: the features (before its ReLU)
    dropout: float = 0.3
    steps: int = 1200  # optimizer steps
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    max_shift: int = 1  # augmentation: random translation by up to this many pixels
    seed: int = 0
    threads: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GeneratorRecipe:
    """A class-conditional UNet2DModel trained with the DDPM objective (ε prediction, MSE)."""

    name: str
    kind: Literal["generator"] = "generator"
    description: str = ""
    # architecture (diffusers UNet2DModel)
    block_out_channels: tuple[int, ...] = (16, 32, 32)
    layers_per_block: int = 1
    down_block_types: tuple[str, ...] = ("DownBlock2D", "DownBlock2D", "AttnDownBlock2D")
    up_block_types: tuple[str, ...] = ("AttnUpBlock2D", "UpBlock2D", "UpBlock2D")
    norm_num_groups: int = 8
    attention_head_dim: int = 8
    num_class_embeds: int = 10
    sample_size: int = 16
    # noise schedule (saved in the scheduler config)
    num_train_timesteps: int = 1000
    beta_schedule: str = "linear"
    beta_start: float = 1e-4
    beta_end: float = 0.02
    # optimisation
    steps: int = 4000
    batch_size: int = 128
    lr: float = 2e-3
    warmup_steps: int = 200  # linear warm-up, then cosine decay to 0
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    ema_decay: float = 0.999  # EMA of the weights (warm-up: min(decay, (1 + k) / (10 + k))); the EMA is saved
    seed: int = 0
    threads: int = 1
    # the scheduler saved with the pipeline (what the card's defaults build on)
    scheduler: dict[str, Any] = field(
        default_factory=lambda: {
            "name": "DDIMScheduler",
            # DDIM from a DDPM config inherits clip_sample=True, which makes more steps worse here.
            "config": {"clip_sample": False, "timestep_spacing": "trailing", "prediction_type": "epsilon"},
        }
    )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def unet_config(self) -> dict[str, Any]:
        return {
            "sample_size": self.sample_size,
            "in_channels": 1,
            "out_channels": 1,
            "block_out_channels": tuple(self.block_out_channels),
            "layers_per_block": self.layers_per_block,
            "down_block_types": tuple(self.down_block_types),
            "up_block_types": tuple(self.up_block_types),
            "norm_num_groups": self.norm_num_groups,
            "attention_head_dim": self.attention_head_dim,
            "num_class_embeds": self.num_class_embeds,
        }


Recipe = ExtractorRecipe | GeneratorRecipe

RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        ExtractorRecipe(
            name="digits-extractor",
            description="CNN classifier of 16×16 digits; 64-d pre-ReLU features for fd_digits, labels for class_accuracy",
        ),
        GeneratorRecipe(
            name="digits-small",
            description="class-conditional UNet2DModel, ~0.28M parameters, (16, 32, 32), attention at 4×4",
        ),
        GeneratorRecipe(
            name="digits-large",
            description="class-conditional UNet2DModel, ~1.5M parameters, (24, 48, 96), attention at 4×4; "
            "the same optimisation as digits-small",
            block_out_channels=(24, 48, 96),
        ),
    )
}


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``; an unknown name is bad input with a did-you-mean hint."""
    from harness.core.errors import UserInputError

    if name not in RECIPES:
        raise UserInputError(f"unknown zoo model '{name}' ({did_you_mean(name, RECIPES)})", field="zoo train")
    return RECIPES[name]


# The video and audio members of the zoo (issue #8): harness/zoo/av/recipes.py.
from harness.zoo.av.recipes import AV_RECIPES as _AV  # noqa: E402

RECIPES.update(_AV)

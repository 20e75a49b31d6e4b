"""Recipes of the video and audio zoo (merged into ``harness.zoo.recipes.RECIPES``).

Frozen dataclasses as in the image zoo: everything that defines the weights. ``harness zoo train NAME``
rebuilds them (``harness.zoo.av.train``); same recipe, thread count, library versions and CPU → the same
bits. Budgets are small on purpose: every recipe trains in a few minutes on one (shared) CPU thread.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class AVExtractorRecipe:
    """A classifier whose pre-ReLU penultimate features define ``fvd_digits`` / ``fad_notes``."""

    name: str
    modality: Literal["video", "audio"]
    kind: Literal["video-extractor", "audio-extractor"]
    description: str = ""
    channels: tuple[int, int] = (8, 16)
    feature_dim: int = 64
    dropout: float = 0.3
    steps: int = 400
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 30
    seed: int = 0
    threads: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def arch_summary(self) -> str:
        net = "3-D CNN" if self.modality == "video" else "STFT 1-D CNN"
        return f"{net} {tuple(self.channels)} → {self.feature_dim}-d"


@dataclass(frozen=True)
class AVGeneratorRecipe:
    """A class-conditional ε-prediction diffusion model (DDPM objective, EMA weights saved).

    video: a diffusers ``UNet2DModel`` over clips with the frames stacked as channels (``num_class_embeds``);
    audio: ``harness.zoo.av.models.NotesUNet1D`` over raw waveforms.
    """

    name: str
    modality: Literal["video", "audio"]
    kind: Literal["video-generator", "audio-generator"]
    description: str = ""
    block_out_channels: tuple[int, ...] = (16, 32, 48)
    layers_per_block: int = 1  # video (UNet2DModel)
    down_block_types: tuple[str, ...] = ("DownBlock2D", "DownBlock2D", "AttnDownBlock2D")
    up_block_types: tuple[str, ...] = ("AttnUpBlock2D", "UpBlock2D", "UpBlock2D")
    attention_head_dim: int = 8
    patch: int = 8  # audio (NotesUNet1D)
    factor: int = 4
    kernel_size: int = 5
    emb_dim: int = 64
    norm_num_groups: int = 8
    prediction_type: str = "epsilon"  # what the UNet predicts: epsilon, sample (x0) or v_prediction
    num_train_timesteps: int = 1000
    beta_schedule: str = "linear"
    beta_start: float = 1e-4
    beta_end: float = 0.02
    steps: int = 600
    batch_size: int = 32
    lr: float = 2e-3
    warmup_steps: int = 50
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    ema_decay: float = 0.995
    seed: int = 0
    threads: int = 1
    scheduler: dict[str, Any] = field(
        default_factory=lambda: {
            "name": "DDIMScheduler",
            "config": {"clip_sample": False, "timestep_spacing": "trailing", "prediction_type": "epsilon"},
        }
    )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def arch_summary(self) -> str:
        if self.modality == "video":
            return f"UNet2D frames-as-channels {tuple(self.block_out_channels)} x{self.layers_per_block}"
        return f"UNet1D (ours) {tuple(self.block_out_channels)} patch {self.patch}"


AVRecipe = AVExtractorRecipe | AVGeneratorRecipe

AV_RECIPES: dict[str, AVRecipe] = {
    r.name: r
    for r in (
        AVExtractorRecipe(
            name="moving-digits-extractor",
            modality="video",
            kind="video-extractor",
            description="3-D CNN classifier of 8×16×16 moving-digit clips; 64-d pre-ReLU features for fvd_digits",
            channels=(12, 24),
            dropout=0.1,
            steps=700,
            lr=3e-3,
        ),
        AVExtractorRecipe(
            name="notes-extractor",
            modality="audio",
            kind="audio-extractor",
            description="log|STFT| 1-D CNN classifier of 8 kHz notes (8 pitches); 64-d pre-ReLU features for fad_notes",
            channels=(64, 64),
        ),
        AVGeneratorRecipe(
            name="moving-digits",
            modality="video",
            kind="video-generator",
            description="class-conditional UNet2DModel over 8 frames stacked as channels, (16, 32, 48), attention at 4×4, x0 prediction",
            # ε prediction gave class accuracy at chance after 600 steps; x0 prediction learns faster. At 2,500
            # steps of 64 (fvd_digits at 25 steps, 500 clips): x0 221, v prediction 298, ε 1426 (its first
            # trailing DDIM step saturates the frames); x0 with (32, 64, 64) channels 195 for 2.4× the time.
            prediction_type="sample",
            steps=2500,
            batch_size=64,
            ema_decay=0.999,
            scheduler={
                "name": "DDIMScheduler",
                "config": {"clip_sample": False, "timestep_spacing": "trailing", "prediction_type": "sample"},
            },
        ),
        AVGeneratorRecipe(
            name="notes",
            modality="audio",
            kind="audio-generator",
            description="class-conditional 1-D UNet (ours, diffusers ModelMixin) over 2,048-sample waveforms, x0 prediction",
            block_out_channels=(32, 48, 64),
            # ε prediction learned no pitch in 600 steps (class accuracy at chance); x0 prediction does.
            # 600 steps of batch 32 gave class accuracy 0.75 and fad_notes 2742 (25 steps); 3,000 of 64: 1.00
            # and 1906 (what remains is mostly hiss: real notes + white noise of std 0.01 score 1558).
            prediction_type="sample",
            steps=3000,
            batch_size=64,
            ema_decay=0.999,
            scheduler={
                "name": "DDIMScheduler",
                "config": {"clip_sample": False, "timestep_spacing": "trailing", "prediction_type": "sample"},
            },
        ),
    )
}

"""Training recipes of the zoo: one frozen dataclass per model, everything that defines its weights.

``harness zoo train NAME`` (:func:`harness.zoo.train.train`) rebuilds a model from its recipe. With the same
recipe, thread count, library versions and CPU the weights are bitwise identical: the seed fixes the
initialisation, the batches, the timesteps and the noise, and ``threads`` pins torch's intra-op threads
(reductions are split differently with another count, so the last bits differ).

Two kinds, for every modality of the zoo (image: digits; video: moving digits; audio: notes, see
:mod:`harness.zoo.domains`): an :class:`ExtractorRecipe` (a classifier whose pre-ReLU penultimate features
define the domain's Fréchet distance) and a :class:`GeneratorRecipe` (a class-conditional diffusion model).

Defaults of the threads: 1. On a shared 2-core machine two OpenMP threads stalled each other (a training
step of the small UNet took 3.2 s with 2 threads against 0.6 s with 1 while other jobs ran), and one
thread per training lets two trainings run side by side.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from harness.core.errors import UserInputError
from harness.core.registry import did_you_mean

Modality = Literal["image", "video", "audio"]


def _kind(modality: str, what: str) -> str:
    return what if modality == "image" else f"{modality}-{what}"


@dataclass(frozen=True)
class ExtractorRecipe:
    """A classifier of the domain's data (image: a LeNet-like CNN; video: a 3-D CNN; audio: a 1-D CNN over the
    log-magnitude STFT); its pre-ReLU penultimate features define the domain's Fréchet distance."""

    name: str
    modality: Modality = "image"
    description: str = ""
    channels: tuple[int, int] = (32, 64)  # the two convolution widths
    feature_dim: int = 64  # fc1 output: the features (before its ReLU)
    dropout: float = 0.3
    steps: int = 1200  # optimizer steps
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 50  # linear warm-up, then cosine decay to 0
    max_shift: int = 0  # augmentation (images): random translation by up to this many pixels
    seed: int = 0
    threads: int = 1

    @property
    def kind(self) -> str:
        return _kind(self.modality, "extractor")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}

    def arch_summary(self) -> str:
        net = {"image": "CNN", "video": "3-D CNN", "audio": "STFT 1-D CNN"}[self.modality]
        return f"{net} {tuple(self.channels)} → {self.feature_dim}-d"


@dataclass(frozen=True)
class GeneratorRecipe:
    """A class-conditional diffusion model trained with the DDPM objective (MSE on ``prediction_type``), its
    EMA weights saved. ``denoiser: unet``: image, a diffusers ``UNet2DModel``; video, the same with the clip's
    frames as channels; audio, :class:`~harness.zoo.av.models.NotesUNet1D` over raw waveforms.
    ``denoiser: latent`` (video, audio): :class:`~harness.zoo.av.latent.LatentDenoiser` over the domain
    codec's latents (sprite and motion; harmonic amplitudes and envelope)."""

    name: str
    modality: Modality = "image"
    description: str = ""
    denoiser: Literal["unet", "latent"] = "unet"
    # architecture: LatentDenoiser (latent): a residual MLP of ``depth`` blocks of width ``hidden``
    hidden: int = 256
    depth: int = 4
    # architecture: UNet2DModel (image, video)
    block_out_channels: tuple[int, ...] = (16, 32, 32)
    layers_per_block: int = 1
    down_block_types: tuple[str, ...] = ("DownBlock2D", "DownBlock2D", "AttnDownBlock2D")
    up_block_types: tuple[str, ...] = ("AttnUpBlock2D", "UpBlock2D", "UpBlock2D")
    attention_head_dim: int = 8
    # architecture: NotesUNet1D (audio)
    patch: int = 8
    factor: int = 4
    kernel_size: int = 5
    emb_dim: int = 64
    norm_num_groups: int = 8
    # objective and noise schedule (saved in the scheduler config)
    prediction_type: str = "epsilon"  # what the UNet predicts: epsilon, sample (x0) or v_prediction
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
    # the scheduler saved with the pipeline (what the card's defaults build on); its prediction type is the
    # recipe's unless its config says otherwise
    scheduler: dict[str, Any] = field(
        default_factory=lambda: {
            "name": "DDIMScheduler",
            # DDIM from a DDPM config inherits clip_sample=True, which makes more steps worse here.
            "config": {"clip_sample": False, "timestep_spacing": "trailing"},
        }
    )

    @property
    def kind(self) -> str:
        return _kind(self.modality, "generator")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}

    def arch_summary(self) -> str:
        channels = tuple(self.block_out_channels)
        if self.denoiser == "latent":
            codec = {"video": "sprite + motion", "audio": "harmonic"}.get(self.modality, "?")
            return f"MLP {self.hidden}x{self.depth} over {codec} latents"
        if self.modality == "audio":
            return f"UNet1D (ours) {channels} patch {self.patch}"
        frames = " frames-as-channels" if self.modality == "video" else ""
        return f"UNet2D{frames} {channels} x{self.layers_per_block}"


Recipe = ExtractorRecipe | GeneratorRecipe

RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        ExtractorRecipe(
            name="digits-extractor",
            description="CNN classifier of 16×16 digits; 64-d pre-ReLU features for fd_digits, labels for class_accuracy",
            max_shift=1,
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
        # The video and audio members (issue #8): small budgets on purpose, each trains in minutes on one
        # (shared) CPU thread.
        ExtractorRecipe(
            name="moving-digits-extractor",
            modality="video",
            description="3-D CNN classifier of 8×16×16 moving-digit clips; 64-d pre-ReLU features for fvd_digits",
            channels=(12, 24),
            dropout=0.1,
            steps=700,
            batch_size=64,
            lr=3e-3,
            warmup_steps=30,
        ),
        ExtractorRecipe(
            name="notes-extractor",
            modality="audio",
            description="log|STFT| 1-D CNN classifier of 8 kHz notes (8 pitches); 64-d pre-ReLU features for fad_notes",
            channels=(64, 64),
            steps=400,
            batch_size=64,
            warmup_steps=30,
        ),
        GeneratorRecipe(
            name="moving-digits",
            modality="video",
            description="class-conditional UNet2DModel over 8 frames stacked as channels, (16, 32, 48), attention at 4×4, x0 prediction",
            block_out_channels=(16, 32, 48),
            # ε prediction gave class accuracy at chance after 600 steps; x0 prediction learns faster. At 2,500
            # steps of 64 (fvd_digits at 25 steps, 500 clips): x0 221, v prediction 298, ε 1426 (its first
            # trailing DDIM step saturates the frames); x0 with (32, 64, 64) channels 195 for 2.4× the time.
            prediction_type="sample",
            steps=2500,
            batch_size=64,
            warmup_steps=50,
        ),
        GeneratorRecipe(
            name="notes",
            modality="audio",
            description="class-conditional 1-D UNet (ours, diffusers ModelMixin) over 2,048-sample waveforms, x0 prediction",
            block_out_channels=(32, 48, 64),
            # ε prediction learned no pitch in 600 steps (class accuracy at chance); x0 prediction does.
            # 600 steps of batch 32 gave class accuracy 0.75 and fad_notes 2742 (25 steps); 3,000 of 64: 1.00
            # and 1906 (what remains is mostly hiss: real notes + white noise of std 0.01 score 1558).
            prediction_type="sample",
            steps=3000,
            batch_size=64,
            warmup_steps=50,
        ),
        # #27 item 4: latent diffusion with a fixed codec (harness.zoo.av.latent). Measured on 500 clips / 400
        # notes at 25 DDIM steps after 6,000 steps of 128 (class-balanced floors 6.6 and 0.69): video, MLP
        # 256×4, v prediction 13.8 (ε 27.4; ε at 15,000 steps 13.8), MLP 128×4 30.2; audio, v prediction,
        # MLP 256×4 0.74 and 128×4 0.73 (so the smaller).
        GeneratorRecipe(
            name="moving-digits-layered",
            modality="video",
            description="latent diffusion over a sprite (the digit, 8×8) and its top-left corner in each of the "
            "8 frames; residual MLP 256×4, v prediction; decoded by pasting the sprite",
            denoiser="latent",
            emb_dim=128,
            prediction_type="v_prediction",
            steps=6000,
            lr=1e-3,
            warmup_steps=100,
        ),
        GeneratorRecipe(
            name="notes-ddsp",
            modality="audio",
            description="latent diffusion over 8 harmonic amplitudes, a 65-knot envelope and a detune (DDSP's "
            "harmonic synthesiser decodes them); residual MLP 128×4, v prediction",
            denoiser="latent",
            hidden=128,
            emb_dim=128,
            prediction_type="v_prediction",
            steps=6000,
            lr=1e-3,
            warmup_steps=100,
        ),
    )
}


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``; an unknown name is bad input with a did-you-mean hint."""
    if name not in RECIPES:
        raise UserInputError(f"unknown zoo model '{name}' ({did_you_mean(name, RECIPES)})", field="zoo train")
    return RECIPES[name]

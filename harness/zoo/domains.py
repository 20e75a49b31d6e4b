"""What the zoo's one training loop needs to know of each modality: its data, the networks its recipes
build, the pipeline its generators are saved as, and where its reference statistics go.

* image: scikit-learn's digits at 16×16 (:mod:`harness.zoo.data`), ``DigitsNet``, a ``UNet2DModel``,
  ``ClassConditionalPipeline``;
* video: moving digits (:mod:`harness.zoo.av.data`), ``VideoNet3D``, a ``UNet2DModel`` with the 8 frames as
  channels, ``MovingDigitsPipeline``;
* audio: synthetic notes, ``NotesNet``, ``NotesUNet1D``, ``NotesPipeline``.

Torch and diffusers are imported inside the methods that build networks.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from harness.zoo import EXTRACTOR_DIR, HELDOUT_STATS
from harness.zoo.av import AUDIO_EXTRACTOR_DIR, AUDIO_HELDOUT_STATS, VIDEO_EXTRACTOR_DIR, VIDEO_HELDOUT_STATS
from harness.zoo.av.data import (
    AUDIO_CLASSES,
    CANVAS,
    FRAMES,
    LENGTH,
    SAMPLE_RATE,
    VIDEO_CLASSES,
    moving_digits_split,
    notes_split,
)
from harness.zoo.data import NUM_CLASSES, SIZE, digits_split
from harness.zoo.recipes import ExtractorRecipe, GeneratorRecipe

FEATURES = "fc1 output before its ReLU"
SPLIT = "train_test_split(test_size=0.2, stratify=y, random_state=0)"


class Domain(ABC):
    """One modality of the zoo: its facts (class attributes) and how its data and networks are made."""

    modality: ClassVar[str]
    classes: ClassVar[int]
    log_every: ClassVar[int]  # optimizer steps per logged (and, for generators, stored) mean loss
    extractor_dir: ClassVar[Path]  # the committed extractor
    stats_path: ClassVar[Path]  # its committed held-out statistics
    # the generated-set sizes whose real-vs-real floor the statistics store; the one quoted as ``floor``
    floor_sizes: ClassVar[tuple[int, ...]]
    floor_n: ClassVar[int]
    reference: ClassVar[str]  # what the held-out statistics are made of ({n}: their count)
    sample_rate: ClassVar[int | None] = None  # audio: Hz
    data: ClassVar[str]  # where the extractor's data come from

    @abstractmethod
    def split(self) -> Any:
        """The fixed train / held-out split: ``x_train``, ``y_train``, ``x_heldout``, ``y_heldout``."""

    def extractor_inputs(self, x: np.ndarray) -> np.ndarray:
        """Data arrays → the extractor's inputs: one channel axis after the batch."""
        return np.ascontiguousarray(x[:, None], dtype=np.float32)

    @abstractmethod
    def generator_inputs(self, x: np.ndarray) -> Any:
        """Data arrays → the generator's training tensor, in the model's value range."""

    @abstractmethod
    def extractor_net(self, recipe: ExtractorRecipe) -> tuple[Any, dict[str, Any]]:
        """The classifier ``recipe`` trains and its ``architecture`` entry of config.json (what loads it)."""

    @abstractmethod
    def unet(self, recipe: GeneratorRecipe) -> Any:
        """The data-space denoiser a ``denoiser: unet`` recipe trains."""

    def codec(self) -> Any:
        """The latent codec of a ``denoiser: latent`` recipe (:mod:`harness.zoo.av.latent`)."""
        raise ValueError(f"the {self.modality} zoo has no latent codec (denoiser: unet only)")

    def generator_setup(self, recipe: GeneratorRecipe, x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
        """The denoiser ``recipe`` trains and its training tensor in the denoiser's space, from data ``x`` of
        classes ``y``. Latent recipes encode the data with the domain's codec, fit the codec's per-dimension
        statistics on them and store the codec in the denoiser's config."""
        if recipe.denoiser != "latent":
            return self.unet(recipe), self.generator_inputs(x)
        import torch

        codec = self.codec()
        z = codec.encode(x, y)
        codec.fit(z)
        return self.latent_denoiser(recipe, codec.config()), codec.normalize(torch.from_numpy(z))

    def latent_denoiser(self, recipe: GeneratorRecipe, codec: dict[str, Any]) -> Any:
        """The :class:`~harness.zoo.av.latent.LatentDenoiser` of a latent recipe, decoding with ``codec`` (a
        fitted codec's config)."""
        from harness.zoo.av.latent import LatentDenoiser

        return LatentDenoiser(
            latent_dim=len(codec["mean"]),
            hidden=recipe.hidden,
            depth=recipe.depth,
            emb_dim=recipe.emb_dim,
            num_class_embeds=self.classes,
            codec=codec,
            sample_rate=self.sample_rate,
        )

    @abstractmethod
    def pipeline(self, unet: Any, scheduler: Any) -> Any:
        """The pipeline the generator is saved as."""

    def load_extractor(self, folder: str | Path) -> Any:
        """A trained extractor of this domain, loaded from ``folder``."""
        from harness.zoo.av.models import Extractor

        return Extractor(folder)

    def classifier(
        self, cls: type, recipe: ExtractorRecipe, inputs: str, **shape: int
    ) -> tuple[Any, dict[str, Any]]:
        """``cls`` built from the recipe (and the data's ``shape``), with its config entry: the class, its
        keyword arguments (what :class:`~harness.zoo.av.models.Extractor` rebuilds it from) and its input."""
        kwargs = {
            "channels": list(recipe.channels),
            "feature_dim": recipe.feature_dim,
            "num_classes": self.classes,
            "dropout": recipe.dropout,
            **shape,
        }
        return cls(**kwargs), {"class": cls.__name__, "kwargs": kwargs, "input": inputs, "features": FEATURES}

    def stats_for(self, out: Path) -> Path:
        """Where the reference statistics of an extractor written to ``out`` go: the committed file for the
        committed folder, else beside it."""
        return (
            self.stats_path if out.resolve() == self.extractor_dir.resolve() else out / self.stats_path.name
        )


def unet2d(recipe: GeneratorRecipe, channels: int, size: int, classes: int) -> Any:
    """A class-conditional ``UNet2DModel`` over (channels, size, size) from the recipe's architecture."""
    from diffusers import UNet2DModel

    return UNet2DModel(
        sample_size=size,
        in_channels=channels,
        out_channels=channels,
        block_out_channels=tuple(recipe.block_out_channels),
        layers_per_block=recipe.layers_per_block,
        down_block_types=tuple(recipe.down_block_types),
        up_block_types=tuple(recipe.up_block_types),
        norm_num_groups=recipe.norm_num_groups,
        attention_head_dim=recipe.attention_head_dim,
        num_class_embeds=classes,
    )


class Digits(Domain):
    modality = "image"
    classes = NUM_CLASSES
    log_every = 200
    extractor_dir = EXTRACTOR_DIR
    stats_path = HELDOUT_STATS
    floor_sizes = (500, 1000)
    floor_n = 1000
    reference = "digits held-out split ({n} images): " + SPLIT
    data = f"sklearn load_digits /16, bilinear to 16x16; {SPLIT}"

    def split(self) -> Any:
        return digits_split()

    def extractor_inputs(self, x: np.ndarray) -> np.ndarray:
        return x  # already (N, 1, 16, 16) float32

    def generator_inputs(self, x: np.ndarray) -> Any:
        import torch

        return torch.from_numpy(x) * 2.0 - 1.0

    def extractor_net(self, recipe: ExtractorRecipe) -> tuple[Any, dict[str, Any]]:
        from harness.zoo.extractor import DigitsNet

        net = DigitsNet(recipe.channels, recipe.feature_dim, self.classes, recipe.dropout, SIZE)
        return net, {
            "class": "harness.zoo.extractor:DigitsNet",
            "channels": list(recipe.channels),
            "feature_dim": recipe.feature_dim,
            "num_classes": self.classes,
            "dropout": recipe.dropout,
            "size": SIZE,
            "features": FEATURES,
            "input": "(N, 1, 16, 16) float32 in [0, 1]",
        }

    def unet(self, recipe: GeneratorRecipe) -> Any:
        return unet2d(recipe, 1, SIZE, self.classes)

    def pipeline(self, unet: Any, scheduler: Any) -> Any:
        from harness.zoo.pipeline import ClassConditionalPipeline

        return ClassConditionalPipeline(unet=unet, scheduler=scheduler)

    def load_extractor(self, folder: str | Path) -> Any:
        from harness.zoo.extractor import DigitsExtractor

        return DigitsExtractor(folder)


class MovingDigits(Domain):
    modality = "video"
    classes = VIDEO_CLASSES
    log_every = 100
    extractor_dir = VIDEO_EXTRACTOR_DIR
    stats_path = VIDEO_HELDOUT_STATS
    floor_sizes = (100, 250, 500, 1000)
    floor_n = 500
    reference = "moving-digits held-out clips ({n} items), harness.zoo.av.data"
    data = "harness.zoo.av.data moving_digits_split()"

    def split(self) -> Any:
        return moving_digits_split()

    def generator_inputs(self, x: np.ndarray) -> Any:
        import torch

        return torch.from_numpy(x) * 2.0 - 1.0  # (N, F, H, W): frames as channels

    def extractor_net(self, recipe: ExtractorRecipe) -> tuple[Any, dict[str, Any]]:
        from harness.zoo.av.models import VideoNet3D

        return self.classifier(
            VideoNet3D, recipe, "(N, 1, 8, 16, 16) float32 in [0, 1]", frames=FRAMES, size=CANVAS
        )

    def unet(self, recipe: GeneratorRecipe) -> Any:
        return unet2d(recipe, FRAMES, CANVAS, self.classes)

    def codec(self) -> Any:
        from harness.zoo.av.latent import SpriteCodec

        return SpriteCodec()

    def pipeline(self, unet: Any, scheduler: Any) -> Any:
        from harness.zoo.av.pipelines import MovingDigitsPipeline

        return MovingDigitsPipeline(unet=unet, scheduler=scheduler)


class Notes(Domain):
    modality = "audio"
    classes = AUDIO_CLASSES
    log_every = 100
    extractor_dir = AUDIO_EXTRACTOR_DIR
    stats_path = AUDIO_HELDOUT_STATS
    floor_sizes = (96, 200, 400, 800)
    floor_n = 400
    reference = "notes held-out split ({n} items), harness.zoo.av.data"
    sample_rate = SAMPLE_RATE
    data = "harness.zoo.av.data notes_split()"

    def split(self) -> Any:
        return notes_split()

    def generator_inputs(self, x: np.ndarray) -> Any:
        import torch

        return torch.from_numpy(x)[:, None]  # (N, 1, T)

    def extractor_net(self, recipe: ExtractorRecipe) -> tuple[Any, dict[str, Any]]:
        from harness.zoo.av.models import NotesNet

        return self.classifier(NotesNet, recipe, "(N, 1, 2048) float32 in [-1, 1] at 8 kHz")

    def unet(self, recipe: GeneratorRecipe) -> Any:
        from harness.zoo.av.models import NotesUNet1D

        return NotesUNet1D(
            sample_size=LENGTH,
            sample_rate=SAMPLE_RATE,
            block_out_channels=tuple(recipe.block_out_channels),
            patch=recipe.patch,
            factor=recipe.factor,
            kernel_size=recipe.kernel_size,
            norm_num_groups=recipe.norm_num_groups,
            emb_dim=recipe.emb_dim,
            num_class_embeds=self.classes,
        )

    def codec(self) -> Any:
        from harness.zoo.av.latent import HarmonicCodec

        return HarmonicCodec()

    def pipeline(self, unet: Any, scheduler: Any) -> Any:
        from harness.zoo.av.pipelines import NotesPipeline

        return NotesPipeline(unet=unet, scheduler=scheduler)


DOMAINS: dict[str, Domain] = {d.modality: d for d in (Digits(), MovingDigits(), Notes())}

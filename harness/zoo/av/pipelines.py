"""Pipelines of the video and audio zoo, loaded by the ordinary loader from their cards.

* ``MovingDigitsPipeline`` (video): a class-conditional ``UNet2DModel`` whose channels are the clip's
  frames; ``.frames`` is (N, F, H, W, 1) float32 in [0, 1] for ``output_type="np"``.
* ``NotesPipeline`` (audio): the class-conditional ``NotesUNet1D``; ``.audios`` is (N, 1, T) float32 in
  [-1, 1]; the sample rate is ``pipeline.unet.config.sample_rate`` (what the loader reads).

Both take ``class_labels`` (one item per label), ``num_inference_steps``, ``generator`` (one per item:
item i then depends only on its own seed) and any diffusers scheduler with ``set_timesteps`` / ``step``.

Either denoises in the data space (the UNets above) or, when ``unet`` is a
:class:`~harness.zoo.av.latent.LatentDenoiser`, in its codec's latent space, decoded after the last step
(``moving-digits-layered``: sprite and motion; ``notes-ddsp``: harmonic amplitudes and envelope).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers.utils import BaseOutput

from harness.zoo.av.latent import LatentDenoiser
from harness.zoo.av.models import NotesUNet1D
from harness.zoo.pipeline import ClassConditionalSampler

# the denoisers a saved zoo pipeline may hold (model_index.json names ours by module, which diffusers'
# library lookup does not import): the class named in unet/config.json is loaded from here
DENOISERS = {"UNet2DModel": None, "NotesUNet1D": NotesUNet1D, "LatentDenoiser": LatentDenoiser}


@dataclass
class VideoOutput(BaseOutput):
    frames: Any


@dataclass
class AudioOutput(BaseOutput):
    audios: Any


class _AVSampler(ClassConditionalSampler):
    """What the video and audio pipelines share: loading any of :data:`DENOISERS`, and latent decoding."""

    @classmethod
    def from_pretrained(cls, folder: str | Path, **kwargs: Any) -> Any:  # type: ignore[override]
        """Load a ``save_pretrained`` folder: the denoiser class its ``unet/config.json`` names, its scheduler."""
        import json

        import diffusers

        folder = Path(folder)
        dtype = kwargs.get("torch_dtype") or torch.float32
        name = json.loads((folder / "unet" / "config.json").read_text()).get("_class_name")
        if name not in DENOISERS:
            raise ValueError(f"{folder}: unknown denoiser class {name!r} (known: {', '.join(DENOISERS)})")
        model = DENOISERS[name] or diffusers.UNet2DModel
        unet = model.from_pretrained(folder / "unet", torch_dtype=dtype, use_safetensors=True)
        sched_cfg = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
        scheduler = getattr(diffusers, sched_cfg["_class_name"]).from_pretrained(folder / "scheduler")
        return cls(unet=unet.eval(), scheduler=scheduler)

    @property
    def latent(self) -> bool:
        return isinstance(self.unet, LatentDenoiser)

    def _shape(self, n: int) -> tuple[int, ...]:
        if self.latent:
            return (n, self.unet.config.latent_dim)
        return self._data_shape(n)

    def _data_shape(self, n: int) -> tuple[int, ...]:
        return super()._shape(n)

    def _decode(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Latents → data in the UNet's output space (video: [-1, 1] frames as channels; audio: [-1, 1])."""
        if not self.latent:
            return x
        codec = self.unet.codec()
        return self._from_codec(codec.decode(codec.denormalize(x.float()), labels))

    def _from_codec(self, data: torch.Tensor) -> torch.Tensor:
        return data


class MovingDigitsPipeline(_AVSampler):
    """Class-conditional clips of a moving digit: ``unet`` is a UNet2DModel with in_channels = frames, or a
    latent denoiser with a sprite codec."""

    def _from_codec(self, data: torch.Tensor) -> torch.Tensor:
        return data * 2 - 1  # the codec's [0, 1] frames in the UNet's [-1, 1]

    @torch.no_grad()
    def __call__(
        self,
        class_labels: int | list[int] | torch.Tensor,
        num_inference_steps: int = 25,
        generator: torch.Generator | list[torch.Generator] | None = None,
        output_type: str = "np",
        return_dict: bool = True,
    ) -> VideoOutput | tuple:
        """One clip per class label: ``.frames`` (N, F, H, W, 1) in [0, 1] ("np") or (N, F, 1, H, W) ("pt")."""
        return self._generate(class_labels, num_inference_steps, generator, output_type, return_dict)

    def _output(self, x: torch.Tensor, output_type: str) -> Any:
        clips = (x / 2 + 0.5).clamp(0, 1)  # (N, F, H, W)
        return clips[:, :, None] if output_type == "pt" else clips.cpu().numpy()[..., None]

    def _wrap(self, out: Any) -> VideoOutput:
        return VideoOutput(frames=out)


class NotesPipeline(_AVSampler):
    """Class-conditional notes: ``unet`` is a ``NotesUNet1D`` (config ``sample_rate``, ``sample_size``), or a
    latent denoiser with a harmonic codec."""

    def _data_shape(self, n: int) -> tuple[int, ...]:
        cfg = self.unet.config
        return (n, cfg.in_channels, cfg.sample_size)

    @property
    def sample_rate(self) -> int:
        return int(self.unet.config.sample_rate)

    @torch.no_grad()
    def __call__(
        self,
        class_labels: int | list[int] | torch.Tensor,
        num_inference_steps: int = 25,
        generator: torch.Generator | list[torch.Generator] | None = None,
        output_type: str = "np",
        return_dict: bool = True,
    ) -> AudioOutput | tuple:
        """One note per class label: ``.audios`` (N, 1, T) in [-1, 1] at ``sample_rate`` Hz."""
        return self._generate(class_labels, num_inference_steps, generator, output_type, return_dict)

    def _output(self, x: torch.Tensor, output_type: str) -> Any:
        audio = x.clamp(-1, 1)
        return audio if output_type == "pt" else audio.cpu().numpy()

    def _wrap(self, out: Any) -> AudioOutput:
        return AudioOutput(audios=out)

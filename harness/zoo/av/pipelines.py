"""Pipelines of the video and audio zoo, loaded by the ordinary loader from their cards.

* ``MovingDigitsPipeline`` (video): a class-conditional ``UNet2DModel`` whose channels are the clip's
  frames; ``.frames`` is (N, F, H, W, 1) float32 in [0, 1] for ``output_type="np"``.
* ``NotesPipeline`` (audio): the class-conditional ``NotesUNet1D``; ``.audios`` is (N, 1, T) float32 in
  [-1, 1]; the sample rate is ``pipeline.unet.config.sample_rate`` (what the loader reads).

Both take ``class_labels`` (one item per label), ``num_inference_steps``, ``generator`` (one per item:
item i then depends only on its own seed) and any diffusers scheduler with ``set_timesteps`` / ``step``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import DiffusionPipeline
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor


@dataclass
class VideoOutput(BaseOutput):
    frames: Any


@dataclass
class AudioOutput(BaseOutput):
    audios: Any


class _ClassConditional(DiffusionPipeline):
    model_cpu_offload_seq = "unet"

    def __init__(self, unet: Any, scheduler: Any):
        super().__init__()
        self.register_modules(unet=unet, scheduler=scheduler)

    def _labels(self, class_labels: Any, device: torch.device) -> torch.Tensor:
        n_classes = self.unet.config.num_class_embeds
        if n_classes is None:
            raise ValueError("this UNet has no class embedding (num_class_embeds is not set)")
        if isinstance(class_labels, (int, np.integer)):
            class_labels = [int(class_labels)]
        labels = torch.as_tensor(class_labels, dtype=torch.long).reshape(-1)
        if labels.numel() == 0:
            raise ValueError("class_labels is empty")
        bad = labels[(labels < 0) | (labels >= n_classes)]
        if bad.numel():
            raise ValueError(f"class label {int(bad[0])} is out of range (0 … {n_classes - 1})")
        return labels.to(device)

    def _shape(self, n: int) -> tuple[int, ...]:
        raise NotImplementedError

    def _sample(self, class_labels: Any, num_inference_steps: int, generator: Any) -> torch.Tensor:
        device = self._execution_device
        labels = self._labels(class_labels, device)
        n = labels.shape[0]
        if isinstance(generator, list) and len(generator) != n:
            raise ValueError(f"got {len(generator)} generators for {n} class labels (give one per item)")
        x = randn_tensor(self._shape(n), generator=generator, device=device, dtype=self.unet.dtype)
        x = x * self.scheduler.init_noise_sigma
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        step_params = set(inspect.signature(self.scheduler.step).parameters)
        step_kwargs = {"generator": generator} if "generator" in step_params else {}
        for t in self.progress_bar(self.scheduler.timesteps):
            model_in = self.scheduler.scale_model_input(x, t)
            eps = self.unet(model_in, t, class_labels=labels).sample
            x = self.scheduler.step(eps, t, x, **step_kwargs).prev_sample
        self.maybe_free_model_hooks()
        return x.float()


class MovingDigitsPipeline(_ClassConditional):
    """Class-conditional clips of a moving digit: ``unet`` is a UNet2DModel with in_channels = frames."""

    def _shape(self, n: int) -> tuple[int, ...]:
        cfg = self.unet.config
        size = (
            (cfg.sample_size, cfg.sample_size) if isinstance(cfg.sample_size, int) else tuple(cfg.sample_size)
        )
        return (n, cfg.in_channels, *size)

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
        if output_type not in ("np", "pt"):
            raise ValueError(f"output_type must be 'np' or 'pt', got {output_type!r}")
        x = self._sample(class_labels, num_inference_steps, generator)
        clips = (x / 2 + 0.5).clamp(0, 1)  # (N, F, H, W)
        out: Any = clips[:, :, None] if output_type == "pt" else clips.cpu().numpy()[..., None]
        return VideoOutput(frames=out) if return_dict else (out,)


class NotesPipeline(_ClassConditional):
    """Class-conditional notes: ``unet`` is a ``NotesUNet1D`` (config ``sample_rate``, ``sample_size``)."""

    @classmethod
    def from_pretrained(cls, folder: str | Path, **kwargs: Any) -> NotesPipeline:  # type: ignore[override]
        """Load a ``save_pretrained`` folder (our UNet class is not importable by diffusers' library lookup)."""
        import json

        import diffusers

        from harness.zoo.av.models import NotesUNet1D

        folder = Path(folder)
        dtype = kwargs.get("torch_dtype") or torch.float32
        unet = NotesUNet1D.from_pretrained(folder / "unet", torch_dtype=dtype, use_safetensors=True)
        sched_cfg = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
        scheduler = getattr(diffusers, sched_cfg["_class_name"]).from_pretrained(folder / "scheduler")
        return cls(unet=unet.eval(), scheduler=scheduler)

    def _shape(self, n: int) -> tuple[int, ...]:
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
        if output_type not in ("np", "pt"):
            raise ValueError(f"output_type must be 'np' or 'pt', got {output_type!r}")
        audio = self._sample(class_labels, num_inference_steps, generator).clamp(-1, 1)
        out: Any = audio if output_type == "pt" else audio.cpu().numpy()
        return AudioOutput(audios=out) if return_dict else (out,)

"""``ClassConditionalPipeline``: a class-conditional UNet2DModel and a scheduler, as a diffusers pipeline.

The zoo's generators are saved with ``save_pretrained`` and loaded like any other local pipeline: their
cards name ``pipeline: harness.zoo.pipeline:ClassConditionalPipeline`` and the ordinary loader calls
``ClassConditionalPipeline.from_pretrained(folder, local_files_only=True, ...)``. ``model_index.json``
stores the class name; the components are plain diffusers classes (``UNet2DModel``, a scheduler).

The UNet predicts the noise ε (``prediction_type: epsilon``); it takes the class through its class
embedding (``num_class_embeds``). Images come out in [0, 1], grayscale: ``.images`` is (N, H, W, 1) for
``output_type="np"``.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
import torch
from diffusers import DiffusionPipeline, ImagePipelineOutput
from diffusers.utils.torch_utils import randn_tensor


class ClassConditionalSampler(DiffusionPipeline, ABC):
    """The zoo's sampling loop: a class-conditional UNet (``num_class_embeds``) and any diffusers scheduler
    with ``set_timesteps`` / ``step``. Subclasses give the noise shape (``_shape``) and the output; this
    one (the image, video and audio zoo pipelines share it) turns labels and generators into samples."""

    model_cpu_offload_seq = "unet"
    output_types: ClassVar[tuple[str, ...]] = ("np", "pt")

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
        """(n, channels, *spatial) of a 2-D UNet; the 1-D audio UNet overrides it."""
        cfg = self.unet.config
        size = (
            (cfg.sample_size, cfg.sample_size) if isinstance(cfg.sample_size, int) else tuple(cfg.sample_size)
        )
        return (n, cfg.in_channels, *size)

    def _sample(self, labels: torch.Tensor, num_inference_steps: int, generator: Any) -> torch.Tensor:
        """Denoise from seeded noise: the model's output space (float32), one item per class label."""
        device = self._execution_device
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
            pred = self.unet(model_in, t, class_labels=labels).sample
            x = self.scheduler.step(pred, t, x, **step_kwargs).prev_sample
        self.maybe_free_model_hooks()
        return x.float()

    def _decode(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The denoised batch → the data space (identity; latent pipelines decode their latents)."""
        return x

    @abstractmethod
    def _output(self, x: torch.Tensor, output_type: str) -> Any:
        """The denoised batch (the model's output space) as ``output_type``."""

    @abstractmethod
    def _wrap(self, out: Any) -> Any:
        """The output object of ``return_dict=True``."""

    def _generate(
        self, class_labels: Any, num_inference_steps: int, generator: Any, output_type: str, return_dict: bool
    ) -> Any:
        """What every ``__call__`` of the zoo does: check the output type, sample, convert, wrap."""
        if output_type not in self.output_types:
            *first, last = (repr(t) for t in self.output_types)
            raise ValueError(f"output_type must be {', '.join(first)} or {last}, got {output_type!r}")
        labels = self._labels(class_labels, self._execution_device)
        x = self._decode(self._sample(labels, num_inference_steps, generator), labels)
        out = self._output(x, output_type)
        return self._wrap(out) if return_dict else (out,)


class ClassConditionalPipeline(ClassConditionalSampler):
    """Ancestral / ODE sampling of a class-conditional ε-prediction UNet with any diffusers scheduler.

    Args:
        unet: a ``UNet2DModel`` with ``num_class_embeds`` set.
        scheduler: any diffusers scheduler with ``set_timesteps`` / ``step`` (DDPM, DDIM, DPM-Solver++...).
    """

    output_types: ClassVar[tuple[str, ...]] = ("np", "pt", "pil")

    @torch.no_grad()
    def __call__(
        self,
        class_labels: int | list[int] | torch.Tensor,
        num_inference_steps: int = 50,
        generator: torch.Generator | list[torch.Generator] | None = None,
        output_type: str = "np",
        return_dict: bool = True,
    ) -> ImagePipelineOutput | tuple:
        """Generate one image per class label.

        Args:
            class_labels: the class of each image (its length is the batch size).
            num_inference_steps: denoising steps of the scheduler.
            generator: a ``torch.Generator``, or one per image (then image ``i`` depends only on its own).
            output_type: ``"np"`` (N, H, W, 1) float32 in [0, 1], ``"pt"`` (N, 1, H, W), or ``"pil"``.
            return_dict: return an ``ImagePipelineOutput`` (else a tuple).
        """
        return self._generate(class_labels, num_inference_steps, generator, output_type, return_dict)

    def _output(self, x: torch.Tensor, output_type: str) -> Any:
        image = (x / 2 + 0.5).clamp(0, 1)
        if output_type == "pt":
            return image
        out = image.cpu().permute(0, 2, 3, 1).numpy()
        return self.numpy_to_pil(out) if output_type == "pil" else out

    def _wrap(self, out: Any) -> ImagePipelineOutput:
        return ImagePipelineOutput(images=out)

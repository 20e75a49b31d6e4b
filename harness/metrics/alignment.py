"""Prompt alignment: CLIP score of each image (or video frame) with its prompt.

``clip_score`` = mean over items of ``100 · max(cos(E_image, E_text), 0)`` with OpenAI CLIP ViT-B/32
(``clip-vit-base-patch32``: transformers ``CLIPModel`` from the local, verified folder; its own processor).
Torchmetrics' ``clip_score`` gives the same number per image; over a batch it clips the mean instead of each
score (identical unless some cosine is negative). ``nonnegative: false`` gives ``100 · cos`` unclipped, as
MLPerf's SDXL accuracy script (``text_to_image/tools/clip/clip_encoder.py``: open_clip ViT-B/32 ``openai``, the
same weights) computes it for its window. A video's score is the mean of its frames' scores.

Prompts: ``Samples`` has no prompt field; the metric reads ``samples.prompts`` (a list of strings, one per item)
when the caller has attached it, and is skipped with that reason otherwise.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from harness.core.errors import MetricSkipped
from harness.core.samples import Samples
from harness.metrics.base import Metric, MetricResult, versions_of
from harness.metrics.clip_features import CLIPImageFeatures
from harness.metrics.loading import text_embeddings
from harness.metrics.options import MetricOptions, flag_option, int_option, path_option, weights_option

__all__ = ["CLIPScore", "CLIPScoreOptions", "PromptScore", "per_item_scores", "prompts_of"]


def prompts_of(name: str, samples: Samples) -> list[str]:
    """The samples' prompts, one per item; the metric is skipped when the caller attached none."""
    prompts = getattr(samples, "prompts", None)
    if not prompts:
        raise MetricSkipped("the samples carry no prompts (Samples.prompts is not set by the caller)")
    if isinstance(prompts, str) or not all(isinstance(p, str) for p in prompts):
        raise ValueError(f"{name}: prompts must be a list of strings, got {type(prompts).__name__}")
    if len(prompts) != len(samples):
        raise ValueError(f"{name}: {len(prompts)} prompts for {len(samples)} samples (one per item expected)")
    return list(prompts)


def per_item_scores(samples: Samples, prompts: list[str], score: Any) -> np.ndarray:
    """``score(images, prompts)`` of each image, or of each video's frames (each with its video's prompt)
    averaged per video: (N,) float64."""
    if samples.modality == "image":
        return np.asarray(score(samples.data, prompts), dtype=np.float64)
    if samples.modality == "video":
        f = samples.data.shape[1]
        frames = samples.data.reshape(-1, *samples.data.shape[2:])
        per_frame = np.asarray(score(frames, [p for p in prompts for _ in range(f)]), dtype=np.float64)
        return per_frame.reshape(len(samples), f).mean(axis=1)
    raise MetricSkipped(f"applies to image, video, not {samples.modality}")


class CLIPScoreOptions(MetricOptions):
    """``clip_score`` and ``clip_score_frames``."""

    batch_size: int = Field(32, ge=1)
    weights_dir: str | None = None
    weights: str = Field(
        "clip-vit-base-patch32", min_length=1, description="a CLIP bundle of `harness weights list`"
    )
    nonnegative: bool = Field(
        True,
        description="100·max(cos, 0) per item (torchmetrics); false: 100·cos (MLPerf's SDXL accuracy script)",
    )


class PromptScore(Metric):
    """Shared by ``clip_score`` and ``clap_score``: a score of each item with its prompt on a pinned bundle of a
    two-tower model (``weights``, looked for first in ``weights_dir``), ``batch_size`` items at a time; the value is
    the mean over items."""

    higher_is_better = True
    kind = "per_sample"
    accepts_device = True
    # Per item in sample order; the protocol of the model that scored them (every shard must run the same).
    state_fields: ClassVar[dict[str, str]] = {"_values": "cat", "_model_details": "same"}

    def __init__(self, device: str, batch_size: int, weights_dir: str | None, weights: str) -> None:
        self.device, self.batch_size = device, int_option("batch_size", batch_size)
        self.weights, self.weights_dir = weights_option(weights), path_option("weights_dir", weights_dir)
        self._values: list[float] = []
        self._model_details: dict[str, Any] | None = None  # the loaded model's protocol

    def compute(self) -> MetricResult:
        return self.mean_of(self._values)


class CLIPScore(PromptScore):
    """CLIP score ×100 of each item with its prompt, averaged. Options: ``batch_size``, ``weights_dir``,
    ``weights`` (a Hugging Face CLIP bundle of ``harness.metrics.weights``; default ``clip-vit-base-patch32``)."""

    name = "clip_score"
    modalities = ("image", "video")
    Options = CLIPScoreOptions

    def __init__(
        self,
        device: str = "cpu",
        *,
        batch_size: int = 32,
        weights_dir: str | None = None,
        weights: str = "clip-vit-base-patch32",
        nonnegative: bool = True,
    ) -> None:
        super().__init__(device, batch_size, weights_dir, weights)
        self.nonnegative = flag_option("nonnegative", nonnegative)
        self._images: Any = None  # a CLIPImageFeatures extractor (model, processor, located weights)

    def _extractor(self) -> Any:
        if self._images is None:
            self._images = CLIPImageFeatures(
                device=self.device,
                weights_dir=self.weights_dir,
                batch_size=self.batch_size,
                weights=self.weights,
            )
            self._images.name = f"clip:{self.weights}"
            self._model_details = self._images.protocol()
        return self._images

    def text_embeddings(self, prompts: list[str]) -> np.ndarray:
        ext = self._extractor()
        max_len = int(ext.model.config.text_config.max_position_embeddings)
        return text_embeddings(
            ext.model,
            ext.processor.tokenizer,
            prompts,
            batch_size=self.batch_size,
            device=self.device,
            max_length=max_len,
        )

    def scores(self, images: np.ndarray, prompts: list[str]) -> np.ndarray:
        """``100 · max(cos, 0)`` (``100 · cos`` when not ``nonnegative``) of each (H, W, C) image in [0, 1] with
        its prompt → (N,) float64."""
        img = self._extractor().features(images)
        txt = self.text_embeddings(prompts)
        img /= np.linalg.norm(img, axis=1, keepdims=True)
        txt /= np.linalg.norm(txt, axis=1, keepdims=True)
        cos = (img * txt).sum(axis=1)
        return 100.0 * (np.maximum(cos, 0.0) if self.nonnegative else cos)

    def update(self, samples: Samples, reference: Samples | None = None) -> None:
        if samples.modality not in self.modalities:
            raise MetricSkipped(f"applies to {', '.join(self.modalities)}, not {samples.modality}")
        per = per_item_scores(samples, prompts_of(self.name, samples), self.scores)
        self._values.extend(float(v) for v in per)

    def fingerprint_details(self) -> dict[str, Any]:
        d = super().fingerprint_details()
        d["model"] = self._model_details or {"weights": self.weights}
        d.update(
            score=(
                "100 * max(cos(image, text), 0) per item, mean over items"
                if self.nonnegative
                else "100 * cos(image, text) per item, mean over items (MLPerf)"
            ),
            text="tokenizer of the folder, truncated to the model's max positions",
            libraries=versions_of(("transformers", "torch")),
            n=len(self._values),
        )
        return d

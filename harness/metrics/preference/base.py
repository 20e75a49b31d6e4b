"""The machinery the preference scores share: prompts, frames, batches, weights, the mean and its interval.

A preference metric scores each image with the prompt it was generated from; a video scores as the mean of its
frames' scores (as ``clip_score_frames``). The record holds the mean over items, ``n``, the sample standard
deviation, a seeded percentile-bootstrap 95% interval of the mean (``harness.measure.stats.bootstrap_ci``:
2000 resamples, seed 0) and every item's score in ``details["scores"]``.

A subclass names its pinned weights (``harness.metrics.weights`` entries) and implements ``_load`` (the network, once)
and ``_score`` (one batch of uint8 images with their prompts → float64 scores). Absent weights skip the metric
with the one-line ``WeightsNotFoundError`` reason (which names ``harness weights fetch``).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from harness.core.errors import MetricSkipped, WeightsNotFoundError
from harness.core.samples import Samples
from harness.measure.stats import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, bootstrap_ci
from harness.metrics import weights as W
from harness.metrics.alignment import per_item_scores, prompts_of
from harness.metrics.base import Metric, MetricResult, versions_of
from harness.metrics.extractors import quantize
from harness.metrics.options import MetricOptions, int_option, path_option
from harness.metrics.pairwise import check_range

__all__ = ["PreferenceMetric", "PreferenceOptions", "prompts_of", "to_uint8"]


class PreferenceOptions(MetricOptions):
    """``image_reward``, ``hps_v21``, ``pickscore`` and ``aesthetic``."""

    batch_size: int = Field(16, ge=1, description="images per forward pass")
    weights_dir: str | None = Field(None, description="a folder searched before $HARNESS_WEIGHTS_DIR")


def to_uint8(images: np.ndarray) -> np.ndarray:
    """[0, 1] float (N, H, W, C) → uint8 RGB, rounding as saving a PNG does; grayscale is repeated to RGB."""
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    elif images.shape[-1] != 3:
        raise ValueError(f"expected RGB (3 channels) or grayscale (1) images, got shape {images.shape}")
    return quantize(images)


class PreferenceMetric(Metric):
    """A per-sample score of each image (or video frame) with its prompt; higher is better."""

    higher_is_better = True
    kind = "per_sample"
    modalities = ("image", "video")
    accepts_device = True
    Options = PreferenceOptions
    weights: ClassVar[tuple[str, ...]] = ()  # harness.metrics.weights entries, in the order _load takes them
    protocol: ClassVar[str] = ""  # what the score is, for the fingerprint
    reference: ClassVar[str] = ""  # the implementation the numbers are checked against
    requires_prompts: ClassVar[bool] = True  # False: the score ignores the prompt (aesthetic)
    packages: ClassVar[tuple[str, ...]] = (
        "torch",
        "torchvision",
        "pillow",
    )  # whose versions libraries() reports
    cuda_precision: ClassVar[str] = "float32"  # the arithmetic on a CUDA device (part of the fingerprint)
    # Per item in sample order; the weights that scored them (every shard must run the same).
    state_fields: ClassVar[dict[str, str]] = {"_values": "cat", "_weights_details": "same"}

    def __init__(self, device: str = "cpu", *, batch_size: int = 16, weights_dir: str | None = None) -> None:
        self.device, self.batch_size = device, int_option("batch_size", batch_size)
        self.weights_dir = path_option("weights_dir", weights_dir)
        self._model: Any = None
        self._located: list[Any] = []
        self._weights_details: list[dict[str, Any]] | None = None  # the located weights' details, once loaded
        self._values: list[float] = []

    # ----------------------------------------------------------------------------------------- subclass API

    @abstractmethod
    def _load(self, *located: Any) -> Any:
        """The scoring network from the located, verified weights (called once)."""

    @abstractmethod
    def _score(self, images: np.ndarray, prompts: list[str]) -> np.ndarray:
        """One batch: (B, H, W, 3) uint8 images and B prompts → (B,) float64 scores."""

    def precision(self) -> str:
        """The arithmetic the network runs in on this device (part of the fingerprint)."""
        return self.cuda_precision if str(self.device).startswith("cuda") else "float32"

    # ----------------------------------------------------------------------------------------- scoring

    def model(self) -> Any:
        """The loaded network (weights located and verified on first use; absent weights skip the metric)."""
        if self._model is None:
            try:
                self._located = [W.locate(name, self.weights_dir) for name in self.weights]
            except WeightsNotFoundError as exc:
                raise MetricSkipped(str(exc)) from None
            self._weights_details = [loc.details() for loc in self._located]
            try:
                self._model = self._load(*self._located)
            except ModuleNotFoundError as exc:  # an optional package, not the job, is missing
                raise MetricSkipped(
                    f"{self.name} needs the Python package {exc.name!r}, which is not installed "
                    "(pip install 'harness[preference]')"
                ) from None
        return self._model

    def scores(self, images: np.ndarray, prompts: list[str]) -> np.ndarray:
        """The score of each (H, W, C) image in [0, 1] with its prompt → (N,) float64."""
        if images.ndim != 4 or images.shape[-1] not in (1, 3):
            raise ValueError(
                f"{self.name}: expected images of shape (N, H, W, 3) or (N, H, W, 1), got {images.shape}"
            )
        if len(prompts) != len(images):
            raise ValueError(f"{self.name}: {len(prompts)} prompts for {len(images)} images")
        check_range(self.name, images, 0.0, 1.0)
        u8 = to_uint8(images)
        self.model()
        out = [
            np.asarray(self._score(u8[i : i + self.batch_size], prompts[i : i + self.batch_size]), np.float64)
            for i in range(0, len(u8), self.batch_size)
        ]
        return np.concatenate(out) if out else np.zeros(0)

    def update(self, samples: Samples, reference: Samples | None = None) -> None:
        if samples.modality not in self.modalities:
            raise MetricSkipped(f"applies to {', '.join(self.modalities)}, not {samples.modality}")
        if self.requires_prompts or getattr(samples, "prompts", None):
            prompts = prompts_of(self.name, samples)
        else:
            prompts = [""] * len(samples)
        self._values.extend(float(v) for v in per_item_scores(samples, prompts, self.scores))

    def compute(self) -> MetricResult:
        v = np.asarray(self._values)
        ci = list(bootstrap_ci(v, statistic="mean")) if len(v) > 1 else None
        details = {**self.fingerprint_details(), "scores": [float(x) for x in v]}
        return self.mean_of(self._values, ci95=ci, details=details)

    def fingerprint_details(self) -> dict[str, Any]:
        d = super().fingerprint_details()
        d["weights"] = self._weights_details or list(self.weights)
        d.update(
            score=self.protocol,
            reference=self.reference,
            precision=self.precision(),
            input="RGB in [0, 1] rounded to uint8 (as a saved PNG); a video scores as the mean of its frames",
            aggregate=(
                f"mean over items; 95% CI: percentile bootstrap of the mean ({BOOTSTRAP_RESAMPLES} resamples, "
                f"seed {BOOTSTRAP_SEED})"
            ),
            libraries=self.libraries(),
            n=len(self._values),
        )
        return d

    def libraries(self) -> dict[str, str | None]:
        return versions_of(self.packages)

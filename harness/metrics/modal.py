"""Fréchet distances over a modality's feature extractor, shared by video and audio.

* ``ModalFrechet``: ``FrechetDistance`` (``harness.metrics.frechet_metric``, the Fréchet core of
  ``harness.metrics.frechet``) on the extractors of one modality: reference statistics from ``reference_path``,
  ``extractor_options`` passed through to the extractor, absent weights recorded as a skip with the one-line
  ``WeightsNotFoundError`` reason. ``fvd`` and the video ``fd_<name>`` classes (``harness.metrics.video``),
  ``fad`` and the audio ``fd_<name>`` classes (``harness.metrics.audio``) derive from it.
* ``save_reference_stats``: the reference ``.npz`` of real videos or audio for those metrics (``mu``, ``sigma``,
  ``n`` and the extractor's fingerprint), as ``harness refstats`` writes for images.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, JsonValue

from harness.core.errors import MetricSkipped, WeightsNotFoundError
from harness.core.samples import Samples
from harness.metrics.extractors import build_extractor
from harness.metrics.feature_stats import StreamingStats
from harness.metrics.frechet_metric import FrechetDistance, FrechetOptions
from harness.metrics.pairwise import check_range
from harness.metrics.refstats import stats_meta

__all__ = ["ModalFrechet", "ModalFrechetOptions", "save_reference_stats"]


class ModalFrechetOptions(FrechetOptions):
    """``FrechetOptions`` for a modality's extractors: their resize modes and options passed through."""

    resize: Literal["stretch", "center_crop"] | None = Field(
        None,
        description="the I3D clip resize: stretch (bilinear to 224x224) or center_crop; null: the extractor's",
    )
    extractor_options: dict[str, JsonValue] | None = Field(
        None, description="keyword options of the extractor (e.g. num_frames), passed through"
    )


class ModalFrechet(FrechetDistance):
    """``FrechetDistance`` for one modality's extractors: the shared Fréchet core, reference statistics from
    ``reference_path``, extractor options passed through, and absent weights recorded as a skip with the
    one-line ``WeightsNotFoundError`` reason (a file with the wrong hash stays a failure)."""

    modalities = ("video",)
    reference_hint: ClassVar[str] = (
        "harness.metrics.modal.save_reference_stats(extractor, real_videos, 'ref.npz'), or a StyleGAN-V / "
        "pytorch-fid style .npz with mu and sigma of the same features"
    )
    Options = ModalFrechetOptions

    def __init__(
        self, device: str = "cpu", *, extractor_options: dict[str, Any] | None = None, **kw: Any
    ) -> None:
        super().__init__(device, **kw)
        if extractor_options is not None and not isinstance(extractor_options, dict):
            raise TypeError(f"extractor_options must be a mapping, got {extractor_options!r}")
        self.extractor_options: dict[str, Any] = dict(extractor_options or {})

    def extractor_request(self) -> tuple[str, dict[str, Any]]:
        opts = dict(self.extractor_options)
        if self.resize is not None:
            opts["resize"] = self.resize
        return self.extractor_name, opts

    def features(self, samples: Samples) -> np.ndarray:
        if samples.modality not in self.modalities:
            raise MetricSkipped(f"applies to {', '.join(self.modalities)}, not {samples.modality}")
        lo, hi = (-1.0, 1.0) if samples.modality == "audio" else (0.0, 1.0)
        check_range(self.name, samples.data, lo, hi)  # errors name the metric, before any network loads
        try:
            ext = self.extractor()
        except WeightsNotFoundError as exc:
            raise MetricSkipped(str(exc)) from None
        return ext.samples_features(samples)

    def _reference(self) -> StreamingStats:
        if self._ref is None and not self.reference_path:
            raise MetricSkipped(
                f"{self.name} needs reference statistics: set options.reference_path to a .npz with mu and sigma "
                f"of {self.extractor_name} features of real data ({self.reference_hint})"
            )
        return super()._reference()

    def fingerprint_details(self) -> dict[str, Any]:
        d = super().fingerprint_details()
        if self._ext is None and self.extractor_options:
            d["extractor"]["options"] = dict(self.extractor_options)
        return d


def save_reference_stats(
    extractor: str,
    samples: Samples | list[Samples],
    path: str | os.PathLike[str],
    *,
    device: str = "cpu",
    weights_dir: str | os.PathLike[str] | None = None,
    batch_size: int | None = None,
    keep_features: bool = False,
    **options: Any,
) -> StreamingStats:
    """Reference statistics of real videos (or audio) for ``fvd`` / ``fad`` / ``fd_<name>``: a ``.npz`` with
    ``mu``, ``sigma``, ``n`` and the extractor's fingerprint (checked by the metric), as ``harness refstats``
    writes for images."""
    ext = build_extractor(extractor, device=device, weights_dir=weights_dir, batch_size=batch_size, **options)
    stats = StreamingStats(keep_features=keep_features)
    for part in [samples] if isinstance(samples, Samples) else samples:
        stats.update(ext.samples_features(part))
    stats.to_npz(Path(path), include_features=keep_features, **stats_meta(ext))
    return stats

"""Domain quality metrics of the video and audio zoo, on its extractors (as ``fd_digits`` for images).

* ``fvd_digits`` (video, distribution, lower is better): Fréchet distance between Gaussians fitted to the
  moving-digits 3-D CNN's 64-d pre-ReLU features of the generated clips and of the held-out clips
  (default ``model_cards/zoo/moving_digits_heldout_stats.npz``); ``details["noise_floor"]`` /
  ``noise_floor_at_n``: the real-vs-real distance; the bootstrap interval over the generated set goes to
  ``details["bootstrap_ci95"]`` and is ``ci95`` only with ``ci: bootstrap`` (as for ``fd_digits``).
* ``fad_notes`` (audio): the same on the notes STFT-CNN's features (``notes_heldout_stats.npz``).
* ``class_accuracy_video`` / ``class_accuracy_audio`` (per sample, higher is better): the share of items
  the extractor assigns to the class requested for them (``samples.labels``), Wilson 95% interval.
  (Separate names: ``class_accuracy`` is the image zoo's and dispatches on images only.)

Inputs: video (N, 8, 16, 16, C) in [0, 1] (C = 3 averaged to gray; other sizes are an error: the
extractor is defined on the zoo's clip shape); audio (N, C, 2048) in [-1, 1] at 8 kHz (channels averaged).
The distance is ``harness.metrics.frechet`` (the same core as every Fréchet metric of the harness); the
reference, options and class accuracy are the image zoo's (``harness.zoo.metrics.DomainFrechet`` /
``DomainClassAccuracy``) on these extractors.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from harness.core.errors import MetricSkipped
from harness.core.samples import Samples
from harness.zoo.av.data import CANVAS, FRAMES, LENGTH, SAMPLE_RATE
from harness.zoo.metrics import RANGE_TOLERANCE, DomainClassAccuracy, DomainFrechet, DomainMetric


def _check_range(data: np.ndarray, lo_ok: float, what: str) -> None:
    if not np.isfinite(data).all():
        raise ValueError(f"{what} contain {int((~np.isfinite(data)).sum())} NaN or infinite values")
    lo, hi = float(data.min()), float(data.max())
    if lo < lo_ok - RANGE_TOLERANCE or hi > 1.0 + RANGE_TOLERANCE:
        raise ValueError(f"{what} must be float in [{lo_ok:g}, 1], got values in [{lo:.4g}, {hi:.4g}]")


def video_inputs(samples: Samples) -> np.ndarray:
    """Video samples → (N, 1, 8, 16, 16) float32 in [0, 1] for the moving-digits extractor."""
    if samples.modality != "video":
        raise MetricSkipped(f"applies to video, not {samples.modality}")
    data = np.asarray(samples.data)
    if data.ndim != 5:
        raise ValueError(f"clips must be (N, {FRAMES}, {CANVAS}, {CANVAS}, 1 or 3), got shape {data.shape}")
    n, f, h, w, c = data.shape
    if n == 0:
        raise ValueError("no clips")
    if (f, h, w) != (FRAMES, CANVAS, CANVAS) or c not in (1, 3):
        raise ValueError(
            f"clips must be (N, {FRAMES}, {CANVAS}, {CANVAS}, 1 or 3) like the moving-digits data, got {data.shape}"
        )
    _check_range(data, 0.0, "clips")
    x = np.clip(data.astype(np.float32, copy=False), 0.0, 1.0).mean(axis=-1)
    return np.ascontiguousarray(x[:, None])


def audio_inputs(samples: Samples) -> np.ndarray:
    """Audio samples → (N, 1, 2048) float32 in [-1, 1] at 8 kHz for the notes extractor."""
    if samples.modality != "audio":
        raise MetricSkipped(f"applies to audio, not {samples.modality}")
    data = np.asarray(samples.data)
    if len(data) == 0:
        raise ValueError("no audio")
    if samples.sample_rate not in (None, SAMPLE_RATE):
        raise ValueError(f"notes are {SAMPLE_RATE} Hz, got sample_rate {samples.sample_rate}")
    if data.shape[-1] != LENGTH:
        raise ValueError(f"notes are {LENGTH} samples long, got shape {data.shape} (N, C, T)")
    _check_range(data, -1.0, "audio")
    x = np.clip(data.astype(np.float32, copy=False), -1.0, 1.0).mean(axis=1, keepdims=True)
    return np.ascontiguousarray(x)


class _VideoInputs(DomainMetric):
    modalities: ClassVar[tuple[str, ...]] = ("video",)
    extractor_name: ClassVar[str] = "moving-digits-extractor"
    extractor_input: ClassVar[str] = "(8, 16, 16) gray clips in [0, 1]"

    def load_extractor(self) -> Any:
        from harness.zoo.av.models import Extractor

        return Extractor(self.extractor_path, device=self.device)

    def inputs(self, samples: Samples) -> np.ndarray:
        return video_inputs(samples)


class _AudioInputs(_VideoInputs):
    modalities: ClassVar[tuple[str, ...]] = ("audio",)
    extractor_name: ClassVar[str] = "notes-extractor"
    extractor_input: ClassVar[str] = "2048 samples at 8 kHz in [-1, 1]"

    def inputs(self, samples: Samples) -> np.ndarray:
        return audio_inputs(samples)


class FVDDigits(_VideoInputs, DomainFrechet):
    """Fréchet video distance on the moving-digits 3-D CNN's features to the held-out clips.

    Options: as ``fd_digits`` (``harness.zoo.metrics.DomainFrechet``): ``reference_path``,
    ``extractor_path``, ``bootstrap`` (default 200, 0 = none), ``seed``, ``ci``.
    """

    name: ClassVar[str] = "fvd_digits"
    reference_file: ClassVar[str] = "moving_digits_heldout_stats.npz"


class FADNotes(_AudioInputs, DomainFrechet):
    """Fréchet audio distance on the notes STFT-CNN's features to the held-out notes.

    Options: as ``fd_digits`` (``harness.zoo.metrics.DomainFrechet``).
    """

    name: ClassVar[str] = "fad_notes"
    reference_file: ClassVar[str] = "notes_heldout_stats.npz"


class ClassAccuracyVideo(_VideoInputs, DomainClassAccuracy):
    """Share of clips the moving-digits 3-D CNN assigns to the requested digit. Option: ``extractor_path``."""

    name: ClassVar[str] = "class_accuracy_video"


class ClassAccuracyAudio(_AudioInputs, DomainClassAccuracy):
    """Share of notes the notes STFT-CNN assigns to the requested pitch. Option: ``extractor_path``."""

    name: ClassVar[str] = "class_accuracy_audio"

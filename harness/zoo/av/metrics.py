"""Domain quality metrics of the video and audio zoo, on its extractors (as ``fd_digits`` for images).

* ``fvd_digits`` (video, distribution, lower is better): Fréchet distance between Gaussians fitted to the
  moving-digits 3-D CNN's 64-d pre-ReLU features of the generated clips and of the held-out clips
  (default ``model_cards/zoo/moving_digits_heldout_stats.npz``), bootstrap 95% interval over the
  generated set; ``details["noise_floor"]`` / ``noise_floor_at_n``: the real-vs-real distance.
* ``fad_notes`` (audio): the same on the notes STFT-CNN's features (``notes_heldout_stats.npz``).
* ``class_accuracy_video`` / ``class_accuracy_audio`` (per sample, higher is better): the share of items
  the extractor assigns to the class requested for them (``samples.labels``), Wilson 95% interval.
  (Separate names: ``class_accuracy`` is the image zoo's and dispatches on images only.)

Inputs: video (N, 8, 16, 16, C) in [0, 1] (C = 3 averaged to gray; other sizes are an error: the
extractor is defined on the zoo's clip shape); audio (N, C, 2048) in [-1, 1] at 8 kHz (channels averaged).
The distance is ``harness.metrics.frechet`` (the same core as every Fréchet metric of the harness).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from harness.errors import MetricSkipped
from harness.loaders.base import Samples
from harness.metrics.base import Metric, MetricValue, version_of
from harness.zoo.metrics import RANGE_TOLERANCE, _one_blas_thread, _option_path, wilson_interval


def _check_range(data: np.ndarray, lo_ok: float, what: str) -> None:
    if not np.isfinite(data).all():
        raise ValueError(f"{what} contain {int((~np.isfinite(data)).sum())} NaN or infinite values")
    lo, hi = float(data.min()), float(data.max())
    if lo < lo_ok - RANGE_TOLERANCE or hi > 1.0 + RANGE_TOLERANCE:
        raise ValueError(f"{what} must be float in [{lo_ok:g}, 1], got values in [{lo:.4g}, {hi:.4g}]")


def video_inputs(samples: Samples) -> np.ndarray:
    """Video samples → (N, 1, 8, 16, 16) float32 in [0, 1] for the moving-digits extractor."""
    from harness.zoo.av.data import CANVAS, FRAMES

    if samples.modality != "video":
        raise MetricSkipped(f"applies to video, not {samples.modality}")
    data = np.asarray(samples.data)
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
    from harness.zoo.av.data import LENGTH, SAMPLE_RATE

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


class _AVMetric(Metric):
    requires_trained_weights: ClassVar[bool] = True
    accepts_device: ClassVar[bool] = True
    modality: ClassVar[str] = "video"

    def __init__(self, device: str = "cpu", *, extractor_path: str | None = None) -> None:
        from harness.zoo.av import AUDIO_EXTRACTOR_DIR, VIDEO_EXTRACTOR_DIR

        default = VIDEO_EXTRACTOR_DIR if self.modality == "video" else AUDIO_EXTRACTOR_DIR
        self.device = device
        self.extractor_path = _option_path("extractor_path", extractor_path) or str(default)
        self._ext: Any = None

    def extractor(self) -> Any:
        if self._ext is None:
            from harness.zoo.av.models import Extractor

            self._ext = Extractor(self.extractor_path, device=self.device)
        return self._ext

    def inputs(self, samples: Samples) -> np.ndarray:
        return video_inputs(samples) if self.modality == "video" else audio_inputs(samples)

    def fingerprint_details(self) -> dict[str, Any]:
        d = super().fingerprint_details()
        d["extractor"] = {
            "name": Path(self.extractor_path).name,
            "weights_sha256": self._ext.sha256 if self._ext is not None else None,
            "features": "fc1 before ReLU (64-d)",
            "input": "(8, 16, 16) gray clips in [0, 1]"
            if self.modality == "video"
            else "2048 samples at 8 kHz in [-1, 1]",
        }
        d["libraries"] = {"torch": version_of("torch"), "numpy": version_of("numpy")}
        return d


class _AVFrechet(_AVMetric):
    unit: ClassVar[str] = ""
    higher_is_better: ClassVar[bool] = False
    kind: ClassVar = "distribution"

    def __init__(
        self,
        device: str = "cpu",
        *,
        reference_path: str | None = None,
        extractor_path: str | None = None,
        bootstrap: int = 200,
        seed: int = 0,
    ) -> None:
        from harness.zoo.av import AUDIO_HELDOUT_STATS, VIDEO_HELDOUT_STATS

        super().__init__(device, extractor_path=extractor_path)
        default = VIDEO_HELDOUT_STATS if self.modality == "video" else AUDIO_HELDOUT_STATS
        self.reference_path = _option_path("reference_path", reference_path) or str(default)
        for key, value in (("bootstrap", bootstrap), ("seed", seed)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise TypeError(f"{key} must be an integer >= 0, got {value!r}")
        if bootstrap == 1:
            raise TypeError("bootstrap must be 0 (no interval) or >= 2 replicates")
        self.bootstrap = bootstrap
        self.seed = seed
        self._ref: Any = None
        self._ref_sha: str | None = None
        self._feats: list[np.ndarray] = []

    def reference(self) -> Any:
        if self._ref is None:
            from harness.errors import UserInputError
            from harness.metrics.frechet import StreamingStats
            from harness.zoo.av.models import sha256_of

            path = Path(self.reference_path)
            ext_name = Path(self.extractor_path).name
            if not path.is_file():
                raise UserInputError(
                    f"no such file (the held-out statistics ship as model_cards/zoo/{path.name}; "
                    f"`harness zoo train {ext_name}` rebuilds them)",
                    source=str(path),
                    field="reference_path",
                )
            try:
                self._ref = StreamingStats.from_npz(path)
            except (ValueError, OSError, EOFError) as exc:
                raise UserInputError(
                    f"not a statistics file: {exc}", source=str(path), field="reference_path"
                ) from None
            self._ref_sha = sha256_of(path)
            made_with = self._ref.meta.get("extractor_sha256")
            ours = self.extractor().sha256
            if made_with and made_with != ours:
                raise ValueError(
                    f"reference {path} was made with another extractor (weights sha256 {made_with[:12]}…, ours "
                    f"{ours[:12]}…): rebuild it with `harness zoo train {ext_name}` or point extractor_path at it"
                )
            if self._ref.dim != self.extractor().dim:
                raise ValueError(
                    f"reference {path} has d={self._ref.dim}, the extractor d={self.extractor().dim}"
                )
        return self._ref

    def features(self, samples: Samples) -> np.ndarray:
        return self.extractor().features(self.inputs(samples))

    def update(self, samples: Samples, reference: Samples | None = None) -> None:
        x = self.inputs(samples)  # wrong modality / shape: skipped or an error before anything loads
        self.reference()
        self._feats.append(self.extractor().features(x))

    def compute(self) -> MetricValue:
        from harness.metrics.frechet import FrechetWarning, StreamingStats, bootstrap_frechet_ci

        if not self._feats:
            return self.skipped("no samples")
        feats = np.concatenate(self._feats)
        if len(feats) < 2:
            return self.skipped(f"a covariance needs at least 2 samples, got {len(feats)}")
        ref = self.reference()
        with _one_blas_thread(), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", FrechetWarning)
            value = StreamingStats.from_features(feats).frechet_distance(ref)
            ci = None
            if self.bootstrap:
                ci = [
                    float(v) for v in bootstrap_frechet_ci(feats, ref, n_boot=self.bootstrap, seed=self.seed)
                ]
        details = self.fingerprint_details()
        meta = ref.meta
        if "floor" in meta:
            details["noise_floor"] = float(meta["floor"])
            details["noise_floor_n"] = int(meta.get("floor_n", 0)) or None
            by_n = {
                int(k.split("_")[1]): float(v)
                for k, v in meta.items()
                if k.startswith("floor_") and k.split("_")[1].isdigit() and not k.endswith("_std")
            }
            if by_n:
                details["noise_floor_by_n"] = by_n
                nearest = min(by_n, key=lambda k: abs(k - len(feats)))
                details["noise_floor_at_n"] = {"n": nearest, "value": by_n[nearest]}
        notes = sorted({str(w.message) for w in caught})
        if notes:
            details["warnings"] = notes
        return self.value(float(value), n=len(feats), ci95=ci, details=details)

    def fingerprint_details(self) -> dict[str, Any]:
        d = super().fingerprint_details()
        d["reference"] = {
            "path": self.reference_path,
            "sha256": self._ref_sha,
            "n": self._ref.n if self._ref is not None else None,
        }
        d["method"] = "Fréchet distance, float64 mean/covariance (ddof=1), harness.metrics.frechet"
        if self.bootstrap:
            d["bootstrap"] = {"replicates": self.bootstrap, "seed": self.seed, "resampled": "generated set"}
        return d


class FVDDigits(_AVFrechet):
    """Fréchet video distance on the moving-digits 3-D CNN's features to the held-out clips.

    Options: ``reference_path``, ``extractor_path``, ``bootstrap`` (default 200, 0 = none), ``seed``.
    """

    name: ClassVar[str] = "fvd_digits"
    modality: ClassVar[str] = "video"
    modalities: ClassVar[tuple[str, ...]] = ("video",)


class FADNotes(_AVFrechet):
    """Fréchet audio distance on the notes STFT-CNN's features to the held-out notes.

    Options: ``reference_path``, ``extractor_path``, ``bootstrap`` (default 200, 0 = none), ``seed``.
    """

    name: ClassVar[str] = "fad_notes"
    modality: ClassVar[str] = "audio"
    modalities: ClassVar[tuple[str, ...]] = ("audio",)


class _AVClassAccuracy(_AVMetric):
    unit: ClassVar[str] = ""
    higher_is_better: ClassVar[bool] = True
    kind: ClassVar = "per_sample"

    def __init__(self, device: str = "cpu", *, extractor_path: str | None = None) -> None:
        super().__init__(device, extractor_path=extractor_path)
        self._labels: list[np.ndarray] = []
        self._pred: list[np.ndarray] = []

    def update(self, samples: Samples, reference: Samples | None = None) -> None:
        x = self.inputs(samples)
        labels = getattr(samples, "labels", None)
        if labels is None:
            raise MetricSkipped(
                "the samples carry no requested class labels (a class-conditional workload sets "
                "workload.class_labels, and the worker passes them on as samples.labels)"
            )
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        if len(labels) != len(samples):
            raise ValueError(f"{len(labels)} labels for {len(samples)} samples")
        k = self.extractor().num_classes
        if labels.size and (labels.min() < 0 or labels.max() >= k):
            raise ValueError(
                f"requested labels must be classes 0 … {k - 1}, got {sorted(set(labels.tolist()))}"
            )
        self._pred.append(self.extractor().predict(x))
        self._labels.append(labels)

    def compute(self) -> MetricValue:
        if not self._labels:
            return self.skipped("no samples")
        labels = np.concatenate(self._labels)
        correct = np.concatenate(self._pred) == labels
        n, k = len(correct), int(correct.sum())
        details = self.fingerprint_details()
        details["per_class"] = {
            int(c): round(float(correct[labels == c].mean()), 4) for c in np.unique(labels)
        }
        return self.value(
            k / n,
            n=n,
            ci95=[float(v) for v in wilson_interval(k, n)],
            std=float(correct.std(ddof=1)) if n > 1 else None,
            details=details,
        )


class ClassAccuracyVideo(_AVClassAccuracy):
    """Share of clips the moving-digits 3-D CNN assigns to the requested digit. Option: ``extractor_path``."""

    name: ClassVar[str] = "class_accuracy_video"
    modality: ClassVar[str] = "video"
    modalities: ClassVar[tuple[str, ...]] = ("video",)


class ClassAccuracyAudio(_AVClassAccuracy):
    """Share of notes the notes STFT-CNN assigns to the requested pitch. Option: ``extractor_path``."""

    name: ClassVar[str] = "class_accuracy_audio"
    modality: ClassVar[str] = "audio"
    modalities: ClassVar[tuple[str, ...]] = ("audio",)

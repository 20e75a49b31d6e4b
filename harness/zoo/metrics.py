"""Quality metrics of the digit generators, on the zoo's digits extractor.

* ``fd_digits`` (distribution, lower is better): Fréchet distance between Gaussians fitted to the
  extractor's 64-d pre-ReLU features of the samples and of the held-out digits (``reference_path``,
  default the shipped ``model_cards/zoo/digits_heldout_stats.npz``). ``details["noise_floor"]`` is the
  real-vs-real distance at the stored sample size (training digits vs the held-out ones): a generator
  cannot be told apart from the data below it. ``details["bootstrap_ci95"]`` is the bootstrap interval
  over the generated set (``harness.metrics.frechet.bootstrap_frechet_ci``); it is NOT the record's
  ``ci95`` unless ``ci: bootstrap``, because here it overstates the real uncertainty about threefold:
  measured on digits-small (DDIM 10 steps, n = 1,000), four disjoint seed sets gave fd_digits 59.6, 68.1,
  61.9, 69.0 (std 4.6) while the bootstrap half-widths were 27-32. Such intervals would call DDIM 5, 10
  and 25 steps ties in a Pareto report and blind a regression gate; without ``ci95`` the gate compares the
  (deterministic: fixed seeds) values directly.
* ``class_accuracy`` (per sample, higher is better): the fraction of samples the extractor classifies as
  the class they were asked for (``samples.labels``), with a Wilson 95% interval.

Samples are images (N, H, W, C) in [0, 1]; C = 3 is averaged to gray; another size than 16×16 is resized
(bilinear, antialiased).
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from abc import abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from harness.core.errors import MetricSkipped, UserInputError
from harness.core.samples import Samples
from harness.metrics.base import Metric, MetricOptions, MetricResult, version_of
from harness.metrics.feature_stats import StreamingStats
from harness.metrics.frechet import FrechetWarning
from harness.metrics.frechet_estimates import bootstrap_frechet_ci
from harness.metrics.weights import sha256_of
from harness.zoo import ZOO_DIR

RANGE_TOLERANCE = 1e-3  # images may overshoot [0, 1] by rounding; beyond this they are not [0, 1] images


def _option_path(name: str, value: Any) -> str | None:
    if value is not None and not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path, got {value!r}")
    return None if value is None else os.fspath(value)


def one_blas_thread() -> Any:
    """At d = 64 BLAS threads only wait on each other (200 bootstrap replicates: 24 s with 2 OpenBLAS
    threads on a busy 2-core machine, 1 s with one)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def digits_images(samples: Samples, size: int = 16) -> np.ndarray:
    """Samples → (N, 1, size, size) float32 in [0, 1], with clear errors for what is not a digit image."""
    if samples.modality != "image":
        raise MetricSkipped(f"applies to images, not {samples.modality}")
    data = np.asarray(samples.data)
    n, h, w, c = data.shape
    if n == 0:
        raise ValueError("no images")
    if c not in (1, 3):
        raise ValueError(
            f"images must have 1 (gray) or 3 (RGB) channels, got shape {data.shape} (N, H, W, C)"
        )
    if not np.isfinite(data).all():
        raise ValueError(f"images contain {int((~np.isfinite(data)).sum())} NaN or infinite values")
    lo, hi = float(data.min()), float(data.max())
    if lo < -RANGE_TOLERANCE or hi > 1.0 + RANGE_TOLERANCE:
        raise ValueError(
            f"images must be float in [0, 1], got values in [{lo:.4g}, {hi:.4g}] "
            "(a pipeline returning [-1, 1] or [0, 255] is not scaled as the harness expects)"
        )
    x = np.clip(data.astype(np.float32, copy=False), 0.0, 1.0)
    x = x.mean(axis=-1, keepdims=True) if c == 3 else x
    x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    if (h, w) != (size, size):
        import torch
        import torch.nn.functional as F

        t = F.interpolate(
            torch.from_numpy(x), size=(size, size), mode="bilinear", align_corners=False, antialias=True
        )
        x = t.clamp_(0.0, 1.0).numpy()
    return x


class DomainMetricOptions(MetricOptions):
    """The options of every metric on a zoo classifier: where its extractor lies (null: the shipped one)."""

    extractor_path: str | None = Field(
        None, description="a folder with model.safetensors + config.json; null: the shipped extractor"
    )


class DomainFrechetOptions(DomainMetricOptions):
    """``fd_digits``, ``fvd_digits``, ``fad_notes`` (``DomainFrechet``'s constructor)."""

    reference_path: str | None = Field(
        None, description="a .npz with mu, sigma; null: the shipped statistics"
    )
    bootstrap: int = Field(200, ge=0, description="bootstrap replicates (0: none, else >= 2)")
    seed: int = Field(0, ge=0)
    ci: Literal["none", "bootstrap"] = "none"

    @field_validator("bootstrap")
    @classmethod
    def _not_one(cls, v: int) -> int:
        if v == 1:
            raise ValueError("must be 0 (no interval) or >= 2 replicates, got 1")
        return v

    @field_validator("ci")
    @classmethod
    def _ci_needs_bootstrap(cls, v: str, info: ValidationInfo) -> str:
        if v == "bootstrap" and info.data.get("bootstrap") == 0:
            raise ValueError("bootstrap needs bootstrap >= 2 replicates, got bootstrap 0")
        return v


class DomainMetric(Metric):
    """A metric on one of the zoo's classifiers (image, video or audio): the shared part.

    Subclasses name the extractor (``extractor_name``: its folder under model_cards/zoo and its recipe),
    how to load it (``load_extractor``) and how samples become its inputs (``inputs``, which raises
    ``MetricSkipped`` for another modality and ``ValueError`` for a wrong shape or range).
    """

    requires_trained_weights: ClassVar[bool] = True
    accepts_device: ClassVar[bool] = True
    extractor_name: ClassVar[str] = "digits-extractor"
    extractor_input: ClassVar[str] = ""  # what the extractor takes, for the fingerprint
    Options: ClassVar[type[MetricOptions]] = DomainMetricOptions
    # The classifier's identity (every shard must run the same weights); the input sizes resized, (1, 2) each.
    state_fields: ClassVar[dict[str, str]] = {"_ext_details": "same", "_resized_from": "cat"}

    def __init__(self, device: str = "cpu", *, extractor_path: str | None = None) -> None:
        self.device = device
        self.extractor_path = _option_path("extractor_path", extractor_path) or str(
            ZOO_DIR / self.extractor_name
        )
        self._ext: Any = None
        self._ext_details: dict[str, Any] | None = None
        self._resized_from: list[np.ndarray] = []

    @abstractmethod
    def load_extractor(self) -> Any:
        """The zoo classifier at ``extractor_path``."""

    def extractor(self) -> Any:
        if self._ext is None:
            self._ext = self.load_extractor()
            self._ext_details = {"weights_sha256": self._ext.sha256, "dim": int(self._ext.dim)}
        return self._ext

    @abstractmethod
    def inputs(self, samples: Samples) -> np.ndarray:
        """Samples → the extractor's inputs (``MetricSkipped`` for another modality, ``ValueError`` for a
        wrong shape or range)."""

    def notes(self, details: dict[str, Any]) -> None:
        """Add what the details should say about the inputs seen (e.g. a resize)."""

    def fingerprint_details(self) -> dict[str, Any]:
        d = super().fingerprint_details()
        ext = self._ext_details or {"weights_sha256": None, "dim": 64}
        d["extractor"] = {
            "name": self.extractor_name,
            "weights_sha256": ext["weights_sha256"],
            "features": f"fc1 before ReLU ({ext['dim']}-d)",
            "input": self.extractor_input,
        }
        d["libraries"] = {"torch": version_of("torch"), "numpy": version_of("numpy")}
        return d


class DomainFrechet(DomainMetric):
    """Fréchet distance on a zoo extractor's features to held-out statistics (``reference_file`` in
    model_cards/zoo, built with the real-vs-real noise floor by ``harness zoo train <extractor>``).

    Options: ``reference_path`` (a ``.npz`` with mu, sigma; default the shipped held-out statistics),
    ``extractor_path`` (a folder with model.safetensors + config.json; default the shipped extractor),
    ``bootstrap`` (replicates of the bootstrap 95% interval in details, 0 = none; default 200), ``seed``
    (of the resampling), ``ci`` (``none``: no ``ci95``, the default; ``bootstrap``: the bootstrap interval
    as ``ci95``; see the module docstring for why it is not the default).
    """

    unit: ClassVar[str] = ""
    higher_is_better: ClassVar[bool] = False
    kind: ClassVar = "distribution"
    reference_file: ClassVar[str] = "digits_heldout_stats.npz"
    Options: ClassVar[type[MetricOptions]] = DomainFrechetOptions
    state_fields: ClassVar[dict[str, str]] = {**DomainMetric.state_fields, "_feats": "cat"}

    def __init__(
        self,
        device: str = "cpu",
        *,
        reference_path: str | None = None,
        extractor_path: str | None = None,
        bootstrap: int = 200,
        seed: int = 0,
        ci: str = "none",
    ) -> None:
        super().__init__(device, extractor_path=extractor_path)
        self.reference_path = _option_path("reference_path", reference_path) or str(
            ZOO_DIR / self.reference_file
        )
        for key, value in (("bootstrap", bootstrap), ("seed", seed)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise TypeError(f"{key} must be an integer >= 0, got {value!r}")
        if bootstrap == 1:
            raise TypeError("bootstrap must be 0 (no interval) or >= 2 replicates")
        if ci not in ("none", "bootstrap"):
            raise TypeError(f"ci must be 'none' or 'bootstrap', got {ci!r}")
        if ci == "bootstrap" and not bootstrap:
            raise TypeError("ci: bootstrap needs bootstrap >= 2 replicates")
        self.bootstrap = bootstrap
        self.seed = seed
        self.ci = ci
        self._n = 0
        self._ref: Any = None
        self._ref_sha: str | None = None
        self._feats: list[np.ndarray] = []

    def reference(self) -> Any:
        if self._ref is None:
            path = Path(self.reference_path)
            if not path.is_file():
                raise UserInputError(
                    f"no such file (the held-out statistics ship as model_cards/zoo/{self.reference_file}; "
                    f"`harness zoo train {self.extractor_name}` rebuilds them)",
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
                    f"reference {path} was made with another {self.extractor_name} (weights sha256 "
                    f"{made_with[:12]}…, ours {ours[:12]}…): rebuild it with `harness zoo train "
                    f"{self.extractor_name}` or point extractor_path at the extractor it was made with"
                )
            if self._ref.dim != self.extractor().dim:
                raise ValueError(
                    f"reference {path} has d={self._ref.dim}, the extractor d={self.extractor().dim}"
                )
        return self._ref

    def update(self, samples: Samples, reference: Samples | None = None) -> None:
        x = self.inputs(samples)  # wrong modality / shape: skipped or an error before anything loads
        self.reference()  # a missing or mismatched reference fails before any feature is computed
        self._feats.append(self.extractor().features(x))

    def compute(self) -> MetricResult:
        if not self._feats:
            return self.skipped("no samples")
        feats = np.concatenate(self._feats)
        if len(feats) < 2:
            return self.invalid(f"a covariance needs at least 2 samples, got {len(feats)}")
        ref = self.reference()
        self._n = len(feats)
        with one_blas_thread(), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", FrechetWarning)
            value = StreamingStats.from_features(feats).frechet_distance(ref)
            ci = None
            if self.bootstrap:
                ci = [
                    float(v) for v in bootstrap_frechet_ci(feats, ref, n_boot=self.bootstrap, seed=self.seed)
                ]
        details = self.fingerprint_details()
        details["reference"]["path"] = self.reference_path
        if ci is not None:
            details["bootstrap_ci95"] = ci
            details["bootstrap"] = {
                "replicates": self.bootstrap,
                "seed": self.seed,
                "resampled": "generated set",
            }
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
                # the floor at the generated sample size (FD is biased upwards at small n)
                nearest = min(by_n, key=lambda k: abs(k - len(feats)))
                details["noise_floor_at_n"] = {"n": nearest, "value": by_n[nearest]}
        self.notes(details)
        warned = sorted({str(w.message) for w in caught})
        if warned:
            details["warnings"] = warned
        return self.value(
            float(value), n=len(feats), ci95=ci if self.ci == "bootstrap" else None, details=details
        )

    def fingerprint_details(self) -> dict[str, Any]:
        d = super().fingerprint_details()
        # What defines the value (not where files lie: two clones must compare): weights, reference, n.
        d["reference"] = {"sha256": self._ref_sha, "n": self._ref.n if self._ref is not None else None}
        d["n"] = self._n
        d["method"] = "Fréchet distance, float64 mean/covariance (ddof=1), harness.metrics.frechet"
        return d


class DomainClassAccuracy(DomainMetric):
    """Share of samples the zoo classifier assigns to the class requested for them (``samples.labels``),
    with a Wilson 95% interval. Option: ``extractor_path``. Skipped when the samples carry no labels (not
    a class-conditional workload)."""

    unit: ClassVar[str] = ""
    higher_is_better: ClassVar[bool] = True
    kind: ClassVar = "per_sample"
    state_fields: ClassVar[dict[str, str]] = {**DomainMetric.state_fields, "_labels": "cat", "_pred": "cat"}

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

    def compute(self) -> MetricResult:
        if not self._labels:
            return self.skipped("no samples")
        labels = np.concatenate(self._labels)
        correct = np.concatenate(self._pred) == labels
        n, k = len(correct), int(correct.sum())
        details = self.fingerprint_details()
        details["per_class"] = {
            int(c): round(float(correct[labels == c].mean()), 4) for c in np.unique(labels)
        }
        self.notes(details)
        return self.value(
            k / n,
            n=n,
            ci95=[float(v) for v in wilson_interval(k, n)],
            std=float(correct.std(ddof=1)) if n > 1 else None,
            details=details,
        )


class _DigitsInputs(DomainMetric):
    """Image samples on the digits extractor (16×16 gray; other sizes resized, RGB averaged)."""

    modalities: ClassVar[tuple[str, ...]] = ("image",)
    extractor_name: ClassVar[str] = "digits-extractor"
    extractor_input: ClassVar[str] = "16x16 gray in [0, 1]; other sizes bilinear antialiased, RGB averaged"

    def load_extractor(self) -> Any:
        from harness.zoo.extractor import DigitsExtractor

        return DigitsExtractor(self.extractor_path, device=self.device)

    def inputs(self, samples: Samples) -> np.ndarray:
        data = np.asarray(samples.data)
        if samples.modality == "image" and data.ndim != 4:
            raise ValueError(f"images must be (N, H, W, C), got shape {data.shape}")
        x = digits_images(samples, self.extractor().size)
        if data.shape[1:3] != x.shape[2:]:
            self._resized_from.append(np.asarray([data.shape[1:3]], dtype=np.int64))
        return x

    def notes(self, details: dict[str, Any]) -> None:
        sizes = {(int(h), int(w)) for part in self._resized_from for h, w in np.reshape(part, (-1, 2))}
        if sizes:
            details["note"] = f"resized from {sorted(sizes)} to 16x16"


class FDDigits(_DigitsInputs, DomainFrechet):
    """Fréchet distance on the digits extractor's features to the held-out digits (``reference_path``).

    Options: see ``DomainFrechet``.
    """

    name: ClassVar[str] = "fd_digits"
    reference_file: ClassVar[str] = "digits_heldout_stats.npz"


def wilson_interval(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval of a proportion k / n (95% by default)."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


class ClassAccuracy(_DigitsInputs, DomainClassAccuracy):
    """Fraction of samples the digits classifier assigns to the class requested for them (``samples.labels``).

    Options: ``extractor_path``. Skipped when the samples carry no labels (not a class-conditional workload).
    """

    name: ClassVar[str] = "class_accuracy"

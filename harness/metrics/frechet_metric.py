"""``fid`` and the Fréchet family: the Fréchet distance of extractor features to reference statistics.

* ``fid``: Fréchet distance between Gaussians fitted to ``inception-v3-fid`` features of the samples and the
  reference statistics ``reference_path`` (a ``.npz`` with ``mu`` and ``sigma``: ``harness refstats build``,
  pytorch-fid or clean-fid). Without ``reference_path`` the metric is skipped: FID needs a reference set.
* ``fd_<extractor>``: the same with any registered extractor (``fd_clip-vit-b-32``); one class per extractor
  is made on demand by ``frechet_metric(extractor)`` (and the module's ``__getattr__``), so registering one is
  one line in ``harness.metrics``.
* ``fd_dinov2``: FD-DINOv2, the Fréchet distance on ``dinov2-vit-l-14`` features (dgm-eval's).

The numerics are :mod:`harness.metrics.frechet` (float64 throughout). No number from a numerical failure (#23
item 7): NaN or infinite features, a covariance that is not positive semi-definite beyond rounding, or fewer than
2 samples give the status ``invalid`` with the reason, never a value. FID from n <= d samples is a value (the
covariance is singular, which is legal) with a warning in the details.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import Field

from harness.core.errors import MetricInvalid, MetricSkipped
from harness.core.samples import Samples
from harness.metrics.base import MetricResult
from harness.metrics.feature_metric import (
    ReferenceMetric,
    ReferenceOptions,
    per_extractor_class,
    per_extractor_getattr,
)
from harness.metrics.feature_stats import StreamingStats
from harness.metrics.frechet import FrechetWarning
from harness.metrics.frechet_estimates import bootstrap_frechet_ci
from harness.metrics.options import int_option
from harness.metrics.refstats import read_stats

__all__ = ["FID", "FDDINOv2", "FrechetDistance", "FrechetOptions", "fd_class", "fd_getattr", "frechet_metric"]


class FrechetOptions(ReferenceOptions):
    """``fid``, ``fd_<extractor>`` and the Fréchet family (``FrechetDistance``'s constructor)."""

    bootstrap: int = Field(0, ge=0, description="bootstrap replicates of a 95% interval (0: none)")
    seed: int = Field(0, ge=0)


class FrechetDistance(ReferenceMetric):
    """Fréchet distance of extractor features to reference statistics (``reference_path``, a ``.npz``).

    Options: ``reference_path``, ``extractor``, ``resize`` (inception: ``legacy_pytorch`` | ``clean`` |
    ``legacy_tensorflow``),
    ``batch_size``, ``weights_dir``, ``bootstrap`` (replicates for a 95% interval over the generated set, 0 =
    none), ``allow_mismatch`` (accept reference statistics with another fingerprint).
    """

    name = "fd"
    higher_is_better = False
    method = (
        "Fréchet distance of float64 mean/covariance (ddof=1); Tr((σ1σ2)^½) as the singular values of L1ᵀL2 "
        "(harness.metrics.frechet)"
    )
    Options = FrechetOptions
    # Count, float64 mean and sum of outer products (and the features where a bootstrap resamples them).
    state_fields: ClassVar[dict[str, str]] = {**ReferenceMetric.state_fields, "_gen": "stats"}

    def __init__(self, device: str = "cpu", *, bootstrap: int = 0, seed: int = 0, **kw: Any) -> None:
        super().__init__(device, **kw)
        self.bootstrap = int_option("bootstrap", bootstrap, minimum=0)
        self.seed = int_option("seed", seed, minimum=0)
        self._ref: StreamingStats | None = None
        self._gen = StreamingStats(keep_features=self.bootstrap > 0)

    def _reference(self) -> StreamingStats:
        if self._ref is None:
            if not self.reference_path:
                raise MetricSkipped(
                    f"{self.name} needs reference statistics: set options.reference_path to a .npz "
                    "(harness refstats build --images DIR --extractor "
                    f"{self.extractor_name} -o stats.npz, or a pytorch-fid / clean-fid file)"
                )
            self._ref = read_stats(self.reference_path)
        return self._ref

    def update(self, samples: Samples, reference: Samples | None = None) -> None:
        self._reference()  # a missing or bad reference fails before any feature is computed
        self._gen.update(self.features(samples))

    def compute(self) -> MetricResult:
        if not self._gen.n:
            return self.skipped("no samples")
        if self._gen.n < 2:
            return self.invalid(f"a covariance needs at least 2 samples, got {self._gen.n}", n=self._gen.n)
        ref = self._reference()
        note = self.reference_note(ref.meta.get("fingerprint"))
        if ref.dim != self._gen.dim:
            raise ValueError(
                f"reference {self.reference_path} has d={ref.dim} features, the samples d={self._gen.dim}"
            )
        failure = None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", FrechetWarning)
            try:
                value = self._gen.frechet_distance(
                    ref, labels=("samples", f"reference {self.reference_path}")
                )
                ci = None
                if self.bootstrap:
                    ci = list(
                        bootstrap_frechet_ci(self._gen.features, ref, n_boot=self.bootstrap, seed=self.seed)
                    )
            except MetricInvalid as exc:
                failure = str(exc)
        details = self.fingerprint_details()
        if note:
            details["note"] = note
        notes = sorted({str(w.message) for w in caught})
        if notes:
            details["warnings"] = notes
        if failure is not None:
            return self.invalid(failure, n=self._gen.n, details=details)
        return self.value(float(value), n=self._gen.n, ci95=ci, details=details)

    def fingerprint_details(self) -> dict[str, Any]:
        d = super().fingerprint_details()
        d["n"] = self._gen.n
        if self._ref is not None:
            d["reference"] = {
                "path": self.reference_path,
                "n": self._ref.n,
                "fingerprint": self._ref.meta.get("fingerprint"),
                "extractor": self._ref.meta.get("extractor"),
            }
        if self.bootstrap:
            d["bootstrap"] = {"replicates": self.bootstrap, "seed": self.seed, "resampled": "generated set"}
        return d


class FID(FrechetDistance):
    """Fréchet Inception Distance: ``FrechetDistance`` on ``inception-v3-fid`` (pytorch-fid's network)."""

    name = "fid"


class FDDINOv2(FrechetDistance):
    """FD-DINOv2 (Stein et al., NeurIPS 2023): ``FrechetDistance`` on ``dinov2-vit-l-14`` features, dgm-eval's
    default encoder and preprocessing; ``extractor: dinov2-vit-{s,b,g}-14`` for the other sizes."""

    name = "fd_dinov2"
    default_extractor = "dinov2-vit-l-14"


def fd_class(base: type[FrechetDistance], extractor: str, class_name: str, doc: str, module: str) -> type:
    """The class ``fd_<extractor>`` derived from ``base``: the Fréchet metric of ``base``'s family on that
    registered extractor's features."""
    return per_extractor_class(base, "fd_", extractor, class_name, doc, module)


def fd_getattr(make: Callable[[str], type], module: str) -> Callable[[str], Any]:
    """A module ``__getattr__`` that resolves ``fd_<extractor>`` to ``make(extractor)``."""
    return per_extractor_getattr("fd_", make, module)


def frechet_metric(extractor: str) -> type[FrechetDistance]:
    """The metric class ``fd_<extractor>``: Fréchet distance on that registered extractor's features."""
    doc = f"Fréchet distance on '{extractor}' features (see FrechetDistance)."
    return fd_class(FrechetDistance, extractor, f"FD_{extractor}", doc, __name__)


__getattr__ = fd_getattr(frechet_metric, __name__)

"""``kid``: the Kernel Inception Distance of extractor features to reference FEATURES.

The estimator is :func:`harness.metrics.kid.kernel_inception_distance` (torchmetrics'); the reference is an ``.npz``
with ``features`` (``harness refstats build --keep-features``). Fewer samples or reference features than
``subset_size`` give the status ``invalid`` with the reason (#23 item 7).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from harness.core.errors import MetricInvalid, MetricSkipped, UserInputError
from harness.core.samples import Samples
from harness.metrics.base import MetricResult
from harness.metrics.feature_metric import ReferenceMetric, ReferenceOptions
from harness.metrics.feature_stats import StreamingStats
from harness.metrics.kid import kernel_inception_distance
from harness.metrics.options import int_option
from harness.metrics.refstats import read_stats

__all__ = ["KID", "KIDOptions"]


class KIDOptions(ReferenceOptions):
    """``kid`` (torchmetrics' defaults)."""

    subsets: int = Field(100, ge=1)
    subset_size: int = Field(1000, ge=2)
    degree: int = Field(3, ge=1)
    gamma: float | None = Field(None, gt=0, description="the kernel's gamma; null: 1/d")
    coef: float = Field(1.0, ge=0)
    seed: int = Field(0, ge=0)


class KID(ReferenceMetric):
    """Kernel Inception Distance against reference features (``reference_path``: a ``.npz`` with ``features``).

    Options as torchmetrics: ``subsets`` (100), ``subset_size`` (1000), ``degree`` (3), ``gamma`` (1/d), ``coef``
    (1), plus ``seed`` (numpy draws of the subsets), ``extractor``, ``resize``, ``batch_size``, ``weights_dir``,
    ``allow_mismatch``. The value is the mean over subsets; ``std`` their population standard deviation.
    """

    name = "kid"
    higher_is_better = False
    method = "unbiased polynomial-kernel MMD² averaged over random subsets (harness.metrics.kid)"
    Options = KIDOptions
    state_fields: ClassVar[dict[str, str]] = {
        **ReferenceMetric.state_fields,
        "_feats": "cat",
    }  # the features: subsets draw from all

    def __init__(
        self,
        device: str = "cpu",
        *,
        seed: int = 0,
        subsets: int = 100,
        subset_size: int = 1000,
        degree: int = 3,
        gamma: float | None = None,
        coef: float = 1.0,
        **kw: Any,
    ) -> None:
        super().__init__(device, **kw)
        if gamma is not None and not (
            isinstance(gamma, (int, float)) and not isinstance(gamma, bool) and gamma > 0
        ):
            raise TypeError(f"gamma must be a number > 0 or null, got {gamma!r}")
        if not (isinstance(coef, (int, float)) and not isinstance(coef, bool) and coef >= 0):
            raise TypeError(f"coef must be a number >= 0, got {coef!r}")
        # The estimator's settings, as kernel_inception_distance takes them.
        self.kid = {
            "subsets": int_option("subsets", subsets),
            "subset_size": int_option("subset_size", subset_size, minimum=2),
            "degree": int_option("degree", degree),
            "gamma": gamma,
            "coef": float(coef),
            "seed": int_option("seed", seed, minimum=0),
        }
        self._ref: StreamingStats | None = None
        self._feats: list[np.ndarray] = []

    def _reference(self) -> StreamingStats:
        if self._ref is None:
            if not self.reference_path:
                raise MetricSkipped(
                    "kid needs reference features: set options.reference_path to a .npz with 'features' "
                    f"(harness refstats build --images DIR --extractor {self.extractor_name} --keep-features -o ref.npz)"
                )
            ref = read_stats(self.reference_path)
            if not ref.keep_features:
                raise UserInputError(
                    "has mu/sigma but no 'features': KID needs the reference features "
                    "(rebuild with `harness refstats build ... --keep-features`)",
                    source=self.reference_path,
                    field="reference_path",
                )
            self._ref = ref
        return self._ref

    def update(self, samples: Samples, reference: Samples | None = None) -> None:
        self._reference()
        self._feats.append(self.features(samples))

    def compute(self) -> MetricResult:
        n = sum(len(f) for f in self._feats)
        if not n:
            return self.skipped("no samples")
        ref = self._reference()
        note = self.reference_note(ref.meta.get("fingerprint"))
        m = len(ref.features)
        details = self.fingerprint_details()
        if note:
            details["note"] = note
        size = self.kid["subset_size"]
        if size > min(n, m):
            return self.invalid(
                f"subset_size={size} needs at least that many samples and reference features, got "
                f"{n} samples and {m} reference features (set options.subset_size <= {min(n, m)})",
                n=n,
                details=details,
            )
        try:
            mean, std = kernel_inception_distance(ref.features, np.concatenate(self._feats), **self.kid)
        except MetricInvalid as exc:
            return self.invalid(str(exc), n=n, details=details)
        return self.value(mean, std=std, n=n, details=details)

    def fingerprint_details(self) -> dict[str, Any]:
        d = super().fingerprint_details()
        d["n"] = sum(len(f) for f in self._feats)
        d["kid"] = {**self.kid, "rng": "numpy"}
        if self._ref is not None:
            d["reference"] = {
                "path": self.reference_path,
                "n": len(self._ref.features),
                "fingerprint": self._ref.meta.get("fingerprint"),
            }
        return d

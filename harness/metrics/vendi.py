"""``vendi_<extractor>``: diversity of a job's samples, the Vendi score (Friedman & Dieng, TMLR 2023), no reference.

The Vendi score of n samples with a similarity kernel k (k(x, x) = 1) is the exponential of the Shannon entropy
of the eigenvalues of K / n, K_ij = k(x_i, x_j): the effective number of distinct samples, from 1 (all the same)
to n (all orthogonal). Here k is the cosine similarity of the extractor's features (the paper's choice for
embeddings, ``vendi_score.vendi.score_dual``); its nonzero eigenvalues are those of XᵀX / n with X the
L2-normalised features (d × d: cheap at any n). Eigenvalues at or below zero (rounding) contribute nothing, as in
the ``vendi-score`` package. Higher is more diverse.

* The score grows with n until it saturates: compare jobs at the same sample count (the details carry n).
* Where the extractor ships real data (``control_features()``: the zoo's training digits), the details carry the
  real data's Vendi score at the same n (mean of seeded draws): how diverse the data is.
* ``vendi_digits`` is the mini zoo's name for ``vendi_digits-extractor`` (as ``fd_digits``).

The core is :func:`vendi_score` (float64, numpy); parity with the ``vendi-score`` package's ``score_dual`` and
``score_K`` is a test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from harness.core.registry import did_you_mean
from harness.core.samples import Samples
from harness.metrics.base import MetricResult
from harness.metrics.feature_metric import (
    EVERY_FEATURE_STATE,
    EXTRACTOR_ALIASES,
    FeatureMetric,
    FeatureOptions,
    per_extractor_class,
    per_extractor_getattr,
)

__all__ = ["KERNELS", "Vendi", "VendiOptions", "vendi_metric", "vendi_score"]

KERNELS = ("cosine",)
REAL_DRAWS = 5  # seeded subsets of the real data averaged for its score at the samples' n


def vendi_score(features: np.ndarray, kernel: str = "cosine") -> float:
    """The Vendi score of (n, d) features: exp of the entropy of the eigenvalues of K / n.

    Raises:
        ValueError: No vectors, features that are not finite, a zero vector (no cosine), or another kernel.
    """
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r} ({did_you_mean(kernel, KERNELS)})")
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or not len(x):
        raise ValueError(f"features must be (n, d) with n >= 1, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"features hold {int((~np.isfinite(x)).sum())} NaN or infinite values")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError(
            f"{int((norms == 0).sum())} feature vectors are zero: their cosine similarity is undefined"
        )
    x = x / norms
    w = np.linalg.eigvalsh(x.T @ x / len(x))
    w = w[w > 0]
    return float(np.exp(-(w * np.log(w)).sum()))


class VendiOptions(FeatureOptions):
    """``vendi_<extractor>`` (``Vendi``'s constructor)."""

    kernel: Literal["cosine"] = Field("cosine", description="the similarity of two feature vectors: cosine")


class Vendi(FeatureMetric):
    """Diversity: the Vendi score of the samples' extractor features (cosine kernel); no reference needed.

    Value: exp(entropy of the eigenvalues of K / n), from 1 (every sample alike) to n; higher is more diverse.
    Options: ``extractor``, ``resize``, ``batch_size``, ``weights_dir``, ``kernel`` (``cosine``). Samples of a
    modality the extractor does not take give ``not_applicable``.
    """

    name = "vendi"
    higher_is_better = True
    modalities = ("image", "video", "audio")
    method = (
        "Vendi score (Friedman & Dieng 2023): exp(Shannon entropy of the eigenvalues of K/n), K the cosine "
        "similarity of the features, from the d x d dual X^T X / n in float64 (vendi_score.vendi.score_dual)"
    )
    Options = VendiOptions
    state_fields: ClassVar[dict[str, str]] = {**FeatureMetric.state_fields, **EVERY_FEATURE_STATE}

    def __init__(self, device: str = "cpu", *, kernel: str = "cosine", **kw: Any) -> None:
        super().__init__(device, **kw)
        if kernel not in KERNELS:
            raise TypeError(f"kernel must be one of {KERNELS}, got {kernel!r}")
        self.kernel = kernel
        self._feats: list[np.ndarray] = []
        self._not_applicable: str | None = None

    def update(self, samples: Samples, reference: Samples | None = None) -> None:
        self._not_applicable = self.not_for(samples)
        if self._not_applicable:
            return
        self._feats.append(self.shared_features(samples)[1])

    def compute(self) -> MetricResult:
        if self._not_applicable:
            return self.skipped(self._not_applicable, "not_applicable")
        if not self._feats:
            return self.skipped("no samples")
        feats = np.concatenate(self._feats)
        try:
            value = vendi_score(feats, self.kernel)
        except ValueError as exc:
            return self.invalid(str(exc), n=len(feats))
        details = self.fingerprint_details()
        control = getattr(self._ext, "control_features", None)
        if control is not None:
            details["real_data"] = self._real_data(control, len(feats))
        return self.value(value, n=len(feats), details=details)

    def _real_data(self, control: Callable[[], Any], n: int) -> dict[str, Any]:
        """The Vendi score of the extractor's real data at the samples' n (mean and std of seeded draws)."""
        feats, what = control()
        m = min(n, len(feats))
        rng = np.random.default_rng(0)
        runs = [
            vendi_score(feats[np.sort(rng.choice(len(feats), m, replace=False))], self.kernel)
            for _ in range(REAL_DRAWS)
        ]
        return {
            "n": m,
            "draws": REAL_DRAWS,
            "control": what,
            "mean": float(np.mean(runs)),
            "std": float(np.std(runs, ddof=1)),
        }

    def fingerprint_details(self) -> dict[str, Any]:
        d = super().fingerprint_details()
        d["vendi"] = {"kernel": self.kernel}
        d["n"] = sum(len(f) for f in self._feats)
        return d


def vendi_metric(short: str) -> type[Vendi]:
    """The metric class ``vendi_<short>``: Vendi on the registered extractor ``short`` (or its alias, ``digits``)."""
    doc = f"Vendi diversity of '{EXTRACTOR_ALIASES.get(short, short)}' features (see Vendi)."
    return per_extractor_class(Vendi, "vendi_", short, f"Vendi_{short}", doc, __name__)


__getattr__ = per_extractor_getattr("vendi_", vendi_metric, __name__)

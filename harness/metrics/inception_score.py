"""``inception_score``: the Inception Score of the samples' class logits, as torchmetrics' ``InceptionScore``.

IS of the 1008 Inception logits (``inception-v3-fid-logits``), ``splits=10`` and a seeded permutation as
torchmetrics' ``InceptionScore``; no reference. Fewer samples than ``splits`` or non-finite logits give the status
``invalid`` with the reason (#23 item 7).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from harness.core.samples import Samples
from harness.metrics.base import MetricResult, version_of
from harness.metrics.feature_metric import FeatureMetric, FeatureOptions
from harness.metrics.options import int_option

__all__ = ["InceptionScore", "InceptionScoreOptions"]


class InceptionScoreOptions(FeatureOptions):
    """``inception_score``."""

    splits: int = Field(10, ge=1)
    seed: int = Field(0, ge=0)


class InceptionScore(FeatureMetric):
    """Inception Score of the samples' class logits (no reference), as torchmetrics' ``InceptionScore``.

    Logits (``inception-v3-fid-logits`` by default: 1008 logits without the fc bias) are permuted with
    ``torch.randperm`` from a generator seeded with ``seed`` (torchmetrics draws the same permutation after
    ``torch.manual_seed(seed)``), cut into ``splits`` chunks, and ``exp(mean KL(p(y|x) ‖ p(y)))`` is taken per
    chunk; the value is the mean over chunks, ``std`` their sample standard deviation. float64 throughout.
    """

    name = "inception_score"
    higher_is_better = True
    default_extractor = "inception-v3-fid-logits"
    method = "exp(E KL(p(y|x) || p(y))) per split, mean and std over splits (torchmetrics)"
    Options = InceptionScoreOptions
    state_fields: ClassVar[dict[str, str]] = {
        **FeatureMetric.state_fields,
        "_logits": "cat",
    }  # the permutation draws from all logits

    def __init__(self, device: str = "cpu", *, splits: int = 10, seed: int = 0, **feature: Any) -> None:
        super().__init__(device, **feature)
        self.splits = int_option("splits", splits)
        self.seed = int_option("seed", seed, minimum=0)
        self._logits: list[np.ndarray] = []

    def update(self, samples: Samples, reference: Samples | None = None) -> None:
        self._logits.append(self.features(samples))

    def compute(self) -> MetricResult:
        import torch

        n = sum(len(f) for f in self._logits)
        if not n:
            return self.skipped("no samples")
        if n < self.splits:
            return self.invalid(f"splits={self.splits} needs at least {self.splits} samples, got {n}", n=n)
        logits = np.concatenate(self._logits)
        if not np.isfinite(logits).all():
            return self.invalid(
                f"the logits contain {int(np.isnan(logits).sum())} NaN and {int(np.isinf(logits).sum())} "
                "infinite values",
                n=n,
            )
        logits = torch.from_numpy(logits).double()
        idx = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed))
        logits = logits[idx]
        prob = logits.softmax(dim=1).chunk(self.splits, dim=0)
        log_prob = logits.log_softmax(dim=1).chunk(self.splits, dim=0)
        scores = []
        for p, log_p in zip(prob, log_prob):
            mean_p = p.mean(dim=0, keepdim=True)
            scores.append((p * (log_p - mean_p.log())).sum(dim=1).mean().exp())
        kl = torch.stack(scores)
        if not bool(torch.isfinite(kl).all()):
            return self.invalid(f"a split's score is not finite ({kl.tolist()})", n=n)
        std = float(kl.std()) if len(kl) > 1 else None
        return self.value(float(kl.mean()), std=std, n=n)

    def fingerprint_details(self) -> dict[str, Any]:
        d = super().fingerprint_details()
        d["n"] = sum(len(f) for f in self._logits)
        d["splits"], d["seed"] = self.splits, self.seed
        d["torchmetrics_equivalent"] = version_of("torchmetrics")
        return d

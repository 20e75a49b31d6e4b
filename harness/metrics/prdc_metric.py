"""``prdc_precision``, ``prdc_recall``, ``prdc_density``, ``prdc_coverage``: generated vs real features.

(Prefixed because a record's ``precision`` column is its numeric precision, fp32 or fp16.)

The definitions and the numerics are ``harness.metrics.prdc`` (Kynkäänniemi et al., 2019; Naeem et al.,
2020); here they become metrics on any registered extractor (``extractor``, default ``inception-v3-fid``;
``digits-extractor`` for the mini zoo). The real set is ``reference_path``: a ``.npz`` with ``features``,
the file ``harness refstats build --keep-features`` writes for ``kid`` (its fingerprint must match the
extractor's protocol unless ``allow_mismatch``). An extractor that ships its own real set
(``reference_features()``: the zoo's held-out digits) needs none.

One computation for the four. A job's metrics run one after another in one process on one ``Samples``
object (``harness.execute.scoring.MetricScorer``, batch by batch), so ``SHARED`` keeps, for the last few such objects, the
features per extractor setting, the reference features per file, and the ``PRDCResult`` per (features,
reference, k, ball, cap): the first of the four metrics computes features and radii, the other three read
the result. Entries match by object identity, checked through a weak reference (a freed ``Samples`` never
matches), and only the last few are kept, so memory stays that of one job's features.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from harness.core.errors import MetricInvalid
from harness.core.samples import Samples
from harness.metrics.applies import extractor_modalities, registered_extractors
from harness.metrics.base import MetricResult
from harness.metrics.feature_metric import (
    EVERY_FEATURE_STATE,
    SHARED,
    ReferenceMetric,
    ReferenceOptions,
    SharedWork,
)
from harness.metrics.options import int_option
from harness.metrics.prdc import PRDCResult, prdc

__all__ = [
    "SHARED",
    "Coverage",
    "Density",
    "PRDCMetric",
    "PRDCOptions",
    "Precision",
    "Recall",
    "SharedWork",
    "extractor_modalities",
    "registered_extractors",
]


# ------------------------------------------------------------------------------------------------ options


class PRDCOptions(ReferenceOptions):
    """``precision``, ``recall``, ``density``, ``coverage`` (``PRDCMetric``'s constructor)."""

    reference_path: str | None = Field(
        None,
        description="a .npz with 'features' (harness refstats build --keep-features); null: the extractor's "
        "own real set where it ships one (digits-extractor)",
    )
    k: int = Field(5, ge=1, description="nearest neighbours of each radius (5, as Naeem et al.)")
    ball: Literal["open", "closed"] = Field(
        "open",
        description="open: d < r (prdc, Naeem et al.); closed: d <= r (torch-fidelity, Kynkäänniemi et al.)",
    )
    max_samples: int | None = Field(
        None, ge=2, description="at most this many vectors of each set (a seeded random subset); null: all"
    )
    seed: int = Field(0, ge=0, description="seed of the subsets drawn for max_samples")

    @field_validator("max_samples")
    @classmethod
    def _above_k(cls, v: int | None, info: ValidationInfo) -> int | None:
        k = info.data.get("k")
        if v is not None and isinstance(k, int) and v <= k:
            raise ValueError(f"must be greater than k ({k}): each radius needs k + 1 vectors, got {v}")
        return v


# ------------------------------------------------------------------------------------------------ metrics


REAL_VS_REAL_DRAWS = 5  # random control subsets averaged for the real-vs-real values


def _digest(features: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(features).data).hexdigest()[:16]


def _subset(features: np.ndarray, cap: int | None, seed: int, stream: int) -> np.ndarray:
    if cap is None or len(features) <= cap:
        return features
    idx = np.sort(np.random.default_rng([seed, stream]).choice(len(features), size=cap, replace=False))
    return features[idx]


class PRDCMetric(ReferenceMetric):
    """One of precision, recall, density, coverage (``field``) of the samples' features against real ones.

    Options: ``reference_path`` (a ``.npz`` with ``features``; null: the extractor's own real set, where it
    ships one), ``extractor`` (default ``inception-v3-fid``), ``resize``, ``batch_size``, ``weights_dir``,
    ``k`` (5), ``ball`` (``open``: d < r as ``prdc``; ``closed``: d <= r as torch-fidelity), ``max_samples``
    (a seeded random subset of each set above it), ``seed``, ``allow_mismatch``. The details carry all four
    values of the computation (shared by the four metrics of a job), n and the reference's size, and where
    the extractor ships other real data, the real-vs-real values at the same n. Samples of a modality the
    extractor does not take give a ``not_applicable`` value (as a metric of another modality).
    """

    higher_is_better = True
    modalities = ("image", "video", "audio")
    field: ClassVar[str] = "precision"
    method = (
        "k-NN balls in float64 Euclidean feature space, radius = k-th neighbour excluding the point itself; "
        "boundary comparisons on directly computed distances (harness.metrics.prdc)"
    )
    Options = PRDCOptions
    # The features (k-NN radii need every sample) and the reason samples of another modality give no value.
    state_fields: ClassVar[dict[str, str]] = {**ReferenceMetric.state_fields, **EVERY_FEATURE_STATE}

    def __init__(
        self,
        device: str = "cpu",
        *,
        k: int = 5,
        ball: str = "open",
        max_samples: int | None = None,
        seed: int = 0,
        **kw: Any,
    ) -> None:
        super().__init__(device, **kw)
        self.k = int_option("k", k)
        if ball not in ("open", "closed"):
            raise TypeError(f"ball must be 'open' or 'closed', got {ball!r}")
        self.ball = ball
        self.max_samples = None if max_samples is None else int_option("max_samples", max_samples, minimum=2)
        self.seed = int_option("seed", seed, minimum=0)
        self._feats: list[np.ndarray] = []
        self._tokens: list[int] = []  # SHARED's token of each part of _feats computed here (not state)
        self._not_applicable: str | None = None
        self._ref_info: dict[str, Any] | None = None
        self._result: PRDCResult | None = None

    # -- the reference set

    def _reference(self) -> tuple[int, np.ndarray, dict[str, Any]]:
        token, feats, info = self.shared_reference()
        if "sha256" not in info:
            info["sha256"] = _digest(feats)
        return token, feats, info

    # -- the metric

    def update(self, samples: Samples, reference: Samples | None = None) -> None:
        self._not_applicable = self.not_for(samples)
        if self._not_applicable:
            return
        self.check_real_source()
        token, feats = self.shared_features(samples)
        self._tokens.append(token)
        self._feats.append(feats)

    def compute(self) -> MetricResult:
        if self._not_applicable:
            return self.skipped(self._not_applicable, "not_applicable")
        if not self._feats:
            return self.skipped("no samples")
        ref_token, ref_feats, info = self._reference()
        note = self.reference_note(info.get("fingerprint")) if self.reference_path else None
        feats = self._feats[0] if len(self._feats) == 1 else np.concatenate(self._feats)
        if ref_feats.shape[1] != feats.shape[1]:
            raise ValueError(
                f"reference has d={ref_feats.shape[1]} features, the samples d={feats.shape[1]} "
                f"({self.extractor_name})"
            )
        real = _subset(ref_feats, self.max_samples, self.seed, 0)
        fake = _subset(feats, self.max_samples, self.seed, 1)
        if min(len(real), len(fake)) <= self.k:
            return self.invalid(
                f"k={self.k} needs more than k samples and reference vectors, got {len(fake)} samples and "
                f"{len(real)} reference vectors (set options.k below {min(len(real), len(fake))})",
                n=len(fake),
            )
        self._ref_info = info
        # The four metrics of a job share one computation: keyed by the tokens of the features computed here,
        # or, once other shards' features are merged in, by their content (the same for the four).
        merged = len(self._tokens) != len(self._feats)
        features_key = ("sha256", feats.shape, _digest(feats)) if merged else tuple(self._tokens)
        key = (features_key, ref_token, self.k, self.ball, self.max_samples, self.seed)
        try:
            self._result = SHARED.result(key, lambda: prdc(real, fake, self.k, ball=self.ball))
        except MetricInvalid as exc:
            return self.invalid(str(exc), n=len(fake))
        details = self.fingerprint_details()
        details["values"] = self._result.values()
        details["rechecked_distances"] = self._result.rechecked
        control = None if self.reference_path else getattr(self._ext, "control_features", None)
        if control is not None:
            details["real_vs_real"] = SHARED.result(
                ("real_vs_real", ref_token, len(fake), self.k, self.ball, self.max_samples, self.seed),
                lambda: self._real_vs_real(real, control, len(fake)),
            )
        if self.reference_path:
            details["reference"]["path"] = self.reference_path
        if note:
            details["note"] = note
        return self.value(getattr(self._result, self.field), n=self._result.n_fake, details=details)

    def _real_vs_real(self, real: np.ndarray, control: Callable[[], Any], n: int) -> dict[str, Any]:
        """The four values of other real data (random subsets of n) against the same reference: what a
        generator that reproduced the data would score at this sample size."""
        feats, what = control()
        m = min(n, len(feats))
        rng = np.random.default_rng(0)
        runs = [
            prdc(
                real, feats[np.sort(rng.choice(len(feats), m, replace=False))], self.k, ball=self.ball
            ).values()
            for _ in range(REAL_VS_REAL_DRAWS)
        ]
        return {
            "n": m,
            "draws": REAL_VS_REAL_DRAWS,
            "control": what,
            "mean": {key: float(np.mean([r[key] for r in runs])) for key in runs[0]},
            "std": {key: float(np.std([r[key] for r in runs], ddof=1)) for key in runs[0]},
        }

    def fingerprint_details(self) -> dict[str, Any]:
        d = super().fingerprint_details()
        d["prdc"] = {"k": self.k, "ball": self.ball, "max_samples": self.max_samples, "seed": self.seed}
        d["n"] = self._result.n_fake if self._result is not None else sum(len(f) for f in self._feats)
        if self._ref_info is not None:
            # What defines the value (not where the file lies): the reference's content and size.
            d["reference"] = {
                "sha256": self._ref_info["sha256"],
                "n": self._result.n_real if self._result is not None else self._ref_info["n"],
                **({"source": self._ref_info["reference"]} if "reference" in self._ref_info else {}),
                **(
                    {"fingerprint": self._ref_info["fingerprint"]}
                    if self._ref_info.get("fingerprint")
                    else {}
                ),
            }
        return d


def _prdc_class(field: str, doc: str) -> type[PRDCMetric]:
    return type(
        field.title(),
        (PRDCMetric,),
        {"name": f"prdc_{field}", "field": field, "__doc__": doc, "__module__": __name__},
    )


Precision = _prdc_class(
    "precision", "Share of generated samples inside some real sample's k-NN ball (Kynkäänniemi et al., 2019)."
)
Recall = _prdc_class(
    "recall", "Share of real samples inside some generated sample's k-NN ball (Kynkäänniemi et al., 2019)."
)
Density = _prdc_class(
    "density",
    "Mean count of real k-NN balls holding each generated sample, over k (Naeem et al., 2020); unbounded.",
)
Coverage = _prdc_class(
    "coverage", "Share of real samples whose k-NN ball holds a generated sample (Naeem et al., 2020)."
)

"""The metric contract: update() with samples (and a reference), compute() a MetricValue with a fingerprint."""

from __future__ import annotations

import hashlib
import json
import math
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from importlib import metadata
from typing import Any, ClassVar, Literal

from harness.loaders.base import Samples


def version_of(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def fingerprint_of(details: dict[str, Any]) -> str:
    """A short stable hash of a metric's defining details (weights, resize, dtype, method, versions)."""
    blob = json.dumps(details, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@dataclass
class MetricValue:
    name: str
    value: float | None
    unit: str
    higher_is_better: bool
    status: Literal["ok", "skipped", "failed"] = "ok"
    reason: str | None = None
    n: int | None = None
    ci95: list[float] | None = None
    std: float | None = None
    fingerprint: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("name")
        return out

    @property
    def finite(self) -> bool:
        return self.value is not None and math.isfinite(self.value)


class Metric(ABC):
    """A quality metric. Subclasses declare their direction, unit, kind and modalities on the class."""

    name: ClassVar[str]
    unit: ClassVar[str] = ""
    higher_is_better: ClassVar[bool]
    kind: ClassVar[Literal["distribution", "pairwise", "per_sample"]]
    modalities: ClassVar[tuple[str, ...]] = ("image", "video", "audio")
    # Quality scores of random weights mean nothing; pairwise fidelity to a baseline still does.
    requires_trained_weights: ClassVar[bool] = True
    # Metrics that run a network take ``device=`` in their constructor; options from the suite come as kwargs.
    accepts_device: ClassVar[bool] = False

    def fingerprint_details(self) -> dict[str, Any]:
        return {"metric": self.name, "class": type(self).__qualname__}

    def fingerprint(self) -> str:
        return fingerprint_of(self.fingerprint_details())

    @abstractmethod
    def update(self, samples: Samples, reference: Samples | None = None) -> None: ...

    @abstractmethod
    def compute(self) -> MetricValue: ...

    def value(self, value: float | None, **kw: Any) -> MetricValue:
        kw.setdefault("details", self.fingerprint_details())
        return MetricValue(
            name=self.name,
            value=value,
            unit=self.unit,
            higher_is_better=self.higher_is_better,
            fingerprint=self.fingerprint(),
            **kw,
        )

    def skipped(self, reason: str) -> MetricValue:
        return MetricValue(
            name=self.name,
            value=None,
            unit=self.unit,
            higher_is_better=self.higher_is_better,
            status="skipped",
            reason=reason,
        )

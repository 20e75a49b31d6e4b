"""The metric contract: update() with samples (and a reference), compute() a MetricValue with a fingerprint."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import threading
import weakref
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from harness.core.errors import UserInputError
from harness.core.samples import Samples

if TYPE_CHECKING:
    from harness.results.record import MetricResult


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
    status: Literal["ok", "skipped", "failed", "invalid", "not_applicable"] = "ok"
    reason: str | None = None
    n: int | None = None
    ci95: list[float] | None = None
    std: float | None = None
    fingerprint: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def result(self) -> MetricResult:
        """The value as the record's typed :class:`~harness.results.record.MetricResult`."""
        from harness.results.record import MetricResult

        return MetricResult(
            value=self.value,
            unit=self.unit,
            higher_is_better=self.higher_is_better,
            status=self.status,
            reason=self.reason,
            n=self.n,
            ci95=tuple(self.ci95) if self.ci95 is not None else None,
            std=self.std,
            fingerprint=self.fingerprint,
            details=self.details,
        )

    @property
    def finite(self) -> bool:
        return self.value is not None and math.isfinite(self.value)


class MetricOptions(BaseModel):
    """A metric's options as a suite gives them (``{name: fid, options: {batch_size: 64}}``).

    Each metric declares its own subclass with typed fields and ranges; unknown keys, wrong types (``true``
    where a count belongs) and values out of range are bad input, caught by ``harness validate`` before any
    job starts. Defaults equal the metric constructor's (a contract test checks it). Options whose name
    ends in ``_path`` are paths relative to the suite file, checked to exist inside the allowed folders.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Metric(ABC):
    """A quality metric. Subclasses declare their direction, unit, kind, modalities and options on the class."""

    name: ClassVar[str]
    unit: ClassVar[str] = ""
    higher_is_better: ClassVar[bool]
    kind: ClassVar[Literal["distribution", "pairwise", "per_sample"]]
    modalities: ClassVar[tuple[str, ...]] = ("image", "video", "audio")
    # Quality scores of random weights mean nothing; pairwise fidelity to a baseline still does.
    requires_trained_weights: ClassVar[bool] = True
    # Metrics that run a network take ``device=`` in their constructor; options from the suite come as kwargs.
    accepts_device: ClassVar[bool] = False
    # The options a suite may give; the base takes none.
    Options: ClassVar[type[MetricOptions]] = MetricOptions

    @classmethod
    def parse_options(
        cls, options: Mapping[str, Any] | None, *, source: str | None = None, field: str | None = None
    ) -> MetricOptions:
        """The suite's options for this metric, validated; bad input names the option and what is allowed."""
        from harness.core.validation import validation_message

        if options is not None and not isinstance(options, Mapping):
            raise UserInputError(
                f"expected a mapping of options, got {type(options).__name__}", source=source, field=field
            )
        try:
            return cls.Options.model_validate(dict(options or {}))
        except ValidationError as exc:
            raise UserInputError(
                f"{cls.name}: {validation_message(cls.Options, exc)}", source=source, field=field
            ) from None

    @classmethod
    def build(cls, options: Mapping[str, Any] | None = None, *, device: str = "cpu") -> Metric:
        """An instance from the suite's options (validated first), on ``device`` where the metric runs a net."""
        kwargs = cls.parse_options(options).model_dump()
        if cls.accepts_device:
            kwargs["device"] = device
        return cls(**kwargs)

    def fingerprint_details(self) -> dict[str, Any]:
        return {"metric": self.name, "class": type(self).__qualname__}

    def fingerprint(self) -> str:
        return fingerprint_of(self.fingerprint_details())

    @abstractmethod
    def update(self, samples: Samples, reference: Samples | None = None) -> None: ...

    @abstractmethod
    def compute(self) -> MetricValue: ...

    def value(self, value: float | None, **kw: Any) -> MetricValue:
        """The metric's result; a NaN value is a numerical failure, recorded ``invalid`` (never a score)."""
        kw.setdefault("details", self.fingerprint_details())
        if value is not None and math.isnan(value):
            value, kw["status"] = None, "invalid"
            kw["reason"] = kw.get("reason") or "the value came out NaN: a numerical failure, not a score"
        return MetricValue(
            name=self.name,
            value=value,
            unit=self.unit,
            higher_is_better=self.higher_is_better,
            fingerprint=self.fingerprint(),
            **kw,
        )

    def invalid(self, reason: str, **kw: Any) -> MetricValue:
        """No value, status ``invalid``: the inputs or an intermediate result would make any number meaningless
        (NaN features, a covariance that is not PSD, fewer samples than the estimator needs; #23 item 7)."""
        return self.value(None, status="invalid", reason=reason, **kw)

    def skipped(self, reason: str) -> MetricValue:
        return MetricValue(
            name=self.name,
            value=None,
            unit=self.unit,
            higher_is_better=self.higher_is_better,
            status="skipped",
            reason=reason,
        )


class SamplesMemo:
    """Work on one ``Samples`` object done once for all the metrics that need it: the quality pass hands each
    batch to every metric in turn, so the features PRDC's four metrics share, or the per-video scores VBench's
    dimensions and ``vbench_mlperf`` share, are computed for the first and read by the others. Entries match by
    the object's identity, checked through a weak reference (a freed batch never matches, even if its id is
    reused), and only the last ``keep`` are kept: memory stays that of a batch's results."""

    def __init__(self, keep: int = 8) -> None:
        self.keep = keep
        self._lock = threading.Lock()
        self._tokens = itertools.count(1)
        self._table: OrderedDict[tuple[Any, ...], tuple[Any, int, Any]] = OrderedDict()

    def get(self, samples: Samples, key: tuple[Any, ...], make: Callable[[], Any]) -> tuple[int, Any, bool]:
        """``(token, value, computed)``: the value of ``make()`` for ``samples`` under ``key``, computed on the
        first call only (``computed`` says whether this call did); the token names that value."""
        full = (id(samples), id(samples.data), samples.data.shape, key)
        with self._lock:
            hit = self._table.get(full)
            if hit is not None and hit[0]() is samples:
                return hit[1], hit[2], False
        value = make()
        with self._lock:
            token = next(self._tokens)
            self._table[full] = (weakref.ref(samples), token, value)
            self._table.move_to_end(full)
            for k in [k for k, (ref, _, _) in self._table.items() if ref() is None]:
                del self._table[k]
            while len(self._table) > self.keep:
                self._table.popitem(last=False)
        return token, value, True

    def values(self) -> list[Any]:
        """What is kept, oldest first."""
        with self._lock:
            return [value for _, _, value in self._table.values()]

    def clear(self) -> None:
        with self._lock:
            self._table.clear()

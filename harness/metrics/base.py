"""The metric contract: update() with samples (and a reference), compute() a MetricResult with a fingerprint.

A metric returns the record's own type, :class:`harness.results.record.MetricResult`: the record schema is the one
definition of what a metric's outcome holds, and the worker stores what the metric made as it is.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import threading
import weakref
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import metadata
from typing import Any, ClassVar, Literal

import numpy as np

from harness.core.samples import Samples
from harness.core.validation import parse_options
from harness.metrics.options import MetricOptions
from harness.metrics.state import REDUCTIONS, State, merge_state, pack_state
from harness.results.record import MetricResult

__all__ = [
    "Metric",
    "MetricOptions",
    "MetricResult",
    "SamplesMemo",
    "State",
    "fingerprint_of",
    "version_of",
    "versions_of",
]


def version_of(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def versions_of(packages: Iterable[str]) -> dict[str, str | None]:
    """The installed version of each package, in order (None where absent): a fingerprint's ``libraries``."""
    return {p: version_of(p) for p in packages}


def fingerprint_of(details: dict[str, Any]) -> str:
    """A short stable hash of a metric's defining details (weights, resize, dtype, method, versions)."""
    blob = json.dumps(details, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


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
    # What a shard of the quality pass sends back (#26): each attribute ``update`` changes → how two shards'
    # values merge ("cat", "sum", "max", "min", "stats", "same", "first", "metrics": :mod:`harness.metrics.state`).
    # Networks and reference data loaded on first use are not state: each side loads them from its options.
    # Empty: not mergeable.
    state_fields: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def parse_options(
        cls, options: Mapping[str, Any] | None, *, source: str | None = None, field: str | None = None
    ) -> MetricOptions:
        """The suite's options for this metric, validated; bad input names the option and what is allowed."""
        return parse_options(cls.Options, options, cls.name, source=source, field=field)

    @classmethod
    def build(
        cls, options: MetricOptions | Mapping[str, Any] | None = None, *, device: str = "cpu"
    ) -> Metric:
        """An instance from the suite's options (validated first, unless they come typed: a job's), on
        ``device`` where the metric runs a net."""
        typed = options if isinstance(options, cls.Options) else cls.parse_options(options)
        kwargs = typed.model_dump()
        if cls.accepts_device:
            kwargs["device"] = device
        return cls(**kwargs)

    def fingerprint_details(self) -> dict[str, Any]:
        return {"metric": self.name, "class": type(self).__qualname__}

    def fingerprint(self) -> str:
        return fingerprint_of(self.fingerprint_details())

    @abstractmethod
    def update(self, samples: Samples, reference: Samples | None = None) -> None: ...

    @classmethod
    def mergeable(cls) -> str | None:
        """None where the states of shards of the quality pass merge exactly, else why not."""
        if not cls.state_fields:
            return f"{cls.name} declares no state (state_fields): its shards cannot be merged"
        bad = sorted(set(cls.state_fields.values()) - REDUCTIONS)
        if bad:
            return f"{cls.name}: unknown reductions {bad} in state_fields (allowed: {sorted(REDUCTIONS)})"
        return None

    def state(self) -> State:
        """What this metric has seen, as flat arrays (a shard's part of the quality pass)."""
        why = self.mergeable()
        if why:
            raise TypeError(why)
        return pack_state(self, self.state_fields)

    def merge(self, state: Mapping[str, np.ndarray]) -> None:
        """Add the state of a shard whose samples come after this metric's (in sample order), in place:
        ``compute()`` then gives what one pass over both would have.

        Raises:
            TypeError: The metric declares no state.
            ValueError: The state lacks a declared field, or its shard ran another network, weights or setting
                (a ``"same"`` field differs); the metric is left as it was.
        """
        why = self.mergeable()
        if why:
            raise TypeError(why)
        merge_state(self, self.state_fields, state)

    @abstractmethod
    def compute(self) -> MetricResult: ...

    def value(self, value: float | None, **kw: Any) -> MetricResult:
        """The metric's result; a NaN value is a numerical failure, recorded ``invalid`` (never a score)."""
        kw.setdefault("details", self.fingerprint_details())
        if value is not None and math.isnan(value):
            value, kw["status"] = None, "invalid"
            kw["reason"] = kw.get("reason") or "the value came out NaN: a numerical failure, not a score"
        return MetricResult(
            value=value,
            unit=self.unit,
            higher_is_better=self.higher_is_better,
            fingerprint=self.fingerprint(),
            **kw,
        )

    def mean_of(self, values: Sequence[float], **kw: Any) -> MetricResult:
        """The mean of per-item values with their count and sample standard deviation (none of fewer than two
        values, or where one is infinite: PSNR of an item identical to its baseline); skipped without any."""
        if not len(values):
            return self.skipped("no samples")
        v = np.asarray(values)
        std = float(v.std(ddof=1)) if len(v) > 1 and np.isfinite(v).all() else None
        return self.value(float(v.mean()), n=len(v), std=std, **kw)

    def invalid(self, reason: str, **kw: Any) -> MetricResult:
        """No value, status ``invalid``: the inputs or an intermediate result would make any number meaningless
        (NaN features, a covariance that is not PSD, fewer samples than the estimator needs; #23 item 7)."""
        return self.value(None, status="invalid", reason=reason, **kw)

    def skipped(
        self, reason: str, status: Literal["skipped", "not_applicable", "failed"] = "skipped"
    ) -> MetricResult:
        """No value, with the reason: skipped (could not be computed here), or ``status`` where another applies."""
        return MetricResult(
            value=None, unit=self.unit, higher_is_better=self.higher_is_better, status=status, reason=reason
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

"""The base of the metrics on extractor features: their options, the extractor built on first use, the fingerprint,
and the reference set they compare with.

* ``FeatureMetric`` (options ``FeatureOptions``: ``extractor``, ``resize``, ``batch_size``, ``weights_dir``): the
  registered extractor the metric runs (its own by default), built on first use; the fingerprint holds the
  extractor's protocol. ``fid``, ``kid``, ``inception_score``, ``cmmd``, ``prdc_*``, ``fvd`` and ``fad`` derive
  from it.
* ``ReferenceMetric`` (``ReferenceOptions``: also ``reference_path``, ``allow_mismatch``): one that compares with
  a reference file, refusing a file made with another feature protocol unless ``allow_mismatch``.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import BeforeValidator, Field, field_validator

from harness.core.errors import MetricSkipped, UserInputError
from harness.core.registry import did_you_mean
from harness.core.samples import Samples
from harness.metrics import extractors
from harness.metrics.applies import extractor_builder, extractor_modalities, registered_extractors
from harness.metrics.base import Metric, SamplesMemo
from harness.metrics.inception import RENAMED_RESIZES
from harness.metrics.options import MetricOptions, flag_option, int_option, path_option
from harness.metrics.refstats import check_fingerprint, read_stats

__all__ = [
    "EXTRACTOR_ALIASES",
    "FIDResize",
    "FeatureMetric",
    "FeatureOptions",
    "ReferenceMetric",
    "ReferenceOptions",
    "per_extractor_class",
    "per_extractor_getattr",
]

# Short names a per-extractor metric may use in place of the extractor's (c2st_digits, vendi_digits).
EXTRACTOR_ALIASES = {"digits": "digits-extractor"}


def _renamed_resize(value: Any) -> Any:
    # Suites written before the rename get one line saying what the mode is called now.
    if isinstance(value, str) and value in RENAMED_RESIZES:
        raise ValueError(
            f"{value!r} is now called {RENAMED_RESIZES[value]!r} (the same resize, clean-fid's name; allowed: "
            "'clean', 'legacy_pytorch' or 'legacy_tensorflow')"
        )
    return value


FIDResize = Annotated[
    Literal["clean", "legacy_pytorch", "legacy_tensorflow"] | None, BeforeValidator(_renamed_resize)
]


class FeatureOptions(MetricOptions):
    """The options of every metric on extractor features (``FeatureMetric``'s constructor)."""

    extractor: str | None = Field(
        None,
        min_length=1,
        description="a registered extractor (`harness ls extractors`); null: the metric's own",
    )
    resize: FIDResize = Field(
        None,
        description="the Inception extractors' resize, as clean-fid names them: legacy_pytorch (pytorch-fid, "
        "the default), clean (clean-fid) or legacy_tensorflow (TTUR); null: the extractor's",
    )
    batch_size: int | None = Field(None, ge=1, description="images per forward pass; null: the extractor's")
    weights_dir: str | None = None

    @field_validator("extractor")
    @classmethod
    def _registered(cls, v: str | None) -> str | None:
        known = registered_extractors()
        if v is not None and v not in known:
            raise ValueError(f"unknown extractor '{v}' ({did_you_mean(v, known)})")
        return v


class ReferenceOptions(FeatureOptions):
    """The options of a metric that compares with a reference file (``ReferenceMetric``'s constructor)."""

    reference_path: str | None = None
    allow_mismatch: bool = False


# ------------------------------------------------------------------------------------------------ sharing
# A job's metrics run one after another in one process on one ``Samples`` object (MetricScorer), so SHARED keeps,
# for the last few such objects, the features per extractor setting, the reference features per file and derived
# results: prdc_*, c2st_* and vendi_* on one extractor compute the samples' features once per job.


class SharedWork:
    """Features, reference features and PRDC results, kept for the last few inputs (see the module docstring)."""

    def __init__(self, keep: int = 2) -> None:
        self.keep = keep
        self._lock = threading.Lock()
        self._tokens = itertools.count(1)
        self._features = SamplesMemo(keep)
        self._references: OrderedDict[tuple[Any, ...], tuple[int, np.ndarray, dict[str, Any]]] = OrderedDict()
        self._results: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self.computed = {"features": 0, "references": 0, "results": 0}  # what was computed, not read

    def _put(self, table: OrderedDict, key: tuple[Any, ...], value: Any) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > self.keep:
            table.popitem(last=False)

    def features(
        self, samples: Samples, setting: tuple[Any, ...], make: Callable[[], np.ndarray]
    ) -> tuple[int, np.ndarray]:
        """``(token, features)`` of ``samples`` under an extractor ``setting``, computed once."""

        def compute() -> np.ndarray:
            feats = make()
            feats.setflags(write=False)
            return feats

        token, feats, computed = self._features.get(samples, ("prdc-features", setting), compute)
        if computed:
            with self._lock:
                self.computed["features"] += 1
        return token, feats

    def reference(
        self, key: tuple[Any, ...], make: Callable[[], tuple[np.ndarray, dict[str, Any]]]
    ) -> tuple[int, np.ndarray, dict[str, Any]]:
        """``(token, features, info)`` of a reference set, read or computed once per ``key``."""
        with self._lock:
            if key in self._references:
                return self._references[key]
        feats, info = make()
        with self._lock:
            entry = (next(self._tokens), feats, info)
            self._put(self._references, key, entry)
            self.computed["references"] += 1
        return entry

    def result(self, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
        """The result (a ``PRDCResult``, or what ``make`` returns) for ``key``, computed once."""
        with self._lock:
            if key in self._results:
                return self._results[key]
        res = make()
        with self._lock:
            self._put(self._results, key, res)
            self.computed["results"] += 1
        return res

    def clear(self) -> None:
        """Forget everything kept, and reset the counts."""
        with self._lock:
            self._features.clear()
            self._references.clear()
            self._results.clear()
            self.computed = dict.fromkeys(self.computed, 0)


SHARED = SharedWork()

# What a metric that needs every sample's features at the end keeps (PRDC, C2ST, Vendi): the features, and why
# samples of another modality give no value.
EVERY_FEATURE_STATE: dict[str, str] = {"_feats": "cat", "_not_applicable": "same"}


class FeatureMetric(Metric):
    """Shared by the metrics on extractor features: options, lazy extractor, fingerprint."""

    kind = "distribution"
    modalities = ("image", "video")
    accepts_device = True
    default_extractor: ClassVar[str] = "inception-v3-fid"
    method: ClassVar[str] = ""
    Options = FeatureOptions
    # The extractor's identity is state: a shard that merged others' features but ran no network still knows
    # (and checks) which network made them.
    state_fields: ClassVar[dict[str, str]] = {"_ext_details": "same"}

    def __init__(
        self,
        device: str = "cpu",
        *,
        extractor: str | None = None,
        resize: str | None = None,
        batch_size: int | None = None,
        weights_dir: str | None = None,
    ) -> None:
        self.device = device
        self.extractor_name = path_option("extractor", extractor) or self.default_extractor
        self.resize = path_option("resize", resize)
        self.batch_size = None if batch_size is None else int_option("batch_size", batch_size)
        self.weights_dir = path_option("weights_dir", weights_dir)
        self._ext: Any = None
        # The protocol, fingerprint and libraries of the extractor that ran (here, or in a merged shard).
        self._ext_details: dict[str, Any] | None = None

    def extractor_request(self) -> tuple[str, dict[str, Any]]:
        """The registered extractor this metric runs and the options it builds it with besides device, weights
        and batch size: what :meth:`extractor` builds, and what ``harness validate`` checks the extractor takes
        (:func:`harness.metrics.applies.metric_modalities`)."""
        return self.extractor_name, ({"resize": self.resize} if self.resize is not None else {})

    def extractor(self) -> Any:
        if self._ext is None:
            name, opts = self.extractor_request()
            self._ext = extractors.build_extractor(
                name, device=self.device, weights_dir=self.weights_dir, batch_size=self.batch_size, **opts
            )
            self._ext_details = {
                "extractor": self._ext.protocol(),
                "extractor_fingerprint": self._ext.fingerprint(),
                "libraries": self._ext.libraries(),
            }
        return self._ext

    def features(self, samples: Samples) -> np.ndarray:
        if samples.modality not in self.modalities:
            raise MetricSkipped(f"applies to {', '.join(self.modalities)}, not {samples.modality}")
        return self.extractor().samples_features(samples)

    def not_for(self, samples: Samples) -> str | None:
        """Why the extractor does not take ``samples`` (a blank cell in the report, as fd_digits on a video job,
        not a skip), or None."""
        allowed = extractor_modalities(self.extractor_name)
        if samples.modality in allowed:
            return None
        return f"{self.extractor_name} features apply to {', '.join(allowed)}, not {samples.modality}"

    def shared_features(self, samples: Samples) -> tuple[int, np.ndarray]:
        """``(token, features)`` of ``samples`` on this metric's extractor setting, computed once per job
        (:data:`SHARED`)."""
        ext = self.extractor()
        setting = (self.extractor_name, self.resize, self.batch_size, self.device, ext.fingerprint())
        return SHARED.features(samples, setting, lambda: ext.samples_features(samples))

    def fingerprint_details(self) -> dict[str, Any]:
        d = super().fingerprint_details()
        if self._ext_details is not None:
            d.update(self._ext_details)
        else:
            d["extractor"] = {"extractor": self.extractor_name, "resize": self.resize}
        d["method"] = self.method
        d["statistics_dtype"] = "float64"
        return d


class ReferenceMetric(FeatureMetric):
    """A ``FeatureMetric`` that compares the samples' features with a reference file (``reference_path``)."""

    Options = ReferenceOptions

    def __init__(
        self,
        device: str = "cpu",
        *,
        reference_path: str | None = None,
        allow_mismatch: bool = False,
        **feature: Any,
    ) -> None:
        super().__init__(device, **feature)
        self.reference_path = path_option("reference_path", reference_path)
        self.allow_mismatch = flag_option("allow_mismatch", allow_mismatch)
        self._real_file: tuple[np.ndarray, dict[str, Any]] | None = (
            None  # reference_path read once (not state)
        )

    # -- a real set of features (C2ST, PRDC): reference_path, or the extractor's own where it ships one

    def ships_reference(self) -> bool:
        """Whether the extractor ships a real set of its own (``reference_features``: the digits' held-out)."""
        return hasattr(extractor_builder(self.extractor_name), "reference_features")

    def check_real_source(self) -> None:
        """A missing or unusable real set fails before any feature is computed."""
        if self.reference_path:
            self.read_real_features()
        elif not self.ships_reference():
            raise MetricSkipped(
                f"{self.name} needs real features: set options.reference_path to a .npz with 'features' "
                f"(harness refstats build --images DIR --extractor {self.extractor_name} --keep-features -o ref.npz)"
            )

    def read_real_features(self) -> tuple[np.ndarray, dict[str, Any]]:
        """``reference_path``'s features and what they are (path, n, fingerprint), read once per instance."""
        if self._real_file is None:
            ref = read_stats(self.reference_path)
            if not ref.keep_features:
                raise UserInputError(
                    f"has mu/sigma but no 'features': {self.name} needs the real features "
                    "(rebuild with `harness refstats build ... --keep-features`)",
                    source=self.reference_path,
                    field="reference_path",
                )
            feats = ref.features
            info = {"path": self.reference_path, "n": len(feats), "fingerprint": ref.meta.get("fingerprint")}
            self._real_file = (feats, info)
        return self._real_file

    def shared_reference(self) -> tuple[int, np.ndarray, dict[str, Any]]:
        """``(token, features, info)`` of the real set (``reference_path``, else the extractor's own), read once
        per job (:data:`SHARED`)."""
        if self.reference_path:
            st = Path(self.reference_path).stat() if Path(self.reference_path).is_file() else None
            key = ("file", os.path.realpath(self.reference_path), st and st.st_size, st and st.st_mtime_ns)
            return SHARED.reference(key, self.read_real_features)
        ext = self.extractor()
        return SHARED.reference(("shipped", self.extractor_name, ext.fingerprint()), ext.reference_features)

    def reference_note(self, stored: str | None) -> str | None:
        """The record's note on the reference's fingerprint ``stored`` (None when it is ours); a reference made
        with another feature protocol is refused unless ``allow_mismatch`` (see ``check_fingerprint``)."""
        return check_fingerprint(
            stored,
            self._ext_details["extractor_fingerprint"] if self._ext_details else None,
            label=f"reference {self.reference_path}",
            allow_mismatch=self.allow_mismatch,
        )


_PER_EXTRACTOR: dict[tuple[type, str], type] = {}


def per_extractor_class(base: type, prefix: str, short: str, class_name: str, doc: str, module: str) -> type:
    """The metric class ``<prefix><short>`` derived from ``base`` (one per base and name): ``base``'s metric on
    the registered extractor ``short`` (or the one its alias names, :data:`EXTRACTOR_ALIASES`)."""
    key = (base, short)
    if key not in _PER_EXTRACTOR:
        extractor = EXTRACTOR_ALIASES.get(short, short)
        attrs = {
            "name": f"{prefix}{short}",
            "default_extractor": extractor,
            "__doc__": doc,
            "__module__": module,
        }
        _PER_EXTRACTOR[key] = type(class_name, (base,), attrs)
    return _PER_EXTRACTOR[key]


def per_extractor_getattr(prefix: str, make: Callable[[str], type], module: str) -> Callable[[str], Any]:
    """A module ``__getattr__`` resolving ``<prefix><extractor>`` (``"module:fd_<name>"`` in the metric
    registry) to ``make(extractor)``."""

    def __getattr__(attr: str) -> Any:
        if attr.startswith(prefix) and len(attr) > len(prefix):
            return make(attr[len(prefix) :])
        raise AttributeError(f"module {module!r} has no attribute {attr!r}")

    return __getattr__

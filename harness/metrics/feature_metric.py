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

from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import BeforeValidator, Field, field_validator

from harness.core.errors import MetricSkipped, UserInputError
from harness.core.registry import did_you_mean
from harness.core.samples import Samples
from harness.metrics import extractors
from harness.metrics.applies import extractor_builder, registered_extractors
from harness.metrics.base import Metric
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

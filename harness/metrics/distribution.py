"""Distribution metrics on extractor features: FID and the Fréchet family, KID, Inception Score.

* ``fid``: Fréchet distance between Gaussians fitted to ``inception-v3-fid`` features of the samples and the
  reference statistics ``reference_path`` (a ``.npz`` with ``mu`` and ``sigma``: ``harness refstats build``,
  pytorch-fid or clean-fid). Without ``reference_path`` the metric is skipped: FID needs a reference set.
* ``fd_<extractor>``: the same with any registered extractor (``fd_clip-vit-b-32``); one class per extractor
  is made on demand by ``frechet_metric(extractor)`` (and the module's ``__getattr__``), so registering one is
  one line in ``harness.metrics``.
* ``kid``: KID (``harness.metrics.kid``, torchmetrics' estimator) against reference FEATURES: an ``.npz`` with
  ``features`` (``harness refstats build --keep-features``).
* ``inception_score``: IS of the 1008 Inception logits (``inception-v3-fid-logits``), ``splits=10`` and a
  seeded permutation as torchmetrics' ``InceptionScore``.

A reference file whose stored fingerprint differs from the extractor's protocol (another network, weights,
resize or output) is refused unless ``allow_mismatch: true``; files without a fingerprint (pytorch-fid,
clean-fid) are used and the record says so. All statistics are float64.

No number from a numerical failure (#23 item 7): NaN or infinite features, a covariance that is not positive
semi-definite beyond rounding, fewer samples than the estimator needs (FID: 2; KID: ``subset_size`` of each
set; IS: ``splits``) or a non-finite result give the metric status ``invalid`` with the reason, never a value.
FID from n <= d samples is a value (the covariance is singular, which is legal) with a warning in the details.
"""

from __future__ import annotations

import json
import os
import warnings
import zipfile
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import BeforeValidator, Field

from harness.core.errors import MetricInvalid, MetricSkipped, UserInputError
from harness.core.samples import Samples
from harness.metrics.base import Metric, MetricOptions, MetricValue, version_of
from harness.metrics.frechet import FrechetWarning, StreamingStats, bootstrap_frechet_ci
from harness.metrics.kid import kernel_inception_distance

__all__ = [
    "FID",
    "KID",
    "FeatureOptions",
    "FrechetDistance",
    "FrechetOptions",
    "InceptionScore",
    "InceptionScoreOptions",
    "KIDOptions",
    "check_fingerprint",
    "frechet_metric",
    "read_stats",
]


def read_stats(path: str | os.PathLike[str], what: str = "reference_path") -> StreamingStats:
    """Statistics from a ``.npz`` (ours, pytorch-fid's or clean-fid's); any problem is one line of bad input."""
    p = Path(path)
    if not p.exists():
        raise UserInputError("no such file", source=str(p), field=what)
    if p.is_dir() or p.suffix.lower() != ".npz":
        raise UserInputError(
            "not a .npz statistics file (expected mu and sigma, as written by "
            "`harness refstats build`, pytorch-fid or clean-fid)",
            source=str(p),
            field=what,
        )
    if not zipfile.is_zipfile(p):
        raise UserInputError("not a readable .npz file (not a zip archive)", source=str(p), field=what)
    try:
        return StreamingStats.from_npz(p)
    except ValueError as exc:
        msg = str(exc).removeprefix(f"{os.fspath(p)}: ")
        raise UserInputError(msg, source=str(p), field=what) from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise UserInputError(
            f"not a readable .npz file ({type(exc).__name__}: {exc})", source=str(p), field=what
        ) from None


def check_fingerprint(stored: str | None, ours: str, *, label: str, allow_mismatch: bool) -> str | None:
    """Refuse statistics made with another feature protocol; returns a note for the record, or None."""
    if not stored:
        return f"{label} has no fingerprint (pytorch-fid / clean-fid file): its feature protocol is assumed to match"
    if stored != ours and not allow_mismatch:
        raise ValueError(
            f"{label} was made with another feature protocol (fingerprint {stored}, ours {ours}): rebuild it with "
            "`harness refstats build` and the same extractor options, or set allow_mismatch: true"
        )
    return None if stored == ours else f"{label} fingerprint {stored} differs from ours {ours} (allowed)"


def _positive_int(name: str, value: Any, *, minimum: int = 1) -> int:
    # The worker reports a TypeError raised by a metric's constructor as "bad options for <metric>".
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _optional_str(name: str, value: Any) -> str | None:
    if value is not None and not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a string, got {value!r}")
    return None if value is None else os.fspath(value)


# ------------------------------------------------------------------------------------------------ options


def _renamed_resize(value: Any) -> Any:
    # Suites written before the rename get one line saying what the mode is called now.
    from harness.metrics.extractors import RENAMED_RESIZES

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
    """The options of every metric on extractor features (``_FeatureMetric``'s constructor)."""

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


class FrechetOptions(FeatureOptions):
    """``fid``, ``fd_<extractor>`` and the Fréchet family (``FrechetDistance``'s constructor)."""

    reference_path: str | None = None
    bootstrap: int = Field(0, ge=0, description="bootstrap replicates of a 95% interval (0: none)")
    allow_mismatch: bool = False
    seed: int = Field(0, ge=0)


class KIDOptions(FeatureOptions):
    """``kid`` (torchmetrics' defaults)."""

    reference_path: str | None = None
    subsets: int = Field(100, ge=1)
    subset_size: int = Field(1000, ge=2)
    degree: int = Field(3, ge=1)
    gamma: float | None = Field(None, gt=0, description="the kernel's gamma; null: 1/d")
    coef: float = Field(1.0, ge=0)
    seed: int = Field(0, ge=0)
    allow_mismatch: bool = False


class InceptionScoreOptions(FeatureOptions):
    """``inception_score``."""

    splits: int = Field(10, ge=1)
    seed: int = Field(0, ge=0)


# ------------------------------------------------------------------------------------------------ metrics


class _FeatureMetric(Metric):
    """Shared by the metrics on extractor features: options, lazy extractor, fingerprint."""

    kind: ClassVar = "distribution"
    modalities: ClassVar[tuple[str, ...]] = ("image", "video")
    requires_trained_weights: ClassVar[bool] = True
    accepts_device: ClassVar[bool] = True
    default_extractor: ClassVar[str] = "inception-v3-fid"
    method: ClassVar[str] = ""
    Options: ClassVar[type[MetricOptions]] = FeatureOptions

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
        self.extractor_name = _optional_str("extractor", extractor) or self.default_extractor
        self.resize = _optional_str("resize", resize)
        self.batch_size = None if batch_size is None else _positive_int("batch_size", batch_size)
        self.weights_dir = _optional_str("weights_dir", weights_dir)
        self._ext: Any = None

    def extractor_request(self) -> tuple[str, dict[str, Any]]:
        """The registered extractor this metric runs and the options it builds it with besides device, weights
        and batch size: what :meth:`extractor` builds, and what ``harness validate`` checks the extractor takes
        (:func:`harness.metrics.applies.metric_modalities`)."""
        return self.extractor_name, ({"resize": self.resize} if self.resize is not None else {})

    def extractor(self) -> Any:
        if self._ext is None:
            from harness.metrics.extractors import build_extractor

            name, opts = self.extractor_request()
            self._ext = build_extractor(
                name, device=self.device, weights_dir=self.weights_dir, batch_size=self.batch_size, **opts
            )
        return self._ext

    def features(self, samples: Samples) -> np.ndarray:
        if samples.modality not in self.modalities:
            raise MetricSkipped(f"applies to {', '.join(self.modalities)}, not {samples.modality}")
        return self.extractor().samples_features(samples)

    def fingerprint_details(self) -> dict[str, Any]:
        d = super().fingerprint_details()
        if self._ext is not None:
            d["extractor"] = self._ext.protocol()
            d["extractor_fingerprint"] = self._ext.fingerprint()
            d["libraries"] = self._ext.libraries()
        else:
            d["extractor"] = {"extractor": self.extractor_name, "resize": self.resize}
        d["method"] = self.method
        d["statistics_dtype"] = "float64"
        return d


class FrechetDistance(_FeatureMetric):
    """Fréchet distance of extractor features to reference statistics (``reference_path``, a ``.npz``).

    Options: ``reference_path``, ``extractor``, ``resize`` (inception: ``legacy_pytorch`` | ``clean`` |
    ``legacy_tensorflow``),
    ``batch_size``, ``weights_dir``, ``bootstrap`` (replicates for a 95% interval over the generated set, 0 =
    none), ``allow_mismatch`` (accept reference statistics with another fingerprint).
    """

    name: ClassVar[str] = "fd"
    unit: ClassVar[str] = ""
    higher_is_better: ClassVar[bool] = False
    method: ClassVar[str] = (
        "Fréchet distance of float64 mean/covariance (ddof=1); Tr((σ1σ2)^½) as the singular values of L1ᵀL2 "
        "(harness.metrics.frechet)"
    )
    Options: ClassVar[type[MetricOptions]] = FrechetOptions

    def __init__(
        self,
        device: str = "cpu",
        *,
        reference_path: str | None = None,
        extractor: str | None = None,
        resize: str | None = None,
        batch_size: int | None = None,
        weights_dir: str | None = None,
        bootstrap: int = 0,
        allow_mismatch: bool = False,
        seed: int = 0,
    ) -> None:
        super().__init__(
            device, extractor=extractor, resize=resize, batch_size=batch_size, weights_dir=weights_dir
        )
        self.reference_path = _optional_str("reference_path", reference_path)
        self.bootstrap = _positive_int("bootstrap", bootstrap, minimum=0)
        if not isinstance(allow_mismatch, bool):
            raise TypeError(f"allow_mismatch must be true or false, got {allow_mismatch!r}")
        self.allow_mismatch = allow_mismatch
        self.seed = _positive_int("seed", seed, minimum=0)
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

    def compute(self) -> MetricValue:
        if not self._gen.n:
            return self.skipped("no samples")
        if self._gen.n < 2:
            return self.invalid(f"a covariance needs at least 2 samples, got {self._gen.n}", n=self._gen.n)
        ref = self._reference()
        note = check_fingerprint(
            ref.meta.get("fingerprint"),
            self._ext.fingerprint(),
            label=f"reference {self.reference_path}",
            allow_mismatch=self.allow_mismatch,
        )
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

    name: ClassVar[str] = "fid"


_FD_CLASSES: dict[str, type[FrechetDistance]] = {}


def frechet_metric(extractor: str) -> type[FrechetDistance]:
    """The metric class ``fd_<extractor>``: Fréchet distance on that registered extractor's features."""
    if extractor not in _FD_CLASSES:
        cls = type(
            f"FD_{extractor}",
            (FrechetDistance,),
            {
                "name": f"fd_{extractor}",
                "default_extractor": extractor,
                "__doc__": f"Fréchet distance on '{extractor}' features (see FrechetDistance).",
                "__module__": __name__,
            },
        )
        _FD_CLASSES[extractor] = cls
    return _FD_CLASSES[extractor]


def __getattr__(attr: str) -> Any:
    # "harness.metrics.distribution:fd_clip-vit-b-32" in the metric registry resolves here.
    if attr.startswith("fd_") and len(attr) > 3:
        return frechet_metric(attr[3:])
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


class KID(_FeatureMetric):
    """Kernel Inception Distance against reference features (``reference_path``: a ``.npz`` with ``features``).

    Options as torchmetrics: ``subsets`` (100), ``subset_size`` (1000), ``degree`` (3), ``gamma`` (1/d), ``coef``
    (1), plus ``seed`` (numpy draws of the subsets), ``extractor``, ``resize``, ``batch_size``, ``weights_dir``,
    ``allow_mismatch``. The value is the mean over subsets; ``std`` their population standard deviation.
    """

    name: ClassVar[str] = "kid"
    unit: ClassVar[str] = ""
    higher_is_better: ClassVar[bool] = False
    method: ClassVar[str] = (
        "unbiased polynomial-kernel MMD² averaged over random subsets (harness.metrics.kid)"
    )
    Options: ClassVar[type[MetricOptions]] = KIDOptions

    def __init__(
        self,
        device: str = "cpu",
        *,
        reference_path: str | None = None,
        extractor: str | None = None,
        resize: str | None = None,
        batch_size: int | None = None,
        weights_dir: str | None = None,
        subsets: int = 100,
        subset_size: int = 1000,
        degree: int = 3,
        gamma: float | None = None,
        coef: float = 1.0,
        seed: int = 0,
        allow_mismatch: bool = False,
    ) -> None:
        super().__init__(
            device, extractor=extractor, resize=resize, batch_size=batch_size, weights_dir=weights_dir
        )
        self.reference_path = _optional_str("reference_path", reference_path)
        self.subsets = _positive_int("subsets", subsets)
        self.subset_size = _positive_int("subset_size", subset_size, minimum=2)
        self.degree = _positive_int("degree", degree)
        if gamma is not None and not (
            isinstance(gamma, (int, float)) and not isinstance(gamma, bool) and gamma > 0
        ):
            raise TypeError(f"gamma must be a number > 0 or null, got {gamma!r}")
        if not (isinstance(coef, (int, float)) and not isinstance(coef, bool) and coef >= 0):
            raise TypeError(f"coef must be a number >= 0, got {coef!r}")
        if not isinstance(allow_mismatch, bool):
            raise TypeError(f"allow_mismatch must be true or false, got {allow_mismatch!r}")
        self.gamma, self.coef, self.allow_mismatch = gamma, float(coef), allow_mismatch
        self.seed = _positive_int("seed", seed, minimum=0)
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

    def compute(self) -> MetricValue:
        n = sum(len(f) for f in self._feats)
        if not n:
            return self.skipped("no samples")
        ref = self._reference()
        note = check_fingerprint(
            ref.meta.get("fingerprint"),
            self._ext.fingerprint(),
            label=f"reference {self.reference_path}",
            allow_mismatch=self.allow_mismatch,
        )
        m = len(ref.features)
        details = self.fingerprint_details()
        if note:
            details["note"] = note
        if self.subset_size > min(n, m):
            return self.invalid(
                f"subset_size={self.subset_size} needs at least that many samples and reference features, got "
                f"{n} samples and {m} reference features (set options.subset_size <= {min(n, m)})",
                n=n,
                details=details,
            )
        try:
            mean, std = kernel_inception_distance(
                ref.features,
                np.concatenate(self._feats),
                subsets=self.subsets,
                subset_size=self.subset_size,
                degree=self.degree,
                gamma=self.gamma,
                coef=self.coef,
                seed=self.seed,
            )
        except MetricInvalid as exc:
            return self.invalid(str(exc), n=n, details=details)
        return self.value(mean, std=std, n=n, details=details)

    def fingerprint_details(self) -> dict[str, Any]:
        d = super().fingerprint_details()
        d["n"] = sum(len(f) for f in self._feats)
        d["kid"] = {
            "subsets": self.subsets,
            "subset_size": self.subset_size,
            "degree": self.degree,
            "gamma": self.gamma,
            "coef": self.coef,
            "seed": self.seed,
            "rng": "numpy",
        }
        if self._ref is not None:
            d["reference"] = {
                "path": self.reference_path,
                "n": len(self._ref.features),
                "fingerprint": self._ref.meta.get("fingerprint"),
            }
        return d


class InceptionScore(_FeatureMetric):
    """Inception Score of the samples' class logits (no reference), as torchmetrics' ``InceptionScore``.

    Logits (``inception-v3-fid-logits`` by default: 1008 logits without the fc bias) are permuted with
    ``torch.randperm`` from a generator seeded with ``seed`` (torchmetrics draws the same permutation after
    ``torch.manual_seed(seed)``), cut into ``splits`` chunks, and ``exp(mean KL(p(y|x) ‖ p(y)))`` is taken per
    chunk; the value is the mean over chunks, ``std`` their sample standard deviation. float64 throughout.
    """

    name: ClassVar[str] = "inception_score"
    unit: ClassVar[str] = ""
    higher_is_better: ClassVar[bool] = True
    default_extractor: ClassVar[str] = "inception-v3-fid-logits"
    method: ClassVar[str] = "exp(E KL(p(y|x) || p(y))) per split, mean and std over splits (torchmetrics)"
    Options: ClassVar[type[MetricOptions]] = InceptionScoreOptions

    def __init__(
        self,
        device: str = "cpu",
        *,
        splits: int = 10,
        seed: int = 0,
        extractor: str | None = None,
        resize: str | None = None,
        batch_size: int | None = None,
        weights_dir: str | None = None,
    ) -> None:
        super().__init__(
            device, extractor=extractor, resize=resize, batch_size=batch_size, weights_dir=weights_dir
        )
        self.splits = _positive_int("splits", splits)
        self.seed = _positive_int("seed", seed, minimum=0)
        self._logits: list[np.ndarray] = []

    def update(self, samples: Samples, reference: Samples | None = None) -> None:
        self._logits.append(self.features(samples))

    def compute(self) -> MetricValue:
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


def stats_meta(extractor: Any, **extra: Any) -> dict[str, Any]:
    """Metadata stored next to ``mu``/``sigma`` by refstats: fingerprint, extractor and protocol (JSON)."""
    from harness import __version__

    return {
        "fingerprint": extractor.fingerprint(),
        "extractor": extractor.name,
        "protocol": json.dumps(extractor.protocol(), sort_keys=True, default=str),
        "details": json.dumps(extractor.details(), sort_keys=True, default=str),
        "harness_version": __version__,
        **extra,
    }

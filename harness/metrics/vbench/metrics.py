"""The VBench dimension metrics and MLPerf's text-to-video accuracy score (see the package docstring)."""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from harness.core.errors import MetricSkipped, WeightsNotFoundError
from harness.core.samples import Samples
from harness.metrics.base import Metric, MetricResult, SamplesMemo, versions_of
from harness.metrics.options import MetricOptions, int_option, path_option
from harness.metrics.pairwise import check_range
from harness.metrics.vbench import nets
from harness.metrics.vbench.prompts import VBenchInfoError, dimension_prompts
from harness.metrics.vbench.scoring import SCORERS, Item, to_uint8

__all__ = [
    "MLPERF_DIMENSIONS",
    "VBenchDimension",
    "VBenchMLPerf",
    "VBenchOptions",
    "ratio_bootstrap_ci",
]

MLPERF_DIMENSIONS = (
    "subject_consistency",
    "dynamic_degree",
    "motion_smoothness",
    "appearance_style",
    "scene",
    "background_consistency",
)

# Per-video (numerator, denominator) already computed in this process for a batch, so that vbench_mlperf and
# the dimension metrics of one job score each video once.
_MEMO = SamplesMemo()


def ratio_bootstrap_ci(
    num: np.ndarray, den: np.ndarray, *, resamples: int, seed: int, level: float = 0.95
) -> list[float] | None:
    """Percentile bootstrap interval of Σ num / Σ den, resampling videos (None for fewer than two)."""
    if resamples < 2 or len(num) < 2:
        return None
    idx = np.random.default_rng(seed).integers(0, len(num), size=(resamples, len(num)))
    stats = num[idx].sum(axis=1) / den[idx].sum(axis=1)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(stats, [alpha, 1.0 - alpha])
    return [float(lo), float(hi)]


class VBenchOptions(MetricOptions):
    """The VBench dimension metrics."""

    prompts: Literal["vbench", "all"] = Field(
        "vbench",
        description="vbench: score only videos whose prompt VBench lists for the dimension (its standard "
        "mode, MLPerf's); all: every video (VBench's custom-input mode)",
    )
    bootstrap: int = Field(1000, ge=0, description="bootstrap resamples of the 95% interval (0: none)")
    seed: int = Field(0, ge=0, description="seed of the bootstrap")
    weights_dir: str | None = None


class VBenchAuxOptions(VBenchOptions):
    """Dimensions that need VBench's auxiliary prompt information (the style phrase, the scene words)."""

    prompts: Literal["vbench"] = Field(
        "vbench", description="only videos of VBench's prompts carry the auxiliary information"
    )


class VBenchDimension(Metric):
    """One VBench dimension, a value in [0, 1] as VBench reports it: Σ numerators / Σ denominators over the
    videos (frame pairs, frames or videos, as VBench sums them), with a bootstrap interval over videos."""

    dimension: ClassVar[str]
    needs_aux: ClassVar[bool] = False
    higher_is_better = True
    kind = "per_sample"
    modalities = ("video",)
    accepts_device = True
    Options = VBenchOptions
    # Per scored video in sample order: VBench's numerator and denominator; videos left out; the scorer's
    # code and weights (every shard must run the same).
    state_fields: ClassVar[dict[str, str]] = {
        "_num": "cat",
        "_den": "cat",
        "_left_out": "sum",
        "_scorer_details": "same",
    }

    def __init__(
        self,
        device: str = "cpu",
        *,
        prompts: str = "vbench",
        bootstrap: int = 1000,
        seed: int = 0,
        weights_dir: str | None = None,
    ) -> None:
        allowed = ("vbench",) if self.needs_aux else ("vbench", "all")
        if prompts not in allowed:
            raise TypeError(f"prompts must be one of {', '.join(allowed)}, got {prompts!r}")
        self.device, self.prompts = device, prompts
        self.bootstrap = int_option("bootstrap", bootstrap, minimum=0)
        self.seed = int_option("seed", seed, minimum=0)
        self.weights_dir = path_option("weights_dir", weights_dir)
        self._scorer: Any = None
        self._scorer_details: dict[str, Any] | None = None
        self._num: list[float] = []
        self._den: list[float] = []
        self._left_out = 0

    # ------------------------------------------------------------------------------ selection
    def selected(self, samples: Samples) -> list[tuple[int, Any]]:
        """(index, auxiliary information) of the videos this dimension scores."""
        if self.prompts == "all":
            return [(i, None) for i in range(len(samples))]

        prompts = samples.prompts
        if not prompts:
            raise MetricSkipped(
                f"{self.name} scores videos of VBench's prompts for {self.dimension}: the samples carry no "
                "prompts (or set options.prompts: all, VBench's custom-input mode)"
            )
        try:
            info = dimension_prompts(self.dimension)
        except VBenchInfoError as exc:
            raise MetricSkipped(str(exc)) from None
        return [(i, info[p].auxiliary.get(self.dimension)) for i, p in enumerate(prompts) if p in info]

    def videos(self, samples: Samples) -> np.ndarray:
        if samples.modality != "video":
            raise MetricSkipped(f"applies to video, not {samples.modality}")
        data = samples.data
        if data.ndim != 5 or data.shape[-1] not in (1, 3):
            raise ValueError(f"{self.name}: expected videos (N, F, H, W, 3 or 1), got shape {data.shape}")
        if data.shape[1] < 2:
            raise ValueError(f"{self.name}: VBench compares frames: the videos have {data.shape[1]} frame")
        check_range(self.name, data, 0.0, 1.0)
        return data

    # ------------------------------------------------------------------------------ scoring
    def scorer(self) -> Any:
        if self._scorer is None:
            try:
                self._scorer = SCORERS[self.dimension](self.device, self.weights_dir)
            except WeightsNotFoundError as exc:
                raise MetricSkipped(str(exc)) from None
        return self._scorer

    def scores(self, samples: Samples) -> list[tuple[float, float]]:
        """Per selected video (numerator, denominator), computed once per batch in this process."""
        key = ("vbench", self.dimension, self.prompts, self.device, self.weights_dir)
        return _MEMO.get(samples, key, lambda: self._score_videos(samples))[1]

    def _score_videos(self, samples: Samples) -> list[tuple[float, float]]:
        data = self.videos(samples)
        chosen = self.selected(samples)
        if not chosen:
            raise MetricSkipped(
                f"none of the {len(samples)} prompts is one of VBench's {self.dimension} prompts "
                "(VBench_full_info.json; options.prompts: all scores every video where the dimension allows)"
            )
        if self.dimension == "dynamic_degree" and not samples.fps:
            raise ValueError(f"{self.name}: needs the videos' fps (VBench keeps every round(fps/8)-th frame)")

        items = [Item(f"video-{i:04d}.mp4", to_uint8(data[i]), aux) for i, aux in chosen]
        scorer = self.scorer()
        out = scorer.score(items, samples.fps)
        self._scorer_details = scorer.details()
        return out

    def update(self, samples: Samples, reference: Samples | None = None) -> None:
        out = self.scores(samples)
        self._left_out += len(samples) - len(out)
        for num, den in out:
            self._num.append(float(num))
            self._den.append(float(den))

    def compute(self) -> MetricResult:
        if not self._num:
            return self.skipped("no samples")
        num, den = np.asarray(self._num), np.asarray(self._den)
        per = num / den
        details = self.fingerprint_details()
        details["videos_not_scored"] = self._left_out
        return self.value(
            float(num.sum() / den.sum()),
            n=len(per),
            std=float(per.std(ddof=1)) if len(per) > 1 else None,
            ci95=ratio_bootstrap_ci(num, den, resamples=self.bootstrap, seed=self.seed),
            details=details,
        )

    def fingerprint_details(self) -> dict[str, Any]:
        d = super().fingerprint_details()
        d.update(
            dimension=self.dimension,
            prompts=self.prompts,
            aggregate="sum of per-video numerators / sum of denominators (VBench, one process)",
            bootstrap={"resamples": self.bootstrap, "seed": self.seed, "over": "videos"},
            libraries=versions_of(("vbench", "torch")),
        )
        if self._scorer_details is not None:
            d["scorer"] = self._scorer_details
        return d


def _dimension_class(dimension: str, doc: str, *, aux: bool = False) -> type[VBenchDimension]:
    return type(
        f"VBench_{dimension}",
        (VBenchDimension,),
        {
            "name": f"vbench_{dimension}",
            "dimension": dimension,
            "needs_aux": aux,
            "Options": VBenchAuxOptions if aux else VBenchOptions,
            "__doc__": doc,
            "__module__": __name__,
        },
    )


SubjectConsistency = _dimension_class(
    "subject_consistency",
    "VBench subject consistency: DINO ViT-B/16 [CLS] cosine to the first and previous frame.",
)
BackgroundConsistency = _dimension_class(
    "background_consistency",
    "VBench background consistency: CLIP ViT-B/32 cosine to the first and previous frame.",
)
MotionSmoothness = _dimension_class(
    "motion_smoothness",
    "VBench motion smoothness: AMT-S reconstruction of the odd frames from the even ones.",
)
DynamicDegree = _dimension_class(
    "dynamic_degree", "VBench dynamic degree: share of videos RAFT finds moving."
)
AppearanceStyle = _dimension_class(
    "appearance_style",
    "VBench appearance style: CLIP ViT-B/32 similarity of each frame to the style phrase.",
    aux=True,
)


class Scene(VBenchDimension):
    """VBench scene: Tag2Text captions of 16 frames containing the scene words. vbench's scene code does not
    import under transformers 5 and Tag2Text's checkpoint has no published sha256: skipped with the reason."""

    name = "vbench_scene"
    dimension = "scene"
    needs_aux = True
    Options = VBenchAuxOptions

    def scorer(self) -> Any:
        nets.require_vbench("scene")
        nets.locate("vbench-tag2text-swin-14m", self.weights_dir)
        raise MetricSkipped("vbench_scene: the harness does not wrap vbench's Tag2Text scene code yet")


DIMENSION_METRICS: dict[str, type[VBenchDimension]] = {
    c.dimension: c
    for c in (
        SubjectConsistency,
        DynamicDegree,
        MotionSmoothness,
        AppearanceStyle,
        Scene,
        BackgroundConsistency,
    )
}


class VBenchMLPerfOptions(MetricOptions):
    """``vbench_mlperf``."""

    weights_dir: str | None = None


class VBenchMLPerf(Metric):
    """MLPerf Inference v6.0 text-to-video accuracy: the plain mean of VBench's six dimension scores × 100
    (subject and background consistency, motion smoothness, dynamic degree, appearance style, scene), each
    on its own VBench prompts. Only when all six have a value: otherwise skipped (a dimension skipped) or
    failed (one failed), naming each; never an average of fewer."""

    name = "vbench_mlperf"
    higher_is_better = True
    kind = "per_sample"
    modalities = ("video",)
    accepts_device = True
    Options = VBenchMLPerfOptions
    # Each dimension's own state; the first problem of each dimension in sample order (as one pass records it).
    state_fields: ClassVar[dict[str, str]] = {"parts": "metrics", "_problems": "first"}

    def __init__(self, device: str = "cpu", *, weights_dir: str | None = None) -> None:
        self.device, self.weights_dir = device, path_option("weights_dir", weights_dir)
        self.parts = {
            d: DIMENSION_METRICS[d](device, weights_dir=self.weights_dir, bootstrap=0)
            for d in MLPERF_DIMENSIONS
        }
        self._problems: dict[str, tuple[str, str]] = {}  # dimension → (status, reason)

    def update(self, samples: Samples, reference: Samples | None = None) -> None:
        if samples.modality != "video":
            raise MetricSkipped(f"applies to video, not {samples.modality}")
        for dim, metric in self.parts.items():
            if dim in self._problems:
                continue
            try:
                metric.update(samples)
            except (MetricSkipped, WeightsNotFoundError) as exc:
                self._problems[dim] = ("skipped", str(exc))
            except Exception as exc:
                self._problems[dim] = ("failed", f"{type(exc).__name__}: {exc}")

    def compute(self) -> MetricResult:
        values = {}
        for dim, metric in self.parts.items():
            if dim not in self._problems:
                v = metric.compute()
                if v.ok and math.isfinite(v.value):
                    values[dim] = v.value
                else:
                    self._problems[dim] = (v.status if v.status != "ok" else "failed", v.reason or "no value")
        if self._problems:
            status = "failed" if any(s == "failed" for s, _ in self._problems.values()) else "skipped"
            reason = "needs all six VBench dimensions; " + "; ".join(
                f"{d}: {s}: {r}" for d, (s, r) in self._problems.items()
            )
            return self.skipped(reason, status)
        details = {**self.fingerprint_details(), "dimensions": values}
        return self.value(100.0 * float(np.mean([values[d] for d in MLPERF_DIMENSIONS])), details=details)

    def fingerprint_details(self) -> dict[str, Any]:
        d = super().fingerprint_details()
        d.update(
            score="100 x mean of the six dimension scores (MLPerf v6.0 text-to-video, run_evaluation.py)",
            parts={k: m.fingerprint() for k, m in self.parts.items()},
        )
        return d

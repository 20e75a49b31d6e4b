"""A job's quality metrics, fed batch by batch as the quality pass generates them.

The quality pass used to hold every output in memory before scoring: 5,000 SDXL images at 1024² are 63 GB as
float32, 248 Wan 2.2 videos at 720p 222 GB, so MLPerf's accuracy protocols could not run. ``MetricScorer``
builds the job's metrics once, gives each batch to every metric still live (pairwise ones with the same items
of the baseline's outputs) and computes at the end: memory is a batch plus what each metric keeps (running
statistics, features, per-item scores). A metric's failure or skip is its own and the others go on; outputs
with NaN or Inf make every applicable metric ``invalid`` (their scores would mean nothing), and so does a
``MetricInvalid`` a metric raises (NaN features, a covariance that is not PSD, too few samples).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from harness.config.job import Job
from harness.core.errors import MetricInvalid, MetricSkipped, WeightsNotFoundError
from harness.core.samples import Samples
from harness.metrics import METRICS
from harness.metrics.applies import metric_modalities
from harness.results.record import MetricResult

INVALID = "the outputs contain NaN or Inf"


def metric_result(cls: Any, status: str, reason: str) -> MetricResult:
    """A value-less result of metric class ``cls`` with its status and reason."""
    return MetricResult(
        value=None, unit=cls.unit, higher_is_better=cls.higher_is_better, status=status, reason=reason
    )


class MetricScorer:
    """The metrics of ``job``: ``update(batch)`` as outputs arrive (in item order), then ``compute()``."""

    def __init__(self, job: Job, run_dir: Path, device: str = "cpu", start: int = 0):
        self.job, self.run_dir = job, run_dir
        self.start = start  # the first item this scorer sees: a shard's first (pairwise metrics need it)
        self.done: dict[str, MetricResult] = {}  # decided: not applicable, bad options, skipped, failed
        self.live: dict[str, tuple[Any, Any]] = {}  # name → (class, metric) still taking batches
        self.classes: dict[str, Any] = {}
        self.invalid = False
        self.items = 0
        self._reference: Samples | None = None
        self._reference_first = 0
        self._reference_error: str | None = None
        for spec in job.metrics:
            name = spec.name
            cls = self.classes[name] = METRICS.get(name)
            if job.modality not in cls.modalities:
                reason = f"applies to {', '.join(cls.modalities)}, not {job.modality}"
                self.done[name] = metric_result(cls, "not_applicable", reason)
                continue
            try:
                metric = cls.build(spec.options, device=device)
                applies = metric_modalities(metric)
            except (TypeError, ValueError) as exc:  # harness validate refuses these before any job
                self.done[name] = metric_result(cls, "failed", f"bad options: {exc}")
                continue
            if job.modality not in applies:  # narrowed by the feature extractor the options name
                reason = f"applies to {', '.join(applies)} with these options, not {job.modality}"
                self.done[name] = metric_result(cls, "not_applicable", reason)
                continue
            if cls.requires_trained_weights and job.random_weights:
                reason = "the model has random weights (source: config): a quality score would be noise"
                self.done[name] = metric_result(cls, "skipped", reason)
                continue
            self.live[name] = (cls, metric)

    @property
    def keeps_outputs(self) -> bool:
        """Whether the job's outputs must be kept on disk: pairwise metrics compare variants with them."""
        return any(cls.kind == "pairwise" for cls in self.classes.values())

    def _reference_items(self, batch: Samples) -> Samples:
        """The baseline's outputs for the same items as ``batch`` (the batch itself in the baseline's job)."""
        start = self.start + self.items
        stop = start + len(batch)
        if self.job.baseline_job_id is None:
            return batch  # this job is the baseline: pairwise metrics against itself are the identity
        if self._reference is None and self._reference_error is None:
            self._reference, self._reference_first = self._load_reference()
        if self._reference is None:
            raise MetricSkipped(self._reference_error or "no reference")
        first = self._reference_first
        if first > start or first + len(self._reference) < stop:
            raise ValueError(
                f"the baseline variant has {len(self._reference)} outputs (items {first} to "
                f"{first + len(self._reference) - 1}), this job at least {stop} (items {start} to {stop - 1}): "
                "pairwise metrics compare the same items"
            )
        return self._reference.take(start - first, stop - first)

    def _load_reference(self) -> tuple[Samples | None, int]:
        """The baseline's outputs and the index of their first item: the whole pass, or (a shard on a node
        without the run folder) the slice of it this shard compares with, ``<id>.items-<start>-<stop>.npz``."""
        outputs = self.run_dir / "outputs"
        path = outputs / f"{self.job.baseline_job_id}.npz"
        if path.exists():
            return Samples.load_npz(path), 0
        for sliced in sorted(outputs.glob(f"{self.job.baseline_job_id}.items-*.npz")):
            first = int(sliced.name.rsplit(".items-", 1)[1].split("-")[0])
            if first <= self.start:
                return Samples.load_npz(sliced), first
        self._reference_error = "the baseline variant produced no outputs (its job failed or was not run)"
        return None, 0

    def update(self, batch: Samples) -> None:
        """Give the next items to every live metric; outputs with NaN or Inf stop the scoring (invalid)."""
        if not self.invalid and not bool(np.isfinite(batch.data).all()):
            self.invalid = True
        if self.invalid:
            self.items += len(batch)
            return
        for name, (cls, metric) in list(self.live.items()):
            try:
                if cls.kind == "pairwise":
                    metric.update(batch, self._reference_items(batch))
                else:
                    metric.update(batch)
            except (MetricSkipped, WeightsNotFoundError) as exc:
                # Missing weights are not the job's failure: the metric is skipped, saying what to provide.
                self._retire(name, "skipped", str(exc))
            except MetricInvalid as exc:
                self._retire(name, "invalid", str(exc))
            except Exception as exc:
                self._retire(name, "failed", f"{type(exc).__name__}: {exc}")
        self.items += len(batch)

    def shard_state(self) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, dict[str, Any]]]:
        """What a shard sends back: each live metric's state, and the metrics it decided (skipped, failed,
        invalid) with their results (#26: states, never partial scores)."""
        states: dict[str, dict[str, np.ndarray]] = {}
        for name, (_cls, metric) in list(self.live.items()):
            try:
                states[name] = metric.state()
            except Exception as exc:
                self._retire(name, "failed", f"its state could not be taken: {type(exc).__name__}: {exc}")
        decided = {n: r.model_dump(mode="json") for n, r in self.done.items() if r.status != "not_applicable"}
        return states, decided

    def merge_shard(
        self, items: int, invalid: bool, states: dict[str, dict[str, np.ndarray]], decided: dict[str, Any]
    ) -> None:
        """Add a shard's part (shards in item order): its items, whether its outputs held NaN or Inf, the
        metrics it decided (the first shard to decide one decides it for the job) and the others' states."""
        self.items += items
        self.invalid = self.invalid or invalid
        for name, result in decided.items():
            if name in self.live:
                self.live.pop(name)
                self.done[name] = MetricResult.model_validate(result)
        for name, (_cls, metric) in list(self.live.items()):
            if name not in states:
                self._retire(name, "failed", "a shard sent back no state for it")
                continue
            try:
                metric.merge(states[name])
            except Exception as exc:
                self._retire(name, "failed", f"its shards' states did not merge: {type(exc).__name__}: {exc}")

    def _retire(self, name: str, status: str, reason: str) -> None:
        cls, _ = self.live.pop(name)
        self.done[name] = metric_result(cls, status, reason)

    def compute(self, on_metric: Any = None) -> dict[str, MetricResult]:
        """Every metric's value or status with its reason, in the suite's order."""
        out: dict[str, MetricResult] = {}
        for k, spec in enumerate(self.job.metrics):
            if on_metric is not None and k:
                on_metric(k)
            name = spec.name
            cls = self.classes[name]
            decided = self.done.get(name)
            if decided is not None and decided.status == "not_applicable":
                out[name] = decided
            elif self.invalid:  # a score of NaN outputs would be a number that means nothing
                out[name] = metric_result(cls, "invalid", INVALID)
            elif decided is not None:
                out[name] = decided
            else:
                out[name] = self._compute_one(name)
        return out

    def _compute_one(self, name: str) -> MetricResult:
        cls, metric = self.live[name]
        try:
            value = metric.compute()
            if cls.kind == "pairwise" and self.job.baseline_job_id is None:
                value.details["note"] = "baseline variant: compared with itself"
            return value
        except (MetricSkipped, WeightsNotFoundError) as exc:
            return metric_result(cls, "skipped", str(exc))
        except MetricInvalid as exc:
            return metric_result(cls, "invalid", str(exc))
        except Exception as exc:
            return metric_result(cls, "failed", f"{type(exc).__name__}: {exc}")


def run_metrics(
    job: Job, samples: Samples, run_dir: Path, device: str = "cpu", on_metric: Any = None
) -> dict[str, MetricResult]:
    """Every metric of the job on all its outputs at once: a value, or a status with the reason."""
    scorer = MetricScorer(job, run_dir, device)
    scorer.update(samples)
    return scorer.compute(on_metric)

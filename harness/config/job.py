"""The Job: one measured unit, typed and frozen, made once by the plan and read by everything after it.

A job carries what its worker needs, each part in the type that validated it: the card itself, the call
arguments, the backend's typed options, the metrics with their typed options, the suite's measurement,
fidelity bounds, cost and LoadGen scenario. Nothing downstream parses a dict again.

``to_dict`` / ``from_dict`` are its JSON (a worker's job file, ``run.json``): the keys written before the job
carried its card keep their form, and ``card`` holds the card; a job written without it (a run of an older
harness, a committed baseline) reads its card from ``card_path``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.config import (
    CallArgs,
    Constraint,
    CostSpec,
    DType,
    Measurement,
    Modality,
    ModelCard,
    ScenarioSpec,
    Task,
    load_card,
)
from harness.config.backends import BackendOptions, parse_backend_options
from harness.metrics import METRICS
from harness.metrics.options import MetricOptions

if TYPE_CHECKING:
    from harness.loaders.base import Request


@dataclass(frozen=True)
class JobMetric:
    """A metric as a job runs it: its name and its options, validated as the metric's own options model (with
    ``*_path`` options resolved against the suite's folder)."""

    name: str
    options: MetricOptions

    @classmethod
    def parse(cls, name: str, options: dict[str, Any] | None = None) -> JobMetric:
        """The metric ``name`` with ``options`` (as a suite or a job file gives them) validated."""
        return cls(name, METRICS.get(name).parse_options(options))

    def to_dict(self) -> dict[str, Any]:
        """``{name, options}`` with the options as given (defaults left out)."""
        return {"name": self.name, "options": self.options.model_dump(mode="json", exclude_unset=True)}


@dataclass(frozen=True)
class Job:
    """One measured unit: a card's variant under one backend (and LoadGen scenario). Serialisable to JSON for a
    worker (:meth:`to_dict`)."""

    job_id: str
    suite: str
    model: str
    variant: str
    backend: str
    backend_options: BackendOptions  # the backend's own options model (harness.config.backends)
    dtype: DType
    batch_size: int
    call: CallArgs  # card defaults merged with the variant's overrides
    card_path: str  # where the card was read from (provenance; run.json names it relative to the cwd)
    baseline_job_id: str | None  # the job whose outputs pairwise metrics compare against (None: this is it)
    modality: Modality
    task: Task
    random_weights: bool
    card: ModelCard
    prompts: tuple[str, ...] | None = None
    class_labels: tuple[int, ...] | None = None
    seed: int = 0
    num_samples: int = 1
    audit_atol: float | None = None  # timed pass vs quality pass, same seeds (None: by dtype)
    shards: int = 1  # the quality pass in this many shards of whole batches (harness.execute.shards)
    metrics: tuple[JobMetric, ...] = ()
    measurement: Measurement = field(default_factory=Measurement)
    threads: int | None = None
    fidelity_bounds: tuple[Constraint, ...] = ()
    cost: CostSpec | None = None  # the suite's price of the machine
    scenario: ScenarioSpec | None = None  # a LoadGen scenario; None: the timed loop alone

    def to_dict(self) -> dict[str, Any]:
        """The job as JSON-ready data (``from_dict`` reads it back)."""
        return {
            "job_id": self.job_id,
            "suite": self.suite,
            "model": self.model,
            "variant": self.variant,
            "backend": self.backend,
            "backend_options": self.backend_options.model_dump(mode="json", exclude_unset=True),
            "dtype": self.dtype,
            "batch_size": self.batch_size,
            "call": self.call.model_dump(exclude_none=True),
            "card_path": self.card_path,
            "baseline_job_id": self.baseline_job_id,
            "modality": self.modality,
            "task": self.task,
            "random_weights": self.random_weights,
            "prompts": list(self.prompts) if self.prompts is not None else None,
            "class_labels": list(self.class_labels) if self.class_labels is not None else None,
            "seed": self.seed,
            "num_samples": self.num_samples,
            "shards": self.shards,
            "audit_atol": self.audit_atol,
            "metrics": [m.to_dict() for m in self.metrics],
            "measurement": self.measurement.model_dump(),
            "threads": self.threads,
            "fidelity_bounds": [b.model_dump() for b in self.fidelity_bounds],
            "cost": self.cost.model_dump() if self.cost else None,
            # The settings the suite gave, not LoadGen's defaults (with mlperf_model only these override MLPerf's).
            "scenario": self.scenario.model_dump(exclude_unset=True) if self.scenario else None,
            "card": self.card.model_dump(mode="json", exclude_none=True),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        """A job from ``to_dict`` or from run.json (where ``card_path`` may be relative to the run's cwd).

        Raises:
            TypeError: a key that is no field of a job, or a required one missing.
            ValueError: a part that does not validate (pydantic's ValidationError is one).
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise TypeError(f"unexpected key '{unknown[0]}' in a job")
        missing = sorted(k for k in REQUIRED if k not in data)
        if missing:
            raise TypeError(f"a job needs '{missing[0]}'")
        card_path = str(Path(data["card_path"]).resolve())
        kept = {k: data[k] for k in PLAIN if k in data}
        scenario, cost = data.get("scenario"), data.get("cost")
        return cls(
            **kept,
            card_path=card_path,
            card=_card(data.get("card"), card_path),
            backend_options=parse_backend_options(data["backend"], data["backend_options"]),
            call=CallArgs.model_validate(data["call"]),
            prompts=tuple(data["prompts"]) if data.get("prompts") is not None else None,
            class_labels=tuple(data["class_labels"]) if data.get("class_labels") is not None else None,
            metrics=tuple(JobMetric.parse(m["name"], m.get("options")) for m in data.get("metrics") or []),
            measurement=Measurement.model_validate(data.get("measurement") or {}),
            fidelity_bounds=tuple(Constraint.model_validate(b) for b in data.get("fidelity_bounds") or []),
            cost=CostSpec.model_validate(cost) if cost else None,
            scenario=ScenarioSpec.model_validate(scenario) if scenario else None,
        )

    def to_portable_dict(self) -> dict[str, Any]:
        """``to_dict`` with ``card_path`` relative to the cwd when the card lies under it (for run.json: a
        committed baseline then names no machine path; ``harness run --resume`` resolves it again)."""
        return {**self.to_dict(), "card_path": portable_path(self.card_path)}

    def request_for(self, items: list[int]) -> Request:
        """The request for these items of the workload (item i: seed + i, its prompt or class label)."""
        from harness.loaders.base import Request

        return Request(
            seeds=[self.seed + i for i in items],
            call=self.call,
            prompts=[self.prompts[i % len(self.prompts)] for i in items] if self.prompts else None,
            class_labels=[self.class_labels[i % len(self.class_labels)] for i in items]
            if self.class_labels
            else None,
        )

    def timed_request(self) -> Request:
        """The request the timed loop repeats: always a full batch (items 0 … batch_size-1)."""
        return self.request_for(list(range(self.batch_size)))

    def quality_requests(self, shard: int | None = None) -> list[Request]:
        """The quality pass: ``num_samples`` items in batches; item i has seed ``seed + i``, in every variant.
        With ``shard``, that shard's batches only (:meth:`shard_items`)."""
        start, stop = (0, self.num_samples) if shard is None else self.shard_items(shard)
        return [
            self.request_for(list(range(first, min(first + self.batch_size, stop))))
            for first in range(start, stop, self.batch_size)
        ]

    def shard_items(self, shard: int) -> tuple[int, int]:
        """The items ``[start, stop)`` shard ``shard`` of ``shards`` generates: whole batches of the single
        pass, as even as they go (the first shards take one batch more), so every item is generated in the same
        batch, from the same seed, whatever the sharding."""
        if not 0 <= shard < self.shards:
            raise ValueError(f"shard {shard} of a job with {self.shards} shards")
        batches = -(-self.num_samples // self.batch_size)
        per, extra = divmod(batches, self.shards)
        first = shard * per + min(shard, extra)
        count = per + (1 if shard < extra else 0)
        return (
            min(first * self.batch_size, self.num_samples),
            min((first + count) * self.batch_size, self.num_samples),
        )


# The keys of a job's JSON taken as they are, and those every job file has (the rest have defaults).
PLAIN = (
    "job_id",
    "suite",
    "model",
    "variant",
    "backend",
    "dtype",
    "batch_size",
    "baseline_job_id",
    "modality",
    "task",
    "random_weights",
    "seed",
    "num_samples",
    "threads",
    "shards",
    "audit_atol",
)
REQUIRED = (*PLAIN[:11], "backend_options", "call", "card_path")


def _card(data: dict[str, Any] | None, card_path: str) -> ModelCard:
    """The job's card from its JSON; a job written before jobs carried their card reads it from its file."""
    if data is None:
        return load_card(card_path)
    card = ModelCard.model_validate(data)
    card._path = Path(card_path)
    return card


def portable_path(path: str | Path) -> str:
    """``path`` relative to the cwd when it lies under it, else absolute (as given)."""
    p = Path(path).resolve()
    try:
        return p.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(p)

"""The columns of a record that reports, objectives and gates name: one list, with each column's direction and
what a job needs to produce it.

A column is a speed, memory or cost summary of a job (``latency_ms.p50``, ``peak_rss_mib``) or the name of one
of the suite's metrics. :func:`harness.results.table.flatten` turns a record into one row of these columns;
:func:`unmeasurable` says why no job of a suite could give a column a value (``harness validate`` and
``harness run`` refuse objectives, constraints and gates on such a column).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

# Per-iteration columns: decided on the raw latency samples by the regression gate.
SAMPLED_COLUMNS = (
    "latency_ms.p50",
    "latency_ms.p90",
    "latency_ms.p99",
    "latency_ms.mean",
    "latency_per_item_ms.p50",
    "throughput",
)
# Single values per job: compared directly.
TIME_COLUMNS = ("first_call_ms", "load_s", "compile_s")
MEMORY_COLUMNS = ("peak_rss_mib", "peak_vram_allocated_mib", "peak_vram_reserved_mib", "peak_vram_nvml_mib")
# Energy of the timed loop (per call, per item) and what an item costs at the suite's price of the device.
ENERGY_COLUMNS = ("energy_j", "energy_per_item_j")
COST_COLUMNS = ("cost_per_1k_items_usd",)
# LoadGen scenarios: the highest QPS a Server run sustained under the latency bound, Offline samples/s, and
# the Server run's p99 latency (at max_qps, or at target_qps).
SCENARIO_COLUMNS = ("max_qps", "offline.throughput", "server.p99_ms")

# Every column that objectives, constraints and gates may name besides the suite's metrics.
SPEED_COLUMNS = (
    *SAMPLED_COLUMNS,
    *TIME_COLUMNS,
    *MEMORY_COLUMNS,
    *ENERGY_COLUMNS,
    *COST_COLUMNS,
    *SCENARIO_COLUMNS,
)

# Columns where more is better; every other speed/memory column is better lower.
HIGHER_IS_BETTER_COLUMNS = frozenset({"throughput", "max_qps", "offline.throughput"})


def higher_is_better(column: str) -> bool:
    """The direction of a speed or memory column (metrics carry their own)."""
    return column in HIGHER_IS_BETTER_COLUMNS


# ------------------------------------------------------------------------------------- what each column needs

# What a job needs, besides the timed loop every job runs, for a column to get a value. `harness validate` and
# `harness run` refuse an objective, constraint or gate on a column that no job of the suite can produce:
# ranking or gating on it would rank or gate on nothing. A metric's column needs the metric in the suite and a
# job it applies to (:func:`metric_unmeasurable`).
NEEDS_CUDA = "a CUDA device"
NEEDS_NVML = "NVML on a CUDA device"
NEEDS_ENERGY_METER = "an energy meter"
NEEDS_PRICE = "a price"
NEEDS_SERVER_SEARCH = "a server scenario with latency_bound_ms"
NEEDS_SERVER = "a server scenario"
NEEDS_OFFLINE = "an offline scenario"
COLUMN_NEEDS: dict[str, str] = {
    "peak_vram_allocated_mib": NEEDS_CUDA,
    "peak_vram_reserved_mib": NEEDS_CUDA,
    "peak_vram_nvml_mib": NEEDS_NVML,
    "energy_j": NEEDS_ENERGY_METER,
    "energy_per_item_j": NEEDS_ENERGY_METER,
    "cost_per_1k_items_usd": NEEDS_PRICE,
    "max_qps": NEEDS_SERVER_SEARCH,
    "server.p99_ms": NEEDS_SERVER,
    "offline.throughput": NEEDS_OFFLINE,
}
# Needs that the machine decides, not the suite: a suite may list these columns under ``may_be_absent:``, and
# a job on a machine without the device or meter then records null with the reason instead of being refused.
MACHINE_NEEDS = frozenset({NEEDS_CUDA, NEEDS_NVML, NEEDS_ENERGY_METER})
MAY_BE_ABSENT_COLUMNS = tuple(c for c, need in COLUMN_NEEDS.items() if need in MACHINE_NEEDS)


@dataclass(frozen=True)
class JobKind:
    """What a suite's job is, as far as its columns go."""

    modality: str
    trained: bool  # trained weights (a quality metric that needs them scores this job)
    scenario: str | None = None  # the LoadGen scenario's kind (server, offline, single_stream), None: none
    latency_bound: bool = False  # a server scenario with latency_bound_ms: it searches for max_qps


@dataclass(frozen=True)
class MetricKind:
    """Where one of the suite's metrics applies, with the options the suite gives it."""

    modalities: tuple[str, ...]
    needs_trained_weights: bool


@dataclass(frozen=True)
class Producers:
    """What the jobs of a suite can give values to, known before any of them runs.

    ``energy_meter`` and ``price`` are None when there is one, else why there is none; ``device`` is the
    suite's (``auto`` before a run resolves it) or the run's resolved device.
    """

    jobs: frozenset[JobKind]
    metrics: Mapping[str, MetricKind]
    device: str
    energy_meter: str | None = None
    price: str | None = None
    may_be_absent: frozenset[str] = field(default_factory=frozenset)


def _listed(values: Iterable[str]) -> str:
    return ", ".join(sorted(set(values))) or "none"


def metric_unmeasurable(name: str, producers: Producers) -> str | None:
    """Why no job of the suite gets a value of metric ``name``, as ``what is wrong (what is allowed)``; None
    when one does."""
    kind = producers.metrics.get(name)
    if kind is None:
        return f"'{name}' is not a metric of the suite (allowed: {_listed(producers.metrics)})"
    jobs = [j for j in producers.jobs if j.modality in kind.modalities]
    if not jobs:
        return (
            f"{name} applies to {_listed(kind.modalities)} and the suite's jobs are "
            f"{_listed(j.modality for j in producers.jobs)} (allowed: a metric of a modality a job generates)"
        )
    if kind.needs_trained_weights and not any(j.trained for j in jobs):
        return (
            f"{name} scores trained models only and every {_listed(j.modality for j in jobs)} card of the suite has random "
            "weights (source: config) (allowed: a card with trained weights, or a pairwise metric)"
        )
    return None


def unmeasurable(column: str, producers: Producers) -> str | None:
    """Why no job of the suite can give ``column`` a value, as ``what is wrong (what is allowed)``; None when
    one can (every timed-loop column, a metric that applies to a job, a need the suite meets)."""
    if column not in SPEED_COLUMNS:
        return metric_unmeasurable(column, producers)
    need = COLUMN_NEEDS.get(column)
    if need is None or (need in MACHINE_NEEDS and column in producers.may_be_absent):
        return None
    kinds = {j.scenario for j in producers.jobs}
    device = producers.device
    absent = f"or list {column} under may_be_absent: to allow a null"
    if need in (NEEDS_CUDA, NEEDS_NVML) and device == "cpu":
        return f"{column} is measured on a CUDA device and the jobs run on the cpu (allowed: device: cuda, {absent})"
    if need == NEEDS_ENERGY_METER and producers.energy_meter is not None:
        return (
            f"no energy meter for the jobs on {device}: {producers.energy_meter} (allowed: a CUDA device with "
            f"NVML, RAPL's powercap files readable, {absent})"
        )
    if need == NEEDS_PRICE and producers.price is not None:
        return f"{column} needs a price: {producers.price} (allowed: cost: {{usd_per_hour: N}} or {{by_device: {{NAME: N}}}})"
    if need == NEEDS_SERVER_SEARCH and not any(j.latency_bound for j in producers.jobs):
        return (
            f"{column} comes from the Server max-QPS search and no job runs a server scenario with "
            "latency_bound_ms (allowed: scenario: {kind: server, latency_bound_ms: N})"
        )
    if need == NEEDS_SERVER and "server" not in kinds:
        return f"no job runs a server scenario (allowed: scenario: {{kind: server, ...}}; jobs run {_scenarios(kinds)})"
    if need == NEEDS_OFFLINE and "offline" not in kinds:
        return f"no job runs an offline scenario (allowed: scenario: {{kind: offline}}; jobs run {_scenarios(kinds)})"
    return None


def _scenarios(kinds: set[str | None]) -> str:
    return _listed(k or "the timed loop alone" for k in kinds)

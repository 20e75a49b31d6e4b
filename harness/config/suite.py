"""The suite: its models and backends, and the sections each in its own module (workload, measurement,
scenario, objectives and constraints, cost, gates); the metrics it asks for."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator

from harness.config.cost import CostSpec
from harness.config.fields import NAME_PATTERN, Direction, Strict, int_in
from harness.config.gates import check_gate_keys
from harness.config.measurement import Measurement
from harness.config.objectives import Constraint
from harness.config.roots import check_inside
from harness.config.scenario import ScenarioField
from harness.config.variants import ModelEntry
from harness.config.workload import Workload
from harness.results.columns import MAY_BE_ABSENT_COLUMNS


class MetricSpec(Strict):
    """A metric with options. Option keys ending in ``_path`` are paths relative to the suite file."""

    name: str
    options: dict[str, Any] = Field(default_factory=dict)


def workload_for(suite: Suite, entry: ModelEntry) -> Workload:
    """The suite's workload with the fields this model's entry sets replaced."""
    if entry.workload is None:
        return suite.workload
    data = suite.workload.model_dump()
    data.update(entry.workload.model_dump(include=entry.workload.model_fields_set))
    if "prompts" in entry.workload.model_fields_set:
        data["prompts_file"] = None
    if "prompts_file" in entry.workload.model_fields_set:
        data["prompts"] = None
    return Workload(**data)


SUITE_VERSIONS = (1,)


class Suite(Strict):
    name: Annotated[str, Field(pattern=NAME_PATTERN, max_length=100)]
    version: Annotated[int, Field(strict=True)] = 1
    description: str = ""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int_in(1, 4096) | None = Field(
        default=None,
        description="torch intra-op threads in each job (default: the cores the process may use, its affinity)",
    )
    isolation: Literal["process", "card"] = Field(
        default="process",
        description="process: each job in its own process and load; card: the variants of a card that agree on "
        "card, dtype, backend and its options run in one process on one load (--isolation overrides)",
    )
    models: Annotated[list[ModelEntry], Field(min_length=1)]
    backends: Annotated[list[str], Field(min_length=1)] = Field(default_factory=lambda: ["eager"])
    workload: Workload = Field(default_factory=Workload)
    measurement: Measurement = Field(default_factory=Measurement)
    metrics: list[str | MetricSpec] = Field(
        default_factory=list, description="metric names, or {name, options} for metrics that take options"
    )
    objectives: dict[str, Direction] = Field(
        default_factory=lambda: {"latency_ms.p50": "min", "peak_rss_mib": "min"}
    )
    constraints: list[Constraint] = Field(default_factory=list)
    scenario: ScenarioField = None
    cost: CostSpec | None = Field(
        default=None,
        description="price of the machine, for cost_per_1k_items_usd (a column, objective and gate)",
    )
    fidelity_bounds: list[Constraint] = Field(
        default_factory=list,
        description="bounds on pairwise metrics vs the baseline; a variant past one is flagged, not failed",
    )
    gates: dict[str, Any] = Field(
        default_factory=dict,
        description="CI regression gate (harness compare): column → '+N%', '-N%', '+N', '-N' or N",
    )
    may_be_absent: list[str] = Field(
        default_factory=list,
        description="columns that depend on the machine (energy, VRAM) which objectives, constraints and gates "
        "may name though the machine that runs the suite cannot measure them: a job there records null with "
        "the reason (without this, validate and run refuse them)",
    )
    _path: Path | None = PrivateAttr(default=None)

    @field_validator("version")
    @classmethod
    def _version(cls, value: int) -> int:
        if value not in SUITE_VERSIONS:
            raise ValueError(
                f"suite version {value} is not known (this harness reads version {', '.join(map(str, SUITE_VERSIONS))})"
            )
        return value

    @field_validator("gates")
    @classmethod
    def _gates(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        if "metrics" in info.data:  # when metrics is itself invalid, its own error is the one to show
            names = [m if isinstance(m, str) else m.name for m in info.data["metrics"]]
            check_gate_keys(value, names)
        return value

    @field_validator("may_be_absent")
    @classmethod
    def _may_be_absent(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in MAY_BE_ABSENT_COLUMNS:
                raise ValueError(
                    f"'{name}' does not depend on the machine: it is measured wherever the suite can produce it "
                    f"(allowed: {', '.join(MAY_BE_ABSENT_COLUMNS)})"
                )
        return value

    @field_validator("objectives")
    @classmethod
    def _objectives(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise ValueError("objectives is empty (name at least one metric: min|max)")
        return value

    @property
    def path(self) -> Path | None:
        return self._path

    def resolve(self, relative: str) -> Path:
        base = self._path.parent if self._path else Path.cwd()
        return (base / os.path.expandvars(relative)).resolve()

    @property
    def metric_names(self) -> list[str]:
        return [m if isinstance(m, str) else m.name for m in self.metrics]

    def metric_specs(self) -> list[dict[str, Any]]:
        """Each metric as {name, options}, with ``*_path`` options resolved against the suite's folder."""
        out = []
        for i, m in enumerate(self.metrics):
            spec = MetricSpec(name=m) if isinstance(m, str) else m
            options = {
                k: str(check_inside(self.resolve(v), self._path, field=f"metrics[{i}].options.{k}"))
                if k.endswith("_path") and isinstance(v, str)
                else v
                for k, v in spec.options.items()
            }
            out.append({"name": spec.name, "options": options})
        return out

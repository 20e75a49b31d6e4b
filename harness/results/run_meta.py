"""``run.json``: the suite as run, the plan, the device and the host environment of a run folder."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.core.errors import UserInputError
from harness.core.validation import validation_message
from harness.results.record import DeviceEnvironment


class HostEnvironment(BaseModel):
    """The host as ``harness run`` saw it (no torch): versions, CPU, commit. Later keys are kept."""

    model_config = ConfigDict(extra="allow")

    harness_version: str | None = None
    harness_commit: str | None = None
    python: str | None = None
    platform: str | None = None
    cpu: str | None = None
    cpu_count: int | None = None
    packages: dict[str, str | None] = Field(default_factory=dict)


class RunMeta(BaseModel):
    """``run.json``: the suite as run, the plan, the device and the environment of a run folder."""

    model_config = ConfigDict(extra="allow")

    run_id: str | None = None
    suite: dict[str, Any] = Field(default_factory=dict)
    device: str | None = None
    isolation: str | None = None
    executor: str | None = None
    only: list[str] | None = None
    overrides: list[str] = Field(default_factory=list)  # --set PATH=VALUE, in the order given
    repeat: dict[str, int] | None = None
    environment: HostEnvironment = Field(default_factory=HostEnvironment)
    device_environment: DeviceEnvironment | None = None
    jobs: list[dict[str, Any]] | None = None
    resumed: list[str] = Field(default_factory=list)

    @property
    def suite_name(self) -> str | None:
        name = self.suite.get("name")
        return str(name) if name is not None else None

    @property
    def gates(self) -> dict[str, Any]:
        gates = self.suite.get("gates") or {}
        return gates if isinstance(gates, dict) else {}

    @property
    def objectives(self) -> dict[str, str]:
        objectives = self.suite.get("objectives") or {}
        return dict(objectives) if isinstance(objectives, dict) else {}

    @property
    def constraints(self) -> list[dict[str, Any]]:
        """The suite's constraints as ``{metric, min, max}`` mappings."""
        out = []
        for c in self.suite.get("constraints") or []:
            if isinstance(c, dict) and "metric" in c:
                out.append({"metric": c["metric"], "min": c.get("min"), "max": c.get("max")})
        return out

    @property
    def metric_names(self) -> list[str]:
        out = []
        for m in self.suite.get("metrics") or []:
            name = m if isinstance(m, str) else (m.get("name") if isinstance(m, dict) else None)
            if name:
                out.append(str(name))
        return out

    @property
    def measurement(self) -> dict[str, Any]:
        m = self.suite.get("measurement") or {}
        return m if isinstance(m, dict) else {}

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", exclude_none=False), indent=2, allow_nan=False)


def parse_meta(data: Any, *, where: str) -> RunMeta:
    if not isinstance(data, dict):
        raise UserInputError(f"expected a JSON object, got {type(data).__name__}", source=where)
    try:
        return RunMeta.model_validate(data)
    except ValidationError as exc:
        raise UserInputError(validation_message(RunMeta, exc), source=where) from None

"""A suite's ``models:`` entries: a card, its variants (given, or a sweep's cartesian product) and the baseline
that pairwise metrics compare against."""

from __future__ import annotations

import itertools
from typing import Annotated, Any

from pydantic import Field, model_validator

from harness.config.card import CallArgs
from harness.config.fields import NAME_PATTERN, BatchSize, DType, Strict
from harness.config.scenario import ScenarioField
from harness.config.workload import Workload
from harness.core.registry import did_you_mean


class VariantSpec(Strict):
    name: Annotated[str, Field(pattern=NAME_PATTERN, max_length=120)]
    overrides: CallArgs = Field(default_factory=CallArgs)
    dtype: DType | None = None
    batch_size: BatchSize | None = None
    backend: str | None = None
    backend_options: dict[str, Any] = Field(default_factory=dict)
    scenario: ScenarioField = None


VARIANT_FIELDS = ("dtype", "batch_size", "backend")


class ModelEntry(Strict):
    card: str
    variants: Annotated[list[VariantSpec], Field(min_length=1)] = Field(
        default_factory=lambda: [VariantSpec(name="default")]
    )
    sweep: dict[str, list[Any]] | None = Field(
        default=None, description="cartesian product of values, each combination a variant"
    )
    baseline: str | None = Field(default=None, description="variant that pairwise metrics compare against")
    workload: Workload | None = Field(
        default=None,
        description="fields that replace the suite's workload for this model (e.g. its class_labels)",
    )
    scenario: ScenarioField = None

    @model_validator(mode="after")
    def _expand(self) -> ModelEntry:
        if self.sweep:
            allowed = set(VARIANT_FIELDS) | set(CallArgs.model_fields) - {"extra", "scheduler"}
            for key, values in self.sweep.items():
                if key not in allowed:
                    raise ValueError(f"sweep: unknown key '{key}' ({did_you_mean(key, allowed)})")
                if not values:
                    raise ValueError(f"sweep: '{key}' has no values")
            made = []
            keys = list(self.sweep)
            for combo in itertools.product(*(self.sweep[k] for k in keys)):
                spec: dict[str, Any] = {
                    "name": ",".join(f"{k}={v}" for k, v in zip(keys, combo)),
                    "overrides": {},
                }
                for key, value in zip(keys, combo):
                    if key in VARIANT_FIELDS:
                        spec[key] = value
                    else:
                        spec["overrides"][key] = value
                made.append(VariantSpec(**spec))
            explicit = self.variants if "variants" in self.model_fields_set else []
            object.__setattr__(self, "variants", [*explicit, *made])
            object.__setattr__(self, "sweep", None)
        names = [v.name for v in self.variants]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"variant names repeat: {', '.join(dupes)}")
        if self.baseline is None:
            object.__setattr__(self, "baseline", names[0])
        elif self.baseline not in names:
            raise ValueError(
                f"baseline '{self.baseline}' is not a variant ({did_you_mean(self.baseline, names)})"
            )
        return self

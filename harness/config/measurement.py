"""A suite's ``measurement:`` section: warm-up, iteration counts, and the time budgets of a job's parts."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from harness.config.fields import Count, Strict, float_in, int_in

Seconds = float_in(0.0, 7 * 86_400.0, gt=True)


class Measurement(Strict):
    """How a job is timed, and how long each part of it may take (``harness.execute.budgets``: a budget left
    unset scales with the model's parameter count)."""

    warmup: int_in(0, 100_000) = 1
    min_iterations: Count = 3
    max_iterations: Count = 20
    min_duration_s: float_in(0.0, 86_400.0) = 0.0
    timeout_s: Seconds | None = Field(default=None, description="a cap on the whole job (default: none)")
    load_timeout_s: Seconds | None = Field(default=None, description="the load (default: scaled)")
    compile_timeout_s: Seconds | None = Field(
        default=None, description="the backend's prepare and the first call (default: scaled)"
    )
    measure_timeout_s: Seconds | None = Field(
        default=None,
        description="each step of the measurement: a call, a quality batch, a metric (default: scaled)",
    )
    profile_stages: Annotated[bool, Field(strict=True)] = True

    @model_validator(mode="after")
    def _order(self) -> Measurement:
        if self.max_iterations < self.min_iterations:
            raise ValueError(
                f"max_iterations ({self.max_iterations}) is below min_iterations ({self.min_iterations})"
            )
        return self

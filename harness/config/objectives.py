"""Bounds on objectives: a suite's ``constraints:`` and ``fidelity_bounds:`` (a floor, a ceiling or a window)."""

from __future__ import annotations

from typing import Any

from pydantic import model_validator

from harness.config.fields import Strict


class Constraint(Strict):
    """A bound on one objective (a quality floor, a VRAM budget, a latency SLO), or a window with both ends
    (MLPerf's accuracy windows): ``{metric: fid, min: 23.0109, max: 23.9501}``, or in short
    ``{fid: [23.0109, 23.9501]}``."""

    metric: str
    max: float | None = None
    min: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _window(cls, data: Any) -> Any:
        """``{name: [lo, hi]}`` → ``{metric: name, min: lo, max: hi}``."""
        if not isinstance(data, dict) or len(data) != 1:
            return data
        ((name, value),) = data.items()
        if name in cls.model_fields or not isinstance(name, str) or not isinstance(value, list | tuple):
            return data  # the full form (or a typo in it: the strict model names the unknown key)
        if len(value) != 2:
            raise ValueError(
                f"a window is '{name}: [low, high]' (two numbers), got {value!r}; "
                "or give {metric, min, max}"
            )
        lo, hi = value
        for end in value:
            if isinstance(end, bool) or not isinstance(end, int | float):
                raise ValueError(f"window of '{name}': {end!r} is not a number")
        if not lo < hi:
            raise ValueError(f"window of '{name}': the low end {lo:g} is not below the high end {hi:g}")
        return {"metric": name, "min": float(lo), "max": float(hi)}

    @model_validator(mode="after")
    def _bound(self) -> Constraint:
        if self.max is None and self.min is None:
            raise ValueError(f"bound on '{self.metric}' needs min or max")
        if self.max is not None and self.min is not None and self.min > self.max:
            raise ValueError(f"bound on '{self.metric}': min {self.min:g} is above max {self.max:g}")
        return self

    @property
    def is_window(self) -> bool:
        return self.min is not None and self.max is not None

    def violation(self, value: float | None) -> str | None:
        """None when ``value`` is within the bound; else what is wrong (NaN and missing values violate)."""
        from harness.results.pareto import bound_violation

        return bound_violation(self.metric, self.min, self.max, value)

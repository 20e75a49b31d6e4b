"""``scenario:`` (on a suite, a model entry or a variant): MLPerf LoadGen's scenarios and the Server max-QPS
search."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from harness.config.fields import NAME_PATTERN, BatchSize, Count, Seed, Strict, float_in, int_in


class SearchSpec(Strict):
    """The Server max-QPS search: a bisection over LoadGen runs, bounded in runs and seconds."""

    max_runs: int_in(1, 100) = 8
    max_seconds: float_in(1.0, 7 * 86_400.0) = 900.0
    tolerance: float_in(0.001, 0.5) = 0.02  # stop when the bracket [meets, fails] is this narrow (relative)
    low_qps: float_in(0.0, 1e7, gt=True) | None = (
        None  # first rate tried (default: half the calibrated capacity)
    )
    high_qps: float_in(0.0, 1e7, gt=True) | None = None

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: Any) -> Any:
        if isinstance(data, dict) and "require_valid" in data:
            raise ValueError(
                "require_valid is now scenario.require_valid (one setting for every scenario; default true: "
                "figures only from runs LoadGen calls VALID)"
            )
        return data


PERCENTILES = (50.0, 90.0, 95.0, 97.0, 99.0, 99.9)


class ScenarioSpec(Strict):
    """How a variant is loaded: MLPerf LoadGen's scenarios. ``single_stream`` without ``loadgen`` is the
    harness's own timed loop (the default); every other scenario runs through LoadGen after it."""

    kind: Literal["single_stream", "offline", "server"]
    name: Annotated[str, Field(pattern=NAME_PATTERN, max_length=60)] | None = None
    loadgen: Annotated[bool, Field(strict=True)] = False
    max_batch: BatchSize = 1
    batch_sweep: list[BatchSize] | None = None
    max_wait_ms: float_in(0.0, 3.6e6) = 0.0
    target_qps: float_in(0.0, 1e7, gt=True) | None = None
    latency_bound_ms: float_in(0.0, 1e9, gt=True) | None = None
    percentile: float = 99.0
    min_queries: Count = 100
    min_duration_s: float_in(0.0, 7 * 86_400.0) = 10.0
    max_duration_s: float_in(0.0, 7 * 86_400.0, gt=True) | None = None
    seed: Seed = 0
    search: SearchSpec = Field(default_factory=SearchSpec)
    # MLPerf's rule: max_qps, Offline throughput and the percentile latency come only from runs LoadGen calls
    # VALID (its early-stopping test included); false accepts INVALID runs, and every report marks the figure.
    require_valid: Annotated[bool, Field(strict=True)] = True
    # Start from MLPerf's own settings for this benchmark (LoadGen's built-in mlperf.conf: latency bound and
    # percentile, minimum duration and query count, performance sample count, the official RNG seeds);
    # fields given here override them.
    mlperf_model: Literal["stable-diffusion-xl", "wan-2.2-t2v-a14b"] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ScenarioSpec:
        given = self.model_fields_set - {"kind", "name", "mlperf_model"}
        if self.percentile not in PERCENTILES:
            raise ValueError(
                f"percentile {self.percentile:g} is not one LoadGen reports ({', '.join(f'{p:g}' for p in PERCENTILES)})"
            )
        if self.kind == "single_stream" and not self.loadgen and given:
            raise ValueError(
                f"single_stream without loadgen is the harness's own timed loop: {sorted(given)[0]} applies only "
                "with loadgen: true (or use measurement: for the timed loop)"
            )
        if self.kind != "server" and given & {"target_qps", "latency_bound_ms", "max_wait_ms", "search"}:
            bad = sorted(given & {"target_qps", "latency_bound_ms", "max_wait_ms", "search"})[0]
            raise ValueError(f"{bad} applies to server, not {self.kind}")
        if self.kind == "single_stream" and not self.loadgen and self.mlperf_model:
            raise ValueError("mlperf_model applies to LoadGen scenarios: set loadgen: true")
        if self.kind == "server" and self.target_qps is None and self.latency_bound_ms is None:
            raise ValueError(
                "server needs target_qps (one run) or latency_bound_ms (the max-QPS search), or both"
            )
        if self.batch_sweep is not None:
            if self.kind != "offline":
                raise ValueError(f"batch_sweep applies to offline, not {self.kind}")
            if not self.batch_sweep or sorted(set(self.batch_sweep)) != self.batch_sweep:
                raise ValueError(
                    "batch_sweep: give ascending, distinct batch sizes (the sweep stops at the first out of memory)"
                )
        if self.kind == "single_stream" and self.max_batch != 1:
            raise ValueError("single_stream issues one sample at a time: max_batch must be 1")
        return self

    @property
    def explicit(self) -> list[str]:
        """The LoadGen settings the suite gave (with ``mlperf_model`` only these override MLPerf's)."""
        return sorted(self.model_fields_set)

    @property
    def display_name(self) -> str:
        return self.name or (f"{self.kind}-loadgen" if self.kind == "single_stream" else self.kind)

    @property
    def uses_loadgen(self) -> bool:
        return self.kind != "single_stream" or self.loadgen


def scenario_list(value: ScenarioSpec | list[ScenarioSpec] | None) -> list[ScenarioSpec] | None:
    if value is None:
        return None
    specs = value if isinstance(value, list) else [value]
    names = [s.display_name for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"scenario names repeat: {', '.join(dupes)} (give each a name)")
    return specs


def _distinct_names(value: Any) -> Any:
    scenario_list(value)
    return value


# One scenario or a list (one job per variant × scenario), on a suite, a model entry or a variant.
ScenarioField = Annotated[ScenarioSpec | list[ScenarioSpec] | None, AfterValidator(_distinct_names)]

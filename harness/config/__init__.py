"""Model cards and suites: strict schemas (unknown keys are errors) and their YAML loaders.

Every validation error becomes one line, ``file: field: what is wrong (what is allowed)``, raised as
:class:`~harness.core.errors.UserInputError` so the CLI exits 2 without a traceback.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from harness.core.errors import UserInputError
from harness.core.paths import REPO_ROOT
from harness.core.registry import did_you_mean
from harness.core.validation import validation_message
from harness.core.yamlio import read_yaml
from harness.results.columns import MAY_BE_ABSENT_COLUMNS, SPEED_COLUMNS

__all__ = ["SPEED_COLUMNS", "ScenarioSpec", "Suite", "read_yaml", "validation_message"]

Modality = Literal["image", "video", "audio"]
Task = Literal[
    "unconditional",
    "class-conditional",
    "text-to-image",
    "text-to-video",
    "text-to-audio",
    "image-to-image",
    "image-to-video",
]
DType = Literal["fp32", "fp16", "bf16"]
Direction = Literal["min", "max"]
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._+=,-]*$"

# Numbers are strict (``true`` is not a count, ``"5"`` is not a number) and bounded, so nothing a suite asks
# for overflows or runs for ever once the jobs start.
MAX_SEED = 2**32 - 1  # numpy's and most tools' seed range; item i uses seed + i
MAX_COUNT = 1_000_000


def _int(lo: int, hi: int, description: str | None = None) -> Any:
    return Annotated[int, Field(strict=True, ge=lo, le=hi, description=description)]


def _float(lo: float, hi: float, *, gt: bool = False) -> Any:
    if gt:
        return Annotated[float, Field(strict=True, gt=lo, le=hi)]
    return Annotated[float, Field(strict=True, ge=lo, le=hi)]


Seed = _int(0, MAX_SEED)
BatchSize = _int(1, 65_536)
Count = _int(1, MAX_COUNT)
Steps = _int(1, 100_000)
Pixels = _int(1, 65_536)


class Strict(BaseModel):
    # strict: YAML's true is not a count, "yes" is not a boolean, "5" is not a number
    model_config = ConfigDict(extra="forbid", validate_assignment=True, strict=True)


# --------------------------------------------------------------------------------------------- cards


class HubSource(Strict):
    """A diffusers repository on the Hugging Face hub (or in the local HF cache when offline)."""

    kind: Literal["hub"]
    repo_id: Annotated[str, Field(pattern=r"^[\w.-]+/[\w.-]+$")]
    revision: str = "main"
    variant: str | None = None


class LocalSource(Strict):
    """A folder written by ``save_pretrained`` (path relative to the card file)."""

    kind: Literal["local"]
    path: str


class ConfigSource(Strict):
    """Architecture configs only: random weights from a fixed seed. Speed runs; no quality scores."""

    kind: Literal["config"]
    path: str
    seed: Seed = 0


Source = Annotated[HubSource | LocalSource | ConfigSource, Field(discriminator="kind")]


class SchedulerSpec(Strict):
    """A diffusers scheduler class, built from the pipeline's scheduler config plus overrides."""

    name: str
    config: dict[str, Any] = Field(default_factory=dict)


class CallArgs(Strict):
    """Arguments of one generation call. Every field is optional: cards set defaults, variants override."""

    steps: Steps | None = None
    guidance_scale: _float(0.0, 1e4) | None = None
    height: Pixels | None = None
    width: Pixels | None = None
    resolution: Pixels | None = Field(default=None, description="shorthand for height = width")
    num_frames: _int(1, 100_000) | None = None
    fps: _int(1, 10_000) | None = None
    audio_seconds: _float(0.0, 86_400.0, gt=True) | None = None
    scheduler: SchedulerSpec | None = None
    negative_prompt: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict, description="passed to the pipeline call as-is")

    @model_validator(mode="after")
    def _resolution(self) -> CallArgs:
        if self.resolution is not None:
            if self.height is not None or self.width is not None:
                raise ValueError("give either resolution or height/width, not both")
            object.__setattr__(self, "height", self.resolution)
            object.__setattr__(self, "width", self.resolution)
            object.__setattr__(self, "resolution", None)
        return self

    def merged(self, override: CallArgs) -> CallArgs:
        """``self`` with every field that ``override`` sets replaced (``extra`` merged key by key)."""
        data = self.model_dump(exclude_none=True)
        over = override.model_dump(exclude_none=True)
        extra = {**data.pop("extra", {}), **over.pop("extra", {})}
        return CallArgs(**{**data, **over, "extra": extra})


class ModelCard(Strict):
    name: Annotated[str, Field(pattern=NAME_PATTERN, max_length=100)]
    modality: Modality
    task: Task
    pipeline: Annotated[
        str,
        Field(
            pattern=r"^([A-Za-z_][\w.]*:)?[A-Za-z_]\w*$",
            description="a diffusers pipeline class, or 'package.module:Class' for a pipeline of your own",
        ),
    ]
    source: Source
    dtype: DType = "fp32"
    defaults: CallArgs = Field(default_factory=CallArgs)
    license: str
    notes: str = ""
    homepage: str | None = None
    trust_remote_code: bool = False
    allow_pickle: bool = False
    _path: Path | None = PrivateAttr(default=None)

    @property
    def path(self) -> Path | None:
        """The YAML file the card was read from."""
        return self._path

    def resolve(self, relative: str) -> Path:
        """A path from the card, relative to the card file's folder."""
        base = self._path.parent if self._path else Path.cwd()
        return (base / relative).resolve()

    @property
    def random_weights(self) -> bool:
        return self.source.kind == "config"


# --------------------------------------------------------------------------------------------- suites


Seconds = _float(0.0, 7 * 86_400.0, gt=True)


class Measurement(Strict):
    """How a job is timed, and how long each part of it may take (``harness.execute.budgets``: a budget left
    unset scales with the model's parameter count)."""

    warmup: _int(0, 100_000) = 1
    min_iterations: Count = 3
    max_iterations: Count = 20
    min_duration_s: _float(0.0, 86_400.0) = 0.0
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


class Workload(Strict):
    """What each job generates. Item ``i`` uses seed ``seed + i`` in every variant (same noise)."""

    prompts: list[str] | None = None
    prompts_file: str | None = None
    class_labels: list[_int(0, MAX_COUNT)] | None = None
    seed: Seed = 0
    batch_size: BatchSize = 1
    num_samples: Count | None = Field(
        default=None, description="items generated for quality metrics (default: one batch)"
    )

    @model_validator(mode="after")
    def _prompts(self) -> Workload:
        if self.prompts is not None and self.prompts_file is not None:
            raise ValueError("give either prompts or prompts_file, not both")
        if self.prompts is not None and not self.prompts:
            raise ValueError("prompts is empty")
        if self.class_labels is not None and not self.class_labels:
            raise ValueError("class_labels is empty")
        if self.seed + (self.num_samples or self.batch_size) - 1 > MAX_SEED:
            raise ValueError(
                f"seed {self.seed} + num_samples would pass {MAX_SEED} (item i uses seed + i): use a smaller seed"
            )
        return self


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


class SearchSpec(Strict):
    """The Server max-QPS search: a bisection over LoadGen runs, bounded in runs and seconds."""

    max_runs: _int(1, 100) = 8
    max_seconds: _float(1.0, 7 * 86_400.0) = 900.0
    tolerance: _float(0.001, 0.5) = 0.02  # stop when the bracket [meets, fails] is this narrow (relative)
    low_qps: _float(0.0, 1e7, gt=True) | None = (
        None  # first rate tried (default: half the calibrated capacity)
    )
    high_qps: _float(0.0, 1e7, gt=True) | None = None

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
    max_wait_ms: _float(0.0, 3.6e6) = 0.0
    target_qps: _float(0.0, 1e7, gt=True) | None = None
    latency_bound_ms: _float(0.0, 1e9, gt=True) | None = None
    percentile: float = 99.0
    min_queries: Count = 100
    min_duration_s: _float(0.0, 7 * 86_400.0) = 10.0
    max_duration_s: _float(0.0, 7 * 86_400.0, gt=True) | None = None
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


class CostSpec(Strict):
    """The price of the machine a job runs on, for ``cost_per_1k_items_usd``: one price, or one per device
    (keys match the device name, case-insensitively, as a substring — ``H100``, ``A10G`` — or the device kind
    ``cpu`` / ``cuda``; the longest matching key wins, then ``usd_per_hour``)."""

    usd_per_hour: _float(0.0, 1e6) | None = None
    by_device: dict[str, _float(0.0, 1e6)] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _some_price(self) -> CostSpec:
        if self.usd_per_hour is None and not self.by_device:
            raise ValueError("give usd_per_hour, by_device, or both")
        return self

    def price(self, device: str, device_name: str | None) -> tuple[float, str] | None:
        """(USD per hour, which key gave it) for a job on ``device`` named ``device_name``; None: no price."""
        name = (device_name or "").lower()
        kind = device.split(":")[0]
        named = sorted(
            (k for k in self.by_device if k.lower() in name and k.lower() not in ("cpu", "cuda")), key=len
        )
        if named:
            return self.by_device[named[-1]], f"by_device.{named[-1]}"
        if kind in self.by_device:
            return self.by_device[kind], f"by_device.{kind}"
        if self.usd_per_hour is not None:
            return self.usd_per_hour, "usd_per_hour"
        return None

    def missing_price(self, device: str) -> str | None:
        """Why no job on ``device`` (``cpu``, ``cuda``, ``cuda:N`` or ``auto``, its GPU's name not yet known)
        can get a price; None when one may."""
        kind = device.split(":")[0]
        if self.usd_per_hour is not None or kind in self.by_device:
            return None
        if kind in ("cuda", "auto") and any(k.lower() != "cpu" for k in self.by_device):
            return None  # a GPU's name is matched when the job runs
        if kind == "auto" and "cpu" in self.by_device:
            return None
        return f"cost.by_device has no key for a {kind} job ({', '.join(self.by_device)}) and no usd_per_hour"


SUITE_VERSIONS = (1,)


class Suite(Strict):
    name: Annotated[str, Field(pattern=NAME_PATTERN, max_length=100)]
    version: Annotated[int, Field(strict=True)] = 1
    description: str = ""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: _int(1, 4096) | None = Field(
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
        from harness.config.gates import check_gate_keys

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


# --------------------------------------------------------------------------------------------- loading


def _parse(model: type[Strict], data: Any, source: str) -> Any:
    if not isinstance(data, dict):
        raise UserInputError(
            f"expected a mapping of keys at the top level, got {type(data).__name__}", source=source
        )
    # Top-level keys starting with "x-" hold YAML anchors to reuse (as in docker-compose files): not fields.
    data = {k: v for k, v in data.items() if not (isinstance(k, str) and k.startswith("x-"))}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise UserInputError(validation_message(model, exc), source=source) from None


ROOTS_ENV = "HARNESS_ALLOWED_ROOTS"


def allowed_roots(file: Path | None) -> list[Path]:
    """Folders that paths in cards and suites may point into.

    The current folder, the repository, the folder above the card or suite file (so a project's
    ``model_cards/`` may reach a sibling ``checkpoints/``), ``$HARNESS_DATA`` and ``$HARNESS_ALLOWED_ROOTS``.
    """
    roots = [Path.cwd(), REPO_ROOT]
    if file is not None:
        roots.append(file.resolve().parent.parent)
    for var in ("HARNESS_DATA",):
        if os.environ.get(var):
            roots.append(Path(os.environ[var]))
    roots += [Path(p) for p in os.environ.get(ROOTS_ENV, "").split(os.pathsep) if p]
    return [r.resolve() for r in roots]


def check_inside(path: Path, file: Path | None, *, field: str) -> Path:
    """``path`` resolved (symlinks too) if it lies inside an allowed root; else a one-line error saying why."""
    real = path.resolve()
    roots = allowed_roots(file)
    if any(real == r or r in real.parents for r in roots):
        return real
    raise UserInputError(
        f"{path} resolves outside the allowed folders ({', '.join(str(r) for r in roots)}); "
        f"add its folder to ${ROOTS_ENV} to allow it",
        source=str(file) if file else None,
        field=field,
    )


def load_card(path: str | Path) -> ModelCard:
    path = Path(path)
    card = _parse(ModelCard, read_yaml(path), str(path))
    card._path = path.resolve()
    if card.source.kind in ("local", "config"):
        folder = check_inside(card.resolve(card.source.path), card._path, field="source.path")
        if not folder.is_dir():
            raise UserInputError(
                f"folder not found: {card.source.path}", source=str(path), field="source.path"
            )
        if not (folder / "model_index.json").is_file():
            written_by = (
                "save_pretrained writes it" if card.source.kind == "local" else "a diffusers repository"
            )
            raise UserInputError(
                f"{card.source.path} has no model_index.json (expected a folder laid out as {written_by})",
                source=str(path),
                field="source.path",
            )
    return card


def load_suite(path: str | Path, overrides: list[str] | None = None) -> Suite:
    """A suite file, with ``--set path=value`` overrides applied to it before it is validated (so an
    override is checked exactly like the file)."""
    path = Path(path)
    data = read_yaml(path)
    if overrides:
        data = apply_overrides(data, overrides)
    try:
        suite = _parse(Suite, data, str(path))
    except UserInputError as exc:
        culprits = _overrides_at(exc.detail, overrides or [])
        if not culprits:
            raise
        raise UserInputError(exc.detail, source=f"{path} with --set {' --set '.join(culprits)}") from None
    suite._path = path.resolve()
    return suite


def _overrides_at(message: str, overrides: list[str]) -> list[str]:
    """The overrides that set the field a validation message is about (``measurement.min_iterations: ...``)."""
    where = message.split(": ", 1)[0].replace("[", ".").replace("]", "")
    out = []
    for text in overrides:
        key = ".".join(map(str, parse_override(text)[0]))
        if key.startswith(where) or where.startswith(key):
            out.append(text)
    return out


def parse_override(text: str) -> tuple[list[str | int], Any]:
    """``measurement.min_iterations=5`` → (["measurement", "min_iterations"], 5); the value is YAML. List
    items by index, ``models.0.variants`` or ``models[0].variants``."""
    import re

    from harness.core.yamlio import loads

    key, sep, raw = text.partition("=")
    key = re.sub(r"\[(\d+)\]", r".\1", key.strip())
    if not sep or not key:
        raise UserInputError(
            f"expected PATH=VALUE (e.g. measurement.min_iterations=5), got {text!r}", field="--set"
        )
    if any(not p for p in key.split(".")):
        raise UserInputError(f"'{key}' is not a dotted path (e.g. workload.num_samples)", field="--set")
    value = loads(raw, source=f"--set {key}")
    return [int(p) if p.isdigit() else p for p in key.split(".")], value


def _child_model(model: Any, name: str) -> Any:
    """The pydantic model a field of ``model`` holds (through unions, lists and Optional), or None."""
    field = model.model_fields[name]
    stack = [field.annotation]
    while stack:
        ann = stack.pop(0)
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            return ann
        stack.extend(getattr(ann, "__args__", ()) or ())
    return None


def _check_distinct(parsed: list[tuple[str, list[str | int], Any]]) -> None:
    """Each ``--set`` path once: a path given twice, or inside another one given (``measurement=...`` and
    ``measurement.warmup=2``), would leave the result to the order of the flags."""
    for i, (text_a, a, _) in enumerate(parsed):
        for text_b, b, _ in parsed[i + 1 :]:
            shorter, longer = sorted((a, b), key=len)
            if [str(p) for p in longer[: len(shorter)]] == [str(p) for p in shorter]:
                what = (
                    "is given twice" if len(a) == len(b) else "is set twice (one path lies inside the other)"
                )
                key = ".".join(map(str, shorter))
                raise UserInputError(
                    f"'{key}' {what}: {text_a} and {text_b} (allowed: each path once)", field="--set"
                )


def apply_overrides(data: Any, overrides: list[str]) -> dict[str, Any]:
    """Each ``PATH=VALUE`` set into the suite's mapping; a path through a key the schema does not have is bad
    input with did-you-mean (list items by index: ``models.0.variants.1.overrides.steps=10``)."""
    import copy

    if not isinstance(data, dict):
        raise UserInputError("the suite is not a mapping: nothing to override", field="--set")
    data = copy.deepcopy(data)
    parsed = [(text, *parse_override(text)) for text in overrides]
    _check_distinct(parsed)
    for _text, parts, value in parsed:
        target: Any = data
        model: Any = Suite
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            where = ".".join(map(str, parts[: i + 1]))
            if isinstance(part, int):
                if not isinstance(target, list) or not -len(target) <= part < len(target):
                    size = len(target) if isinstance(target, list) else 0
                    raise UserInputError(f"{where}: no item {part} (the list has {size})", field="--set")
                if last:
                    target[part] = value
                else:
                    target = target[part]
                continue
            if model is not None and part not in model.model_fields:
                raise UserInputError(
                    f"{where}: unknown key '{part}' ({did_you_mean(part, list(model.model_fields))})",
                    field="--set",
                )
            if not isinstance(target, dict):
                raise UserInputError(f"{where}: the value there is not a mapping", field="--set")
            if last:
                target[part] = value
                break
            if target.get(part) is None:
                target[part] = {}
            child = _child_model(model, part) if model is not None else None
            if model is not None and child is None and isinstance(target[part], dict):
                # a mapping of free keys (gates, objectives, sweep): the rest of the path is one key, dots and all
                target[part][".".join(map(str, parts[i + 1 :]))] = value
                break
            model = child
            target = target[part]
    return data


CARD_KEYS = ("pipeline", "source", "modality")
SUITE_KEYS = ("models",)


def sniff_kind(path: str | Path) -> Literal["card", "suite"]:
    """Whether a YAML file is a model card or a suite (suites have ``models``). A file whose defining key
    is misspelt (``modles:``) is told which key it probably meant."""
    import difflib

    data = read_yaml(path)
    if isinstance(data, dict) and "models" in data:
        return "suite"
    if isinstance(data, dict) and any(k in data for k in CARD_KEYS):
        return "card"
    if isinstance(data, dict):
        # No defining key, but keys only one kind has (workload, objectives… or task, defaults…): that kind,
        # so its schema says what is missing.
        keys = {str(k) for k in data} - {"name", "description", "notes", "version"}
        suite_like, card_like = keys & set(Suite.model_fields), keys & set(ModelCard.model_fields)
        if suite_like and not card_like:
            return "suite"
        if card_like and not suite_like:
            return "card"
    if not isinstance(data, dict):
        shown = "an empty file" if data is None else f"a {type(data).__name__}"
        raise UserInputError(f"expected a mapping (a model card or a suite), got {shown}", source=str(path))
    for key in map(str, data):
        close = difflib.get_close_matches(key, [*SUITE_KEYS, *CARD_KEYS], n=1, cutoff=0.6)
        if close:
            kind = "suite" if close[0] in SUITE_KEYS else "model card"
            raise UserInputError(
                f"unknown key '{key}': did you mean '{close[0]}'? (a {kind} needs '{close[0]}')",
                source=str(path),
                field=key,
            )
    raise UserInputError(
        "neither a model card (needs pipeline, source, modality) nor a suite (needs models)", source=str(path)
    )

"""The record of one job, as typed models: the one schema every reader uses for ``records.jsonl``.

A record (one line of ``records.jsonl``) is one job's outcome: its identity, status and error, every latency
sample with the summary, memory, the metrics with their fingerprints, fidelity to the baseline, and the
environment it ran in. The worker builds a :class:`Record`; reports, the gate, exports and the notebook read
it through these models. The run's own metadata (``run.json``) is :mod:`harness.results.run_meta`.

Schema versions: 2 is written. Version-1 records (the committed baselines, runs of older harnesses) are read
and upgraded in memory (:func:`upgrade`); a record of a newer version is refused with the reason.
Non-finite floats are written as the strings ``"inf"``, ``"-inf"`` and ``"nan"`` (strict JSON) and read back
as floats (:mod:`harness.results.values`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from harness.core.errors import UserInputError
from harness.core.validation import validation_message
from harness.results.values import Num

SCHEMA_VERSION = 2
READABLE_SCHEMAS = (1, 2)

JobStatus = Literal["ok", "failed", "skipped", "interrupted"]
# ok: a value; skipped: could not be computed here (weights absent, no baseline outputs); failed: raised;
# invalid: the outputs were NaN/Inf, so a score would mean nothing; not_applicable: another modality's metric.
MetricStatus = Literal["ok", "skipped", "failed", "invalid", "not_applicable"]


class Part(BaseModel):
    """A part of a record: unknown keys are errors (a typo in a writer must not pass silently)."""

    model_config = ConfigDict(extra="forbid")


class Latency(Part):
    """Per-iteration latency of the timed request, in milliseconds, with every sample kept."""

    n: int
    p50: Num
    p90: Num
    p99: Num
    mean: Num
    std: Num
    cv: Num
    min: Num
    max: Num
    p50_ci95: tuple[Num, Num] | None = None
    samples: list[Num] = Field(default_factory=list)


class PerItemLatency(Part):
    p50: Num


class Throughput(Part):
    """Items per second in the modality's unit (images/s, frames/s, audio_s/s) at the median latency."""

    value: Num
    unit: str
    per_call: Num | None = None


class Memory(Part):
    """Peak memory of the job: the process's RSS; on a GPU the allocator's peaks and NVML's per process."""

    peak_rss_mib: Num | None = None
    peak_vram_allocated_mib: Num | None = None
    peak_vram_reserved_mib: Num | None = None
    peak_vram_nvml_mib: Num | None = None
    # isolation card: the peaks count from this job's start, the shared pipeline included; where the process's
    # peak RSS could not be reset the note says so (then it is the card's worker's peak so far).
    note: str | None = None


class MemoryEstimate(Part):
    """The pre-flight estimate made before the job loaded anything: what it would need beyond the process as it
    stood (its RSS then: ``rss_before_mib``), against what the machine had available (``harness.execute.preflight``)."""

    memory: Literal["ram", "vram"]
    parameters: int | None = None  # None: could not be counted without loading (then nothing is refused)
    parameters_from: str | None = (
        None  # how they were counted (configs on the meta device, safetensors headers)
    )
    bytes_per_parameter: int
    factor: Num | None = None  # the backend's measured peak growth per byte of weights (None: not measured)
    factor_basis: str | None = None
    estimate_mib: Num | None = None
    available_mib: Num | None = None
    total_mib: Num | None = None
    rss_before_mib: Num | None = None
    verdict: Literal["fits", "may_not_fit", "refused", "unknown", "not_checked"]
    note: str | None = None


class StageTime(Part):
    total_ms: Num
    calls: int
    p50_ms: Num


class Stages(Part):
    """One profiled call split by stage, timed at the pipeline's call sites (each boundary synchronises, so
    this call is never in the timed loop); ``total_ms`` is that call end to end."""

    text_encode: StageTime | None = None
    denoise_step: StageTime | None = None
    decode: StageTime | None = None
    other: StageTime | None = None
    total_ms: Num
    recompiles: int | None = None  # compilations during the profiled call (compilers only; 0 is the goal)


class JobError(Part):
    type: str
    message: str
    stage: str | None = None
    advice: str | None = None
    traceback: str | None = None
    log: str | None = None
    duration_s: Num | None = None


class MetricResult(Part):
    """One metric of one job: a value (with its interval and fingerprint), or a status saying why not."""

    value: Num | None = None
    unit: str = ""
    higher_is_better: bool
    status: MetricStatus = "ok"
    reason: str | None = None
    n: int | None = None
    ci95: tuple[Num, Num] | None = None
    std: Num | None = None
    fingerprint: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok" and self.value is not None

    @property
    def number(self) -> float | None:
        """The value when the metric is ok, else None."""
        return self.value if self.ok else None


class Fidelity(Part):
    """Whether a variant's outputs stay within the suite's fidelity bounds against the baseline."""

    ok: bool
    violations: list[str] = Field(default_factory=list)


class QualityShard(Part):
    """One shard of a job's quality pass (#26): the items it made, where, and how long it took."""

    index: int
    items: list[int]  # [start, stop): whole batches of the single pass
    host: str | None = None
    device: str | None = None  # the device it ran on (cuda:3, cpu)
    device_name: str | None = None  # the GPU's or the CPU's model
    wall_s: Num | None = None  # load, prepare, generate and update the metrics
    # runs of this shard by the local executor in this attempt of the run (a lost one is run again); None where
    # nothing counted them: Ray retries a shard itself, and a shard reused from an earlier attempt did not run
    attempts: int | None = None
    reused: bool = False  # finished in an earlier attempt of this run (harness run --resume): not run again


class QualityPass(Part):
    """Where and at what cost the quality pass ran: its shards, and the device-seconds they took together (the
    cost of the evaluation, beside the metric in reports)."""

    shards: int
    parts: list[QualityShard] = Field(default_factory=list)
    device_s: Num | None = None  # the shards' wall times summed: device time spent on the evaluation
    wall_s: Num | None = None  # first shard's start to last shard's end, as the executor saw it
    items_per_s: Num | None = None  # items over wall_s, across every shard


class Audit(Part):
    """MLPerf TEST01's question: did the timed pass and the quality pass measure the same system? The outputs
    of the timed pass's last call against the quality pass's for the same seeds."""

    seeds: list[int]
    max_abs_diff: Num | None = None
    atol: Num
    ok: bool
    source: str = "timed pass"
    note: str | None = None


class DeviceEnvironment(Part):
    """What the job's process saw of its device (read with torch, inside the job)."""

    device: str | None = None
    torch_threads: int | None = None
    device_name: str | None = None
    cuda: str | None = None
    driver: str | None = None
    cudnn: int | str | None = None
    gpu_memory_mib: Num | None = None
    compute_capability: str | None = None


class GpuConditions(Part):
    """What NVML showed of the GPU during the timed loop (min/max over 50 ms samples)."""

    name: str | None = None
    sm_clock_mhz: list[Num] = Field(default_factory=list)
    sm_clock_max_mhz: Num | None = None
    mem_clock_mhz: list[Num] = Field(default_factory=list)
    mem_clock_max_mhz: Num | None = None
    temperature_c_max: Num | None = None
    power_w_max: Num | None = None
    power_limit_w: Num | None = None
    throttle_reasons: list[str] = Field(default_factory=list)
    persistence_mode: bool | None = None
    ecc: bool | None = None
    mig: bool | None = None
    other_processes: int | None = None
    samples: int = 0


class Conditions(Part):
    """What the machine was doing while the job was timed (:mod:`harness.measure.conditions`)."""

    load_before: tuple[Num, Num, Num] | None = None
    load_after: tuple[Num, Num, Num] | None = None
    cores: int | None = None  # usable by this process (affinity)
    torch_threads: int | None = None
    omp_num_threads: str | None = None
    governor: str | None = None
    other_cores: Num | None = None  # cores other processes kept busy during the timed loop, on average
    steal_cores: Num | None = None  # cores' worth of time the hypervisor took
    own_cores: Num | None = None
    gpu: GpuConditions | None = None
    contention: bool = False
    oversubscribed: bool = False
    throttled: bool = False
    notes: list[str] = Field(default_factory=list)

    @property
    def flags(self) -> list[str]:
        """Short marks for conditions that distort timing (reports and the run's progress lines show them)."""
        marks = (("contention", self.contention), ("throttled", self.throttled))
        return [name for name, on in (*marks, ("oversubscribed", self.oversubscribed)) if on]


class Energy(Part):
    """Energy of the timed loop: per call of the timed request and per item; None with the reason where no
    counter is readable (never 0)."""

    energy_j: Num | None = None
    energy_per_item_j: Num | None = None
    total_j: Num | None = None
    gpu_j: Num | None = None
    cpu_j: Num | None = None
    dram_j: Num | None = None
    seconds: Num | None = None
    iterations: int | None = None
    sources: list[str] = Field(default_factory=list)
    reason: str | None = None


class Cost(Part):
    """What an item costs at the suite's price of the device: USD/h × seconds per item."""

    usd_per_hour: Num
    per_1k_items_usd: Num | None = None
    basis: str = ""


class EarlyStopping(Part):
    """LoadGen's early-stopping test of one run (its "Early Stopping Result"): whether the run's queries bound
    the percentile at 99 % confidence; SingleStream's estimate of the percentile; Server's count of queries
    over the bound; the queries LoadGen says the run would have needed; LoadGen's own words."""

    met: bool | None = None
    percentile: Num
    estimate_ms: Num | None = None
    over_bound: int | None = None
    queries_needed: int | None = None
    text: list[str] = Field(default_factory=list)


class LoadgenRun(Part):
    """One LoadGen test: the offered and achieved rates, latency percentiles (ms, queueing included) and
    LoadGen's validity verdict with its reasons."""

    scenario: str
    target_qps: Num | None = None
    scheduled_qps: Num | None = None
    completed_qps: Num | None = None
    samples_per_s: Num | None = None
    p50_ms: Num | None = None
    p90_ms: Num | None = None
    p99_ms: Num | None = None
    mean_ms: Num | None = None
    min_ms: Num | None = None
    max_ms: Num | None = None
    queries: int | None = None
    valid: bool = False
    meets_bound: bool | None = None
    reasons: list[str] = Field(default_factory=list)
    early_stopping: EarlyStopping | None = None  # None in Offline (and in records of older harnesses)
    batches: int = 0
    mean_batch: Num | None = None
    duration_s: Num = 0.0
    logs: list[str] = Field(default_factory=list)  # LoadGen's summary and detail logs, relative to the run
    settings: dict[str, Any] = Field(default_factory=dict)


class ScenarioResult(Part):
    """A job's LoadGen scenario (:mod:`harness.scenarios`): its runs and what they add up to."""

    name: str
    kind: Literal["single_stream", "offline", "server"]
    runs: list[LoadgenRun] = Field(default_factory=list)
    throughput: Num | None = None  # Offline: the best samples/s
    best_batch: int | None = None
    max_qps: Num | None = None  # Server with a bound: the highest scheduled QPS that met it
    p99_ms: Num | None = None
    latency_bound_ms: Num | None = None
    percentile: Num | None = None
    search: dict[str, Any] = Field(default_factory=dict)
    capacity: dict[str, Num] = Field(default_factory=dict)  # calibrated items/s by batch size
    loadgen_version: str | None = None
    reason: str | None = None
    # MLPerf's rule: a headline figure comes only from runs LoadGen calls VALID; False: the suite opted out
    # (the figure is then marked wherever it is shown).
    require_valid: bool = True


class Record(Part):
    """One job's outcome: ``records.jsonl`` holds one per line, appended as each job ends."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)

    schema_version: int = Field(SCHEMA_VERSION, alias="schema")
    # identity
    job_id: str
    suite: str | None = None
    model: str
    variant: str
    backend: str
    precision: str | None = None
    modality: str | None = None
    task: str | None = None
    device: str | None = None
    batch_size: int | None = None
    call: dict[str, Any] = Field(default_factory=dict)
    random_weights: bool = False
    baseline_job_id: str | None = None
    scenario: str | None = None  # the LoadGen scenario's name (None: the timed loop alone)
    node: str | None = None
    # process: the job had its own process and load; card: it shared one process and one load of the card with
    # the variants that agree on everything decided at load time; none: in the harness's own process.
    isolation: Literal["process", "card", "none"] | None = None
    # outcome
    status: JobStatus
    error: JobError | None = None
    started_at: str | None = None
    duration_s: Num | None = None
    # load and prepare
    load_s: Num | None = None  # under isolation card: the one load the card's variants shared
    load_shared: bool | None = None  # True: this job reused a pipeline another job of the card loaded
    parameters: dict[str, int] | None = None
    prepare_s: Num | None = None
    compile_s: Num | None = None  # export/build, or under torch.compile the first call's excess over steady
    # torch.compile (lazy): the first compiled call's own time, and the median of the steady calls it is
    # compared with (the timed loop's, compile_steady_calls of them)
    compile_first_call_s: Num | None = None
    compile_steady_call_s: Num | None = None
    compile_steady_calls: int | None = None
    capture_s: Num | None = None
    cache_hit: bool | None = None
    backend_notes: list[str] = Field(default_factory=list)
    backend_details: dict[str, Any] = Field(default_factory=dict)
    # speed
    first_call_ms: Num | None = None
    latency_ms: Latency | None = None
    latency_per_item_ms: PerItemLatency | None = None
    throughput: Throughput | None = None
    recompiled_in_timed_loop: int | None = None
    output_shape: list[int] | None = None
    stages_ms: Stages | None = None
    # quality
    samples: list[str] = Field(default_factory=list)
    num_samples: int | None = None
    quality: QualityPass | None = None
    audit: Audit | None = None
    quality_invalid: str | None = None
    metrics: dict[str, MetricResult] = Field(default_factory=dict)
    fidelity: Fidelity | None = None
    # memory, energy, cost and the conditions of the measurement
    memory: Memory = Field(default_factory=Memory)
    memory_estimate: MemoryEstimate | None = None
    energy: Energy | None = None
    cost: Cost | None = None
    conditions: Conditions | None = None
    loadgen: ScenarioResult | None = None
    environment: DeviceEnvironment | None = None

    # Where the record was read from (in memory only: reports of several runs name each job's run).
    _run_id: str | None = PrivateAttr(default=None)
    _run_dir: Path | None = PrivateAttr(default=None)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def label(self) -> str:
        tail = f" / {self.scenario}" if self.scenario else ""
        return f"{self.model} / {self.variant} / {self.backend}{tail}"

    @property
    def run_id(self) -> str | None:
        return self._run_id

    @property
    def run_dir(self) -> Path | None:
        return self._run_dir

    def located(self, run_id: str, run_dir: Path) -> Record:
        """This record, marked as read from ``run_dir`` (a copy; the record itself is unchanged)."""
        copy = self.model_copy()
        copy._run_id, copy._run_dir = run_id, Path(run_dir)
        return copy

    def metric(self, name: str) -> MetricResult | None:
        return self.metrics.get(name)

    def metric_value(self, name: str) -> float | None:
        """The metric's value when it is ok, else None."""
        mv = self.metrics.get(name)
        return mv.number if mv is not None else None

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), allow_nan=False)


def upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """A version-1 record as version 2 (a copy): ``skipped`` metrics of another modality become
    ``not_applicable`` (version 1 marked them with ``applicable: false`` or a reason "applies to …")."""
    out = dict(data)
    metrics = {}
    for name, mv in (out.get("metrics") or {}).items():
        if isinstance(mv, dict):
            mv = dict(mv)
            flag = mv.pop("applicable", None)
            other_modality = flag is False or str(mv.get("reason") or "").startswith("applies to ")
            if mv.get("status") == "skipped" and other_modality:
                mv["status"] = "not_applicable"
        metrics[name] = mv
    if "metrics" in out:
        out["metrics"] = metrics
    if isinstance(out.get("error"), dict):
        out["error"] = {k: v for k, v in out["error"].items() if k in JobError.model_fields}
    out["schema"] = SCHEMA_VERSION
    return out


def parse_record(data: Any, *, where: str) -> Record:
    """A record from its JSON object (version 1 or 2). Bad input names ``where`` and the field."""
    if not isinstance(data, dict):
        raise UserInputError(f"expected a JSON object, got {type(data).__name__}", source=where)
    version = data.get("schema", 1)
    if isinstance(version, bool) or not isinstance(version, int):
        raise UserInputError(f"schema: {version!r} is not a schema version", source=where)
    if version not in READABLE_SCHEMAS:
        newer = version > SCHEMA_VERSION
        raise UserInputError(
            f"schema: version {version} "
            + ("was written by a newer harness; upgrade this one" if newer else "is not known")
            + f" (this harness reads {', '.join(map(str, READABLE_SCHEMAS))})",
            source=where,
        )
    if version == 1:
        data = upgrade(data)
    try:
        return Record.model_validate(data)
    except ValidationError as exc:
        raise UserInputError(validation_message(Record, exc), source=where) from None

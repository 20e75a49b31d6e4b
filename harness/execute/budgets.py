"""How long each part of a job may take, and the watchdog that ends a job past its budget.

A job has three budgets, each its own (``measurement.*_timeout_s``, else a default that scales with the model's
parameter count):

* **load**: loading the card's pipeline. The count is not known before the load: it is estimated from the
  size of the card's weight files where they are on this machine (2 bytes a parameter), else the floor;
* **compile**: the backend's prepare (compilation, export, engine build) and the first call, where lazy
  compilers compile. A busy SD 1.5 compile took 957 s, past the old single 900 s job timeout;
* **measure**: each step of the measurement (a warm-up or timed call, the stage profile, a quality batch,
  a LoadGen query, a metric): a hung measurement ends this long after its last progress, while a long
  quality pass that keeps progressing is never cut.

``measurement.timeout_s`` stays what it was, a cap on the whole job, now off by default. The worker reports its
phase and its budgets through the progress file (:mod:`harness.execute.progress`); the executor, which waits for
the job, asks :class:`Watchdog` whether a budget has run out and then ends the process.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.config import HubSource, LocalSource, Measurement, ModelCard
from harness.config.job import Job
from harness.core.paths import hub_snapshot
from harness.execute.progress import Progress

# Seconds: a floor for any model, plus so many per billion parameters.
LOAD_S = (600.0, 300.0)
COMPILE_S = (900.0, 1800.0)
MEASURE_S = (600.0, 1200.0)
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".onnx")
BYTES_PER_PARAMETER_ESTIMATE = 2  # fp16/bf16 files; fp32 files give twice the count: a longer budget

PHASE_KEYS = {"load": "load_timeout_s", "compile": "compile_timeout_s", "measure": "measure_timeout_s"}


@dataclass(frozen=True)
class Budgets:
    """Seconds each phase may take (``measure_s``: per step); ``total_s`` caps the whole job (None: no cap)."""

    load_s: float
    compile_s: float
    measure_s: float
    total_s: float | None = None
    parameters: int | None = None
    estimated: bool = False  # the parameter count is an estimate from the weight files (before the load)

    def of(self, phase: str) -> float:
        return {"load": self.load_s, "compile": self.compile_s, "measure": self.measure_s}[phase]

    def text(self) -> str:
        """One line for the run's output: ``budgets: load 600 s, compile 904 s, measure 602 s per step (…)``."""
        if self.parameters is None:
            count = "parameter count unknown"
        else:
            count = f"{'~' if self.estimated else ''}{_count(self.parameters)} parameters"
        cap = f", whole job {self.total_s:g} s" if self.total_s is not None else ""
        return (
            f"budgets: load {self.load_s:.0f} s, compile {self.compile_s:.0f} s, "
            f"measure {self.measure_s:.0f} s per step{cap} ({count})"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _count(n: int) -> str:
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.3g}{unit}"
    return str(n)


def scaled(base: tuple[float, float], parameters: int | None) -> float:
    floor, per_billion = base
    return floor + per_billion * (parameters or 0) / 1e9


def budgets_for(measurement: Measurement, parameters: int | None, *, estimated: bool = False) -> Budgets:
    """The budgets of a job: what the suite sets, else the defaults scaled to ``parameters``."""

    def pick(value: float | None, base: tuple[float, float]) -> float:
        return float(value) if value is not None else scaled(base, parameters)

    total = measurement.timeout_s
    return Budgets(
        load_s=pick(measurement.load_timeout_s, LOAD_S),
        compile_s=pick(measurement.compile_timeout_s, COMPILE_S),
        measure_s=pick(measurement.measure_timeout_s, MEASURE_S),
        total_s=float(total) if total is not None else None,
        parameters=parameters,
        estimated=estimated and parameters is not None,
    )


def job_budgets(job: Job, parameters: int | None = None) -> Budgets:
    """``job``'s budgets: from the loaded pipeline's ``parameters`` where known, else from an estimate of the
    card's weight files (the executor's view before the worker has loaded anything)."""
    if parameters is not None:
        return budgets_for(job.measurement, parameters)
    estimate = estimated_parameters(job.card)
    return budgets_for(job.measurement, estimate, estimated=True)


def estimated_parameters(card: ModelCard) -> int | None:
    """Parameters guessed from the size of the card's weight files on this machine (a local folder, or the
    hub snapshot in the Hugging Face cache); None where there are none (a config source, a hub id not cached).
    """
    src = card.source
    folder: Path | None = None
    if isinstance(src, LocalSource):
        folder = card.resolve(src.path)
    elif isinstance(src, HubSource):
        folder = hub_snapshot(src.repo_id, src.revision)
    if folder is None or not folder.is_dir():
        return None
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.suffix in WEIGHT_SUFFIXES and p.is_file())
    return size // BYTES_PER_PARAMETER_ESTIMATE or None


@dataclass(frozen=True)
class Overrun:
    """A budget that ran out: the phase, its budget and the setting that sets it."""

    phase: str  # load | compile | measure | job
    budget_s: float
    key: str

    def message(self, last: Progress | None) -> str:
        where = f" in its {last.text()} stage" if last is not None else ""
        if self.phase == "job":
            return f"the job ran past its timeout of {self.budget_s:g} s (measurement.{self.key}){where}"
        if self.phase == "measure":
            return (
                f"the measurement made no progress for {self.budget_s:g} s, its budget per step "
                f"(measurement.{self.key}){where}"
            )
        what = "the load" if self.phase == "load" else "prepare and first call (compile)"
        return f"{what} ran past its budget of {self.budget_s:g} s (measurement.{self.key}){where}"

    @property
    def advice(self) -> str:
        return f"if the job needs longer on this machine, raise measurement.{self.key} (or --set it)"


class Watchdog:
    """The executor's view of one running job: when each phase began and when it last progressed (by the
    executor's own clock, as it read the progress file), and whether a budget has run out.

    Load and compile are budgeted from their start; the measurement from its last progress (a call, a batch,
    a metric, a query), so a long quality pass that keeps progressing is never cut and a hung call is.
    """

    def __init__(self, job: Job, now: float, budgets: Budgets | None = None):
        self.budgets = budgets if budgets is not None else job_budgets(job)
        self.t_start = now
        self.phase, self.phase_t = "load", now
        self.last: Progress | None = None
        self._key: tuple[Any, ...] | None = None
        self.last_t = now

    def observe(self, progress: Progress | None, now: float) -> bool:
        """Take in the job's latest progress; True when it is news (a budget line to show, a stage to print)."""
        if progress is None:
            return False
        if progress.budgets:
            self.budgets = Budgets(**progress.budgets)
        phase = progress.phase or self.phase
        if phase != self.phase:
            self.phase, self.phase_t = phase, now
        key = (progress.stage, progress.done, phase)
        if key == self._key:
            return False
        self._key, self.last_t, self.last = key, now, progress
        return True

    def deadline(self) -> tuple[float, Overrun]:
        """The time (executor's clock) at which the nearest budget runs out, and which budget it is."""
        b = self.budgets
        start = self.last_t if self.phase == "measure" else self.phase_t
        found = (start + b.of(self.phase), Overrun(self.phase, b.of(self.phase), PHASE_KEYS[self.phase]))
        if b.total_s is not None and self.t_start + b.total_s < found[0]:
            found = (self.t_start + b.total_s, Overrun("job", b.total_s, "timeout_s"))
        return found

    def overrun(self, now: float) -> Overrun | None:
        at, which = self.deadline()
        return which if now >= at else None

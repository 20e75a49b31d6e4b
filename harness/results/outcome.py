"""Nothing vacuous: the one rule behind every success the harness reports.

A success (``run``'s exit 0, ``compare``'s PASS, an export or report written with exit 0, a ✓) is a claim
that a value was measured in this run and held. Every command decides it here, from the same facts:

* a **job** counts as measured only when its status is ``ok``, its headline figure (the timed loop's p50, or
  its LoadGen scenario's max QPS, Offline throughput or percentile latency) has a value, that value comes
  from runs its own engine calls valid (unless the suite opted out, which is then said), and no metric of it
  failed or came out invalid (a metric *skipped* for a stated reason is a note, not a shortfall);
* a **gate** counts as compared only when it compared a value of both runs;
* a verdict with nothing measured or compared is never a pass.

:class:`Tally` collects measured values, shortfalls and notes; :meth:`Tally.exit_code` is the one mapping to
exit codes: 1 for a hard shortfall (failed, invalid, not measured, regressed), ``nothing`` (1, or 2 where the
command's input could not have produced a value) when nothing was measured or compared, 1 for a soft
shortfall (not compared, inconclusive) under ``strict``, else 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from harness.core.errors import (
    EXIT_FAILED,
    EXIT_OK,
    LoadgenRunInvalid,
    MaxQpsNotFound,
    ScenarioNotMeasured,
)
from harness.results.record import LoadgenRun, Record, ScenarioResult

__all__ = [
    "HARD",
    "SOFT",
    "Headline",
    "Shortfall",
    "ShortfallKind",
    "Tally",
    "headline",
    "headline_run",
    "record_shortfalls",
    "scenario_failure",
    "scenario_headline",
]

ShortfallKind = Literal["failed", "invalid", "not_measured", "regressed", "not_compared", "inconclusive"]
# A hard shortfall fails the command; a soft one is said, and fails it only under --strict.
HARD: frozenset[str] = frozenset({"failed", "invalid", "not_measured", "regressed"})
SOFT: frozenset[str] = frozenset({"not_compared", "inconclusive"})


@dataclass(frozen=True)
class Shortfall:
    """Something a command was asked to measure or compare and did not: what, which kind, and why."""

    subject: str
    kind: ShortfallKind
    reason: str

    @property
    def label(self) -> str:
        return self.kind.replace("_", " ")

    def text(self) -> str:
        return (
            f"{self.subject}: {self.label}: {self.reason}" if self.reason else f"{self.subject}: {self.label}"
        )


@dataclass(frozen=True)
class Headline:
    """The figure a job exists to produce, where it came from, and whether its engine calls it valid."""

    column: str
    value: float | None
    valid: bool | None = None  # None: no engine verdict applies (the timed loop)
    reasons: tuple[str, ...] = ()
    required_valid: bool = True  # False: the suite opted out of the engine's validity rule

    @property
    def measured(self) -> bool:
        return self.value is not None and self.value == self.value


def headline_run(lg: ScenarioResult) -> LoadgenRun | None:
    """The LoadGen run the scenario's headline comes from (the max-QPS run, the best batch, the only run)."""
    if not lg.runs:
        return None
    if lg.kind == "server" and lg.max_qps is not None:
        at = [r for r in lg.runs if r.scheduled_qps == lg.max_qps]
        return at[-1] if at else None
    if lg.kind == "offline" and lg.best_batch is not None:
        at = [r for r in lg.runs if r.settings.get("max_batch") == lg.best_batch]
        if at:
            return at[-1]
        best = [r for r in lg.runs if r.samples_per_s == lg.throughput]
        return best[-1] if best else None
    return lg.runs[-1]


def headline(record: Record) -> Headline:
    """The job's headline figure: the timed loop's p50 latency, or its LoadGen scenario's figure (Server:
    max QPS under the bound, or p99 at a fixed target rate; Offline: samples/s; SingleStream: p99)."""
    lg = record.loadgen
    if lg is None:
        lat = record.latency_ms
        return Headline("latency_ms.p50", lat.p50 if lat is not None else None)
    return scenario_headline(lg)


def scenario_headline(lg: ScenarioResult) -> Headline:
    """A LoadGen scenario's headline figure, the run it comes from and that run's verdict."""
    if lg.kind == "offline":
        column, value = "offline.throughput", lg.throughput
    elif lg.kind == "server" and lg.search:  # the max-QPS search ran (a fixed target_qps has no search)
        column, value = "max_qps", lg.max_qps
    else:
        column, value = "server.p99_ms" if lg.kind == "server" else "single_stream.p99_ms", lg.p99_ms
    run = headline_run(lg) if value is not None else None
    valid = run.valid if run is not None else None
    reasons = tuple(run.reasons) if run is not None and not run.valid else ()
    return Headline(column, value, valid, reasons, lg.require_valid)


def scenario_failure(lg: ScenarioResult, logs: str = "loadgen/") -> ScenarioNotMeasured | None:
    """Why a job whose LoadGen scenario ran must be a failed job (None when its headline stands): no headline
    (a search that found no max QPS, an Offline run without its throughput), or a headline from a run LoadGen
    calls INVALID where the suite requires VALID runs. The error names the case; its advice where LoadGen's
    logs are (``logs``, in the run folder) and what to change."""
    head = scenario_headline(lg)
    logs = f"LoadGen's logs (mlperf_log_summary.txt, mlperf_log_detail.txt): {logs} in the run folder"
    if not head.measured:
        why = lg.reason or "no run gave it"
        if head.column == "max_qps":
            return MaxQpsNotFound(f"the max-QPS search found no max_qps: {why}", advice=logs)
        return ScenarioNotMeasured(f"{lg.kind}: {head.column} has no value: {why}", advice=logs)
    if head.valid is False and head.required_valid:
        because = "; ".join(head.reasons) or "its engine called the run invalid"
        return LoadgenRunInvalid(
            f"{head.column} comes from a run LoadGen calls INVALID ({because})",
            advice=f"{logs}; scenario.require_valid: false accepts INVALID runs (the figure is then marked)",
        )
    return None


def record_shortfalls(record: Record) -> tuple[list[Shortfall], list[str]]:
    """Why ``record`` is not a measured success (empty when it is), and the notes a reader must see with it
    (metrics skipped for a stated reason, a figure the suite accepted from an invalid run)."""
    subject = record.label
    if record.status != "ok":
        e = record.error
        reason = f"{e.type}: {e.message}" if e is not None else "no error recorded"
        return [Shortfall(subject, "failed", f"{record.status}: {reason}")], []
    out: list[Shortfall] = []
    notes: list[str] = []
    head = headline(record)
    if not head.measured:
        why = record.loadgen.reason if record.loadgen is not None and record.loadgen.reason else ""
        out.append(
            Shortfall(subject, "not_measured", f"{head.column} has no value" + (f" ({why})" if why else ""))
        )
    elif head.valid is False:
        because = "; ".join(head.reasons) or "its engine called the run invalid"
        if head.required_valid:
            out.append(
                Shortfall(subject, "invalid", f"{head.column} comes from an INVALID LoadGen run ({because})")
            )
        else:
            notes.append(
                f"{subject}: {head.column} from an INVALID LoadGen run, accepted by the suite ({because})"
            )
    if record.quality_invalid:
        out.append(Shortfall(subject, "invalid", f"quality outputs: {record.quality_invalid}"))
    est = record.memory_estimate
    if est is not None and est.verdict == "may_not_fit" and est.note:
        notes.append(f"{subject}: memory estimate: {est.note}")  # it ran; the warning stays with its figures
    for name, mv in record.metrics.items():
        if mv.status in ("failed", "invalid"):
            out.append(Shortfall(f"{subject}: metric {name}", mv.status, mv.reason or ""))
        elif mv.status == "skipped":
            notes.append(f"{subject}: metric {name} skipped: {mv.reason or 'no reason given'}")
        elif mv.status == "ok" and (mv.value is None or mv.value != mv.value):
            out.append(Shortfall(f"{subject}: metric {name}", "invalid", "ok with no value"))
    return out, notes


@dataclass
class Tally:
    """What a command measured (or compared), what it did not, and what the reader must be told."""

    measured: int = 0
    shortfalls: list[Shortfall] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @classmethod
    def of_records(cls, records: Iterable[Record]) -> Tally:
        tally = cls()
        for record in records:
            tally.add_record(record)
        return tally

    def add_record(self, record: Record) -> bool:
        """Count one job; True when it is a measured success."""
        shortfalls, notes = record_shortfalls(record)
        self.shortfalls.extend(shortfalls)
        self.notes.extend(notes)
        if not shortfalls:
            self.measured += 1
        return not shortfalls

    def add(self, subject: str, kind: ShortfallKind, reason: str = "") -> None:
        self.shortfalls.append(Shortfall(subject, kind, reason))

    def count(self, *kinds: str) -> int:
        return sum(s.kind in kinds for s in self.shortfalls)

    @property
    def hard(self) -> list[Shortfall]:
        return [s for s in self.shortfalls if s.kind in HARD]

    @property
    def soft(self) -> list[Shortfall]:
        return [s for s in self.shortfalls if s.kind in SOFT]

    def verdict(self, *, strict: bool = False) -> Literal["pass", "fail", "nothing", "inconclusive"]:
        """pass: something measured and held; fail: a hard shortfall (or, with ``strict``, a soft one);
        nothing: nothing was measured or compared; inconclusive: held, with soft shortfalls said."""
        if self.hard or (strict and self.soft):
            return "fail"
        if self.measured == 0:
            return "nothing"
        return "inconclusive" if self.soft else "pass"

    def exit_code(self, *, strict: bool = False, nothing: int = EXIT_FAILED) -> int:
        verdict = self.verdict(strict=strict)
        if verdict == "fail":
            return EXIT_FAILED
        if verdict == "nothing":
            return nothing
        return EXIT_OK

    def reader_exit_code(self) -> int:
        """The exit code of a command that shows a finished run (``report``, ``export``) and names every
        shortfall in what it writes or on stderr: the run's shortfalls are then said, not hidden, so only a
        run with no measured job fails it (1: there is nothing true to show); else 0."""
        return EXIT_OK if self.measured else EXIT_FAILED

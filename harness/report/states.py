"""What the report shows as a job's status: ``ok`` only for a measured success, else why not."""

from __future__ import annotations

from dataclasses import dataclass

from harness.results.outcome import record_shortfalls
from harness.results.record import Record


@dataclass(frozen=True)
class JobState:
    """What the report shows as a job's status: ``ok`` only for a measured success (its headline measured,
    from a run its engine calls valid, no metric failed or invalid: :func:`harness.results.outcome.
    record_shortfalls`), else the record's status (``failed``…), ``not measured``, ``invalid`` or ``metric
    failed`` / ``metric invalid``; with the reasons and the notes a reader must see."""

    word: str
    reasons: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.word == "ok"

    @property
    def rankable(self) -> bool:
        """Whether the job may stand on a Pareto front: ok, or only a metric short (then incomplete there)."""
        return self.word == "ok" or self.word.startswith("metric ")


def job_state(record: Record) -> JobState:
    """The job's :class:`JobState`, from :func:`harness.results.outcome.record_shortfalls`."""
    shortfalls, notes = record_shortfalls(record)
    reasons = tuple(s.text() for s in shortfalls)
    if not record.ok:
        return JobState(record.status, reasons, tuple(notes))
    own = [s for s in shortfalls if s.subject == record.label]
    if own:
        return JobState(own[0].label, reasons, tuple(notes))
    if shortfalls:
        return JobState(f"metric {shortfalls[0].label}", reasons, tuple(notes))
    return JobState("ok", (), tuple(notes))

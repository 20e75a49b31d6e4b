"""``harness compare BASE HEAD``: every gated column of every job, and a verdict that never passes what it
did not compare.

How each column is decided is in :mod:`harness.gate.checks`. A job ok in base and failed, interrupted or
missing in head is a regression (``allow_missing`` turns missing jobs into a warning, for runs that are
deliberately partial); a gated metric ok in base and failed, skipped or invalid in head is a regression; a
column measured in base and absent in head is a regression. A gate that compared no value in any job (its
column absent or null in both runs, or the same record in both) is *not compared*: the verdict is then
never a pass, and a comparison in which no gate compared anything is *not compared* as a whole (exit 2).
The verdict and exit code come from :class:`harness.results.outcome.Tally`, the one rule of every command.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness.config.gates import Threshold
from harness.core.errors import EXIT_BAD_INPUT, UserInputError
from harness.gate.baselines import baselines_in, open_baseline
from harness.gate.checks import NOT_COMPARED, Check, check_job
from harness.gate.stats import ALPHA, POWER
from harness.gate.thresholds import load_gate_file, parse_gates
from harness.results.columns import SPEED_COLUMNS, higher_is_better
from harness.results.identity import record_id, same_folder_or_file
from harness.results.outcome import Tally
from harness.results.record import Record
from harness.results.runs import NotComparable, Run, environment_differences, fingerprint_differences

JobStatus = Literal["compared", "added", "removed", "missing", "failed", "fixed", "failing", "same"]
# The comparison's verdict, one word in the table (upper case), the JSON and JUnit: Tally's, with its
# "nothing" said as what it is here.
ComparisonVerdict = Literal["pass", "fail", "inconclusive", "not compared"]
SAME_RECORD = "the same record in base and head (job_id and started_at): a copy compared with itself"


@dataclass
class JobResult:
    job_id: str
    label: str
    status: JobStatus
    note: str = ""
    checks: list[Check] = field(default_factory=list)
    allowed: bool = False  # a missing job under --allow-missing: a warning, not a regression

    @property
    def regressions(self) -> int:
        failed = self.status == "failed" or (self.status == "missing" and not self.allowed)
        return int(failed) + sum(c.verdict == "regressed" for c in self.checks)

    @property
    def improvements(self) -> int:
        return sum(c.verdict == "improved" for c in self.checks)

    @property
    def inconclusive(self) -> int:
        return sum(c.verdict == "inconclusive" for c in self.checks)


@dataclass
class Comparison:
    base: Run
    head: Run
    gates: dict[str, Threshold]
    gate_source: str
    differences: list[str]
    jobs: list[JobResult]
    strict: bool = False
    allow_missing: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def base_label(self) -> str:
        """The base run's name; when it was picked from a folder of baselines, also which one."""
        chosen = self.base.path.name
        if chosen != self.base.run_id and baselines_in(self.base.path.parent):
            return f"`{self.base.run_id}` (baseline `{chosen}`)"
        return f"`{self.base.run_id}`"

    def not_compared(self) -> dict[str, str]:
        """The gates that compared no value in any job, each with why, job by job (grouped by reason)."""
        out: dict[str, str] = {}
        for key in self.gates:
            reasons: dict[str, list[str]] = {}
            for j in self.jobs:
                c = next((c for c in j.checks if c.key == key), None)
                if c is not None and c.verdict != NOT_COMPARED:
                    break
                why = c.detail if c is not None else (j.note or j.status)
                reasons.setdefault(why, []).append(j.label)
            else:
                out[key] = "; ".join(f"{why} ({self._which(labels)})" for why, labels in reasons.items())
        return out

    def _which(self, labels: list[str]) -> str:
        return f"all {len(labels)} jobs" if len(labels) == len(self.jobs) > 1 else ", ".join(labels)

    def tally(self) -> Tally:
        """What this comparison compared and what it did not, as :class:`Tally` counts it: one measured value
        per decided check (ok, improved, inconclusive), a shortfall per regression, failed job, inconclusive
        check and gate that compared nothing; jobs added, removed, fixed or failing in both are notes."""
        tally = Tally()
        for j in self.jobs:
            if j.status == "failed":
                tally.add(j.label, "failed", j.note)
            elif j.status == "missing" and not j.allowed:
                tally.add(j.label, "regressed", j.note)
            elif j.status not in ("compared", "same"):
                tally.notes.append(f"{j.label}: {j.status}: {j.note}")
            for c in j.checks:
                if c.verdict in ("ok", "improved", "inconclusive"):
                    tally.measured += 1
                if c.verdict in ("regressed", "inconclusive"):
                    tally.add(f"{j.label}: {c.key}", c.verdict, c.detail)
        for key, why in self.not_compared().items():
            tally.add(f"gate {key}", "not_compared", why)
        return tally

    @property
    def regressions(self) -> int:
        return self.tally().count("regressed", "failed")

    @property
    def improvements(self) -> int:
        return sum(j.improvements for j in self.jobs)

    @property
    def inconclusive(self) -> int:
        return self.tally().count("inconclusive")

    def count(self, status: str) -> int:
        return sum(j.status == status for j in self.jobs)

    @property
    def verdict(self) -> ComparisonVerdict:
        """fail: a regression (or, with ``strict``, anything undecided or not compared); not compared: no gate
        compared a value; inconclusive: no regression found, but some check could not have caught one or
        some gate compared nothing; pass: every gate compared values and every check was decided."""
        verdict = self.tally().verdict(strict=self.strict)
        return NOT_COMPARED if verdict == "nothing" else verdict

    @property
    def exit_code(self) -> int:
        """0 pass or inconclusive, 1 fail, 2 when nothing was compared (the gates name columns these runs
        do not have: bad input)."""
        return self.tally().exit_code(strict=self.strict, nothing=EXIT_BAD_INPUT)

    @property
    def passed(self) -> bool:
        return self.verdict in ("pass", "inconclusive")

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": str(self.base.path),
            "head": str(self.head.path),
            "verdict": self.verdict,
            "passed": self.passed,
            "exit_code": self.exit_code,
            "not_compared": self.not_compared(),
            "strict": self.strict,
            "allow_missing": self.allow_missing,
            "gates": {k: t.text for k, t in self.gates.items()},
            "gate_source": self.gate_source,
            "differences": self.differences,
            "warnings": self.warnings,
            "regressions": self.regressions,
            "improvements": self.improvements,
            "inconclusive": self.inconclusive,
            "alpha": ALPHA,
            "power": POWER,
            "jobs": [
                {
                    "job_id": j.job_id,
                    "label": j.label,
                    "status": j.status,
                    "note": j.note,
                    "allowed": j.allowed,
                    "checks": [c.to_dict() for c in j.checks],
                }
                for j in self.jobs
            ],
        }


# ----------------------------------------------------------------------------------------------- runs


def known_columns(base: Run, head: Run) -> list[str]:
    names: set[str] = set()
    for run in (base, head):
        for r in run.records.values():
            names.update(r.metrics)
        names.update(run.meta.metric_names)
    return [*SPEED_COLUMNS, *sorted(names)]


def _direction(key: str, base: Run, head: Run) -> bool | None:
    """The column's direction: fixed for speed and memory columns, the records' for metrics."""
    if key in SPEED_COLUMNS:
        return higher_is_better(key)
    for run in (base, head):
        for r in run.records.values():
            if key in r.metrics:
                return r.metrics[key].higher_is_better
    return None


def _job_result(
    jid: str,
    b_rec: Record | None,
    h_rec: Record | None,
    head: Run,
    gates,
    allow_missing: bool,
    one_run: bool = False,
) -> JobResult:
    rec = h_rec or b_rec
    label = rec.label if rec is not None else jid
    if h_rec is None:
        if b_rec is not None and b_rec.ok:
            torn = " (its record was cut short)" if jid in head.torn else ""
            note = f"ok in base, missing in head{torn}" + (
                " — allowed (--allow-missing)" if allow_missing else ""
            )
            return JobResult(jid, label, "missing", note, allowed=allow_missing)
        return JobResult(jid, label, "removed", f"{b_rec.status if b_rec else '?'} in base, not in head")
    if b_rec is None:
        return JobResult(jid, label, "added", "only in head")
    if one_run or (record_id(b_rec) is not None and record_id(b_rec) == record_id(h_rec)):
        return JobResult(jid, label, "same", SAME_RECORD)
    if b_rec.ok and not h_rec.ok:
        e = h_rec.error
        why = f": {e.type}: {e.message}" if e is not None else ""
        return JobResult(jid, label, "failed", f"{h_rec.status} in head{why}")
    if not b_rec.ok and h_rec.ok:
        return JobResult(jid, label, "fixed", f"{b_rec.status} in base, ok in head")
    if not b_rec.ok:
        return JobResult(jid, label, "failing", f"{b_rec.status} in base, {h_rec.status} in head")
    return JobResult(jid, label, "compared", "", check_job(b_rec, h_rec, gates))


def compare_runs(
    base_dir: str | Path,
    head_dir: str | Path,
    gate_file: str | Path | None = None,
    *,
    allow_mismatch: bool = False,
    allow_missing: bool = False,
    strict: bool = False,
) -> Comparison:
    """Compare HEAD with BASE. Bad input (a missing or empty run, bad gates, mismatched environments) raises.
    BASE may be a run folder or a folder of baselines, one per kind of machine
    (:func:`harness.gate.baselines.record_baseline`): then the one comparable with HEAD is used."""
    head = Run.open(head_dir, role="head")
    base = open_baseline(base_dir, head, allow_mismatch=allow_mismatch)
    if gate_file is not None:
        raw, source = load_gate_file(gate_file), str(gate_file)
    elif head.meta.gates:
        raw, source = head.meta.gates, f"{head.path}/run.json: suite.gates"
    elif base.meta.gates:
        raw, source = base.meta.gates, f"{base.path}/run.json: suite.gates"
    else:
        raise UserInputError(
            "no gates: pass --gate FILE (a gate file or a suite with gates:) or add 'gates:' to the suite",
            source=str(head.path),
        )
    gates = parse_gates(raw, known_columns(base, head), source=source)
    for key, thr in gates.items():  # a sign against the column's direction is bad input, before any output
        hib = _direction(key, base, head)
        if hib is not None:
            try:
                thr.worse_sign(hib)
            except UserInputError as exc:
                raise UserInputError(exc.detail, source=source, field="gates") from None

    diffs = environment_differences(base, head) + fingerprint_differences(base, head, list(gates))
    if diffs and not allow_mismatch:
        raise NotComparable(
            f"runs are not comparable: {'; '.join(diffs)} (pass --allow-mismatch to compare anyway)",
            source=f"{base.path} vs {head.path}",
            differences=diffs,
        )
    # A copy of a run (the same folder, a byte-identical records.jsonl, a record in both) tests nothing.
    one_run = same_folder_or_file(base.path, head.path)
    order = list(base.records) + [j for j in head.records if j not in base.records]
    jobs = [
        _job_result(j, base.records.get(j), head.records.get(j), head, gates, allow_missing, bool(one_run))
        for j in order
    ]
    warnings = [f"head: {w}" for w in head.warnings] + [f"base: {w}" for w in base.warnings]
    same = sum(j.status == "same" for j in jobs)
    if one_run:
        warnings.append(f"base and head are one run ({one_run}): comparing a run with itself tests nothing")
    elif same:
        warnings.append(f"{same} job(s) have the same record in base and head (copied): not compared")
    missing = sum(j.status == "missing" for j in jobs)
    if missing and allow_missing:
        warnings.append(f"{missing} job(s) ok in base are missing in head (allowed by --allow-missing)")
    return Comparison(base, head, gates, source, diffs, jobs, strict, allow_missing, warnings)

"""``harness compare BASE HEAD``: every gated column of every job, and a verdict that never passes what it
did not compare.

* **Latency** (``latency_ms.*``, ``latency_per_item_ms.p50``, ``throughput``) is decided on the raw samples
  (:mod:`harness.gate.stats`): regressed, improved, within the gate — or *inconclusive* when the comparison
  could not have caught a change of the threshold's size (too few samples, too much noise).
* **Quality metrics** without an interval are deterministic (same seeds, same noise): compared directly.
  Metrics with ``ci95`` regress only when the intervals are apart by more than the threshold.
* **Memory and single values** (``peak_rss_mib``, ``first_call_ms``, ``load_s``, ``compile_s``) are compared
  directly: ``+15%`` regresses when head > base × 1.15.

A job ok in base and failed, interrupted or missing in head is a regression (``allow_missing`` turns missing
jobs into a warning, for runs that are deliberately partial); a gated metric ok in base and failed, skipped
or invalid in head is a regression; a column measured in base and absent in head is a regression.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from harness.errors import UserInputError
from harness.gate.baselines import baselines_in, open_baseline
from harness.gate.runs import NotComparable, Run, environment_differences, fingerprint_differences
from harness.gate.stats import (
    ALPHA,
    POWER,
    detectable_shift,
    iterations_needed,
    latency_rule,
    robust_sigma,
    shift_test,
    smallest_p,
)
from harness.gate.thresholds import Threshold, load_gate_file, parse_gates
from harness.numfmt import fmt_ci
from harness.results.columns import SAMPLED_COLUMNS, SPEED_COLUMNS, higher_is_better
from harness.results.schema import Record
from harness.results.table import column_value

Verdict = Literal["ok", "regressed", "improved", "inconclusive", "n/a"]
JobStatus = Literal["compared", "added", "removed", "missing", "failed", "fixed", "failing"]


@dataclass
class Check:
    """One job × one gated column."""

    key: str
    threshold: str
    verdict: Verdict
    base: float | None = None
    head: float | None = None
    change: str = ""  # "×1.052 [1.031, 1.074]", "+3.1%", "-0.02"
    detail: str = ""
    method: str = ""  # "mann-whitney", "direct", "ci-gap", "status"
    detectable: str | None = None  # inconclusive latency: the smallest change caught 80 % of the time
    iterations_needed: int | None = None  # … and the iterations per side a conclusive comparison needs

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
        if chosen != self.base.name and baselines_in(self.base.path.parent):
            return f"`{self.base.name}` (baseline `{chosen}`)"
        return f"`{self.base.name}`"

    @property
    def regressions(self) -> int:
        return sum(j.regressions for j in self.jobs)

    @property
    def improvements(self) -> int:
        return sum(j.improvements for j in self.jobs)

    @property
    def inconclusive(self) -> int:
        return sum(j.inconclusive for j in self.jobs)

    def count(self, status: str) -> int:
        return sum(j.status == status for j in self.jobs)

    @property
    def verdict(self) -> Literal["pass", "fail", "inconclusive"]:
        """fail: a regression (or, with ``strict``, anything undecided); inconclusive: no regression found,
        but some comparison could not have caught one; pass: every gated comparison was decided."""
        if self.regressions or (self.strict and self.inconclusive):
            return "fail"
        return "inconclusive" if self.inconclusive else "pass"

    @property
    def passed(self) -> bool:
        return self.verdict != "fail"

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": str(self.base.path),
            "head": str(self.head.path),
            "verdict": self.verdict,
            "passed": self.passed,
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


# ------------------------------------------------------------------------------------------ the columns


def samples_of(record: Record, key: str) -> np.ndarray | None:
    """Per-iteration values of a sampled column, in its own unit; None when the record has none usable."""
    raw = record.latency_ms.samples if record.latency_ms is not None else []
    if len(raw) < 2:
        return None
    lat = np.asarray(raw, dtype=np.float64)
    if not np.isfinite(lat).all() or (lat <= 0).any():
        return None
    if key == "latency_per_item_ms.p50":
        return lat / max(int(record.batch_size or 1), 1)
    if key == "throughput":
        per_call = record.throughput.per_call if record.throughput is not None else None
        return (per_call or 1.0) * 1000.0 / lat
    return lat


def statistic(x: np.ndarray, key: str) -> float:
    if key.endswith(".p90"):
        return float(np.percentile(x, 90))
    if key.endswith(".p99"):
        return float(np.percentile(x, 99))
    if key.endswith(".mean"):
        return float(np.mean(x))
    return float(np.median(x))


def fmt(v: float | None) -> str:
    if v is None:
        return "–"
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    a = abs(v)
    if a != 0 and (a < 1e-3 or a >= 1e6):
        return f"{v:.3e}"
    if a >= 100:
        return f"{v:.0f}"
    return f"{v:.4g}"


def _check_sampled(key: str, thr: Threshold, b_rec: Record, h_rec: Record) -> Check:
    bs, hs = samples_of(b_rec, key), samples_of(h_rec, key)
    if bs is None or hs is None:
        where = " and ".join(w for w, s in (("base", bs), ("head", hs)) if s is None)
        return Check(
            key,
            thr.text,
            "inconclusive",
            column_value(b_rec, key),
            column_value(h_rec, key),
            "",
            f"no per-iteration samples in {where} (at least 2 are needed to test a change)",
            "mann-whitney",
        )
    worse = thr.worse_sign(higher_is_better(key))
    test = shift_test(bs, hs, log=thr.relative)
    b_val, h_val = statistic(bs, key), statistic(hs, key)
    # p50, mean and throughput: the HL shift of the whole distribution; p90/p99: their own ratio or difference.
    if key.endswith((".p90", ".p99")):
        test.estimate = np.array([math.log(h_val / b_val) if thr.relative else h_val - b_val])
    verdict = int(latency_rule(test, thr.amount, relative=thr.relative, higher_is_worse=worse > 0)[0])
    est, lo, hi = float(test.estimate[0]), float(test.lower[0]), float(test.upper[0])
    n_b, n_h = len(bs), len(hs)
    if thr.relative:
        bad_ratio = 1 + thr.amount if worse > 0 else 1 - thr.amount
        size = abs(math.log(bad_ratio))
        bounded = math.isfinite(lo) and math.isfinite(hi)
        change = "×" + (
            fmt_ci(math.exp(est), math.exp(lo), math.exp(hi)) if bounded else fmt_ci(math.exp(est))
        )
        half_text = f"ratio {'≥' if worse > 0 else '≤'} {math.sqrt(bad_ratio):.4g}"
    else:
        size = thr.amount
        bounded = math.isfinite(lo) and math.isfinite(hi)
        change = ("+" if est > 0 else "") + (fmt_ci(est, lo, hi) if bounded else fmt_ci(est))
        half_text = f"shift {'≥' if worse > 0 else '≤'} {worse * thr.amount / 2:.4g}"
    p_worse = float(test.p_higher[0] if worse > 0 else test.p_lower[0])
    detail = (
        f"{n_b} vs {n_h} samples; p(worse) = {p_worse:.2g} ({'exact' if test.exact[0] else 'normal'}); "
        f"{1 - 2 * ALPHA:.0%} CI in brackets; a regression needs p ≤ {ALPHA:g} and {half_text}"
    )
    check = Check(
        key,
        thr.text,
        {1: "regressed", -1: "improved", 0: "ok"}[verdict],
        b_val,
        h_val,
        change,
        detail,
        "mann-whitney",
    )
    if verdict == 0:
        _decidability(check, thr, bs, hs, size, worse)
    return check


def _decidability(
    check: Check, thr: Threshold, bs: np.ndarray, hs: np.ndarray, size: float, worse: int
) -> None:
    """Mark a check inconclusive when a change of the threshold's size would have been caught less than
    POWER of the time at this noise and sample count; say what it could catch and what it would need."""
    scale_b, scale_h = (np.log(bs), np.log(hs)) if thr.relative else (bs, hs)
    sigma = math.sqrt((robust_sigma(scale_b) ** 2 + robust_sigma(scale_h) ** 2) / 2.0)
    half = size / 2.0
    n_b, n_h = len(bs), len(hs)
    detectable = detectable_shift(sigma, n_h, n_b, half)
    if detectable <= size:
        return
    need = iterations_needed(sigma, size, half)
    need_text = (
        f"a {thr.text} gate needs ≥ {need} iterations per side (measurement.min_iterations)"
        if need is not None
        else f"the noise is too large for a {thr.text} gate at any practical iteration count"
    )
    if smallest_p(n_b, n_h) > ALPHA:
        why = f"{n_b} vs {n_h} samples cannot reach p ≤ {ALPHA:g} whatever the change"
        check.detectable = "none"
    else:
        caught = f"×{math.exp(worse * detectable):.3f}" if thr.relative else f"{worse * detectable:+.4g}"
        spread = f"σ ≈ {math.expm1(sigma):.1%}" if thr.relative else f"σ ≈ {sigma:.3g}"
        why = f"at this noise ({spread}) {n_b} vs {n_h} samples catch only changes of {caught} or more {POWER:.0%} of the time"
        check.detectable = caught
    check.verdict = "inconclusive"
    check.iterations_needed = need
    check.detail = f"{why}; {need_text}. {check.detail}"


def _check_direct(
    key: str,
    thr: Threshold,
    b: float | None,
    h: float | None,
    hib: bool,
    b_ci: tuple[float, float] | None = None,
    h_ci: tuple[float, float] | None = None,
) -> Check:
    worse = thr.worse_sign(hib)
    if b is None:
        return Check(key, thr.text, "n/a", b, h, "", "no value in base: nothing to compare with", "direct")
    if h is None:
        return Check(key, thr.text, "regressed", b, h, "", "measured in base, no value in head", "direct")
    if math.isnan(b) or math.isnan(h):
        if math.isnan(h) and not math.isnan(b):
            return Check(key, thr.text, "regressed", b, h, "→ NaN", "head value is NaN", "direct")
        both = math.isnan(b) and math.isnan(h)
        return Check(key, thr.text, "n/a" if both else "improved", b, h, "", "NaN in base", "direct")
    limit = thr.amount * abs(b) if thr.relative else thr.amount
    if b_ci or h_ci:
        # Sampled estimates: the intervals must be apart by more than the threshold.
        b_lo, b_hi = b_ci if b_ci else (b, b)
        h_lo, h_hi = h_ci if h_ci else (h, h)
        if worse > 0:
            gap_worse, gap_better = h_lo - b_hi, b_lo - h_hi
        else:
            gap_worse, gap_better = b_lo - h_hi, h_lo - b_hi
        verdict: Verdict = "regressed" if gap_worse > limit else ("improved" if gap_better > limit else "ok")
        detail = (
            f"95% CIs base [{fmt(b_lo)}, {fmt(b_hi)}] head [{fmt(h_lo)}, {fmt(h_hi)}]; "
            f"regressed if apart by > {limit:.4g}"
        )
        return Check(key, thr.text, verdict, b, h, _change_text(b, h, thr.relative), detail, "ci-gap")
    if b == h:  # equal infinities included (PSNR of identical outputs)
        delta = 0.0
    elif math.isinf(b) or math.isinf(h):
        delta = math.inf if h > b else -math.inf
    else:
        delta = h - b
    verdict = "regressed" if worse * delta > limit else ("improved" if -worse * delta > limit else "ok")
    bound = fmt(b + worse * limit) if math.isfinite(b) else fmt(b)
    detail = f"regressed if {'above' if worse > 0 else 'below'} {bound}"
    return Check(key, thr.text, verdict, b, h, _change_text(b, h, thr.relative), detail, "direct")


def _change_text(b: float, h: float, relative: bool) -> str:
    if b == h:
        return "="
    if relative:
        if b == 0:
            return "+∞%" if h > b else "-∞%"
        return f"{(h / b - 1) * 100:+.2f}%"
    return f"{h - b:+.4g}"


def _check_metric(key: str, thr: Threshold, b_rec: Record, h_rec: Record) -> Check:
    bm, hm = b_rec.metric(key), h_rec.metric(key)
    if bm is None or not bm.ok:
        why = (
            "not computed in base"
            if bm is None
            else f"{bm.status} in base" + (f": {bm.reason}" if bm.reason else "")
        )
        return Check(key, thr.text, "n/a", None, None, "", why, "status")
    if hm is None or not hm.ok:
        why = (
            "not computed in head"
            if hm is None
            else f"{hm.status} in head" + (f": {hm.reason}" if hm.reason else "")
        )
        return Check(key, thr.text, "regressed", bm.value, None, "", f"ok in base, {why}", "status")
    return _check_direct(key, thr, bm.value, hm.value, bm.higher_is_better, bm.ci95, hm.ci95)


def check_job(b_rec: Record, h_rec: Record, gates: dict[str, Threshold]) -> list[Check]:
    checks = []
    for key, thr in gates.items():
        if key in SAMPLED_COLUMNS:
            checks.append(_check_sampled(key, thr, b_rec, h_rec))
        elif key in SPEED_COLUMNS:
            b, h = column_value(b_rec, key), column_value(h_rec, key)
            checks.append(_check_direct(key, thr, b, h, higher_is_better(key)))
        else:
            checks.append(_check_metric(key, thr, b_rec, h_rec))
    return checks


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
    jid: str, b_rec: Record | None, h_rec: Record | None, head: Run, gates, allow_missing: bool
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
    order = list(base.records) + [j for j in head.records if j not in base.records]
    jobs = [
        _job_result(j, base.records.get(j), head.records.get(j), head, gates, allow_missing) for j in order
    ]
    warnings = [f"head: {w}" for w in head.warnings] + [f"base: {w}" for w in base.warnings]
    missing = sum(j.status == "missing" for j in jobs)
    if missing and allow_missing:
        warnings.append(f"{missing} job(s) ok in base are missing in head (allowed by --allow-missing)")
    return Comparison(base, head, gates, source, diffs, jobs, strict, allow_missing, warnings)

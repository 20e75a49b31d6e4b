"""One job × one gated column: how each kind of column is decided, and the :class:`Check` it gives.

* **Latency** (``latency_ms.*``, ``latency_per_item_ms.p50``, ``throughput``) is decided on the raw samples
  (:mod:`harness.gate.stats`): regressed, improved, within the gate — or *inconclusive* when the comparison
  could not have caught a change of the threshold's size (too few samples, too much noise).
* **Quality metrics** without an interval are deterministic (same seeds, same noise): compared directly.
  Metrics with ``ci95`` regress only when the intervals are apart by more than the threshold.
* **Memory and single values** (``peak_rss_mib``, ``first_call_ms``, ``load_s``, ``compile_s``) are compared
  directly: ``+15%`` regresses when head > base × 1.15.

A column with no value to compare (absent or null in both runs, or only in head) is **not compared**: never
ok. A column measured in base and absent in head is a regression.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any, Literal

import numpy as np

from harness.config.gates import Threshold
from harness.core.numfmt import fmt, fmt_ci
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
from harness.results.columns import SAMPLED_COLUMNS, SPEED_COLUMNS, higher_is_better
from harness.results.record import Record
from harness.results.table import column_value

NOT_COMPARED = "not compared"
Verdict = Literal["ok", "regressed", "improved", "inconclusive", "not compared"]
# A metric that applies to neither run's job (another modality): not compared, shown blank.
NOT_APPLICABLE = "not applicable to this job (not_applicable in base and head)"


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


# A compared value as the gate's outputs write it: no exponent from 1e-3 to 1e6, and a NaN said as such (a
# head value that became NaN is a regression, not a missing value).
fmt_value = partial(fmt, notation="fixed", nan="NaN")


def _check_sampled(key: str, thr: Threshold, b_rec: Record, h_rec: Record) -> Check:
    bs, hs = samples_of(b_rec, key), samples_of(h_rec, key)
    if bs is None or hs is None:
        b, h = column_value(b_rec, key), column_value(h_rec, key)
        if b is None or h is None or math.isnan(b) or math.isnan(h):
            # No value on one side (a job without a timed loop): nothing to test, as for a single value.
            return _check_direct(key, thr, b, h, higher_is_better(key))
        where = " and ".join(w for w, s in (("base", bs), ("head", hs)) if s is None)
        return Check(
            key,
            thr.text,
            "inconclusive",
            b,
            h,
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
        why = "null in both runs" if h is None else "no value in base: nothing to compare with"
        return Check(key, thr.text, NOT_COMPARED, b, h, "", why, "direct")
    if h is None:
        return Check(key, thr.text, "regressed", b, h, "", "measured in base, no value in head", "direct")
    if math.isnan(b) or math.isnan(h):
        if math.isnan(h) and not math.isnan(b):
            return Check(key, thr.text, "regressed", b, h, "→ NaN", "head value is NaN", "direct")
        if math.isnan(h):
            return Check(key, thr.text, NOT_COMPARED, b, h, "", "NaN in both runs", "direct")
        return Check(key, thr.text, "improved", b, h, "", "NaN in base", "direct")
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
            f"95% CIs base [{fmt_value(b_lo)}, {fmt_value(b_hi)}] head [{fmt_value(h_lo)}, {fmt_value(h_hi)}]; "
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
    bound = fmt_value(b + worse * limit) if math.isfinite(b) else fmt_value(b)
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
        if bm is None and hm is None:
            why = "absent from both runs (not computed for this job)"
        elif bm is not None and hm is not None and bm.status == hm.status == "not_applicable":
            why = NOT_APPLICABLE
        else:
            why = (
                "not computed in base"
                if bm is None
                else f"{bm.status} in base" + (f": {bm.reason}" if bm.reason else "")
            )
            why += ": nothing to compare with"
        return Check(
            key, thr.text, NOT_COMPARED, None, hm.value if hm is not None else None, "", why, "status"
        )
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

"""Thresholds from the noise between repeated runs of the same code (``harness gate derive``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

from harness.core.errors import UserInputError
from harness.core.registry import did_you_mean
from harness.gate.checks import samples_of, statistic
from harness.gate.stats import shift_test
from harness.results.columns import HIGHER_IS_BETTER_COLUMNS, MEMORY_COLUMNS, SAMPLED_COLUMNS, SPEED_COLUMNS
from harness.results.identity import same_folder_or_file, shared_records
from harness.results.record import Record
from harness.results.runs import Run, environment_differences, fingerprint_differences
from harness.results.table import column_value

DEFAULT_K = 3.0
DEFAULT_FLOOR_RELATIVE = 0.05
DEFAULT_FLOOR_ABSOLUTE = 1e-6


@dataclass
class Spread:
    key: str
    relative: bool
    spread: float  # the largest |log ratio| (relative) or |difference| (absolute) between two runs
    where: str
    threshold: str


def _default_keys(runs: list[Run]) -> list[str]:
    keys = ["latency_ms.p50", "peak_rss_mib"]
    metrics: list[str] = []
    for run in runs:
        for r in run.records.values():
            keys += [k for k in MEMORY_COLUMNS[1:] if getattr(r.memory, k) is not None and k not in keys]
            for name, mv in r.metrics.items():
                if mv.ok and name not in metrics:
                    metrics.append(name)
    return keys + metrics


def _round_up(x: float, digits: int = 2) -> float:
    if x <= 0 or not math.isfinite(x):
        return x
    scale = 10 ** (math.floor(math.log10(x)) - digits + 1)
    return math.ceil(x / scale - 1e-9) * scale


def derive_gates(
    run_dirs: list[str | Path],
    *,
    k: float = DEFAULT_K,
    keys: list[str] | None = None,
    floor_relative: float = DEFAULT_FLOOR_RELATIVE,
    floor_absolute: float = DEFAULT_FLOOR_ABSOLUTE,
) -> tuple[dict[str, str], list[Spread]]:
    """Thresholds from runs of the same code: ``max(k × largest change between two runs, floor)``.

    The change is measured as the gate measures it: the Hodges–Lehmann log-ratio for latency, the log-ratio
    for memory and speed summaries (relative thresholds), the difference for quality metrics (absolute).
    For latency the gate fires at half its threshold (log scale), so k = 3 leaves a 1.5× margin there.
    """
    if len(run_dirs) < 2:
        raise UserInputError("gate derive: give at least two runs of the same suite")
    runs = [Run.open(p) for p in run_dirs]
    names = {r.meta.suite_name for r in runs}
    if len(names) > 1:
        raise UserInputError(f"gate derive: runs of different suites ({', '.join(sorted(map(str, names)))})")
    keys = keys or _default_keys(runs)
    metric_names = {n for r in runs for rec in r.records.values() for n in rec.metrics}
    unknown = [k_ for k_ in keys if k_ not in SPEED_COLUMNS and k_ not in metric_names]
    if unknown:
        raise UserInputError(
            f"--keys: unknown column '{unknown[0]}' "
            f"({did_you_mean(unknown[0], [*SPEED_COLUMNS, *sorted(metric_names)])})"
        )
    for (pa, ra), (pb, rb) in combinations(zip(run_dirs, runs), 2):
        _refuse_unless_repeats(pa, ra, pb, rb, keys)
    gates: dict[str, str] = {}
    spreads: list[Spread] = []
    for key in keys:
        is_metric = key in metric_names and key not in SPEED_COLUMNS
        relative = not is_metric
        worst, where, hib = 0.0, "", key in HIGHER_IS_BETTER_COLUMNS
        for ra, rb in combinations(runs, 2):
            for jid in [j for j in ra.records if j in rb.records]:  # run order: ties name the first job
                a, b = ra.records[jid], rb.records[jid]
                if not a.ok or not b.ok:
                    continue
                change = _observed_change(key, a, b, relative)
                if is_metric:
                    mv = a.metric(key)
                    hib = mv.higher_is_better if mv is not None else True
                if change is not None and change > worst:
                    worst, where = change, a.label
        if math.isinf(worst):
            raise UserInputError(
                f"gate derive: {key} is finite in one run and infinite in another ({where}); "
                "leave it out with --keys"
            )
        if relative:
            amount = max(math.expm1(k * worst), floor_relative)
            text = f"{'-' if hib else '+'}{_round_up(amount * 100):g}%"
        else:
            amount = max(k * worst, floor_absolute)
            text = f"{'-' if hib else '+'}{_round_up(amount):g}"
        gates[key] = text
        spreads.append(Spread(key, relative, worst, where, text))
    return gates, spreads


REPEAT_HINT = "derive from separate runs of one suite on one machine and setup (harness run SUITE --repeat N)"


def _refuse_unless_repeats(pa, a: Run, pb, b: Run, keys: list[str]) -> None:
    """Noise is measured only between independent repeats of one setup: refuse (one line naming the
    difference) two copies of one run, identical samples, and runs of another environment (device and
    isolation included), metric fingerprint or backend options."""
    where = f"gate derive: {pa} and {pb}"
    copy = same_folder_or_file(a.path, b.path)
    shared = shared_records(a.records.values(), b.records.values())
    if copy or shared:
        why = copy or (
            f"{len(shared)} record(s) in both (the same job_id and started_at, e.g. {shared[0].label} "
            f"started {shared[0].started_at})"
        )
        raise UserInputError(f"{where} are two copies of one run ({why}); {REPEAT_HINT}")
    timed = [
        (a.records[j].latency_ms.samples, b.records[j].latency_ms.samples)
        for j in sorted(set(a.records) & set(b.records))
        if a.records[j].latency_ms is not None and b.records[j].latency_ms is not None
    ]
    if timed and all(sa and sa == sb for sa, sb in timed):
        raise UserInputError(
            f"{where} have identical latency samples in every job ({len(timed)}): not independent "
            f"measurements; {REPEAT_HINT}"
        )
    diffs = environment_differences(a, b) + fingerprint_differences(a, b, keys) + _backend_options(a, b)
    if diffs:
        raise UserInputError(f"{where} are not repeats of one setup: {'; '.join(diffs)}; {REPEAT_HINT}")


def _backend_options(a: Run, b: Run) -> list[str]:
    """``backend options of JOB {…} → {…}`` for each job planned in both runs with other backend options."""

    def options(run: Run) -> dict[str, dict]:
        return {j.get("job_id"): j.get("backend_options") or {} for j in run.meta.jobs or []}

    oa, ob = options(a), options(b)
    return [f"backend options of {j} {oa[j]} → {ob[j]}" for j in oa if j in ob and oa[j] != ob[j]]


def _observed_change(key: str, a: Record, b: Record, relative: bool) -> float | None:
    if key in SAMPLED_COLUMNS:
        sa, sb = samples_of(a, key), samples_of(b, key)
        if sa is not None and sb is not None:
            if key.endswith((".p90", ".p99")):
                return abs(math.log(statistic(sb, key) / statistic(sa, key)))
            return abs(float(shift_test(sa, sb).estimate[0]))
    va, vb = column_value(a, key), column_value(b, key)
    if va is None or vb is None or math.isnan(va) or math.isnan(vb):
        return None
    if va == vb:
        return 0.0
    if math.isinf(va) or math.isinf(vb):
        return math.inf
    if relative:
        return abs(math.log(vb / va)) if va > 0 and vb > 0 else None
    return abs(vb - va)


def gates_yaml(gates: dict[str, str], spreads: list[Spread], runs: list[str], k: float) -> str:
    lines = [
        f"# Derived by `harness gate derive` from {len(runs)} runs of the same code:",
        f"# threshold = max({k:g} × the largest change between two runs, floor).",
    ]
    for s in spreads:
        size = f"×{math.exp(s.spread):.3f}" if s.relative else f"{s.spread:.3g}"
        lines.append(
            f"#   {s.key}: largest change {size}{f' ({s.where})' if s.where else ''} → {s.threshold}"
        )
    lines.append("gates:")
    lines += [f'  {key}: "{value}"' for key, value in gates.items()]
    return "\n".join(lines) + "\n"

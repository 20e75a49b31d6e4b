"""The CI regression gate: compare two runs job by job against per-metric thresholds.

``harness compare BASE HEAD`` matches jobs by ``job_id`` and checks every gated column of every job:

* **Latency** (``latency_ms.*``, ``latency_per_item_ms.p50``, ``throughput``) is decided on the raw
  per-iteration samples with a one-sided **Mann–Whitney U test** on the two sets of samples, and the size of the
  change is the **Hodges–Lehmann estimate** of the shift of log-latency (the median of all ``n·m`` pairwise
  log-ratios head/base), with its distribution-free (Moses) confidence bounds from the same U distribution.
  ``p90``/``p99`` take the ratio of those percentiles as the size; the test is the same.

  Why this and not a bootstrap CI of the ratio of medians: the U test and the HL estimator are 95 % as
  efficient as the t-test on normal noise (the sample median is 64 %), so at 30 iterations they detect a
  smaller slowdown; ranks ignore the scale of an outlier (one ×3 iteration moves the mean by 7 % at n = 30,
  but the rank statistic by one rank); the p-value is exact for small runs (computed from the exact null
  distribution of U when each side has ≤ 50 samples and there are no ties) and has no resampling noise, so
  the same runs always give the same verdict; and it needs numpy only.

  **The rule** (an indifference-zone design): with a threshold ``t`` (``+5%``), a job's latency *regressed*
  when both

  1. the head is slower with one-sided p ≤ α = 0.01 (statistically real), and
  2. the estimated ratio is at least halfway to the threshold on the log scale: ratio ≥ √(1 + t)
     (+5% → ≥ 1.0247, +10% → ≥ 1.0488, +300% → ≥ 2×); an absolute threshold (``+20`` ms) needs an
     estimated shift ≥ t/2.

  So a gate never fails on a slowdown estimated below half its threshold, fails on a slowdown of the threshold's
  size as often as the noise allows (the power, measured by ``tests/benchmarks/bench_gate.py``), and fails on
  unchanged code at most α of the time. A rule "estimate ≥ 1 + t" would catch a slowdown of exactly t only half
  the time; "significant at all" would fail on a real but irrelevant 0.5 % slowdown measured precisely. The
  mirror image (faster with p ≤ α, ratio ≤ 1/√(1 + t)) is reported as an *improvement*.

  Caveat: the test assumes the iterations are independent; slow drift of a loaded machine within a run breaks
  that, which is why noisy machines need a generous threshold (``harness gate derive`` measures it).

* **Quality metrics** without a confidence interval are deterministic (same seeds, same noise): the change
  is compared with the threshold directly (``psnr: -1e-6``: any drop beyond 1e-6 dB regresses). Metrics that
  carry ``ci95`` (sampled estimates) regress only when the intervals are apart by more than the threshold:
  for a higher-is-better metric, head's upper bound < base's lower bound − t (if only one side has an
  interval, the other is taken as exact). Direction comes from the record's ``higher_is_better``.
* **Memory and single values** (``peak_rss_mib``, ``peak_vram_*``, ``first_call_ms``, ``load_s``,
  ``compile_s``) are compared directly: ``+15%`` regresses when head > base × 1.15.

A job ``ok`` in base and not ``ok`` in head is a regression; jobs present in one run only are reported as
added / removed. Runs whose environments (device, device name, CPU, torch threads, CUDA and driver, Python
minor version, torch / diffusers / onnxruntime / TensorRT versions) or gated metrics' fingerprints differ are
not compared unless the caller allows it.

Thresholds (``gates:``) read ``+N%``, ``-N%``, ``+N``, ``-N`` or ``N``: ``%`` is relative to the base value,
otherwise absolute in the column's unit; the sign says which direction is worse and must agree with the
column's direction; without a sign the direction is the column's own.

The module also writes a run as pytest-benchmark JSON (:func:`to_pytest_benchmark`) and derives thresholds
from repeated runs of the same code (:func:`derive_gates`). No torch, no scipy: ``harness compare`` starts fast.
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import combinations
from pathlib import Path
from typing import Any, Literal
from xml.etree import ElementTree as ET

import numpy as np

from harness.errors import UserInputError
from harness.results import RunStore, comparable_environment, number

ALPHA = 0.01  # one-sided significance level of the latency test
EXACT_MAX = 50  # exact U distribution up to this many samples per side (and no ties); normal beyond
THRESHOLD_HELP = "+N%, -N%, +N, -N or N"
_THRESHOLD_RE = re.compile(r"^\s*([+-])?\s*(\d+(?:\.\d*)?|\.\d+)(?:[eE]([+-]?\d+))?\s*(%)?\s*$")

# Columns measured per iteration: decided on the raw samples.
SAMPLED_COLUMNS = (
    "latency_ms.p50",
    "latency_ms.p90",
    "latency_ms.p99",
    "latency_ms.mean",
    "latency_per_item_ms.p50",
    "throughput",
)
HIGHER_IS_BETTER_COLUMNS = ("throughput",)
MEMORY_COLUMNS = ("peak_rss_mib", "peak_vram_allocated_mib", "peak_vram_reserved_mib", "peak_vram_nvml_mib")
# What must match between two runs for their numbers to be comparable: (label, where it is read).
Verdict = Literal["ok", "regressed", "improved", "n/a"]


# ------------------------------------------------------------------------------------------ thresholds


@dataclass(frozen=True)
class Threshold:
    """One gate: how far a column may move in its worse direction before it is a regression."""

    key: str
    amount: float  # ≥ 0; a fraction when relative (0.05 for 5%)
    relative: bool
    sign: int  # +1: an increase is worse, -1: a decrease is worse, 0: the column's own direction
    text: str

    def worse_sign(self, higher_is_better: bool) -> int:
        """+1 when an increase is worse for this column. Bad input when the sign contradicts the direction."""
        natural = -1 if higher_is_better else 1
        if self.sign and self.sign != natural:
            way = "higher is better" if higher_is_better else "lower is better"
            fix = f"{'-' if natural < 0 else '+'}{self.text.lstrip('+-').strip()}"
            raise UserInputError(
                f"{self.key}: '{self.text}' says {'an increase' if self.sign > 0 else 'a decrease'} "
                f"is worse, but for {self.key} {way} (write '{fix}')"
            )
        if self.relative and natural < 0 and self.amount >= 1:
            raise UserInputError(f"{self.key}: a relative drop of {self.text} cannot happen (below 100%)")
        return natural


def parse_threshold(key: str, value: Any) -> Threshold:
    """``"+10%"``, ``"-0.5"``, ``0.5``, ``-1e-6`` → :class:`Threshold`. ValueError with the allowed forms."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{key}: {value!r} is not a threshold (allowed: {THRESHOLD_HELP})")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(f"{key}: {value!r} is not a threshold (allowed: {THRESHOLD_HELP}, finite)")
        # YAML reads "+0.5" as 0.5: an unsigned number takes the column's direction.
        return Threshold(key, abs(float(value)), False, -1 if value < 0 else 0, _fmt_number(value))
    m = _THRESHOLD_RE.match(value)
    if not m:
        raise ValueError(f"{key}: '{value}' is not a threshold (allowed: {THRESHOLD_HELP})")
    sign_s, digits, exp, pct = m.groups()
    amount = float(digits + (f"e{exp}" if exp else ""))
    if pct:
        amount /= 100.0
    sign = {"+": 1, "-": -1, None: 0}[sign_s]
    return Threshold(key, amount, bool(pct), sign, value.strip())


def parse_gates(
    gates: dict[str, Any],
    allowed: list[str] | None = None,
    *,
    source: str | None = None,
    field_name: str = "gates",
) -> dict[str, Threshold]:
    """Every gate parsed; an unknown column (when ``allowed`` is given) or a bad value is bad input."""
    from harness.registry import did_you_mean

    if not isinstance(gates, dict):
        raise UserInputError(
            f"expected a mapping of column: threshold, got {type(gates).__name__}",
            source=source,
            field=field_name,
        )
    out: dict[str, Threshold] = {}
    for key, value in gates.items():
        if allowed is not None and key not in allowed:
            raise UserInputError(
                f"unknown column '{key}' ({did_you_mean(str(key), allowed)})", source=source, field=field_name
            )
        try:
            out[key] = parse_threshold(str(key), value)
        except ValueError as exc:
            raise UserInputError(str(exc), source=source, field=field_name) from None
    return out


def check_gate_keys(gates: dict[str, Any], metric_names: list[str]) -> None:
    """For Suite validation: keys are speed/memory columns or the suite's metrics; values parse. ValueError."""
    from harness.config import SPEED_COLUMNS
    from harness.registry import did_you_mean

    allowed = [*SPEED_COLUMNS, *metric_names]
    for key, value in gates.items():
        if key not in allowed:
            raise ValueError(f"unknown column '{key}' ({did_you_mean(key, allowed)})")
        parse_threshold(key, value)


def load_gate_file(path: str | Path) -> dict[str, Any]:
    """``gates:`` from a YAML file: a gate file (only ``gates:``) or a suite (its ``gates:``)."""
    from harness.config import read_yaml

    data = read_yaml(path)
    if not isinstance(data, dict) or "gates" not in data:
        raise UserInputError("expected a mapping with 'gates:' (column: threshold)", source=str(path))
    extra = sorted(set(data) - {"gates"})
    if extra and "models" not in data:  # a suite may carry other keys; a gate file may not
        raise UserInputError(f"unknown key '{extra[0]}' (a gate file has only 'gates:')", source=str(path))
    if not isinstance(data["gates"], dict) or not data["gates"]:
        raise UserInputError("gates: expected a non-empty mapping of column: threshold", source=str(path))
    return data["gates"]


def _fmt_number(value: float) -> str:
    return f"{value:+g}" if value < 0 else f"{value:g}"


# ------------------------------------------------------------------------------------ the latency test


@lru_cache(maxsize=64)
def _null_sf(n: int, m: int) -> np.ndarray:
    """P(U ≥ u) for u = 0 … n·m + 1 under H0 (no ties), U = #(head > base) with n head and m base samples.

    Counts orderings with the recurrence on the largest element: a head value there exceeds all j base values
    (adds j to U), a base value adds nothing. Positive sums only, so float64 stays exact to rounding.
    """
    size = n * m + 1
    delta = np.zeros(size)
    delta[0] = 1.0
    prev = [delta] * (m + 1)  # i = 0 head values: U = 0 whatever j
    for _i in range(1, n + 1):
        cur = [delta]
        for j in range(1, m + 1):
            c = cur[j - 1].copy()
            c[j:] += prev[j][: size - j]
            cur.append(c)
        prev = cur
    pmf = prev[m] / prev[m].sum()
    return np.concatenate([np.cumsum(pmf[::-1])[::-1], [0.0]])


def _norm_sf(z: np.ndarray) -> np.ndarray:
    return 0.5 * np.vectorize(math.erfc, otypes=[float])(np.asarray(z, dtype=float) / math.sqrt(2.0))


@dataclass
class ShiftTest:
    """Head − base on the working scale (log for ratios), one value per row of a batch."""

    estimate: np.ndarray  # Hodges–Lehmann: the median of all pairwise differences
    lower: np.ndarray  # one-sided (1 − α) lower confidence bound (−inf when n is too small)
    upper: np.ndarray  # one-sided (1 − α) upper bound; [lower, upper] is a (1 − 2α) interval
    p_higher: np.ndarray  # one-sided p-value that head is higher than base
    p_lower: np.ndarray  # one-sided p-value that head is lower than base
    exact: np.ndarray  # whether the exact U distribution gave the p-values


def shift_test(base: Any, head: Any, *, alpha: float = ALPHA, log: bool = True) -> ShiftTest:
    """Mann–Whitney U in both directions, Hodges–Lehmann shift and Moses bounds, vectorised over rows.

    ``base`` (…, m) and ``head`` (…, n) hold per-iteration samples (rows are independent comparisons).
    With ``log`` the samples must be positive and the shift is a log-ratio.
    """
    b = np.atleast_2d(np.asarray(base, dtype=np.float64))
    h = np.atleast_2d(np.asarray(head, dtype=np.float64))
    if log:
        if (b <= 0).any() or (h <= 0).any():
            raise ValueError("shift_test: log scale needs positive samples")
        b, h = np.log(b), np.log(h)
    m, n = b.shape[-1], h.shape[-1]
    nm = n * m
    d = (h[:, None, :] - b[:, :, None]).reshape(b.shape[0], nm)
    d.sort(axis=1)
    estimate = np.median(d, axis=1)
    u_hi = (d > 0).sum(axis=1) + 0.5 * (d == 0).sum(axis=1)
    u_lo = nm - u_hi

    pooled = np.sort(np.concatenate([b, h], axis=1), axis=1)
    tie_groups = [np.unique(row, return_counts=True)[1] for row in pooled]
    ties = np.array([(t > 1).any() for t in tie_groups])
    tie_term = np.array([float((t**3 - t).sum()) for t in tie_groups])
    big_n = n + m
    var = nm / 12.0 * ((big_n + 1) - tie_term / (big_n * (big_n - 1)))
    sd = np.sqrt(np.maximum(var, 1e-300))
    p_hi = _norm_sf((u_hi - nm / 2.0 - 0.5) / sd)
    p_lo = _norm_sf((u_lo - nm / 2.0 - 0.5) / sd)
    z = statistics.NormalDist().inv_cdf(1.0 - alpha)
    k_norm = math.ceil(nm / 2.0 + 0.5 + z * math.sqrt(nm * (big_n + 1) / 12.0))
    k = k_norm
    exact = np.zeros(b.shape[0], dtype=bool)
    if max(n, m) <= EXACT_MAX:
        sf = _null_sf(n, m)
        exact = ~ties
        p_hi = np.where(exact, sf[np.ceil(u_hi).astype(int)], p_hi)
        p_lo = np.where(exact, sf[np.ceil(u_lo).astype(int)], p_lo)
        reach = np.nonzero(sf[: nm + 1] <= alpha)[0]
        k = int(reach[0]) if reach.size else nm + 1
    # #(d > L) ≥ k ⇔ L < the k-th largest difference: the bound that the test at level α just rejects.
    if 1 <= k <= nm:
        lower, upper = d[:, nm - k], d[:, k - 1]
    else:
        lower = np.full(b.shape[0], -np.inf)
        upper = np.full(b.shape[0], np.inf)
    return ShiftTest(estimate, lower, upper, np.minimum(p_hi, 1.0), np.minimum(p_lo, 1.0), exact)


def latency_rule(
    test: ShiftTest,
    threshold: float,
    *,
    relative: bool = True,
    alpha: float = ALPHA,
    higher_is_worse: bool = True,
) -> np.ndarray:
    """+1 regressed, −1 improved, 0 neither, per row (the rule is in the module docstring).

    ``threshold`` is the size of a regression in the worse direction: a fraction when ``relative`` (the test's
    shift is then a log-ratio), else in the samples' unit. The gate needs p ≤ α and a shift at least halfway
    to the threshold (on the log scale when relative); an improvement is the mirror image.
    """
    if relative:
        bad_ratio = 1.0 + threshold if higher_is_worse else 1.0 - threshold
        half = abs(math.log(bad_ratio)) / 2.0 if bad_ratio > 0 else math.inf
    else:
        half = threshold / 2.0
    s = 1.0 if higher_is_worse else -1.0
    worse_shift = s * test.estimate
    p_worse, p_better = (test.p_higher, test.p_lower) if higher_is_worse else (test.p_lower, test.p_higher)
    worse = (p_worse <= alpha) & (worse_shift >= half)
    better = (p_better <= alpha) & (-worse_shift >= half)
    return np.where(worse, 1, np.where(better, -1, 0))


# ------------------------------------------------------------------------------------------- the runs


@dataclass
class Run:
    path: Path
    meta: dict[str, Any]
    records: dict[str, dict[str, Any]]

    @classmethod
    def open(cls, path: str | Path) -> Run:
        store = RunStore.open(path)
        records = {r["job_id"]: r for r in store.records() if r.get("job_id")}
        return cls(store.path, store.meta(), records)

    @property
    def name(self) -> str:
        return self.meta.get("run_id") or self.path.name

    def suite_gates(self) -> dict[str, Any]:
        return (self.meta.get("suite") or {}).get("gates") or {}

    def device_environment(self) -> dict[str, Any]:
        env = self.meta.get("device_environment")
        if env:
            return env
        for r in self.records.values():
            if r.get("environment"):
                return r["environment"]
        return {}


def label_of(record: dict[str, Any]) -> str:
    return f"{record.get('model')} / {record.get('variant')} / {record.get('backend')}"


def environment_differences(base: Run, head: Run) -> list[str]:
    """``label a → b`` for each field of :func:`harness.results.comparable_environment` that differs."""
    a_env = comparable_environment(base.meta, list(base.records.values()))
    b_env = comparable_environment(head.meta, list(head.records.values()))
    out = []
    for label, a in a_env.items():
        b = b_env[label]
        if label == "cpu" and (a_env["device name"], b_env["device name"]) == (a, b):
            continue  # on a CPU the device name is the CPU's: say it once
        if a != b:
            out.append(f"{label} {a} → {b}")
    return out


def baseline_key(run: Run) -> str:
    """A baseline's folder name in a folder of baselines: the kind of machine and software it can judge."""
    env = comparable_environment(run.meta, list(run.records.values()))
    parts = [env["device"], env["device name"], f"torch{env['torch']}", f"{env['torch threads']}t"]
    slug = re.sub(r"[^a-z0-9.]+", "-", " ".join(str(p) for p in parts if p is not None).lower())
    return re.sub(r"\((r|tm)\)", "", slug).strip("-.") or "baseline"


def baselines_in(folder: Path) -> list[Path]:
    """The runs of a folder of baselines (sorted), or [] when ``folder`` is itself a run."""
    if (folder / "run.json").is_file() or not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if (p / "run.json").is_file())


def open_baseline(path: str | Path, head: Run, *, allow_mismatch: bool = False) -> Run:
    """BASE for HEAD: the run folder itself, or in a folder of baselines the one whose environment matches
    HEAD's. None matching: :class:`NotComparable` with the nearest one's differences (or, with
    ``allow_mismatch``, that nearest one)."""
    path = Path(path)
    candidates = baselines_in(path)
    if not candidates:
        return Run.open(path)
    runs = [Run.open(p) for p in candidates]
    diffs = [environment_differences(r, head) for r in runs]
    nearest = min(range(len(runs)), key=lambda i: len(diffs[i]))
    if not diffs[nearest] or allow_mismatch:
        return runs[nearest]
    raise NotComparable(
        f"none of the {len(runs)} baselines matches this machine; nearest {candidates[nearest].name}: "
        f"{'; '.join(diffs[nearest])} (pass --allow-mismatch to compare with it anyway)",
        source=str(path),
        differences=[f"nearest baseline {candidates[nearest].name}: {d}" for d in diffs[nearest]],
    )


def record_baseline(run_dir: str | Path, folder: str | Path) -> tuple[Path, list[Path]]:
    """Copy a run's run.json and records.jsonl into ``folder/<baseline_key>/``, replacing any baseline there
    that is comparable with it (the same kind of machine re-recorded). Returns (new folder, replaced)."""
    import shutil

    run, folder = Run.open(run_dir), Path(folder)
    if (folder / "run.json").is_file():
        raise UserInputError(
            "holds a single run; move it into a subfolder (a folder of baselines has one per machine)",
            source=str(folder),
        )
    replaced = [p for p in baselines_in(folder) if not environment_differences(Run.open(p), run)]
    for p in replaced:
        shutil.rmtree(p)
    dest = folder / baseline_key(run)
    if dest.exists():  # the same name for another environment (e.g. another Python): keep both
        dest = folder / f"{dest.name}-{run.name}"
        shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    for name in ("run.json", "records.jsonl"):
        shutil.copy2(run.path / name, dest / name)
    return dest, replaced


def fingerprint_differences(base: Run, head: Run, keys: list[str]) -> list[str]:
    seen: dict[str, tuple[str, str]] = {}
    for jid in sorted(set(base.records) & set(head.records)):
        bm = base.records[jid].get("metrics") or {}
        hm = head.records[jid].get("metrics") or {}
        for key in keys:
            fa, fb = (bm.get(key) or {}).get("fingerprint"), (hm.get(key) or {}).get("fingerprint")
            if fa and fb and fa != fb:
                seen.setdefault(key, (fa, fb))
    return [f"metric {k} fingerprint {a} → {b}" for k, (a, b) in seen.items()]


# ------------------------------------------------------------------------------------------- checking


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
    method: str = ""  # "mann-whitney", "direct", "ci-gap", "summary"

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class JobResult:
    job_id: str
    label: str
    status: Literal["compared", "added", "removed", "failed", "fixed", "failing"]
    note: str = ""
    checks: list[Check] = field(default_factory=list)

    @property
    def regressions(self) -> int:
        return int(self.status == "failed") + sum(c.verdict == "regressed" for c in self.checks)

    @property
    def improvements(self) -> int:
        return sum(c.verdict == "improved" for c in self.checks)


@dataclass
class Comparison:
    base: Run
    head: Run
    gates: dict[str, Threshold]
    gate_source: str
    differences: list[str]
    jobs: list[JobResult]

    @property
    def base_label(self) -> str:
        """The base run's name in Markdown; when it was picked from a folder of baselines, also which one."""
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

    def count(self, status: str) -> int:
        return sum(j.status == status for j in self.jobs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": str(self.base.path),
            "head": str(self.head.path),
            "gates": {k: t.text for k, t in self.gates.items()},
            "gate_source": self.gate_source,
            "differences": self.differences,
            "regressions": self.regressions,
            "improvements": self.improvements,
            "passed": self.regressions == 0,
            "alpha": ALPHA,
            "jobs": [
                {
                    "job_id": j.job_id,
                    "label": j.label,
                    "status": j.status,
                    "note": j.note,
                    "checks": [c.to_dict() for c in j.checks],
                }
                for j in self.jobs
            ],
        }


def _column(record: dict[str, Any], key: str) -> tuple[float | None, dict[str, Any] | None]:
    """(value, metric dict or None) of one gated column of a record."""
    from harness.results import flatten

    metrics = record.get("metrics") or {}
    if key in metrics:
        mv = metrics[key] or {}
        return (number(mv.get("value")) if mv.get("status") == "ok" else None), mv
    return flatten(record).get(key), None


def _samples_of(record: dict[str, Any], key: str) -> np.ndarray | None:
    """Per-iteration values of a sampled column, in its own unit; None when the record has no samples."""
    raw = (record.get("latency_ms") or {}).get("samples")
    if not raw or len(raw) < 2:
        return None
    lat = np.asarray([number(v) for v in raw], dtype=np.float64)
    if not np.isfinite(lat).all() or (lat <= 0).any():
        return None
    if key == "latency_per_item_ms.p50":
        return lat / max(int(record.get("batch_size") or 1), 1)
    if key == "throughput":
        per_call = number((record.get("throughput") or {}).get("per_call"))
        return (per_call or 1.0) * 1000.0 / lat
    return lat


def _statistic(x: np.ndarray, key: str) -> float:
    if key.endswith(".p90"):
        return float(np.percentile(x, 90))
    if key.endswith(".p99"):
        return float(np.percentile(x, 99))
    if key.endswith(".mean"):
        return float(np.mean(x))
    return float(np.median(x))


def _fmt(v: float | None) -> str:
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


def _check_sampled(key: str, thr: Threshold, b_rec: dict[str, Any], h_rec: dict[str, Any]) -> Check | None:
    bs, hs = _samples_of(b_rec, key), _samples_of(h_rec, key)
    if bs is None or hs is None:
        return None
    higher_is_better = key in HIGHER_IS_BETTER_COLUMNS
    worse = thr.worse_sign(higher_is_better)
    test = shift_test(bs, hs, log=thr.relative)
    b_val, h_val = _statistic(bs, key), _statistic(hs, key)
    # p50, mean and throughput: the HL shift of the whole distribution; p90/p99: their own ratio or difference.
    if key.endswith((".p90", ".p99")):
        est = math.log(h_val / b_val) if thr.relative else h_val - b_val
        test.estimate = np.array([est])
    verdict = int(latency_rule(test, thr.amount, relative=thr.relative, higher_is_worse=worse > 0)[0])
    est, lo, hi = float(test.estimate[0]), float(test.lower[0]), float(test.upper[0])
    if thr.relative:
        change = f"×{math.exp(est):.3f} [{_fmt(math.exp(lo))}, {_fmt(math.exp(hi))}]"
    else:
        change = f"{est:+.4g} [{_fmt(lo)}, {_fmt(hi)}]"
    p_worse = float(test.p_higher[0] if worse > 0 else test.p_lower[0])
    if thr.relative:
        half = math.sqrt(1 + thr.amount) if worse > 0 else math.sqrt(1 - thr.amount)
    else:
        half = worse * thr.amount / 2
    detail = (
        f"{len(bs)} vs {len(hs)} samples; p(worse) = {p_worse:.2g} ({'exact' if test.exact[0] else 'normal'}); "
        f"{1 - 2 * ALPHA:.0%} CI in brackets; needs p ≤ {ALPHA:g} and "
        f"{'ratio' if thr.relative else 'shift'} {'≥' if worse > 0 else '≤'} {half:.4g}"
    )
    return Check(
        key,
        thr.text,
        {1: "regressed", -1: "improved", 0: "ok"}[verdict],
        b_val,
        h_val,
        change,
        detail,
        "mann-whitney",
    )


def _change_text(b: float, h: float, relative: bool) -> str:
    if b == h:
        return "="
    if relative:
        if b == 0:
            return "+∞%" if h > b else "-∞%"
        return f"{(h / b - 1) * 100:+.2f}%"
    return f"{h - b:+.4g}"


def _check_direct(
    key: str,
    thr: Threshold,
    b: float | None,
    h: float | None,
    higher_is_better: bool,
    b_ci: list[Any] | None = None,
    h_ci: list[Any] | None = None,
) -> Check:
    worse = thr.worse_sign(higher_is_better)
    if b is None or h is None:
        which = "base" if b is None else "head"
        return Check(key, thr.text, "n/a", b, h, "", f"no value in {which}", "direct")
    if math.isnan(b) or math.isnan(h):
        if math.isnan(h) and not math.isnan(b):
            return Check(key, thr.text, "regressed", b, h, "→ NaN", "head value is NaN", "direct")
        return Check(
            key,
            thr.text,
            "n/a" if math.isnan(b) and math.isnan(h) else "improved",
            b,
            h,
            "",
            "NaN in base",
            "direct",
        )
    limit = thr.amount * abs(b) if thr.relative else thr.amount
    if b_ci or h_ci:
        # Sampled estimates: the intervals must be apart by more than the threshold.
        b_lo, b_hi = (number(b_ci[0]), number(b_ci[1])) if b_ci else (b, b)
        h_lo, h_hi = (number(h_ci[0]), number(h_ci[1])) if h_ci else (h, h)
        if worse > 0:
            gap_worse, gap_better = h_lo - b_hi, b_lo - h_hi
        else:
            gap_worse, gap_better = b_lo - h_hi, h_lo - b_hi
        verdict: Verdict = "regressed" if gap_worse > limit else ("improved" if gap_better > limit else "ok")
        detail = f"95% CIs base [{_fmt(b_lo)}, {_fmt(b_hi)}] head [{_fmt(h_lo)}, {_fmt(h_hi)}]; regressed if apart by > {limit:.4g}"
        return Check(key, thr.text, verdict, b, h, _change_text(b, h, thr.relative), detail, "ci-gap")
    if b == h:  # equal infinities included (PSNR of identical outputs)
        delta = 0.0
    elif math.isinf(b) or math.isinf(h):
        delta = math.inf if h > b else -math.inf
    else:
        delta = h - b
    verdict = "regressed" if worse * delta > limit else ("improved" if -worse * delta > limit else "ok")
    detail = f"regressed if {'above' if worse > 0 else 'below'} {_fmt(b + worse * limit) if math.isfinite(b) else _fmt(b)}"
    return Check(key, thr.text, verdict, b, h, _change_text(b, h, thr.relative), detail, "direct")


def check_job(b_rec: dict[str, Any], h_rec: dict[str, Any], gates: dict[str, Threshold]) -> list[Check]:
    checks = []
    for key, thr in gates.items():
        if key in SAMPLED_COLUMNS:
            c = _check_sampled(key, thr, b_rec, h_rec)
            if c is None:  # old records without samples: the summaries, without statistics
                b, _ = _column(b_rec, key)
                h, _ = _column(h_rec, key)
                c = _check_direct(key, thr, b, h, key in HIGHER_IS_BETTER_COLUMNS)
                c.method, c.detail = "summary", (c.detail + "; no per-iteration samples").lstrip("; ")
            checks.append(c)
            continue
        b, bm = _column(b_rec, key)
        h, hm = _column(h_rec, key)
        if bm is not None or hm is not None:
            hib = bool((bm or hm or {}).get("higher_is_better", True))
            b_ci = (bm or {}).get("ci95") if b is not None else None
            h_ci = (hm or {}).get("ci95") if h is not None else None
            c = _check_direct(key, thr, b, h, hib, b_ci, h_ci)
            if c.verdict == "n/a" and (bm or hm or {}).get("status") == "skipped":
                c.detail = (bm or hm or {}).get("reason") or c.detail
        else:
            c = _check_direct(key, thr, b, h, False)
        checks.append(c)
    return checks


def known_columns(base: Run, head: Run) -> list[str]:
    from harness.config import SPEED_COLUMNS

    names: set[str] = set()
    for run in (base, head):
        for r in run.records.values():
            names.update((r.get("metrics") or {}).keys())
        for m in (run.meta.get("suite") or {}).get("metrics") or []:
            names.add(m if isinstance(m, str) else m.get("name"))
    return [*SPEED_COLUMNS, *sorted(n for n in names if n)]


def _higher_is_better(key: str, base: Run, head: Run) -> bool | None:
    """The column's direction: fixed for speed and memory columns, the records' for metrics."""
    from harness.config import SPEED_COLUMNS

    if key in SPEED_COLUMNS:
        return key in HIGHER_IS_BETTER_COLUMNS
    for run in (base, head):
        for r in run.records.values():
            mv = (r.get("metrics") or {}).get(key) or {}
            if mv.get("higher_is_better") is not None:
                return bool(mv["higher_is_better"])
    return None


class NotComparable(UserInputError):
    """The runs' environments or metric fingerprints differ."""

    def __init__(self, message: str, *, source: str, differences: list[str]):
        super().__init__(message, source=source)
        self.differences = differences


def compare_runs(
    base_dir: str | Path,
    head_dir: str | Path,
    gate_file: str | Path | None = None,
    *,
    allow_mismatch: bool = False,
) -> Comparison:
    """Compare HEAD with BASE. Bad input (missing run, bad gates, mismatched environments) raises.
    BASE may be a run folder or a folder of baselines, one per kind of machine (:func:`record_baseline`):
    then the one comparable with HEAD is used."""
    head = Run.open(head_dir)
    base = open_baseline(base_dir, head, allow_mismatch=allow_mismatch)
    if gate_file is not None:
        raw, source = load_gate_file(gate_file), str(gate_file)
    elif head.suite_gates():
        raw, source = head.suite_gates(), f"{head.path}/run.json: suite.gates"
    elif base.suite_gates():
        raw, source = base.suite_gates(), f"{base.path}/run.json: suite.gates"
    else:
        raise UserInputError("no gates: pass --gate FILE or add 'gates:' to the suite", source=str(head.path))
    gates = parse_gates(raw, known_columns(base, head), source=source)
    for key, thr in gates.items():  # a sign against the column's direction is bad input, before any output
        hib = _higher_is_better(key, base, head)
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
    jobs: list[JobResult] = []
    order = list(base.records) + [j for j in head.records if j not in base.records]
    for jid in order:
        b_rec, h_rec = base.records.get(jid), head.records.get(jid)
        rec = h_rec or b_rec or {}
        label = label_of(rec)
        if h_rec is None:
            jobs.append(JobResult(jid, label, "removed", "only in base"))
            continue
        if b_rec is None:
            jobs.append(JobResult(jid, label, "added", "only in head"))
            continue
        b_ok, h_ok = b_rec.get("status") == "ok", h_rec.get("status") == "ok"
        if b_ok and not h_ok:
            e = h_rec.get("error") or {}
            jobs.append(
                JobResult(
                    jid,
                    label,
                    "failed",
                    f"{h_rec.get('status')} in head: {e.get('type')}: {e.get('message')}",
                )
            )
        elif not b_ok and h_ok:
            jobs.append(JobResult(jid, label, "fixed", f"{b_rec.get('status')} in base, ok in head"))
        elif not b_ok and not h_ok:
            jobs.append(JobResult(jid, label, "failing", "not ok in base nor in head"))
        else:
            jobs.append(JobResult(jid, label, "compared", "", check_job(b_rec, h_rec, gates)))
    return Comparison(base, head, gates, source, diffs, jobs)


# -------------------------------------------------------------------------------------------- outputs

_MARK = {"regressed": "❌", "improved": "🟢", "ok": "✅", "n/a": ""}
_STATUS = {
    "compared": "ok",
    "added": "added",
    "removed": "removed",
    "failed": "❌ failed in head",
    "fixed": "fixed",
    "failing": "failing in both",
}


def to_markdown(cmp: Comparison) -> str:
    suite = (cmp.head.meta.get("suite") or {}).get("name") or ""
    lines = [
        f"### harness compare{f': {suite}' if suite else ''} — {cmp.base_label} → `{cmp.head.name}`",
        "",
    ]
    n_reg, n_imp = cmp.regressions, cmp.improvements
    verdict = f"**FAIL: {n_reg} regression{'s' * (n_reg != 1)}**" if n_reg else "**PASS: no regression**"
    lines.append(
        f"{verdict} · {n_imp} improvement{'s' * (n_imp != 1)} · {cmp.count('added')} job(s) added · "
        f"{cmp.count('removed')} removed · gates from {cmp.gate_source}"
    )
    if cmp.differences:
        lines += ["", f"> ⚠️ compared despite differences (--allow-mismatch): {'; '.join(cmp.differences)}"]
    keys = list(cmp.gates)
    lines += [
        "",
        "| job | status | " + " | ".join(f"{k} ({cmp.gates[k].text})" for k in keys) + " |",
        "|---|---|" + "---|" * len(keys),
    ]
    for j in cmp.jobs:
        by_key = {c.key: c for c in j.checks}
        cells = []
        for k in keys:
            c = by_key.get(k)
            if c is None or c.verdict == "n/a":
                cells.append("–")
                continue
            arrow = f"{_fmt(c.base)} → {_fmt(c.head)}"
            cells.append(f"{_MARK[c.verdict]} {arrow} ({c.change})".strip())
        status = _STATUS[j.status] + (f": {j.note}" if j.status in ("failed",) else "")
        lines.append(f"| {j.label} | {status.replace('|', '/')} | " + " | ".join(cells) + " |")
    legend = "❌ regression · 🟢 improvement · ✅ within the gate."
    if any(k in SAMPLED_COLUMNS for k in keys):
        legend += (
            f" Latency: Mann–Whitney U on the raw samples (one-sided α = {ALPHA:g}) and the Hodges–Lehmann "
            f"ratio with its {1 - 2 * ALPHA:.0%} interval; a regression needs p ≤ {ALPHA:g} and a ratio ≥ "
            "√(1 + threshold)."
        )
    lines += ["", legend + " Quality and memory: compared directly.", ""]
    return "\n".join(lines)


def to_junit(cmp: Comparison) -> str:
    """JUnit XML: one testcase per job × gated column (and one ``status`` case per job); regressions fail."""
    suite_name = (cmp.head.meta.get("suite") or {}).get("name") or "runs"
    cases: list[ET.Element] = []
    failures = skipped = 0
    for j in cmp.jobs:
        cls = f"{suite_name}.{j.label.replace(' / ', '.')}"
        st = ET.Element("testcase", classname=cls, name="status", time="0")
        if j.status == "failed":
            failures += 1
            ET.SubElement(st, "failure", message=j.note, type="JobFailed").text = j.note
        elif j.status in ("added", "removed", "failing"):
            skipped += 1
            ET.SubElement(st, "skipped", message=f"{j.status}: {j.note}")
        cases.append(st)
        for c in j.checks:
            tc = ET.Element("testcase", classname=cls, name=c.key, time="0")
            text = f"{_fmt(c.base)} → {_fmt(c.head)} ({c.change}); gate {c.threshold}; {c.detail}"
            if c.verdict == "regressed":
                failures += 1
                ET.SubElement(
                    tc,
                    "failure",
                    message=f"{c.key} regressed: {_fmt(c.base)} → {_fmt(c.head)} "
                    f"({c.change}), gate {c.threshold}",
                    type="Regression",
                ).text = text
            elif c.verdict == "n/a":
                skipped += 1
                ET.SubElement(tc, "skipped", message=c.detail or "no value")
            else:
                ET.SubElement(tc, "system-out").text = f"{c.verdict}: {text}"
            cases.append(tc)
    ts = ET.Element(
        "testsuite",
        name=f"harness compare {suite_name}",
        tests=str(len(cases)),
        failures=str(failures),
        errors="0",
        skipped=str(skipped),
        time="0",
    )
    ts.extend(cases)
    root = ET.Element(
        "testsuites",
        name="harness compare",
        tests=str(len(cases)),
        failures=str(failures),
        errors="0",
        skipped=str(skipped),
        time="0",
    )
    root.append(ts)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# ------------------------------------------------------------------------------ pytest-benchmark JSON


def _quartiles(data: list[float]) -> tuple[float, float]:
    """Q1, Q3 as pytest-benchmark computes them (Wikipedia methods 2 and 3), so its tables agree."""
    s, n = sorted(data), len(data)
    if n == 1:
        return s[0], s[0]
    if n % 2:
        k, q = n // 4, n % 4
        if q == 1:
            return 0.25 * s[k - 1] + 0.75 * s[k], 0.75 * s[3 * k] + 0.25 * s[3 * k + 1]
        return 0.75 * s[k] + 0.25 * s[k + 1], 0.25 * s[3 * k + 1] + 0.75 * s[3 * k + 2]
    return statistics.median(s[: n // 2]), statistics.median(s[n // 2 :])


def benchmark_stats(seconds: list[float]) -> dict[str, Any]:
    """pytest-benchmark's ``stats`` of per-round times in seconds (same fields, same formulas)."""
    from bisect import bisect_left, bisect_right

    data = [float(x) for x in seconds]
    s = sorted(data)
    mean = statistics.mean(data)
    stddev = statistics.stdev(data) if len(data) > 1 else 0.0
    q1, q3 = _quartiles(data)
    iqr = q3 - q1
    if len(data) == 1:
        ld, hd = data[0], data[0]
    else:
        ld = s[bisect_left(s, q1 - 1.5 * iqr)]
        hd = s[bisect_right(s, q3 + 1.5 * iqr) - 1]
    sd_out = sum(1 for v in data if v < mean - stddev or v > mean + stddev)
    iqr_out = sum(1 for v in data if v < q1 - 1.5 * iqr or v > q3 + 1.5 * iqr)
    total = sum(data)
    return {
        "min": s[0],
        "max": s[-1],
        "mean": mean,
        "stddev": stddev,
        "rounds": len(data),
        "median": statistics.median(data),
        "iqr": iqr,
        "q1": q1,
        "q3": q3,
        "iqr_outliers": iqr_out,
        "stddev_outliers": sd_out,
        "outliers": f"{sd_out};{iqr_out}",
        "ld15iqr": ld,
        "hd15iqr": hd,
        "ops": len(data) / total if total else 0,
        "total": total,
        "data": data,
        "iterations": 1,
    }


def to_pytest_benchmark(run_dir: str | Path) -> dict[str, Any]:
    """A run as the JSON ``pytest --benchmark-json`` writes: one benchmark per ok job, times in seconds."""
    from importlib import metadata

    run = Run.open(run_dir)
    env = run.meta.get("environment") or {}
    dev = run.device_environment()
    suite = run.meta.get("suite") or {}
    commit = env.get("harness_commit") or ""
    plat = env.get("platform") or ""
    machine_info = {
        "node": env.get("node") or "",
        "processor": env.get("cpu") or "",
        "machine": next((p for p in ("x86_64", "aarch64", "arm64", "AMD64") if p in plat), ""),
        "python_compiler": "",
        "python_implementation": "CPython",
        "python_implementation_version": env.get("python") or "",
        "python_version": env.get("python") or "",
        "python_build": ["", ""],
        "release": "",
        "system": plat.split("-")[0] if plat else "",
        "cpu": {"brand_raw": env.get("cpu") or "", "count": env.get("cpu_count")},
        "harness": {
            "device": run.meta.get("device"),
            "device_name": dev.get("device_name"),
            "torch_threads": dev.get("torch_threads"),
            "cuda": dev.get("cuda"),
            "packages": env.get("packages") or {},
        },
    }
    commit_info = {
        "id": commit.removesuffix("-dirty") or "unversioned",
        "time": None,
        "author_time": None,
        "dirty": commit.endswith("-dirty"),
        "project": "harness",
        "branch": "(unknown)",
    }
    measurement = suite.get("measurement") or {}
    device = run.meta.get("device") or ""
    benchmarks = []
    started = None
    for r in run.records.values():
        started = started or r.get("started_at")
        samples = (r.get("latency_ms") or {}).get("samples")
        if r.get("status") != "ok" or not samples:
            continue
        name = f"{r.get('model')}/{r.get('variant')}/{r.get('backend')}"
        benchmarks.append(
            {
                "group": f"{r.get('suite') or suite.get('name')}/{r.get('model')}",
                "name": name,
                "fullname": f"{r.get('suite') or suite.get('name')}::{name}",
                "params": None,
                "param": None,
                "extra_info": {
                    "job_id": r.get("job_id"),
                    "precision": r.get("precision"),
                    "batch_size": r.get("batch_size"),
                    "device": r.get("device"),
                    "throughput": (r.get("throughput") or {}).get("value"),
                    "throughput_unit": (r.get("throughput") or {}).get("unit"),
                    "peak_rss_mib": (r.get("memory") or {}).get("peak_rss_mib"),
                    "first_call_ms": r.get("first_call_ms"),
                    "compile_s": r.get("compile_s"),
                    "metrics": {
                        k: v.get("value")
                        for k, v in (r.get("metrics") or {}).items()
                        if v.get("status") == "ok"
                    },
                },
                "options": {
                    "disable_gc": False,
                    "timer": "cuda_event" if device.startswith("cuda") else "perf_counter",
                    "min_rounds": measurement.get("min_iterations"),
                    "max_time": None,
                    "min_time": measurement.get("min_duration_s"),
                    "precision": None,
                    "confidence": None,
                    "warmup": bool(measurement.get("warmup")),
                },
                "stats": benchmark_stats([number(v) / 1000.0 for v in samples]),
            }
        )
    try:
        version = metadata.version("pytest-benchmark")
    except metadata.PackageNotFoundError:
        version = "5.1.0"  # the format written; pytest-benchmark is not installed here
    return {
        "machine_info": machine_info,
        "commit_info": commit_info,
        "benchmarks": benchmarks,
        "datetime": _iso(started),
        "version": version,
    }


def _iso(stamp: str | None) -> str:
    from datetime import datetime, timezone

    if stamp:
        try:
            return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S%z").astimezone(timezone.utc).isoformat()
        except ValueError:
            pass
    return datetime.now(timezone.utc).isoformat()


# ---------------------------------------------------------------------------------- derived thresholds

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
            mem = r.get("memory") or {}
            keys += [k for k in MEMORY_COLUMNS[1:] if mem.get(k) is not None and k not in keys]
            for name, mv in (r.get("metrics") or {}).items():
                if mv.get("status") == "ok" and name not in metrics:
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
    names = {(r.meta.get("suite") or {}).get("name") for r in runs}
    if len(names) > 1:
        raise UserInputError(f"gate derive: runs of different suites ({', '.join(sorted(map(str, names)))})")
    from harness.config import SPEED_COLUMNS

    keys = keys or _default_keys(runs)
    metric_names = {n for r in runs for rec in r.records.values() for n in (rec.get("metrics") or {})}
    unknown = [k_ for k_ in keys if k_ not in SPEED_COLUMNS and k_ not in metric_names]
    if unknown:
        from harness.registry import did_you_mean

        raise UserInputError(
            f"--keys: unknown column '{unknown[0]}' "
            f"({did_you_mean(unknown[0], [*SPEED_COLUMNS, *sorted(metric_names)])})"
        )
    gates: dict[str, str] = {}
    spreads: list[Spread] = []
    for key in keys:
        is_metric = key in metric_names and key not in SPEED_COLUMNS
        relative = not is_metric
        worst, where, hib = 0.0, "", key in HIGHER_IS_BETTER_COLUMNS
        for ra, rb in combinations(runs, 2):
            for jid in set(ra.records) & set(rb.records):
                a, b = ra.records[jid], rb.records[jid]
                if a.get("status") != "ok" or b.get("status") != "ok":
                    continue
                change = _observed_change(key, a, b, relative)
                if is_metric:
                    mv = (a.get("metrics") or {}).get(key) or {}
                    hib = bool(mv.get("higher_is_better", True))
                if change is not None and change > worst:
                    worst, where = change, label_of(a)
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


def _observed_change(key: str, a: dict[str, Any], b: dict[str, Any], relative: bool) -> float | None:
    if key in SAMPLED_COLUMNS:
        sa, sb = _samples_of(a, key), _samples_of(b, key)
        if sa is not None and sb is not None:
            if key.endswith((".p90", ".p99")):
                return abs(math.log(_statistic(sb, key) / _statistic(sa, key)))
            return abs(float(shift_test(sa, sb).estimate[0]))
    va, _ = _column(a, key)
    vb, _ = _column(b, key)
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


__all__ = [
    "ALPHA",
    "Comparison",
    "Threshold",
    "compare_runs",
    "derive_gates",
    "latency_rule",
    "parse_threshold",
    "shift_test",
    "to_junit",
    "to_markdown",
    "to_pytest_benchmark",
]

"""A generator as MLPerf LoadGen's system under test (SUT), and one LoadGen test run.

LoadGen (``mlcommons-loadgen``, ``import mlperf_loadgen``) issues the queries — every sample at once in
Offline, Poisson arrivals at ``target_qps`` from its seeded schedule in Server, one after another in
SingleStream — and measures each query's latency from issue to completion, queueing included. The SUT here:

* the **query sample library** is the workload's items: sample ``i`` is item ``i`` of the job (seed
  ``seed + i``, its prompt or class label), as in the quality pass;
* a **dynamic batcher** on its own thread takes the queries in arrival order, waits up to ``max_wait_ms``
  after the first one for more (up to ``max_batch``), runs one ``generate`` call for the batch and releases
  every query of it as soon as the batch completes (``QuerySamplesComplete``);
* LoadGen's own logs (``mlperf_log_summary.txt``, ``mlperf_log_detail.txt``) are kept in the job's folder,
  and the results are read from the detail log's ``:::MLLOG`` lines.
"""

from __future__ import annotations

import json
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# LoadGen result keys of mlperf_log_detail.txt → our names.
DETAIL_KEYS = {
    "result_scheduled_samples_per_sec": "scheduled_qps",
    "result_completed_samples_per_sec": "completed_qps",
    "result_samples_per_second": "samples_per_s",
    "result_validity": "validity",
    "result_perf_constraints_met": "perf_constraints_met",
    "result_min_duration_met": "min_duration_met",
    "result_min_queries_met": "min_queries_met",
    "early_stopping_met": "early_stopping_met",
    "result_mean_latency_ns": "mean_ns",
    "result_min_latency_ns": "min_ns",
    "result_max_latency_ns": "max_ns",
    "result_50.00_percentile_latency_ns": "p50_ns",
    "result_90.00_percentile_latency_ns": "p90_ns",
    "result_99.00_percentile_latency_ns": "p99_ns",
    "result_query_count": "queries",
    "early_stopping_result": "early_stopping_result",
    "early_stopping_latency_ss": "early_stopping_ss_ns",  # SingleStream: its estimate of the percentile
    "result_overlatency_query_count": "over_bound",  # Server: queries whose latency passed the bound
}
MIN_DURATION_REASON = "ran less than min_duration_s"
KEEP_LOGS = ("mlperf_log_summary.txt", "mlperf_log_detail.txt")


@dataclass
class LoadgenSettings:
    """One LoadGen test: the scenario and LoadGen's own settings (names as in LoadGen's TestSettings)."""

    scenario: str  # "single_stream" | "offline" | "server"
    max_batch: int = 1
    max_wait_ms: float = 0.0
    target_qps: float | None = None
    latency_bound_ms: float | None = None
    percentile: float = 99.0
    min_queries: int = 100
    min_duration_s: float = 10.0
    max_duration_s: float | None = None
    seed: int = 0
    expected_qps: float | None = None  # Offline: LoadGen sizes the query from it
    trace: bool = False  # keep LoadGen's per-sample schedule and latencies (its trace log) in the result
    mlperf_model: str | None = None  # start from LoadGen's built-in mlperf.conf for this benchmark
    explicit: tuple[str, ...] = ()  # with mlperf_model: the settings given by the suite, which override it


@dataclass
class EarlyStopping:
    """LoadGen's early-stopping test of one run, as its detail log gives it.

    LoadGen asks whether the run's queries bound the percentile at 99 % confidence (a binomial test; its
    ``early_stopping.cc``). SingleStream: with ``n`` queries it discards the ``t - 1`` slowest that the test
    allows and reports the next one as its *estimate* of the percentile; it needs at least 662 queries for a
    p99 (64 for a p90). Server: a test, not an estimate: with ``t`` queries over the latency bound the run
    passes when it has at least ``h(t) + t`` queries (p99: 459 with none over, 662 with one, 838 with two)."""

    met: bool | None
    percentile: float
    estimate_ms: float | None = None  # SingleStream: LoadGen's early-stopping estimate of the percentile
    over_bound: int | None = None  # Server: queries whose latency passed the bound
    queries_needed: int | None = None  # when not met: the queries LoadGen says the run would have needed
    text: list[str] = field(default_factory=list)  # LoadGen's own words ("Early Stopping Result")


@dataclass
class LoadgenResult:
    """What one LoadGen run measured (latencies in ms), and LoadGen's verdict with its reasons."""

    scenario: str
    target_qps: float | None
    scheduled_qps: float | None
    completed_qps: float | None
    samples_per_s: float | None
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    mean_ms: float | None
    min_ms: float | None
    max_ms: float | None
    queries: int | None
    valid: bool
    meets_bound: bool | None
    reasons: list[str] = field(default_factory=list)
    early_stopping: EarlyStopping | None = None  # None in Offline (LoadGen has no such test there)
    batches: int = 0
    mean_batch: float | None = None
    duration_s: float = 0.0
    logs: list[str] = field(default_factory=list)  # paths of LoadGen's summary and detail logs
    settings: dict[str, Any] = field(default_factory=dict)
    # arrivals (s) and served batches (start, end, size) on perf_counter's clock: for checks, not the record
    trace: dict[str, Any] | None = field(default=None, repr=False)


def loadgen_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("mlcommons-loadgen")
    except metadata.PackageNotFoundError:
        return None


def require_loadgen() -> Any:
    try:
        import mlperf_loadgen
    except ImportError as exc:
        from harness.core.errors import HarnessError

        raise HarnessError(
            f"MLPerf LoadGen is not installed ({exc}): pip install 'mlcommons-loadgen' (in the run extra)"
        ) from None
    return mlperf_loadgen


class Batcher:
    """Runs ``generate(indices)`` for batches of queued LoadGen samples and completes them.

    The batcher runs on the calling (main) thread and LoadGen on a thread of its own: PyTorch called from a
    secondary thread ran the zoo's UNet 1.5–2× slower here (its intra-op pool is the main thread's), so the
    model runs where the timed loop ran it."""

    def __init__(self, lg: Any, generate: Callable[[list[int]], Any], max_batch: int, max_wait_ms: float):
        self.lg, self.generate = lg, generate
        self.max_batch, self.max_wait = max_batch, max_wait_ms / 1000.0
        self.q: queue.Queue[Any] = queue.Queue()
        self.batches: list[int] = []
        self.error: BaseException | None = None
        # What happened, for checking the queue against theory: when each sample arrived, and each batch's
        # (start, end, size) on perf_counter's clock.
        self.arrivals: list[float] = []
        self.served: list[tuple[float, float, int]] = []

    def issue(self, samples: list[Any]) -> None:  # LoadGen's thread: hand over and return at once
        now = time.perf_counter()
        for s in samples:
            self.arrivals.append(now)
            self.q.put(s)

    def stop(self) -> None:
        self.q.put(None)

    def run(self) -> None:
        """Serve until :meth:`stop` (called when LoadGen's test returns)."""
        while True:
            first = self.q.get()
            if first is None:
                return
            batch = [first]
            deadline = time.perf_counter() + self.max_wait
            while len(batch) < self.max_batch:
                try:
                    nxt = (
                        self.q.get_nowait()
                        if self.max_wait <= 0
                        else self.q.get(timeout=max(deadline - time.perf_counter(), 0.0))
                    )
                except queue.Empty:
                    break
                if nxt is None:
                    self.q.put(None)
                    break
                batch.append(nxt)
            t0 = time.perf_counter()
            try:
                if self.error is None:
                    self.generate([s.index for s in batch])
            except BaseException as exc:  # the job fails after LoadGen finishes; queries still complete
                self.error = exc
            self.lg.QuerySamplesComplete([self.lg.QuerySampleResponse(s.id, 0, 0) for s in batch])
            # the server is busy until the responses are handed back: that is part of its service time
            self.served.append((t0, time.perf_counter(), len(batch)))
            self.batches.append(len(batch))


SCENARIO_NAMES = {"single_stream": "SingleStream", "offline": "Offline", "server": "Server"}


def mlperf_settings(model: str, scenario: str) -> Any:
    """LoadGen's TestSettings for an MLPerf benchmark from its built-in mlperf.conf (no user.conf)."""
    import tempfile

    lg = require_loadgen()
    ts = lg.TestSettings()
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as empty:
        ts.FromConfig(empty.name, model, SCENARIO_NAMES[scenario], 0)
    return ts


def _settings(lg: Any, s: LoadgenSettings) -> Any:
    ts = mlperf_settings(s.mlperf_model, s.scenario) if s.mlperf_model else lg.TestSettings()
    ts.scenario = {
        "single_stream": lg.TestScenario.SingleStream,
        "offline": lg.TestScenario.Offline,
        "server": lg.TestScenario.Server,
    }[s.scenario]
    ts.mode = lg.TestMode.PerformanceOnly

    def given(name: str) -> bool:  # with MLPerf's settings, only what the suite gave overrides them
        return not s.mlperf_model or name in s.explicit

    if given("min_queries"):
        ts.min_query_count = int(s.min_queries)
    if given("min_duration_s"):
        ts.min_duration_ms = int(s.min_duration_s * 1000)
    if s.max_duration_s:
        ts.max_duration_ms = int(s.max_duration_s * 1000)
    if given("seed"):
        ts.qsl_rng_seed = ts.sample_index_rng_seed = ts.schedule_rng_seed = int(s.seed)
    if s.scenario == "server":
        ts.server_target_qps = float(s.target_qps or 1.0)
        if given("latency_bound_ms"):
            bound = s.latency_bound_ms if s.latency_bound_ms else 1e9
            ts.server_target_latency_ns = int(bound * 1e6)
        if given("percentile"):
            ts.server_target_latency_percentile = s.percentile / 100.0
    elif s.scenario == "offline":
        ts.offline_expected_qps = float(s.expected_qps or 1.0)
    else:
        ts.single_stream_target_latency_percentile = s.percentile / 100.0
        if s.expected_qps:
            ts.single_stream_expected_latency_ns = int(1e9 / s.expected_qps)
    return ts


def read_trace(path: Path) -> dict[str, list[float]]:
    """LoadGen's own per-sample record from its trace log, in query order: when each sample was scheduled (s,
    from the start), how late LoadGen issued it and its latency from the scheduled time (ms)."""
    # One event per line; LoadGen writes some LogDetail lines with doubled quotes (not JSON): those are
    # skipped, the Sample events are parsed line by line.
    events = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if '"name":"Sample"' not in line:
            continue
        try:
            events.append(json.loads(line.strip().rstrip(",")))
        except json.JSONDecodeError:
            continue
    rows = sorted(
        (
            e["args"]["query_seq"],
            e["ts"] / 1e6,
            e["args"]["issue_start_ns"] / 1e6,
            e["args"]["complete_ns"] / 1e6,
        )
        for e in events
        if e.get("name") == "Sample" and e.get("ph") == "b" and "complete_ns" in e.get("args", {})
    )
    return {
        "scheduled_s": [r[1] for r in rows],
        "issue_delay_ms": [r[2] for r in rows],
        "latency_ms": [r[3] for r in rows],
    }


def read_detail(path: Path) -> dict[str, Any]:
    """LoadGen's results from ``mlperf_log_detail.txt`` (its ``:::MLLOG {json}`` lines), by our names."""
    out: dict[str, Any] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.startswith(":::MLLOG "):
            continue
        try:
            entry = json.loads(line[len(":::MLLOG ") :])
        except json.JSONDecodeError:
            continue
        key = DETAIL_KEYS.get(entry.get("key"))
        if key is not None:
            out[key] = entry.get("value")
    return out


def run_test(
    generate: Callable[[list[int]], Any],
    n_samples: int,
    settings: LoadgenSettings,
    log_dir: Path,
) -> LoadgenResult:
    """One LoadGen performance test of ``generate`` (called with batches of sample indices); its logs go to
    ``log_dir``. Raises what ``generate`` raised (after LoadGen has finished the run)."""
    lg = require_loadgen()
    log_dir.mkdir(parents=True, exist_ok=True)
    batcher = Batcher(lg, generate, settings.max_batch, settings.max_wait_ms)
    sut = lg.ConstructSUT(batcher.issue, lambda: None)
    count = max(int(n_samples), 1)
    qsl = lg.ConstructQSL(count, min(count, 1024), lambda idx: None, lambda idx: None)
    log = lg.LogSettings()
    log.log_output.outdir = str(log_dir)
    log.log_output.copy_summary_to_stdout = False
    log.enable_trace = bool(settings.trace)
    test_error: list[BaseException] = []

    def loadgen_thread() -> None:
        try:
            lg.StartTestWithLogSettings(sut, qsl, _settings(lg, settings), log)
        except BaseException as exc:  # surfaced below, on the caller's thread
            test_error.append(exc)
        finally:
            batcher.stop()

    t0 = time.perf_counter()
    thread = threading.Thread(target=loadgen_thread, name="loadgen", daemon=True)
    thread.start()
    try:
        batcher.run()
    finally:
        thread.join()
        duration = time.perf_counter() - t0
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)
    if test_error:
        raise test_error[0]
    loadgen_samples = read_trace(log_dir / "mlperf_log_trace.json") if settings.trace else None
    for extra in ("mlperf_log_trace.json", "mlperf_log_accuracy.json"):
        (log_dir / extra).unlink(missing_ok=True)  # performance mode: the accuracy log is empty
    if batcher.error is not None:
        raise batcher.error
    d = read_detail(log_dir / "mlperf_log_detail.txt")
    return _result(
        settings,
        d,
        batcher.batches,
        duration,
        [str(p) for p in sorted(log_dir.iterdir()) if p.name in KEEP_LOGS],
        {"arrivals": list(batcher.arrivals), "served": list(batcher.served), "loadgen": loadgen_samples},
    )


def _ms(ns: Any) -> float | None:
    return float(ns) / 1e6 if isinstance(ns, (int, float)) else None


def early_stopping_of(s: LoadgenSettings, d: dict[str, Any]) -> EarlyStopping | None:
    """LoadGen's early-stopping verdict, its estimate and what it says it needed, from the detail log."""
    if s.scenario == "offline":
        return None
    text = [part.strip() for part in str(d.get("early_stopping_result") or "").split(" * ") if part.strip()]
    joined = " ".join(text)
    met = d.get("early_stopping_met")
    queries = d.get("queries")
    needed = None
    more = re.search(r"Would need to run at least (\d+) more queries", joined)  # Server
    if more and isinstance(queries, int):
        needed = queries + int(more.group(1))
    least = re.search(r"Need to process at least (\d+) queries", joined)  # SingleStream
    if least:
        needed = int(least.group(1))
    estimate = _ms(d.get("early_stopping_ss_ns")) if s.scenario == "single_stream" and met else None
    over = d.get("over_bound") if s.scenario == "server" else None
    return EarlyStopping(
        met=met if isinstance(met, bool) else None,
        percentile=s.percentile,
        estimate_ms=estimate if estimate else None,
        over_bound=over if isinstance(over, int) else None,
        queries_needed=needed,
        text=text,
    )


def _early_stopping_reason(es: EarlyStopping | None, queries: Any) -> str:
    what = "early stopping not met"
    if es is None or es.queries_needed is None:
        return f"{what} (too few queries to bound the percentile)"
    over = f", {es.over_bound} over the bound" if es.over_bound is not None else ""
    return (
        f"{what}: {queries} queries{over}; LoadGen needs at least {es.queries_needed} to bound the "
        f"p{es.percentile:g}"
    )


def _result(
    s: LoadgenSettings,
    d: dict[str, Any],
    batches: list[int],
    duration: float,
    logs: list[str],
    trace: dict[str, Any] | None = None,
) -> LoadgenResult:
    es = early_stopping_of(s, d)
    reasons = []
    for key, what in (
        (
            "perf_constraints_met",
            f"p{s.percentile:g} latency over the bound"
            if s.scenario == "server"
            else "performance constraints not met",
        ),
        ("min_duration_met", f"{MIN_DURATION_REASON} ({s.min_duration_s:g} s)"),
        ("min_queries_met", f"fewer queries than min_queries ({s.min_queries})"),
        ("early_stopping_met", _early_stopping_reason(es, d.get("queries"))),
    ):
        if d.get(key) is False:
            reasons.append(what)
    valid = d.get("validity") == "VALID"
    p99 = _ms(d.get("p99_ns"))
    meets = None
    if s.scenario == "server" and s.latency_bound_ms is not None:
        meets = bool(
            p99 is not None
            and d.get("perf_constraints_met") is not False
            and d.get("min_duration_met") is not False
            and d.get("min_queries_met") is not False
        )
    return LoadgenResult(
        scenario=s.scenario,
        target_qps=s.target_qps,
        scheduled_qps=d.get("scheduled_qps"),
        completed_qps=d.get("completed_qps"),
        samples_per_s=d.get("samples_per_s"),
        p50_ms=_ms(d.get("p50_ns")),
        p90_ms=_ms(d.get("p90_ns")),
        p99_ms=p99,
        mean_ms=_ms(d.get("mean_ns")),
        min_ms=_ms(d.get("min_ns")),
        max_ms=_ms(d.get("max_ns")),
        queries=d.get("queries"),
        valid=valid,
        meets_bound=meets,
        reasons=reasons,
        early_stopping=es,
        batches=len(batches),
        mean_batch=sum(batches) / len(batches) if batches else None,
        duration_s=duration,
        logs=logs,
        settings={k: v for k, v in s.__dict__.items() if v is not None},
        trace=trace,
    )

"""MLPerf's rule in the scenarios (#23 item 2): a figure comes only from runs LoadGen calls VALID (its
early-stopping test included) unless the scenario opts out; LoadGen's early-stopping verdict, its estimate and
what it needed are read from its own log and agree with its binomial rule."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

pytest.importorskip("mlperf_loadgen", reason="needs mlcommons-loadgen (the run extra)")

from scipy.stats import binom

from harness.config import ScenarioSpec
from harness.core.errors import LoadgenRunInvalid, MaxQpsNotFound, ScenarioNotMeasured
from harness.results.outcome import scenario_failure
from harness.results.record import ScenarioResult
from harness.scenarios import run as scenario_run
from harness.scenarios.loadgen import LoadgenResult, LoadgenSettings, run_test
from harness.scenarios.run import FixedService, run_offline, run_server, run_single_stream


def loadgen_needs(over: int, percentile: float) -> int:
    """The fewest queries with ``over`` of them past the bound that LoadGen's early stopping accepts: the
    smallest n with P(Binomial(n, 1 − percentile) ≤ over) < 1 − 0.99 (its ``early_stopping.cc``: a binomial
    test at 99 % confidence, no tolerance)."""
    lo, hi = over, over + 1  # passes(lo) is False, then find an hi that passes and bisect
    while binom.cdf(over, hi, 1.0 - percentile) >= 0.01:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if binom.cdf(over, mid, 1.0 - percentile) < 0.01 else (mid, hi)
    return hi


def test_the_early_stopping_minimums_are_loadgens():
    """#23 item 2: the query counts the README quotes, from LoadGen's rule: a Server p99 with none over the
    bound needs 459 queries, with one over 662 (SingleStream's p99 minimum), with two 838; a p90, 44 / 64."""
    assert [loadgen_needs(t, 0.99) for t in range(3)] == [459, 662, 838]
    assert [loadgen_needs(t, 0.90) for t in range(2)] == [44, 64]


def _server(tmp_path: Path, queries: int, bound_ms: float, name: str) -> LoadgenResult:
    gen = FixedService(2.0)
    settings = LoadgenSettings(
        "server", target_qps=150.0, latency_bound_ms=bound_ms, min_queries=queries, min_duration_s=0.1
    )
    return run_test(gen, 256, settings, tmp_path / name)


@pytest.mark.slow
def test_server_early_stopping_is_read_from_loadgens_log(tmp_path):
    """#23 item 2: a Server run's early-stopping verdict, its count of queries over the bound and the queries
    LoadGen says it needed are in the result, and agree with LoadGen's binomial rule: 300 queries with none
    over a 1 s bound are INVALID (LoadGen needs 459), 460 are VALID; with a bound most queries miss, the
    count needed is the rule's for that many over."""
    short = _server(tmp_path, 300, 1000.0, "short")
    es = short.early_stopping
    assert (short.valid, short.meets_bound, es.met, es.over_bound) == (False, True, False, 0)
    assert es.queries_needed == loadgen_needs(0, 0.99) == 459 and es.estimate_ms is None
    assert any("Run unsuccessful" in line for line in es.text)
    assert short.reasons == [
        "early stopping not met: 300 queries, 0 over the bound; LoadGen needs at least 459 to bound the p99"
    ]
    enough = _server(tmp_path, 460, 1000.0, "enough")
    assert enough.valid and enough.early_stopping.met and enough.early_stopping.over_bound == 0
    assert enough.early_stopping.queries_needed is None and enough.reasons == []
    missed = _server(tmp_path, 100, 2.05, "missed")  # a 2 ms service: most queries pass 2.05 ms
    es = missed.early_stopping
    assert es.met is False and es.over_bound > 1
    assert es.queries_needed == loadgen_needs(es.over_bound, 0.99)


def test_single_stream_keeps_loadgens_percentile_estimate(tmp_path):
    """#23 item 2: SingleStream needs 662 queries to bound a p99 whatever the latencies (LoadGen's message
    says so and the scenario's reason carries it); from 662 to 837 queries LoadGen discards nothing, so its
    early-stopping estimate of the p99 is the slowest query."""
    gen = FixedService(1.0)
    short = ScenarioSpec(kind="single_stream", loadgen=True, min_queries=300, min_duration_s=0.1)
    out = run_single_stream(gen, 256, short, tmp_path / "short", capacity=lambda b: 1000.0)
    (r,) = out.runs
    assert not r.valid and r.early_stopping.queries_needed == 662 and r.early_stopping.estimate_ms is None
    assert "LoadGen needs at least 662 to bound the p99" in out.reason
    enough = ScenarioSpec(kind="single_stream", loadgen=True, min_queries=700, min_duration_s=0.1)
    (r,) = run_single_stream(gen, 256, enough, tmp_path / "enough", capacity=lambda b: 1000.0).runs
    assert r.valid and r.early_stopping.met and r.queries == 700
    assert r.early_stopping.estimate_ms == pytest.approx(r.max_ms, abs=1e-6)
    assert r.early_stopping.estimate_ms >= r.p99_ms


def test_a_search_with_runs_too_short_to_be_valid_stops_with_the_reason(tmp_path):
    """#23 item 2: validity is required by default; 100 queries can never be VALID at p99 (LoadGen needs 459
    with none over the bound), so the search stops after its first run and says why, and the job's failure
    names it (MaxQpsNotFound)."""
    gen = FixedService(2.0)
    spec = ScenarioSpec(
        kind="server", latency_bound_ms=50.0, min_queries=100, min_duration_s=0.1, search={"max_runs": 5}
    )
    assert spec.require_valid is True
    out = run_server(gen, 256, spec, tmp_path, capacity=lambda b: b / 0.002)
    assert len(out.runs) == 1 and out.runs[0].meets_bound and not out.runs[0].valid
    assert out.max_qps is None
    assert "runs of 100 queries are too short to be VALID" in out.reason and "at least 459" in out.reason
    lg = ScenarioResult(
        name="server",
        kind="server",
        runs=[],
        search=out.search,
        reason=out.reason,
        latency_bound_ms=50.0,
        percentile=99.0,
    )
    failure = scenario_failure(lg, logs="loadgen/j/")
    assert isinstance(failure, MaxQpsNotFound) and "too short to be VALID" in str(failure)
    assert "loadgen/j/" in failure.advice


def _fake_run(valid_below: float, bound_below: float):
    """A stand-in for LoadGen: a run at rate q meets the bound below ``bound_below`` and is VALID below
    ``valid_below`` (as early stopping holds a VALID rate below the percentile's crossing)."""

    def fake(generate, n, settings, log_dir):
        q = settings.target_qps
        return LoadgenResult(
            scenario="server",
            target_qps=q,
            scheduled_qps=q,
            completed_qps=q,
            samples_per_s=None,
            p50_ms=1.0,
            p90_ms=1.0,
            p99_ms=1.0,
            mean_ms=1.0,
            min_ms=1.0,
            max_ms=1.0,
            queries=1000,
            valid=q < valid_below,
            meets_bound=q < bound_below,
            reasons=[] if q < valid_below else ["early stopping not met: 1000 queries, 5 over the bound"],
        )

    return fake


@pytest.mark.parametrize(("require_valid", "lands_in"), [(True, (70.0, 80.0)), (False, (90.0, 100.0))])
def test_max_qps_comes_only_from_valid_runs_unless_the_scenario_opts_out(
    monkeypatch, tmp_path, require_valid, lands_in
):
    """#23 item 2: the search's max_qps is the highest rate of a run that met the bound AND that LoadGen calls
    VALID; ``scenario.require_valid: false`` takes every run that met the bound."""
    monkeypatch.setattr(scenario_run, "run_test", _fake_run(valid_below=80.0, bound_below=100.0))
    spec = ScenarioSpec(
        kind="server",
        latency_bound_ms=10.0,
        min_queries=10,
        min_duration_s=0.0,
        search={"max_runs": 12, "tolerance": 0.01},
        require_valid=require_valid,
    )
    out = run_server(lambda idx: None, 16, spec, tmp_path, capacity=lambda b: 100.0)
    assert lands_in[0] < out.max_qps < lands_in[1], (out.max_qps, out.search)
    chosen = next(r for r in out.runs if r.scheduled_qps == out.max_qps)
    assert chosen.valid is require_valid
    assert out.search["require_valid"] is require_valid and out.search["converged"]
    assert out.search["upper_end"] == "a run that failed"


def test_offline_throughput_comes_only_from_valid_runs(tmp_path, monkeypatch):
    """#23 item 2: an Offline run LoadGen calls INVALID gives no throughput (the reason says why), unless the
    scenario opts out; the failure is ScenarioNotMeasured. A run INVALID only for ending before min_duration_s
    (LoadGen sized its query from a capacity that was too low) is rerun (up to 3 times), sized from what it measured."""
    gen = FixedService(2.0)
    spec = ScenarioSpec(kind="offline", max_batch=2, min_queries=8, min_duration_s=0.3)
    out = run_offline(gen, 64, spec, tmp_path / "resized", capacity=lambda b: 1.0)
    assert [r.valid for r in out.runs] == [False] * (len(out.runs) - 1) + [True] and 2 <= len(out.runs) <= 4
    assert out.throughput == out.runs[-1].samples_per_s
    assert out.runs[0].reasons == ["ran less than min_duration_s (0.3 s)"]

    def invalid(generate, n, settings, log_dir):  # a run INVALID for another reason is not rerun
        r = run_test(generate, n, settings, log_dir)
        r.valid, r.reasons = False, ["performance constraints not met"]
        return r

    monkeypatch.setattr(scenario_run, "run_test", invalid)
    out = run_offline(gen, 64, spec, tmp_path / "invalid", capacity=lambda b: 1000.0)
    assert len(out.runs) == 1 and out.throughput is None
    assert out.reason == "no VALID LoadGen run (performance constraints not met)"
    lg = ScenarioResult(name="offline", kind="offline", reason=out.reason)
    failure = scenario_failure(lg)
    assert type(failure) is ScenarioNotMeasured
    assert str(failure) == "offline: offline.throughput has no value: " + out.reason
    opted_out = ScenarioSpec(
        kind="offline", max_batch=2, min_queries=8, min_duration_s=0.3, require_valid=False
    )
    out = run_offline(gen, 64, opted_out, tmp_path / "accepted", capacity=lambda b: 1000.0)
    assert out.throughput == out.runs[0].samples_per_s and not out.runs[0].valid


def test_a_fixed_rate_run_that_loadgen_calls_invalid_fails_the_job(tmp_path):
    """#23 item 2: Server at a fixed target_qps: its p99 is kept, but a run LoadGen calls INVALID makes the
    job's failure LoadgenRunInvalid (with LoadGen's reasons), unless the scenario opts out."""
    gen = FixedService(2.0)
    spec = ScenarioSpec(kind="server", target_qps=100.0, min_queries=100, min_duration_s=0.1)
    out = run_server(gen, 256, spec, tmp_path, capacity=lambda b: 500.0)
    assert out.p99_ms is not None and "early stopping not met" in out.reason
    runs = [{k: v for k, v in dataclasses.asdict(r).items() if k != "trace"} for r in out.runs]
    lg = ScenarioResult(name="server", kind="server", runs=runs, p99_ms=out.p99_ms, reason=out.reason)
    failure = scenario_failure(lg)
    assert isinstance(
        failure, LoadgenRunInvalid
    ) and "server.p99_ms comes from a run LoadGen calls INVALID" in str(failure)
    assert "scenario.require_valid: false" in failure.advice
    assert scenario_failure(lg.model_copy(update={"require_valid": False})) is None

"""The one rule behind every success (harness.results.outcome): a job, a metric or a verdict counts only
where this run measured a value and it held."""

from __future__ import annotations

import pytest

from harness.core.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK
from harness.results.outcome import Tally, headline, record_shortfalls
from harness.results.record import LoadgenRun, Record, ScenarioResult, parse_record
from tests.gate.gate_helpers import record as raw_record


def _record(**over) -> Record:
    data = raw_record("tiny-sd", "steps-5", seed=1)
    data.update(over)
    return parse_record(data, where="test")


def _server(max_qps, *, valid=True, require_valid=True, reason=None) -> ScenarioResult:
    runs = [
        LoadgenRun(scenario="server", scheduled_qps=10.0, valid=True, meets_bound=True, p99_ms=90.0),
        LoadgenRun(
            scenario="server",
            scheduled_qps=20.0,
            valid=valid,
            meets_bound=True,
            p99_ms=120.0,
            reasons=[] if valid else ["early stopping not met"],
        ),
    ]
    return ScenarioResult(
        name="server",
        kind="server",
        runs=runs,
        max_qps=max_qps,
        p99_ms=120.0 if max_qps else None,
        latency_bound_ms=400.0,
        percentile=99.0,
        search={"runs": 2},
        reason=reason,
        require_valid=require_valid,
    )


def test_a_timed_job_with_its_latency_and_metrics_is_measured():
    rec = _record()
    assert headline(rec).column == "latency_ms.p50" and headline(rec).measured
    assert record_shortfalls(rec) == ([], [])
    tally = Tally.of_records([rec])
    assert (tally.measured, tally.verdict(), tally.exit_code()) == (1, "pass", EXIT_OK)


def test_a_failed_job_is_a_hard_shortfall_with_its_error():
    tally = Tally.of_records(
        [_record(), parse_record(raw_record("a", "b", seed=2, status="failed"), where="t")]
    )
    assert tally.measured == 1 and tally.verdict() == "fail" and tally.exit_code() == EXIT_FAILED
    assert [s.text() for s in tally.shortfalls] == ["a / b / eager: failed: failed: RuntimeError: boom"]


def test_an_ok_server_job_without_max_qps_is_not_measured():
    rec = _record(loadgen=_server(None, reason="no offered rate met the p99 bound").model_dump())
    shortfalls, _ = record_shortfalls(rec)
    assert [(s.kind, s.reason) for s in shortfalls] == [
        ("not_measured", "max_qps has no value (no offered rate met the p99 bound)")
    ]
    assert Tally.of_records([rec]).exit_code() == EXIT_FAILED


def test_max_qps_from_an_invalid_loadgen_run_is_invalid_unless_the_suite_opted_out():
    rec = _record(loadgen=_server(20.0, valid=False).model_dump())
    head = headline(rec)
    assert (head.column, head.value, head.valid) == ("max_qps", 20.0, False)
    shortfalls, _ = record_shortfalls(rec)
    assert [s.kind for s in shortfalls] == ["invalid"]
    assert "early stopping not met" in shortfalls[0].reason
    accepted = _record(loadgen=_server(20.0, valid=False, require_valid=False).model_dump())
    shortfalls, notes = record_shortfalls(accepted)
    assert shortfalls == [] and "INVALID LoadGen run, accepted by the suite" in notes[0]
    assert record_shortfalls(_record(loadgen=_server(20.0).model_dump())) == ([], [])


@pytest.mark.parametrize(("status", "kind"), [("failed", "failed"), ("invalid", "invalid")])
def test_a_failed_or_invalid_metric_fails_and_a_skipped_one_is_a_note(status, kind):
    data = raw_record("tiny-sd", "steps-5", seed=1)
    data["metrics"]["psnr"].update(status=status, value=None, reason="why")
    data["metrics"]["ssim"].update(status="skipped", value=None, reason="no weights")
    shortfalls, notes = record_shortfalls(parse_record(data, where="t"))
    assert [(s.subject, s.kind, s.reason) for s in shortfalls] == [
        ("tiny-sd / steps-5 / eager: metric psnr", kind, "why")
    ]
    assert notes == ["tiny-sd / steps-5 / eager: metric ssim skipped: no weights"]


def test_nothing_measured_is_never_a_pass_and_its_exit_code_is_the_callers():
    empty = Tally()
    assert empty.verdict() == "nothing" and empty.exit_code() == EXIT_FAILED
    assert empty.exit_code(nothing=EXIT_BAD_INPUT) == EXIT_BAD_INPUT


def test_soft_shortfalls_are_said_and_fail_only_under_strict():
    tally = Tally(measured=3)
    tally.add("job / latency_ms.p50", "inconclusive", "too noisy")
    tally.add("job / psnr", "not_compared", "absent in both runs")
    assert tally.verdict() == "inconclusive" and tally.exit_code() == EXIT_OK
    assert tally.verdict(strict=True) == "fail" and tally.exit_code(strict=True) == EXIT_FAILED
    tally.add("job / peak_rss_mib", "regressed", "+20%")
    assert tally.verdict() == "fail" and tally.count("regressed", "not_compared") == 2


# ------------------------------------------------------------------------ harness run's lines and exit code


def test_run_exits_1_when_an_ok_job_has_no_headline_and_says_why():
    from harness.cli.run import closing_summary

    lines: list[str] = []
    rec = _record(loadgen=_server(None, reason="no offered rate met the p99 bound").model_dump())
    assert closing_summary([_record(), rec], lines.append) == EXIT_FAILED
    assert any("not measured: max_qps has no value" in x for x in lines)
    assert lines[-1] == "1 of 2 jobs measured what they claim (above: why not the others)"
    ok_lines: list[str] = []
    assert closing_summary([_record()], ok_lines.append) == EXIT_OK and ok_lines == ["1 of 1 jobs ok"]


def test_the_progress_line_shows_the_contention_the_record_carries():
    from harness.cli.run import job_line

    quiet = _record(conditions={"contention": False})
    busy = _record(conditions={"contention": True, "oversubscribed": True})
    assert "[" not in job_line(quiet)
    assert job_line(busy).endswith("[contention, oversubscribed]")


def test_started_at_tells_two_starts_within_one_second_apart_and_old_stamps_still_read():
    """#23 item 1: a record is identified by (job_id, started_at); repeats of a fast job start within a second."""
    from harness.results.values import parse_started_at, started_at_now

    a, b = started_at_now(), started_at_now()
    assert a != b and parse_started_at(a) < parse_started_at(b)
    assert parse_started_at("2026-11-22T03:41:30+0000").isoformat() == "2026-11-22T03:41:30+00:00"
    assert parse_started_at("yesterday") is None and parse_started_at(None) is None


def test_a_scenario_without_its_headline_or_with_it_from_an_invalid_run_is_a_job_failure():
    """#23 item 2: the worker fails a scenario job from outcome.scenario_failure: a search with no max_qps is
    MaxQpsNotFound, a figure from a run LoadGen calls INVALID is LoadgenRunInvalid (unless the suite opted
    out), each with the reason and where LoadGen's logs are."""
    from harness.core.errors import LoadgenRunInvalid, MaxQpsNotFound
    from harness.results.outcome import scenario_failure

    none = scenario_failure(_server(None, reason="no offered rate met the p99 bound"), logs="loadgen/j1/")
    assert isinstance(none, MaxQpsNotFound)
    assert str(none) == "the max-QPS search found no max_qps: no offered rate met the p99 bound"
    assert "loadgen/j1/" in none.advice and "mlperf_log_summary.txt" in none.advice
    invalid = scenario_failure(_server(20.0, valid=False))
    assert isinstance(invalid, LoadgenRunInvalid)
    assert str(invalid) == "max_qps comes from a run LoadGen calls INVALID (early stopping not met)"
    assert scenario_failure(_server(20.0, valid=False, require_valid=False)) is None
    assert scenario_failure(_server(20.0)) is None

"""Scenarios in suites and jobs: planning (suite, model, variant; one job per variant × scenario), bad
settings as exit 2 with file:field, and end to end through the worker, the report, the gate and the export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.config import load_suite
from harness.config.plan import job_id, plan
from harness.core.errors import UserInputError
from harness.results import RunStore
from tests.gate.gate_helpers import copy_run
from tests.helpers import tiny_suite

pytest.importorskip("mlperf_loadgen", reason="needs mlcommons-loadgen (the run extra)")

# Runs of a few dozen queries keep these tests fast, and LoadGen calls them INVALID (its early stopping needs
# 459 queries for a p99): the fast tests opt out of MLPerf's rule explicitly, and check the figure is marked.
OFFLINE = {
    "kind": "offline",
    "max_batch": 2,
    "min_queries": 12,
    "min_duration_s": 0.3,
    "require_valid": False,
}
SERVER = {
    "kind": "server",
    "max_batch": 2,
    "max_wait_ms": 5,
    "latency_bound_ms": 5000,
    "min_queries": 16,
    "min_duration_s": 0.3,
    "search": {"max_runs": 3, "max_seconds": 60, "tolerance": 0.2},
    "require_valid": False,
}


def test_scenarios_expand_into_jobs_at_every_level(write_yaml):
    suite = tiny_suite(scenario=[OFFLINE, SERVER])
    suite["models"][0]["variants"][1]["scenario"] = {"kind": "single_stream"}  # the plain timed loop
    jobs = plan(load_suite(write_yaml("s.yaml", suite)))
    names = [(j.variant, j.scenario.kind if j.scenario else None) for j in jobs]
    assert names == [("s2", "offline"), ("s2", "server"), ("s1", None)]
    assert jobs[0].job_id == job_id("tiny-sd", "s2", "eager", "offline") != jobs[1].job_id
    assert jobs[2].job_id == job_id("tiny-sd", "s1", "eager")  # no scenario: the id of before
    assert jobs[1].baseline_job_id == jobs[0].job_id and jobs[0].baseline_job_id is None


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        ({"kind": "server"}, r"scenario: .*server needs target_qps \(one run\) or latency_bound_ms"),
        ({"kind": "offline", "target_qps": 3}, r"scenario: .*target_qps applies to server, not offline"),
        (
            {"kind": "offline", "batch_sweep": [4, 2]},
            r"scenario: .*batch_sweep: give ascending, distinct batch sizes",
        ),
        (
            {"kind": "server", "target_qps": 1, "batch_sweep": [1]},
            r"scenario: .*batch_sweep applies to offline, not server",
        ),
        (
            {"kind": "single_stream", "min_queries": 5},
            r"scenario: .*min_queries applies only with loadgen: true",
        ),
        (
            {"kind": "server", "target_qps": 1, "percentile": 98},
            r"scenario: .*percentile 98 is not one LoadGen reports",
        ),
        ({"kind": "server", "target_qps": -1}, r"scenario\.target_qps: Input should be greater than 0"),
        ({"kind": "burst"}, r"scenario\.kind: 'burst' is not allowed"),
        (
            {"kind": "server", "target_qps": 1, "search": {"max_runs": 0}},
            r"scenario\.search\.max_runs: Input should be greater than or equal to 1",
        ),
        ([OFFLINE, OFFLINE], r"scenario: .*scenario names repeat: offline \(give each a name\)"),
    ],
)
def test_bad_scenario_settings_are_exit_2_with_the_field(write_yaml, capsys, scenario, message):
    import re

    path = write_yaml("s.yaml", tiny_suite(scenario=scenario))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(r"s\.yaml: " + message, err), err
    with pytest.raises(UserInputError):
        load_suite(path)


@pytest.mark.slow
def test_offline_and_server_jobs_end_to_end(write_yaml, tmp_path, capsys):
    suite = tiny_suite(
        scenario=[OFFLINE, SERVER],
        workload={"prompts": ["a red circle"], "num_samples": 2},
        objectives={"latency_ms.p50": "min", "max_qps": "max"},
        gates={"max_qps": "-50%", "offline.throughput": "-50%", "server.p99_ms": "+100%"},
        # One thread and a generous bound: two threads on a 2-core machine that others keep busy made each
        # call seconds long (OpenMP spinning), and no rate met 400 ms.
        threads=1,
    )
    suite["models"][0]["variants"] = suite["models"][0]["variants"][:1]
    path = write_yaml("s.yaml", suite)
    assert (
        main(["run", str(path), "--out", str(tmp_path / "r"), "--isolation", "none", "--device", "cpu"]) == 0
    )
    out = capsys.readouterr().out
    run = Path(out.strip().splitlines()[-1])
    offline, server = RunStore.open(run).records()
    assert offline.scenario == "offline" and offline.label == "tiny-sd / s2 / eager / offline"
    o = offline.loadgen
    assert (
        o.kind == "offline"
        and o.throughput > 0
        and o.best_batch == 2
        and o.runs[0].samples_per_s == o.throughput
    )
    assert o.capacity and o.loadgen_version
    for rel in o.runs[0].logs:
        assert (run / rel).is_file() and rel.startswith(f"loadgen/{offline.job_id}/")
    s = server.loadgen
    assert s.kind == "server" and 1 <= len(s.runs) <= 3 and s.latency_bound_ms == 5000
    assert all(r.scheduled_qps > 0 and r.p99_ms > 0 for r in s.runs)
    # Opted out: max_qps from runs LoadGen calls INVALID (16 queries cannot pass its early stopping), said so
    # in the record, the closing summary, the report and the export.
    assert s.require_valid is False and s.max_qps == max(r.scheduled_qps for r in s.runs if r.meets_bound)
    (at_max,) = [r for r in s.runs if r.scheduled_qps == s.max_qps]
    assert (
        not at_max.valid
        and at_max.early_stopping.met is False
        and at_max.early_stopping.queries_needed >= 459
    )
    assert "max_qps from an INVALID LoadGen run, accepted by the suite" in out
    assert f"max {s.max_qps:.3g} QPS (INVALID LoadGen run)" in out  # the job's progress line
    assert (
        offline.latency_ms is not None and offline.metrics
    )  # the timed loop and the quality pass, unchanged

    assert main(["report", str(run)]) == 0
    capsys.readouterr()
    md = (run / "report.md").read_text()
    assert "## Serving scenarios (MLPerf LoadGen)" in md and "samples/s at batch 2" in md
    mark = "⚠ from a run LoadGen calls INVALID (accepted: scenario.require_valid false)"
    assert f"max {s.max_qps:.4g} QPS {mark}" in (run / "report.html").read_text()
    assert f"max {s.max_qps:.4g} QPS {mark.replace('_', chr(92) + '_')}" in md  # Markdown escapes the _
    assert (run / "load_curves.png").stat().st_size > 5_000 and "load_curves.png" in md
    assert "Serving scenarios" in (run / "report.html").read_text()

    assert main(["compare", str(run), str(run), "--json"]) == 2  # a run against itself compares nothing
    capsys.readouterr()
    repeat = copy_run(run, tmp_path / "repeat")  # the same figures, as another run of them
    assert main(["compare", str(run), str(repeat), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    verdicts = {(j["label"], c["key"]): c["verdict"] for j in data["jobs"] for c in j["checks"]}
    assert (
        verdicts[(offline.label, "offline.throughput")] == verdicts[(server.label, "server.p99_ms")] == "ok"
    )
    assert (
        verdicts[(server.label, "offline.throughput")] == "not compared"
    )  # no Offline figure in a Server job
    assert main(["export", str(run), "-o", str(tmp_path / "b.json")]) == 0
    bench = json.loads((tmp_path / "b.json").read_text())["benchmarks"]
    assert bench[0]["extra_info"]["offline.throughput"] == pytest.approx(o.throughput)
    assert (
        bench[1]["extra_info"]["loadgen_valid"] is False
        and bench[1]["extra_info"]["loadgen_require_valid"] is False
    )


def test_a_run_too_short_to_be_valid_fails_the_job_with_the_reason(write_yaml, tmp_path, capsys):
    """#23 item 2: validity is required by default; a Server search whose runs are too short for LoadGen's
    early stopping is a failed job (MaxQpsNotFound, with the reason and where LoadGen's logs are), the logs
    stay in the run folder, the record keeps the runs, and `run` exits 1."""
    # A bound no run can miss, on one thread (however busy the machine): the first run meets it, and its 16
    # queries, none over the bound, are too few for any rate to be VALID.
    server = {k: v for k, v in SERVER.items() if k != "require_valid"} | {"latency_bound_ms": 600_000}
    suite = tiny_suite(scenario=server, metrics=["psnr"], threads=1)
    suite["models"][0]["variants"] = suite["models"][0]["variants"][:1]
    path = write_yaml("s.yaml", suite)
    code = main(["run", str(path), "--out", str(tmp_path / "r"), "--isolation", "none", "--device", "cpu"])
    out = capsys.readouterr().out
    assert code == 1
    run = Path(out.strip().splitlines()[-1])
    (rec,) = RunStore.open(run).records()
    assert rec.status == "failed" and rec.error.type == "MaxQpsNotFound"
    assert rec.error.stage == "scenario server (LoadGen)"
    assert rec.error.message.startswith(
        "the max-QPS search found no max_qps: no offered rate met the p99 bound of 600000 ms"
    )
    assert (
        "runs of 16 queries are too short to be VALID" in rec.error.message
        and "at least 459" in rec.error.message
    )
    assert f"loadgen/{rec.job_id}/" in rec.error.advice
    (only,) = rec.loadgen.runs  # the search stopped at once: no rate can make 16 queries VALID
    assert only.meets_bound and not only.valid and rec.loadgen.require_valid is True
    assert {Path(p).name for p in only.logs} == {"mlperf_log_summary.txt", "mlperf_log_detail.txt"}
    assert all((run / p).is_file() for p in only.logs)
    summary = next(p for p in only.logs if p.endswith("mlperf_log_summary.txt"))
    assert "Early stopping satisfied: NO" in (run / summary).read_text()
    assert "1 of 1 jobs failed" in out and "MaxQpsNotFound" in out


def test_require_valid_is_one_setting_of_the_scenario(write_yaml, capsys):
    """#23 item 2: scenario.require_valid (default true) applies to every LoadGen scenario; the old
    search.require_valid is refused naming where it went; a non-boolean is refused; each exit 2, file:field."""
    for kind in (
        {"kind": "offline"},
        {"kind": "server", "target_qps": 1},
        {"kind": "single_stream", "loadgen": True},
    ):
        (job,) = plan(
            load_suite(write_yaml("ok.yaml", tiny_suite(scenario={**kind, "require_valid": False})))
        )[:1]
        assert job.scenario.require_valid is False
        (job,) = plan(load_suite(write_yaml("ok.yaml", tiny_suite(scenario=kind))))[:1]
        assert job.scenario.require_valid is True
    for scenario, message in (
        (
            {"kind": "server", "latency_bound_ms": 100, "search": {"require_valid": False}},
            "scenario.search: require_valid is now scenario.require_valid (one setting for every scenario; "
            "default true: figures only from runs LoadGen calls VALID)",
        ),
        (
            {"kind": "server", "target_qps": 1, "require_valid": "no"},
            "scenario.require_valid: Input should be a valid boolean, got 'no'",
        ),
        (
            {"kind": "single_stream", "require_valid": False},
            "scenario: single_stream without loadgen is the harness's own timed loop: require_valid applies "
            "only with loadgen: true (or use measurement: for the timed loop)",
        ),
    ):
        path = write_yaml("s.yaml", tiny_suite(scenario=scenario))
        assert main(["validate", str(path)]) == 2
        assert capsys.readouterr().err.strip() == f"error: {path}: {message}"

"""Scenarios in suites and jobs: planning (suite, model, variant; one job per variant × scenario), bad
settings as exit 2 with file:field, and end to end through the worker, the report, the gate and the export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.config import load_suite
from harness.errors import UserInputError
from harness.plan import job_id, plan
from harness.results import RunStore
from tests.helpers import tiny_suite

pytest.importorskip("mlperf_loadgen", reason="needs mlcommons-loadgen (the run extra)")

OFFLINE = {"kind": "offline", "max_batch": 2, "min_queries": 12, "min_duration_s": 0.3}
SERVER = {
    "kind": "server",
    "max_batch": 2,
    "max_wait_ms": 5,
    "latency_bound_ms": 400,
    "min_queries": 16,
    "min_duration_s": 0.3,
    "search": {"max_runs": 3, "max_seconds": 60, "tolerance": 0.2},
}


def test_scenarios_expand_into_jobs_at_every_level(write_yaml):
    suite = tiny_suite(scenario=[OFFLINE, SERVER])
    suite["models"][0]["variants"][1]["scenario"] = {"kind": "single_stream"}  # the plain timed loop
    jobs = plan(load_suite(write_yaml("s.yaml", suite)))
    names = [(j.variant, (j.scenario or {}).get("kind")) for j in jobs]
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


def test_offline_and_server_jobs_end_to_end(write_yaml, tmp_path, capsys):
    suite = tiny_suite(
        scenario=[OFFLINE, SERVER],
        workload={"prompts": ["a red circle"], "num_samples": 2},
        objectives={"latency_ms.p50": "min", "max_qps": "max"},
        gates={"max_qps": "-50%", "offline.throughput": "-50%", "server.p99_ms": "+100%"},
    )
    suite["models"][0]["variants"] = suite["models"][0]["variants"][:1]
    path = write_yaml("s.yaml", suite)
    assert (
        main(["run", str(path), "--out", str(tmp_path / "r"), "--isolation", "none", "--device", "cpu"]) == 0
    )
    run = Path(capsys.readouterr().out.strip().splitlines()[-1])
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
    assert s.kind == "server" and 1 <= len(s.runs) <= 3 and s.latency_bound_ms == 400
    assert all(r.scheduled_qps > 0 and r.p99_ms > 0 for r in s.runs)
    assert s.max_qps is None or s.max_qps == max(r.scheduled_qps for r in s.runs if r.meets_bound)
    assert (
        offline.latency_ms is not None and offline.metrics
    )  # the timed loop and the quality pass, unchanged

    assert main(["report", str(run)]) == 0
    capsys.readouterr()
    md = (run / "report.md").read_text()
    assert "## Serving scenarios (MLPerf LoadGen)" in md and "samples/s at batch 2" in md
    assert (run / "load_curves.png").stat().st_size > 5_000 and "load_curves.png" in md
    assert "Serving scenarios" in (run / "report.html").read_text()

    assert main(["compare", str(run), str(run), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    keys = {c["key"]: c["verdict"] for j in data["jobs"] for c in j["checks"]}
    assert keys["offline.throughput"] in ("ok", "n/a") and "server.p99_ms" in keys
    assert main(["export", str(run), "-o", str(tmp_path / "b.json")]) == 0
    bench = json.loads((tmp_path / "b.json").read_text())["benchmarks"]
    assert bench[0]["extra_info"]["offline.throughput"] == pytest.approx(o.throughput)

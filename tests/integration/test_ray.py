"""The Ray executor on a local Ray cluster started by the test (CPU): same records as the local executor."""

from __future__ import annotations

import importlib.util

import pytest

from harness.cli import main
from harness.gate.export import loadgen_mark
from harness.results import RunStore
from tests.helpers import tiny_suite

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs the 'ray' extra")


@pytest.fixture(scope="module")
def ray_cluster():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ray_executor_matches_local(ray_cluster, write_yaml, tmp_path, capsys):
    suite = write_yaml("s.yaml", tiny_suite())
    assert (
        main(["run", str(suite), "--executor", "ray", "--out", str(tmp_path / "ray"), "--device", "cpu"]) == 0
    )
    run = RunStore.open(capsys.readouterr().out.strip().splitlines()[-1])
    via_ray = run.records()
    assert (
        main(["run", str(suite), "--out", str(tmp_path / "local"), "--isolation", "none", "--device", "cpu"])
        == 0
    )
    local = RunStore.open(capsys.readouterr().out.strip().splitlines()[-1]).records()
    assert [(r.job_id, r.status) for r in via_ray] == [(r.job_id, r.status) for r in local]
    # Pairwise metrics saw the baseline's outputs, shipped through Ray's object store.
    assert via_ray[1].metric_value("psnr") == pytest.approx(local[1].metric_value("psnr"), rel=1e-6)
    assert all(r.node for r in via_ray)
    assert all((run.path / s).is_file() for r in via_ray for s in r.samples)
    assert main(["report", str(run.path)]) == 0


def test_ray_flags_are_checked(write_yaml, capsys):
    suite = write_yaml("s.yaml", tiny_suite())
    assert main(["run", str(suite), "--gpus-per-job", "1"]) == 2
    assert "apply to --executor ray" in capsys.readouterr().err
    assert main(["run", str(suite), "--executor", "ray", "--gpus-per-job", "-1"]) == 2
    assert "--gpus-per-job: must be ≥ 0" in capsys.readouterr().err


@pytest.mark.slow
def test_a_loadgen_scenario_job_runs_as_a_ray_task(ray_cluster, write_yaml, tmp_path, capsys):
    pytest.importorskip("mlperf_loadgen", reason="needs mlcommons-loadgen (the run extra)")
    # A short Offline run, which LoadGen may call INVALID (ended before min_duration_s): the test opts out of
    # MLPerf's rule explicitly, and the export marks the figure with LoadGen's verdict either way.
    offline = {
        "kind": "offline",
        "max_batch": 2,
        "min_queries": 8,
        "min_duration_s": 0.2,
        "require_valid": False,
    }
    suite = tiny_suite(scenario=offline)
    suite["models"][0]["variants"] = suite["models"][0]["variants"][:1]
    path = write_yaml("s.yaml", suite)
    assert (
        main(["run", str(path), "--executor", "ray", "--out", str(tmp_path / "ray"), "--device", "cpu"]) == 0
    )
    run = RunStore.open(capsys.readouterr().out.strip().splitlines()[-1])
    (rec,) = run.records()
    assert rec.scenario == "offline" and rec.loadgen.throughput > 0 and rec.node
    assert all(
        (run.path / rel).is_file() for r in rec.loadgen.runs for rel in r.logs
    )  # shipped to the driver
    assert rec.loadgen.require_valid is False
    (best,) = [r for r in rec.loadgen.runs if r.samples_per_s == rec.loadgen.throughput]
    mark = loadgen_mark(rec)
    assert mark["loadgen_valid"] is best.valid and mark["loadgen_require_valid"] is False
    assert mark["loadgen_invalid_reasons"] == ([] if best.valid else best.reasons)

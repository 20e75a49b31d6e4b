"""`harness run --mlflow` and `harness log` end to end: a real run, a real SQLite store, read back with MLflow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.results import RunStore
from tests.helpers import tiny_suite

mlflow = pytest.importorskip("mlflow")

QUICK = {"min_iterations": 2, "max_iterations": 2, "timeout_s": 600}


def _run_dir(out: str) -> Path:
    return Path(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """One tiny run (two jobs) logged by `harness run --mlflow sqlite:///…` at the end of the run."""
    tmp = tmp_path_factory.mktemp("mlflow")
    suite = tmp / "s.yaml"
    import yaml

    suite.write_text(yaml.safe_dump(tiny_suite(measurement=QUICK)))
    uri = f"sqlite:///{tmp / 'store' / 'mlflow.db'}"
    (tmp / "store").mkdir()
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(
            [
                "run",
                str(suite),
                "--out",
                str(tmp / "r"),
                "--isolation",
                "none",
                "--device",
                "cpu",
                "--mlflow",
                uri,
            ]
        )
    assert code == 0, buf.getvalue()
    return uri, _run_dir(buf.getvalue()), buf.getvalue()


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def test_run_mlflow_logs_every_job_with_params_metrics_and_artifacts(logged):
    uri, run_dir, out = logged
    records = RunStore.open(run_dir).records()
    assert "logged 2 job(s) to MLflow" in out
    client = _client(uri)
    exp = client.get_experiment_by_name("t")  # default experiment: the suite's name
    runs = client.search_runs([exp.experiment_id], filter_string=f"tags.`harness.run_id` = '{run_dir.name}'")
    parents = [r for r in runs if r.data.tags.get("harness.kind") == "run"]
    jobs = {r.data.tags["harness.job_id"]: r for r in runs if r.data.tags.get("harness.kind") == "job"}
    assert len(parents) == 1 and set(jobs) == {r.job_id for r in records}
    parent = parents[0]
    assert parent.data.tags["harness.complete"] == "true"
    for rec in records:
        run = jobs[rec.job_id]
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        params, metrics, tags = run.data.params, run.data.metrics, run.data.tags
        assert (
            params["model"] == "tiny-sd" and params["variant"] == rec.variant and params["backend"] == "eager"
        )
        assert int(params["call.steps"]) == rec.call["steps"]
        assert metrics["latency_ms.p50"] == pytest.approx(rec.latency_ms.p50)
        assert metrics["throughput"] == pytest.approx(rec.throughput.value)
        assert metrics["peak_rss_mib"] == pytest.approx(rec.memory.peak_rss_mib)
        assert tags["harness.suite"] == "t" and tags["harness.device"] == "cpu"
        arts = {a.path for a in client.list_artifacts(run.info.run_id, "samples")}
        assert len(arts) == len(rec.samples) == 2
    # quality: the fast variant's PSNR against the baseline (the baseline's own +inf is not logged as a number)
    fast = next(r for r in records if r.variant == "s1")
    assert jobs[fast.job_id].data.metrics["psnr"] == pytest.approx(fast.metric_value("psnr"))
    assert "psnr" not in jobs[next(r for r in records if r.variant == "s2").job_id].data.metrics
    # the run's files and the report (built because the run had none)
    top = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"run", "report"} <= top
    report = {Path(a.path).name for a in client.list_artifacts(parent.info.run_id, "report")}
    assert {"report.md", "report.html", "frontier.csv"} <= report
    local = Path(
        mlflow.artifacts.download_artifacts(
            run_id=parent.info.run_id, artifact_path="run/records.jsonl", tracking_uri=uri
        )
    )
    assert len(local.read_text().splitlines()) == 2


def test_log_refuses_a_second_copy_and_replace_keeps_one(logged, capsys):
    uri, run_dir, _ = logged
    assert main(["log", str(run_dir), "--mlflow", uri]) == 2
    assert "already" in capsys.readouterr().err
    assert main(["log", str(run_dir), "--mlflow", uri, "--replace"]) == 0
    assert "replacing" in capsys.readouterr().out
    client = _client(uri)
    exp = client.get_experiment_by_name("t")
    runs = client.search_runs([exp.experiment_id], filter_string=f"tags.`harness.run_id` = '{run_dir.name}'")
    assert sum(r.data.tags.get("harness.kind") == "run" for r in runs) == 1
    assert sum(r.data.tags.get("harness.kind") == "job" for r in runs) == 2


def test_log_into_a_file_store_under_another_experiment(logged, tmp_path, capsys, monkeypatch):
    _, run_dir, _ = logged
    store = tmp_path / "mlruns"
    assert main(["log", str(run_dir), "--mlflow", store.as_uri(), "--experiment", "nightly"]) == 0
    assert "experiment 'nightly'" in capsys.readouterr().out
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 reads its file store only so
    client = _client(store.as_uri())
    exp = client.get_experiment_by_name("nightly")
    assert len(client.search_runs([exp.experiment_id])) == 3


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--mlflow", "bogus://x"], r"--mlflow: 'bogus://x' is not a tracking URI MLflow opens"),
        (["--mlflow", "sqlite:///no/such/folder/m.db"], r"--mlflow: no/such/folder: folder not found"),
        (["--experiment", "x"], r"--experiment applies with --mlflow"),
    ],
)
def test_bad_mlflow_flags_fail_before_any_job(argv, message, write_yaml, tmp_path, capsys):
    import re

    suite = write_yaml("s.yaml", tiny_suite())
    assert main(["run", str(suite), "--out", str(tmp_path / "r"), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.search(message, err[0]), err
    assert not (tmp_path / "r").exists()


def test_log_bad_inputs(tmp_path, capsys):
    assert main(["log", str(tmp_path / "none"), "--mlflow", "sqlite:///m.db"]) == 2
    assert "run folder not found" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "run.json").write_text(json.dumps({"run_id": "x"}))
    assert main(["log", str(empty), "--mlflow", f"sqlite:///{tmp_path / 'm.db'}"]) == 2
    assert "no records to log" in capsys.readouterr().err

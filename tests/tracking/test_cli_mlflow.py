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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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
    assert "run has no records" in capsys.readouterr().err


# ------------------------------------------------------------- the store checked before any job (#23 item 5)


def _garbage(path: Path) -> bytes:
    data = bytes(range(256)) * 4
    path.write_bytes(data)
    return data


def _other_app(path: Path) -> bytes:
    import sqlite3

    con = sqlite3.connect(path)
    con.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    con.execute("INSERT INTO users (name) VALUES ('ada')")
    con.commit()
    con.close()
    return path.read_bytes()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            _garbage,
            r"store\.db: --mlflow: not a SQLite database \(its first bytes are not SQLite's header\) \(allowed: "
            r"an MLflow SQLite store, an empty file, or a path where MLflow creates one\)",
        ),
        (
            _other_app,
            r"store\.db: --mlflow: a SQLite database of another application: it has no MLflow table "
            r"alembic_version, experiments, runs \(its tables: users\)",
        ),
    ],
)
def test_a_sqlite_file_that_is_no_mlflow_store_fails_before_any_job(
    write_yaml, tmp_path, capsys, make, message
):
    """#23 item 5: `run --mlflow sqlite:///FILE` with a file of garbage bytes or another application's database
    ran every job and then ended in exit 3; now exit 2 before the first job, the file untouched."""
    import re

    db = tmp_path / "store.db"
    before = make(db)
    suite = write_yaml("s.yaml", tiny_suite())
    assert main(["run", str(suite), "--out", str(tmp_path / "r"), "--mlflow", f"sqlite:///{db}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.search(message, err[0]), err
    assert not (tmp_path / "r").exists() and db.read_bytes() == before
    assert main(["log", str(tmp_path), "--mlflow", f"sqlite:///{db}"]) == 2  # harness log checks it too
    assert re.search(message, capsys.readouterr().err)


def test_absent_empty_and_mlflow_sqlite_stores_pass(tmp_path):
    """#23 item 5: what MLflow can log into passes, and checking it writes nothing."""
    from harness.tracking.probe import check_tracking_store

    check_tracking_store(f"sqlite:///{tmp_path / 'absent.db'}")
    assert not (tmp_path / "absent.db").exists()
    (tmp_path / "empty.db").write_bytes(b"")
    check_tracking_store(f"sqlite:///{tmp_path / 'empty.db'}")
    assert (tmp_path / "empty.db").read_bytes() == b""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    _client(uri).search_experiments()  # MLflow creates its schema
    before = (tmp_path / "mlflow.db").read_bytes()
    check_tracking_store(uri)
    assert (tmp_path / "mlflow.db").read_bytes() == before


def test_an_mlflow_store_at_another_schema_revision_is_named(tmp_path):
    """#23 item 5: MLflow refuses a store at another schema revision when it logs; said before the jobs."""
    import sqlite3

    from harness.core.errors import UserInputError
    from harness.tracking.probe import check_tracking_store

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    _client(uri).search_experiments()
    con = sqlite3.connect(tmp_path / "mlflow.db")
    con.execute("UPDATE alembic_version SET version_num = 'abc123'")
    con.commit()
    con.close()
    with pytest.raises(
        UserInputError, match=r"mlflow\.db: --mlflow: MLflow schema revision abc123, this MLflow "
    ):
        check_tracking_store(uri)


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_server_fails_before_any_job_within_seconds(write_yaml, tmp_path, capsys, monkeypatch):
    """#23 item 5: `--mlflow http://…` at a closed port retried for minutes after the run; now one request
    before the first job: exit 2 naming the URI and what failed, in seconds. "In seconds" is checked on the
    requests made (one, with the probe's timeout, no retries), not on this shared machine's wall time."""
    import urllib.request

    from harness.tracking.probe import HTTP_TIMEOUT_S

    requests: list[tuple[str, float]] = []
    urlopen = urllib.request.urlopen

    def spy(url, *args, **kwargs):
        requests.append((url if isinstance(url, str) else url.full_url, kwargs.get("timeout")))
        return urlopen(url, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", spy)
    uri = f"http://127.0.0.1:{_closed_port()}"
    suite = write_yaml("s.yaml", tiny_suite())
    assert main(["run", str(suite), "--out", str(tmp_path / "r"), "--mlflow", uri]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(
        f"error: {uri}: --mlflow: cannot reach the tracking server ("
    ), err
    assert not (tmp_path / "r").exists()
    assert requests == [(f"{uri}/api/2.0/mlflow/experiments/search?max_results=1", HTTP_TIMEOUT_S)]


def test_a_server_that_does_not_answer_times_out(tmp_path):
    """#23 item 5: a server that accepts the connection and never answers is given the timeout, not minutes."""
    import socket

    from harness.core.errors import UserInputError
    from harness.tracking.probe import check_server

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        uri = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with pytest.raises(
            UserInputError, match=rf"{uri}: --mlflow: no answer from the tracking server within 0\.5 s"
        ):
            check_server(uri, timeout_s=0.5)

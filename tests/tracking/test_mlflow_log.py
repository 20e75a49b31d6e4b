"""`harness.tracking.mlflow_log.log_run`: a fabricated run folder logged into real MLflow stores (a ``file:``
store and a ``sqlite:///`` database under tmp_path) and read back with MLflow's own client."""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# Nothing may reach the network: no telemetry, no tracking server named by the environment.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

mlflow = pytest.importorskip("mlflow", reason="the tracking tests need mlflow (pip install mlflow)")

from mlflow.entities import ViewType  # noqa: E402

from harness.core.errors import HarnessError, UserInputError  # noqa: E402
from harness.report.demo import demo_record, fabricate_run  # noqa: E402
from harness.results import RunStore  # noqa: E402
from harness.tracking.mlflow_log import LoggedRun, log_run  # noqa: E402
from harness.tracking.mlflow_names import mlflow_key  # noqa: E402

# MLflow's own SQLAlchemy models warn under SQLAlchemy 2.1; not this code's to fix.
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated")

NETWORK_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_ALLOW_FILE_STORE")
SERVER_JOB = "tiny-sd__steps-4__eager__server__00000014"
MEASUREMENT = {"warmup": 2, "min_iterations": 10, "min_duration_s": 0.5, "sync": {"cuda": True}}
LOADGEN_LOGS = [
    f"logs/{SERVER_JOB}/loadgen/00/mlperf_log_summary.txt",
    f"logs/{SERVER_JOB}/loadgen/00/mlperf_log_detail.txt",
]


def server_record() -> dict:
    """An ok job with everything the demo jobs lack: a LoadGen Server scenario with logs, energy (one value
    NaN), cost, a nested call argument, metric names MLflow refuses, a NaN metric, a not-applicable one, and
    sample paths that are missing or outside the run folder."""
    rec = demo_record(20, "tiny-sd", "steps-4", "image", 50.0, (48.0, 52.0), 30.0, (29.0, 31.0), 950.0, [])
    rec.update(
        job_id=SERVER_JOB,
        scenario="server",
        started_at="2024-05-01T12:00:00+0000",
        duration_s=12.5,
        call={"steps": 4, "guidance_scale": 7.5, "scheduler": {"name": "ddim", "eta": 0.0}, "seed": None},
        samples=[f"samples/{SERVER_JOB}/seed0.png", "../outside.txt", f"samples/{SERVER_JOB}/missing.png"],
        num_samples=1,
        energy={"energy_j": 2.5, "energy_per_item_j": "nan", "sources": ["demo"]},
        cost={"usd_per_hour": 3.0, "per_1k_items_usd": 0.0417, "basis": "demo"},
        loadgen={
            "name": "server",
            "kind": "server",
            "runs": [
                {
                    "scenario": "server",
                    "target_qps": 10.0,
                    "scheduled_qps": 10.0,
                    "completed_qps": 9.9,
                    "p99_ms": 80.0,
                    "valid": True,
                    "logs": LOADGEN_LOGS,
                }
            ],
            "max_qps": 9.5,
            "p99_ms": 80.0,
            "latency_bound_ms": 100.0,
            "percentile": 99.0,
        },
    )
    psnr = rec["metrics"]["psnr"]
    rec["metrics"] = {
        "psnr": psnr,
        "clip score (ViT-B/32)": {**psnr, "value": 0.31, "ci95": None, "unit": ""},
        "lpips": {**psnr, "value": "nan", "ci95": None, "higher_is_better": False},
        "fvd": {
            **psnr,
            "value": None,
            "ci95": None,
            "status": "not_applicable",
            "reason": "applies to video",
        },
    }
    return rec


def make_run(parent) -> tuple:
    """The demo run (11 ok jobs, one failed) plus the server job, with the suite's measurement settings
    and a built report; returns (run folder, records by job id)."""
    from harness.report import build_report

    run = fabricate_run(parent, samples=2, extra_records=[server_record()])
    store = RunStore(run)
    meta = store.meta()
    meta.suite["measurement"] = MEASUREMENT
    store.write_meta(meta)
    (run / "samples" / SERVER_JOB).mkdir(parents=True)
    shutil.copy(
        run / "samples" / "tiny-sd__steps-8__eager__00000000" / "seed0.png", run / "samples" / SERVER_JOB
    )
    (run.parent / "outside.txt").write_text("not the run's")
    for rel in LOADGEN_LOGS:
        (run / rel).parent.mkdir(parents=True, exist_ok=True)
        (run / rel).write_text(f"LoadGen log {rel}\n")
    build_report(run)
    return run, {r.job_id: r for r in store.records()}


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """The run logged once to a file: store and once to a sqlite database, in experiment "demo" (tests that
    log more use experiments of their own)."""
    tmp = tmp_path_factory.mktemp("mlflow")
    run, records = make_run(tmp / "runs")
    out = {"run": run, "records": records}
    with pytest.MonkeyPatch.context() as mp:
        for var in NETWORK_ENV:
            mp.delenv(var, raising=False)
        for kind, uri in (
            ("file", (tmp / "mlruns").as_uri()),
            ("sqlite", f"sqlite:///{tmp / 'db' / 'mlflow.db'}"),
        ):
            result = log_run(run, uri)
            out[kind] = (uri, result)
            out[f"{kind}_env_left"] = "MLFLOW_ALLOW_FILE_STORE" in os.environ
    return out


@pytest.fixture(autouse=True)
def _offline_env(monkeypatch):
    for var in NETWORK_ENV:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 reads its file store only with it


def client_for(uri: str):
    return mlflow.MlflowClient(tracking_uri=uri)


def runs_of(client, experiment_id: str, view=ViewType.ACTIVE_ONLY) -> list:
    return list(client.search_runs([experiment_id], run_view_type=view, max_results=1000))


def expected_metrics(r) -> dict[str, float]:
    """What a job's MLflow metrics must be, written out from the record (not from the code under test)."""
    lat, lg = r.latency_ms, r.loadgen
    values = {
        "latency_ms.p50": lat.p50,
        "latency_ms.p90": lat.p90,
        "latency_ms.p99": lat.p99,
        "latency_ms.mean": lat.mean,
        "latency_ms.p50.ci95_lo": lat.p50_ci95[0],
        "latency_ms.p50.ci95_hi": lat.p50_ci95[1],
        "latency_per_item_ms.p50": r.latency_per_item_ms.p50,
        "throughput": r.throughput.value,
        "first_call_ms": r.first_call_ms,
        "load_s": r.load_s,
        "compile_s": r.compile_s,
        "peak_rss_mib": r.memory.peak_rss_mib,
        "energy_j": r.energy.energy_j if r.energy else None,
        "energy_per_item_j": r.energy.energy_per_item_j if r.energy else None,
        "cost_per_1k_items_usd": r.cost.per_1k_items_usd if r.cost else None,
        "max_qps": lg.max_qps if lg else None,
        "server.p99_ms": lg.p99_ms if lg else None,
        "psnr": r.metrics["psnr"].value,
        "psnr.ci95_lo": r.metrics["psnr"].ci95[0] if r.metrics["psnr"].ci95 else None,
        "psnr.ci95_hi": r.metrics["psnr"].ci95[1] if r.metrics["psnr"].ci95 else None,
    }
    if "clip score (ViT-B/32)" in r.metrics:
        values["clip score _ViT-B/32_"] = r.metrics["clip score (ViT-B/32)"].value
    return {k: v for k, v in values.items() if v is not None and math.isfinite(v)}


def expected_params(r) -> dict[str, str]:
    params = {
        "model": r.model,
        "variant": r.variant,
        "backend": r.backend,
        "precision": r.precision,
        "batch_size": "1",
        "modality": r.modality,
        "random_weights": "false" if not r.random_weights else "true",
        "measurement.warmup": "2",
        "measurement.min_iterations": "10",
        "measurement.min_duration_s": "0.5",
        "measurement.sync.cuda": "true",
    }
    if r.ok:
        params |= {"task": r.task, "num_samples": str(r.num_samples)}
        params |= {"call.steps": str(r.call["steps"]), "call.guidance_scale": "7.5"}
    if r.job_id == SERVER_JOB:
        params |= {"scenario": "server", "call.scheduler.name": "ddim", "call.scheduler.eta": "0.0"}
    return params


@dataclass
class Store:
    """One store the run was logged to, with MLflow's client to read it."""

    uri: str
    result: LoggedRun
    client: Any
    records: dict
    run: Path


@pytest.fixture(params=["file", "sqlite"])
def store(request, logged) -> Store:
    uri, result = logged[request.param]
    return Store(uri, result, client_for(uri), logged["records"], logged["run"])


def test_every_job_is_a_child_run_of_one_parent(store):
    result, client, records = store.result, store.client, store.records
    assert isinstance(result, LoggedRun) and result.experiment_name == "demo"
    assert client.get_experiment_by_name("demo").experiment_id == result.experiment_id
    runs = runs_of(client, result.experiment_id)
    parents = [r for r in runs if r.data.tags.get("harness.kind") == "run"]
    children = [r for r in runs if r.data.tags.get("harness.kind") == "job"]
    assert len(runs) == len(records) + 1 and [p.info.run_id for p in parents] == [result.parent_run_id]
    parent = parents[0]
    assert parent.info.run_name == "demo-run" and parent.info.status == "FINISHED"
    assert parent.data.tags["harness.run_id"] == "demo-run" and parent.data.tags["harness.complete"] == "true"
    assert parent.data.params["suite"] == "demo" and parent.data.params["measurement.min_iterations"] == "10"
    assert parent.data.metrics == {}
    assert set(result.runs) == set(records)
    for child in children:
        tags = child.data.tags
        assert tags["mlflow.parentRunId"] == result.parent_run_id == tags["harness.parent"]
        job = records[tags["harness.job_id"]]
        assert result.runs[job.job_id] == child.info.run_id
        assert child.info.run_name == job.label
    assert sorted(c.info.run_name for c in children) == sorted(r.label for r in records.values())


def test_params_tags_and_metrics_are_the_records(store):
    result, client, records = store.result, store.client, store.records
    for job_id, run_id in result.runs.items():
        r, run = records[job_id], client.get_run(run_id)
        assert run.data.params == expected_params(r), job_id
        tags = run.data.tags
        for key, want in {
            "harness.suite": "demo",
            "harness.job_id": job_id,
            "harness.model": r.model,
            "harness.variant": r.variant,
            "harness.backend": r.backend,
            "harness.status": r.status,
            "harness.device": "cpu",
            "harness.device_name": "Demo CPU",
            "harness.commit": "demo",
            "harness.run_id": "demo-run",
        }.items():
            assert tags[key] == want, (job_id, key)
        assert tags.get("harness.scenario") == r.scenario
        if r.ok:
            assert run.data.metrics == expected_metrics(r), job_id  # exact values, nothing more
            assert run.info.status == "FINISHED"


def test_absent_and_non_finite_values_are_not_logged_as_zero(store):
    result, client, records = store.result, store.client, store.records
    baseline = client.get_run(result.runs["tiny-sd__steps-8__eager__00000000"])
    assert records["tiny-sd__steps-8__eager__00000000"].metrics["psnr"].value == math.inf
    assert "psnr" not in baseline.data.metrics and "psnr = inf" in baseline.data.tags["harness.not_logged"]
    assert "energy_j" not in baseline.data.metrics and "max_qps" not in baseline.data.metrics
    assert "peak_vram_allocated_mib" not in baseline.data.metrics
    server = client.get_run(result.runs[SERVER_JOB])
    m = server.data.metrics
    assert m["energy_j"] == 2.5 and m["max_qps"] == 9.5 and m["server.p99_ms"] == 80.0
    assert m["cost_per_1k_items_usd"] == 0.0417 and m["clip score _ViT-B/32_"] == 0.31
    assert (
        "energy_per_item_j" not in m and "lpips" not in m and "fvd" not in m and "offline.throughput" not in m
    )
    tags = server.data.tags
    assert (
        "energy_per_item_j = nan" in tags["harness.not_logged"]
        and "lpips = nan" in tags["harness.not_logged"]
    )
    assert tags["harness.metric.fvd.status"] == "not_applicable"
    assert tags["harness.metric.fvd.reason"] == "applies to video"
    assert "'clip score (ViT-B/32)' logged as 'clip score _ViT-B/32_'" in tags["harness.renamed"]
    assert any(n.startswith(f"{SERVER_JOB}: lpips = nan") for n in result.notes)
    assert server.info.start_time == 1714564800000 and server.info.end_time == 1714564800000 + 12500


def test_the_failed_job_has_its_error_and_no_metrics(store):
    result, client = store.result, store.client
    run = client.get_run(result.runs["tiny-sd__broken__eager__ffffffff"])
    assert run.info.status == "FAILED" and run.data.metrics == {}
    tags = run.data.tags
    assert tags["harness.status"] == "failed" and tags["harness.error.type"] == "TypeError"
    assert tags["harness.error.message"] == "StableDiffusionPipeline.__call__ takes no 'no_such_argument'"
    assert tags["harness.error.advice"] == "remove it from the variant's extra"
    assert client.list_artifacts(run.info.run_id) == []


def test_artifacts_samples_loadgen_logs_and_the_report(store, tmp_path):
    result, client, records = store.result, store.client, store.records
    for job_id, run_id in result.runs.items():
        if job_id == SERVER_JOB or not records[job_id].samples:
            continue
        listed = [f.path for f in client.list_artifacts(run_id, "samples")]
        assert listed == sorted("samples/" + s.rsplit("/", 1)[1] for s in records[job_id].samples), job_id
    server = result.runs[SERVER_JOB]
    assert [f.path for f in client.list_artifacts(server, "samples")] == ["samples/seed0.png"]
    assert [f.path for f in client.list_artifacts(server, "loadgen/00_server")] == [
        "loadgen/00_server/mlperf_log_detail.txt",
        "loadgen/00_server/mlperf_log_summary.txt",
    ]
    notes = client.get_run(server).data.tags["harness.not_logged"]
    assert "sample ../outside.txt not logged (outside the run folder)" in notes
    assert f"sample samples/{SERVER_JOB}/missing.png not logged (no such file)" in notes
    parent = result.parent_run_id
    assert {f.path for f in client.list_artifacts(parent)} == {"report", "run"}
    report = {f.path.removeprefix("report/") for f in client.list_artifacts(parent, "report")}
    assert {"report.md", "report.html", "frontier.csv"} <= report
    pngs = {p.name for p in store.run.glob("*.png")}
    assert pngs and pngs <= report
    assert {f.path for f in client.list_artifacts(parent, "run")} == {"run/run.json", "run/records.jsonl"}
    got = client.download_artifacts(parent, "run/records.jsonl", str(tmp_path))
    assert Path(got).read_bytes() == (store.run / "records.jsonl").read_bytes()


def test_sqlite_artifacts_go_beside_the_database_and_file_store_opt_in_is_undone(logged):
    uri, result = logged["sqlite"]
    exp = client_for(uri).get_experiment(result.experiment_id)
    db_dir = logged["run"].parent.parent / "db"
    artifacts = (db_dir / "mlartifacts").as_uri()
    assert exp.artifact_location == artifacts
    parent = client_for(uri).get_run(result.parent_run_id)
    assert parent.info.artifact_uri.startswith(artifacts + "/")
    assert not logged["file_env_left"] and not logged["sqlite_env_left"]
    _, file_result = logged["file"]
    assert any("MLFLOW_ALLOW_FILE_STORE=true" in n for n in file_result.notes)
    assert result.seconds > 0 and file_result.seconds > 0


def test_logging_twice_refuses_and_replace_leaves_one_copy(logged, tmp_path):
    uri = (tmp_path / "mlruns").as_uri()
    run = logged["run"]
    first = log_run(run, uri, experiment="twice")
    with pytest.raises(
        UserInputError, match=rf"logged already .* parent run {first.parent_run_id} \(demo-run\)"
    ):
        log_run(run, uri, experiment="twice")
    client = client_for(uri)
    assert len(runs_of(client, first.experiment_id)) == len(first.runs) + 1  # the refusal wrote nothing
    second = log_run(run, uri, experiment="twice", replace=True)
    active = runs_of(client, first.experiment_id)
    assert len(active) == len(second.runs) + 1
    assert [r.info.run_id for r in active if r.data.tags["harness.kind"] == "run"] == [second.parent_run_id]
    assert set(second.replaced) == {first.parent_run_id, *first.runs.values()}
    deleted = runs_of(client, first.experiment_id, ViewType.DELETED_ONLY)
    assert {r.info.run_id for r in deleted} == set(second.replaced)


def test_replace_in_a_sqlite_store(logged):
    uri, _ = logged["sqlite"]
    first = log_run(logged["run"], uri, experiment="replace-sqlite")
    with pytest.raises(UserInputError, match="pass replace=True"):
        log_run(logged["run"], uri, experiment="replace-sqlite")
    second = log_run(logged["run"], uri, experiment="replace-sqlite", replace=True)
    active = runs_of(client_for(uri), second.experiment_id)
    assert {r.info.run_id for r in active} == {second.parent_run_id, *second.runs.values()}
    assert first.parent_run_id in second.replaced


def test_a_run_id_with_both_quotes_is_still_found(tmp_path):
    run = fabricate_run(tmp_path / "runs", 'it\'s "odd"', samples=0, failed=False, jobs=[])
    RunStore(run).append(demo_record(0, "m", "v", "image", 10.0, (9.0, 11.0), 20.0, None, 100.0, []))
    uri = (tmp_path / "mlruns").as_uri()
    first = log_run(run, uri)
    assert client_for(uri).get_run(first.parent_run_id).data.tags["harness.run_id"] == 'it\'s "odd"'
    with pytest.raises(UserInputError, match=rf"parent run {first.parent_run_id}"):
        log_run(run, uri)
    assert log_run(run, uri, replace=True).replaced == [
        first.runs["m__v__eager__00000000"],
        first.parent_run_id,
    ]


def test_default_tracking_uri_is_mlflows(logged, tmp_path, monkeypatch):
    uri = (tmp_path / "env-store").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")
    result = log_run(logged["run"], experiment="from-env")
    assert result.tracking_uri == uri and (tmp_path / "env-store" / result.experiment_id).is_dir()
    assert "MLFLOW_ALLOW_FILE_STORE" not in os.environ


def test_bad_run_folders_are_user_input_errors(tmp_path):
    uri = (tmp_path / "mlruns").as_uri()
    with pytest.raises(UserInputError, match="run folder not found"):
        log_run(tmp_path / "nope", uri)
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserInputError, match="not a run folder"):
        log_run(tmp_path / "file", uri)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "run.json").write_text(json.dumps({"run_id": "empty", "suite": {"name": "s"}}))
    with pytest.raises(UserInputError, match=r"run has no records: records\.jsonl is missing or empty"):
        log_run(empty, uri)
    (empty / "records.jsonl").write_text("")
    with pytest.raises(UserInputError, match="run has no records"):
        log_run(empty, uri)
    assert not (tmp_path / "mlruns").exists()  # nothing was created for a bad folder


def test_a_tracking_uri_mlflow_cannot_open_is_a_user_input_error(logged):
    with pytest.raises(UserInputError, match="nosuchscheme://x: MLflow cannot use this tracking store"):
        log_run(logged["run"], "nosuchscheme://x")


def test_without_mlflow_the_error_says_how_to_install(logged, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # `import mlflow` raises ImportError
    with pytest.raises(HarnessError, match=r"pip install mlflow") as info:
        log_run(logged["run"], "sqlite:///unused.db")
    assert not isinstance(info.value, UserInputError)


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("latency_ms.p50", "latency_ms.p50"),
        ("clip score (ViT-B/32)", "clip score _ViT-B/32_"),
        ("fid@10k", "fid_10k"),
        ("a//b", "a/b"),
        ("/lead/", "lead"),
        ("../up", "_/up"),
        ("a/./b", "a/_/b"),
        ("ünï", "_n_"),
        ("", "_"),
        ("x" * 300, "x" * 250),
    ],
)
def test_metric_keys_are_what_mlflow_accepts(name, key):
    from mlflow.utils.validation import _validate_metric_name

    assert mlflow_key(name) == key
    _validate_metric_name(key)

"""Faults: a run killed with SIGKILL keeps its records and resumes; Ctrl-C records the job as interrupted;
NaN outputs make quality invalid; pickle weights are refused unless the card allows them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from harness.cli import main
from harness.core.samples import Samples
from harness.results import RunStore
from tests.helpers import ROOT, tiny_suite


def _three_variant_suite(write_yaml):
    suite = tiny_suite()
    suite["models"][0]["variants"].append({"name": "s3", "overrides": {"steps": 3}})
    # At least a second of timed loop per job: a kill sent right after the first record lands in the second.
    suite["measurement"] = {
        "warmup": 1,
        "min_iterations": 3,
        "max_iterations": 10_000,
        "min_duration_s": 1.0,
        "timeout_s": 300,
    }
    return write_yaml("s.yaml", suite)


def _default_sigint() -> None:
    # A test run started in the background (`cmd &` in a script, as CI runners may) inherits SIGINT ignored,
    # and Python then installs no KeyboardInterrupt handler: give the harness the terminal's default.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(argv, tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "harness", *argv],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=_default_sigint,
    )


def _wait_for_records(out_dir: Path, n: int, proc, timeout: float = 600) -> Path:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        runs = [p for p in out_dir.glob("*") if (p / "records.jsonl").exists()]
        if runs and len((runs[0] / "records.jsonl").read_text().splitlines()) >= n:
            return runs[0]
        if proc.poll() is not None:
            pytest.fail(f"the run ended early: {proc.stderr.read()}")
        time.sleep(0.2)
    pytest.fail("no record appeared in time")


def _table(records):
    return [(r.job_id, r.status, r.metrics["psnr"].value if "psnr" in r.metrics else None) for r in records]


@pytest.mark.slow
def test_sigkill_then_resume_gives_the_uninterrupted_result(write_yaml, tmp_path, capsys):
    suite = _three_variant_suite(write_yaml)
    # The uninterrupted reference.
    assert main(["run", str(suite), "--out", str(tmp_path / "ref"), "--device", "cpu"]) == 0
    reference = RunStore.open(capsys.readouterr().out.strip().splitlines()[-1]).records()
    # Killed with SIGKILL after the first record: the whole process group, workers included.
    proc = _start(["run", str(suite), "--out", str(tmp_path / "killed"), "--device", "cpu"], tmp_path)
    run = _wait_for_records(tmp_path / "killed", 1, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = RunStore.open(run).records()
    assert len(kept) in (1, 2) and all(r.status == "ok" for r in kept)
    assert main(["run", "--resume", str(run)]) == 0
    out = capsys.readouterr().out
    assert f"{len(kept)} of 3 jobs already recorded" in out
    resumed = RunStore.open(run).records()
    assert _table(resumed) == _table(reference)  # same jobs, same outcomes, same deterministic metrics
    assert main(["report", str(run)]) == 0 and (run / "report.md").is_file()


@pytest.mark.slow
def test_ctrl_c_records_the_job_as_interrupted(write_yaml, tmp_path):
    suite = _three_variant_suite(write_yaml)
    # Each job's timed loop lasts at least 3 s, so the Ctrl-C sent 1 s after the first record lands inside the
    # second job (a job's fixed cost is now a tenth of a second: without this the run could end first).
    with open(suite) as fh:
        data = yaml.safe_load(fh)
    data["measurement"].update(min_duration_s=3.0, max_iterations=10_000)
    suite.write_text(yaml.safe_dump(data))
    proc = _start(["run", str(suite), "--out", str(tmp_path), "--device", "cpu"], tmp_path)
    run = _wait_for_records(tmp_path, 1, proc)
    time.sleep(1.0)  # inside the second job
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "harness run --resume" in err and "Traceback" not in err
    records = RunStore.open(run).records()
    assert records[0].status == "ok"
    assert records[-1].status == "interrupted" and records[-1].error.type == "KeyboardInterrupt"
    assert main(["report", str(run)]) == 0  # the report still builds
    assert main(["run", "--resume", str(run)]) == 0
    assert [r.status for r in RunStore.open(run).records()] == ["ok", "ok", "ok"]


def test_nan_outputs_make_quality_invalid(tmp_path):

    from harness.config import load_suite
    from harness.config.plan import plan
    from harness.execute.worker import run_metrics

    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(tiny_suite()))
    job = plan(load_suite(path))[1]
    data = np.full((2, 32, 32, 3), 0.5, dtype=np.float32)
    data[0, 0, 0, 0] = np.nan
    out = run_metrics(job, Samples("image", data, seeds=[0, 1]), tmp_path)
    assert {v.status for v in out.values()} == {"invalid"}
    assert out["psnr"].reason == "the outputs contain NaN or Inf"


@pytest.mark.slow
def test_pickle_weights_refused_unless_allowed(write_yaml, tmp_path, capsys):
    from harness.loaders.from_config import build_pipeline_from_config_dir

    build_pipeline_from_config_dir(ROOT / "model_cards/configs/tiny-sd").save_pretrained(
        tmp_path / "pkl", safe_serialization=False
    )
    card = {
        "name": "pkl",
        "modality": "image",
        "task": "text-to-image",
        "pipeline": "StableDiffusionPipeline",
        "source": {"kind": "local", "path": "../pkl"},
        "defaults": {"steps": 1, "resolution": 32},
        "license": "mit",
    }
    write_yaml("model_cards/pkl.yaml", card)
    suite = write_yaml(
        "s.yaml", tiny_suite(models=[{"card": "pkl"}], metrics=[], objectives={"latency_ms.p50": "min"})
    )
    assert (
        main(["run", str(suite), "--out", str(tmp_path / "r1"), "--isolation", "none", "--device", "cpu"])
        == 1
    )
    (rec,) = RunStore.open(capsys.readouterr().out.strip().splitlines()[-1]).records()
    assert "pickle checkpoints (.bin, .pt, .ckpt) are refused" in rec.error.message
    write_yaml("model_cards/pkl.yaml", {**card, "allow_pickle": True})
    assert (
        main(["run", str(suite), "--out", str(tmp_path / "r2"), "--isolation", "none", "--device", "cpu"])
        == 0
    )


def test_path_outside_allowed_roots(write_yaml, tmp_path, capsys, monkeypatch):
    import shutil
    import tempfile

    outside = Path(tempfile.mkdtemp(prefix="harness-outside-"))  # not under tmp_path, the cwd or the repo
    shutil.copy(
        ROOT / "model_cards" / "configs" / "tiny-sd" / "model_index.json", outside / "model_index.json"
    )
    card = {
        "name": "evil",
        "modality": "image",
        "task": "text-to-image",
        "pipeline": "StableDiffusionPipeline",
        "source": {"kind": "local", "path": str(outside)},
        "license": "mit",
    }
    path = write_yaml("model_cards/evil.yaml", card)
    assert main(["validate", str(path)]) == 2
    assert "resolves outside the allowed folders" in capsys.readouterr().err
    monkeypatch.setenv("HARNESS_ALLOWED_ROOTS", str(outside))
    assert main(["validate", str(path)]) == 0  # allowed explicitly
    shutil.rmtree(outside)


def test_hostile_names_render_harmlessly(tmp_path):
    from harness.config.plan import job_id
    from harness.report import build_report

    hostile = "<script>alert(1)</script>; rm -rf / && ../../x|`id`"
    store = RunStore.create(tmp_path, "s")
    store.write_meta(
        {"suite": {"name": hostile, "objectives": {"latency_ms.p50": "min", "peak_rss_mib": "min"}}}
    )
    store.append(
        {
            "job_id": job_id(hostile, hostile, "eager"),
            "model": hostile,
            "variant": hostile,
            "backend": "eager",
            "status": "ok",
            "modality": "image",
            "precision": "fp32",
            "latency_ms": {
                "n": 1,
                "p50": 1.0,
                "p90": 1.0,
                "p99": 1.0,
                "mean": 1.0,
                "std": 0.0,
                "cv": 0.0,
                "min": 1.0,
                "max": 1.0,
                "samples": [1.0],
            },
            "memory": {"peak_rss_mib": 10.0},
            "metrics": {},
        }
    )
    build_report(store.path)
    md = (store.path / "report.md").read_text()
    assert "<script>" not in md and "&lt;script&gt;" in md
    html = (store.path / "report.html").read_text()
    assert "<script>alert(1)" not in html
    assert all("/" not in p.name and "<" not in p.name for p in store.path.iterdir())
    assert json.loads((store.path / "records.jsonl").read_text())["model"] == hostile


# ------------------------------------------------------------------------------------ out of memory


def _refused_allocation() -> BaseException:
    """What the CPU allocator raises when it refuses (a real torch error, not a stand-in)."""
    import torch

    try:
        torch.empty(2**62, dtype=torch.uint8)
    except RuntimeError as exc:
        return exc
    raise AssertionError("the allocator accepted 4 EiB")


def test_refused_allocations_get_out_of_memory_advice():
    import torch

    from harness.core.errors import OOM_ADVICE, advice_for

    cpu = _refused_allocation()
    assert "can't allocate memory" in str(cpu)
    assert advice_for(cpu) == OOM_ADVICE
    cuda = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
    assert advice_for(cuda) == OOM_ADVICE
    assert advice_for(MemoryError()) == OOM_ADVICE
    assert advice_for(RuntimeError("Failed to allocate memory for requested buffer of size 9")) == OOM_ADVICE
    assert advice_for(ValueError("height must be divisible by 8")) is None


@pytest.mark.slow
def test_a_job_refused_memory_is_failed_with_advice_and_the_run_goes_on(
    write_yaml, tmp_path, capsys, monkeypatch
):
    from harness.loaders.diffusers_pipeline import DiffusersGenerator

    original = DiffusersGenerator.generate

    def generate(self, request):
        if request.call.steps == 1:  # the s1 variant asks for more memory than there is
            raise _refused_allocation()
        return original(self, request)

    monkeypatch.setattr(DiffusersGenerator, "generate", generate)
    suite = write_yaml("s.yaml", tiny_suite())
    argv = ["run", str(suite), "--out", str(tmp_path / "r"), "--isolation", "none", "--device", "cpu"]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert (
        "FAILED RuntimeError: [enforce fail at alloc_cpu.cpp" in out
        and "→ out of memory: try a smaller batch_size" in out
    )
    recs = RunStore.open(out.strip().splitlines()[-1]).records()
    assert [r.status for r in recs] == ["ok", "failed"]
    assert recs[1].error.advice.startswith("out of memory") and recs[1].error.stage == "warmup"

"""`make gpu-check` on the CPU: the same script, on the tiny card at 32 px (no GPU is needed for CI)."""

from __future__ import annotations

import pytest
import yaml

from harness.cli.gpucheck import main
from harness.config import load_suite
from harness.config.plan import check_suite
from harness.doctor.gpucheck import Row, backend_suite, to_markdown


def test_the_committed_gpu_suite_validates_and_the_quick_one_too(tmp_path):
    from tests.helpers import ROOT

    suite = load_suite(ROOT / "suites" / "gpu-check.yaml")
    check_suite(suite)
    assert suite.models[0].card == "sd15-arch" and suite.backends == ["eager", "compile", "onnxruntime"]
    quick = load_suite(backend_suite("cpu", True, tmp_path))
    check_suite(quick)
    assert quick.backends == ["eager", "onnxruntime"] and quick.device == "cpu"
    full = yaml.safe_load(backend_suite("cuda", False, tmp_path).read_text())
    assert full["models"][0]["variants"][0]["overrides"] == {"steps": 20, "resolution": 512}


def test_the_table_escapes_cells():
    md = to_markdown([Row("a", "x | y", "1 ms", "n\nm")], "cpu", 90.0, "header")
    assert "| a | x / y | 1 ms | n m |" in md and "Wall time 1.5 min." in md


@pytest.mark.slow
def test_quick_cpu_run_of_every_step(tmp_path, capsys):
    out = tmp_path / "gpu-check.md"
    code = main(["--device", "cpu", "--quick", "--out", str(out), "--runs", str(tmp_path / "runs")])
    md = out.read_text()
    assert code == 0, md
    steps = {
        line.split(" | ")[0].lstrip("| ")
        for line in md.splitlines()
        if line.startswith("| ") and "---" not in line
    }
    assert {"doctor", "smoke", "backends", "memory", "energy", "cost", "timing"} <= steps
    assert "6 of 6 jobs ok" in md and "tiny-sd / fp32-32-4 / onnxruntime" in md
    assert "harness p50 / raw perf_counter loop p50 | ×" in md


def test_bad_flags(tmp_path, capsys):
    assert main(["--device", "cpu", "--steps", "doctor,nope", "--out", str(tmp_path / "x.md")]) == 2
    assert "--steps: unknown step 'nope'" in capsys.readouterr().err
    assert main(["--device", "cpu", "--out", str(tmp_path / "no" / "x.md")]) == 2


def test_the_backend_rows_come_from_typed_records_not_the_cli(tmp_path, monkeypatch):
    """#25 item 2: the GPU check runs its suites through the library and builds its rows from the records'
    typed fields (numbers formatted by harness.core.numfmt); it never calls the CLI."""
    import harness.cli
    from harness.doctor import gpucheck
    from harness.doctor.suite_run import SuiteRun
    from harness.results.record import Energy, Latency, Memory, MetricResult, Record

    def lat(p50: float) -> Latency:
        return Latency(n=1, p50=p50, p90=p50, p99=p50, mean=p50, std=0.0, cv=0.0, min=p50, max=p50)

    common = {"job_id": "j", "model": "tiny-sd", "variant": "v", "status": "ok", "compile_s": 0.0}
    eager = Record(
        **common,
        backend="eager",
        latency_ms=lat(200.0),
        memory=Memory(peak_rss_mib=1234.56),
        energy=Energy(reason="no energy counter here: rapl absent"),
    )
    ort = Record(
        **{**common, "compile_s": 1.23456},
        backend="onnxruntime",
        latency_ms=lat(100.0),
        memory=Memory(peak_rss_mib=2000.0, peak_vram_allocated_mib=512.0),
        energy=Energy(energy_per_item_j=0.123456, sources=["nvml"]),
        metrics={"max_abs_diff": MetricResult(value=2.5e-6, higher_is_better=False)},
    )
    failed = Record(job_id="k", model="tiny-sd", variant="v", backend="compile", status="failed")
    runs = []

    def fake_run(path, out, device=None):
        runs.append(path)
        return SuiteRun([eager, ort, failed], 1, tmp_path)

    def no_cli(*args, **kwargs):
        raise AssertionError("the GPU check called the CLI")

    monkeypatch.setattr(gpucheck, "run_suite", fake_run)
    monkeypatch.setattr(harness.cli, "main", no_cli)
    rows = gpucheck.backend_rows("cpu", True, tmp_path, tmp_path)
    assert runs == [tmp_path / "gpu-check-suite.yaml"]
    table = {(r.step, r.what): (r.result, r.note) for r in rows}
    assert table[("backends", "tiny-sd / v / eager")] == ("p50 200 ms; compile 0 s", "")
    assert table[("backends", "tiny-sd / v / onnxruntime")] == (
        "p50 100 ms, ×2.00 vs eager; compile 1.23 s",
        "max |diff| vs eager 2.5e-06",
    )
    assert table[("memory", "tiny-sd / v / eager")] == (
        "allocator peak –, reserved –, NVML per-process peak –",
        "RSS 1235 MiB",
    )
    assert table[("energy", "tiny-sd / v / eager")] == ("not measured", "no energy counter here: rapl absent")
    assert table[("energy", "tiny-sd / v / onnxruntime")] == ("0.1235 J per image", "nvml")
    assert table[("backends", "tiny-sd / v / compile")] == ("failed", "")


def test_a_suite_that_cannot_run_is_its_row_with_exit_2(tmp_path, monkeypatch):
    """#25 item 2: bad input to a suite (here an unknown key) is the row `did not run (exit 2)` with the
    library's one-line error, before any job runs; the GPU check then exits 1."""
    from harness.doctor import gpucheck

    bad = tmp_path / "gpu-check-suite.yaml"
    bad.write_text("name: x\nmodels: [{card: tiny-sd}]\nbogus: 1\n")
    monkeypatch.setattr(gpucheck, "backend_suite", lambda device, quick, workdir: bad)
    (row,) = gpucheck.backend_rows("cpu", True, tmp_path / "runs", tmp_path)
    assert (row.step, row.what, row.result) == ("backends", "gpu-check-suite.yaml", "did not run (exit 2)")
    assert row.note.startswith("error: ") and "bogus" in row.note and gpucheck.failed([row])
    assert not (tmp_path / "runs").exists()

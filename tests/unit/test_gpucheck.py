"""`make gpu-check` on the CPU: the same script, on the tiny card at 32 px (no GPU is needed for CI)."""

from __future__ import annotations

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

"""Backends end to end on the tiny text-to-image card (CPU)."""

from __future__ import annotations

import importlib.util

import pytest

from harness.cli import main
from harness.results import RunStore
from tests.helpers import has_cuda, tiny_suite


def _suite(backends, options=None, **over):
    variant = {"name": "s2", "overrides": {"steps": 2}}
    models = [{"card": "tiny-sd", "variants": [variant]}]
    s = tiny_suite(
        models=models,
        backends=backends,
        metrics=["psnr", "max_abs_diff"],
        fidelity_bounds=[{"metric": "max_abs_diff", "max": 1e-3}],
        **over,
    )
    if options:
        s["models"][0]["variants"] = [
            {**variant, "name": f"s2-{b}", "backend": b, "backend_options": options.get(b, {})}
            for b in backends
        ]
        s["models"][0]["baseline"] = f"s2-{backends[0]}"
    return s


def _records(capsys):
    return RunStore.open(capsys.readouterr().out.strip().splitlines()[-1]).records()


def test_onnxruntime_matches_eager_and_second_run_hits_cache(write_yaml, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    path = write_yaml(
        "s.yaml", _suite(["eager", "onnxruntime"], options={"onnxruntime": {"exporter": "legacy"}})
    )
    argv = ["run", str(path), "--out", str(tmp_path / "r"), "--isolation", "none", "--device", "cpu"]
    assert main(argv) == 0
    _, ort = _records(capsys)
    assert ort.backend == "onnxruntime" and ort.cache_hit is False and ort.compile_s > 0
    assert set(ort.backend_details) == {"denoiser", "vae_decoder", "text_encoder"}
    assert all(
        d["exporter"] == "legacy" and d["provider"] == "CPUExecutionProvider"
        for d in ort.backend_details.values()
    )
    assert ort.metric_value("max_abs_diff") <= 1e-3  # fp32 ORT reproduces eager outputs
    assert ort.fidelity.ok is True and ort.fidelity.violations == []
    exported = {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").rglob("model.onnx")}
    assert len(exported) == 3
    assert main(argv) == 0
    _, ort2 = _records(capsys)
    assert ort2.cache_hit is True
    # Nothing was exported again (how much time that saves is measured by suites/backends.yaml, not asserted).
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").rglob("model.onnx")} == exported
    assert ort2.capture_s > 0 and ort2.prepare_s >= ort2.compile_s
    assert ort2.metric_value("max_abs_diff") == ort.metric_value("max_abs_diff")
    assert main(["cache", "ls"]) == 0 and "3 entries" in capsys.readouterr().out


def test_fidelity_bound_violation_is_flagged(write_yaml, tmp_path, capsys):
    suite = _suite(["eager"])
    suite["models"][0]["variants"].append({"name": "s1", "overrides": {"steps": 1}})
    suite["models"][0]["baseline"] = "s2"
    assert (
        main(
            [
                "run",
                str(write_yaml("s.yaml", suite)),
                "--out",
                str(tmp_path),
                "--isolation",
                "none",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    _, fast = _records(capsys)
    assert fast.status == "ok" and fast.fidelity.ok is False
    assert fast.fidelity.violations[0].startswith("max_abs_diff ")
    assert main(["report", str(tmp_path / next(p.name for p in tmp_path.iterdir() if p.is_dir()))]) == 0


@pytest.mark.skipif(
    importlib.util.find_spec("tensorrt") is not None and has_cuda(), reason="TensorRT present"
)
def test_tensorrt_selected_where_absent_fails_the_job_clearly(write_yaml, tmp_path, capsys):
    path = write_yaml("s.yaml", _suite(["tensorrt"]))
    assert main(["run", str(path), "--out", str(tmp_path), "--isolation", "none", "--device", "cpu"]) == 1
    (rec,) = _records(capsys)
    assert rec.status == "failed"
    assert rec.error.type in ("TensorRTNotAvailable", "HarnessError")
    assert "TensorRT" in rec.error.message or "--device cuda" in rec.error.message


@pytest.mark.tensorrt
@pytest.mark.gpu
@pytest.mark.skipif(
    importlib.util.find_spec("tensorrt") is None or not has_cuda(), reason="needs TensorRT and a GPU"
)
def test_tensorrt_engine_on_gpu(write_yaml, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    path = write_yaml("s.yaml", _suite(["eager", "tensorrt"], options={"tensorrt": {"fp16": False}}))
    assert main(["run", str(path), "--out", str(tmp_path / "r"), "--device", "cuda"]) == 0
    _, trt = _records(capsys)
    assert trt.status == "ok" and trt.metric_value("max_abs_diff") < 1e-2

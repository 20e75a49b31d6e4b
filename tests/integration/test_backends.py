"""Backends end to end on the tiny text-to-image card (CPU)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.backends.cache import ArtifactCache
from harness.cli import main
from harness.results import RunStore
from tests.helpers import ROOT, has_cuda, tiny_suite


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


def _card_leaving_defaults(tmp_path: Path) -> Path:
    """tiny-sd whose UNet config leaves keys to diffusers' defaults, as a hub config written by an older
    diffusers does (diffusers then lists them in `_use_default_values`, in an order that follows the hash seed)."""
    configs = tmp_path / "cards" / "configs" / "tiny-sd"
    shutil.copytree(ROOT / "model_cards" / "configs" / "tiny-sd", configs)
    unet = json.loads((configs / "unet" / "config.json").read_text())
    for key in ("attention_type", "dropout", "conv_in_kernel", "upcast_attention", "use_linear_projection"):
        unet.pop(key)
    (configs / "unet" / "config.json").write_text(json.dumps(unet))
    card = tmp_path / "cards" / "tiny-sd.yaml"
    shutil.copy(ROOT / "model_cards" / "tiny-sd.yaml", card)
    return card


def _run_in_a_process(argv: list[str], env: dict[str, str]) -> list:
    done = subprocess.run(
        [sys.executable, "-m", "harness", *argv], env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return RunStore.open(done.stdout.strip().splitlines()[-1]).records()


def test_a_session_from_the_saved_optimized_graph_gives_the_same_outputs(tmp_path):
    """#24 "Done when" (a cache hit's compile_s): ORT optimises a graph at every session; the graph it optimised
    once is saved, weights beside it, and a session built from it with optimisation off gives the same outputs,
    bit for bit."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from harness.backends.onnxruntime import OrtRunner

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.BatchNorm2d(8),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 4, 1),
    ).eval()
    x = torch.randn(2, 3, 16, 16)
    src = tmp_path / "model.onnx"
    torch.onnx.export(net, (x,), str(src), dynamo=False, input_names=["x"])
    saved = tmp_path / "opt" / "model.onnx"
    saved.parent.mkdir()
    first = OrtRunner(src, "cpu", "cpu", 1, torch.float32, "all", False, save_optimized=saved)
    assert saved.is_file() and (saved.parent / "model.onnx.data").is_file()
    again = OrtRunner(saved, "cpu", "cpu", 1, torch.float32, "disable", False)
    (a,), (b,) = first([x]), again([x])
    assert torch.equal(a, b) and torch.allclose(a, net(x), atol=1e-5)


@pytest.mark.slow
def test_onnxruntime_matches_eager_and_second_run_hits_cache(write_yaml, tmp_path, capsys, monkeypatch):
    """#24 item 1: the second run of the same onnxruntime job, in another process with another hash seed, is
    a cache hit; #23 item 6: files of the user's in the cache folder survive both runs and every command."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(cache))
    (cache / "onnxruntime" / "keep").mkdir(parents=True)
    (cache / "onnxruntime" / "mine.txt").write_text("mine")
    (cache / "notes.txt").write_text("mine too")
    suite = _suite(["eager", "onnxruntime"], options={"onnxruntime": {"exporter": "legacy"}})
    suite["models"][0]["card"] = str(_card_leaving_defaults(tmp_path))
    path = write_yaml("s.yaml", suite)
    argv = ["run", str(path), "--out", str(tmp_path / "r"), "--isolation", "none", "--device", "cpu"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HARNESS_CACHE_DIR": str(cache), "OMP_NUM_THREADS": "2"}
    _, ort = _run_in_a_process(argv, {**env, "PYTHONHASHSEED": "1"})
    assert ort.backend == "onnxruntime" and ort.cache_hit is False and ort.compile_s > 0
    assert set(ort.backend_details) == {"denoiser", "vae_decoder", "text_encoder"}
    assert all(
        d["exporter"] == "legacy" and d["provider"] == "CPUExecutionProvider"
        for d in ort.backend_details.values()
    )
    assert ort.metric_value("max_abs_diff") <= 1e-3  # fp32 ORT reproduces eager outputs
    assert ort.fidelity.ok is True and ort.fidelity.violations == []
    exported = {p: p.stat().st_mtime_ns for p in cache.rglob("model.onnx")}
    assert len(exported) == 6  # each component's export, and the graph ORT optimised from it
    assert {d["session_from"] for d in ort.backend_details.values()} == {"export"}
    _, ort2 = _run_in_a_process(argv, {**env, "PYTHONHASHSEED": "2"})
    assert ort2.cache_hit is True
    assert {d["session_from"] for d in ort2.backend_details.values()} == {"optimized cache"}
    assert {role: d["cache_key"] for role, d in ort2.backend_details.items()} == {
        role: d["cache_key"] for role, d in ort.backend_details.items()
    }
    # Nothing was exported again (how much time that saves is measured by suites/backends.yaml, not asserted).
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("model.onnx")} == exported
    assert ort2.capture_s > 0 and ort2.prepare_s >= ort2.compile_s
    # what a hit costs, per component: hashing the module for its key, and ORT's session
    assert all(d["key_s"] > 0 and d["session_s"] > 0 for d in ort2.backend_details.values())
    assert sum(d["key_s"] + d["session_s"] for d in ort2.backend_details.values()) <= ort2.compile_s
    assert ort2.metric_value("max_abs_diff") == ort.metric_value("max_abs_diff")
    assert main(["cache", "ls", "--backend", "onnxruntime"]) == 0
    out = capsys.readouterr().out
    assert (
        "6 entries" in out
        and out.count(" (opt) ") == 3
        and "left alone: onnxruntime/keep/, onnxruntime/mine.txt" in out
    )
    assert main(["cache", "clear"]) == 2 and "nothing removed" in capsys.readouterr().err
    assert main(["cache", "gc", "--max-gb", "0"]) == 0 and ArtifactCache(cache).entries() == []
    assert (cache / "notes.txt").read_text() == "mine too" and (cache / "onnxruntime" / "mine.txt").is_file()
    assert (cache / "onnxruntime" / "keep").is_dir()


@pytest.mark.slow
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

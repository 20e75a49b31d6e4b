"""Backend machinery that runs without a GPU or TensorRT: cache keys, call capture, profiles, errors."""

from __future__ import annotations

import importlib.util
import sys
from typing import ClassVar

import pytest
import torch

from harness.backends import BACKENDS
from harness.backends.cache import ArtifactCache
from harness.backends.export import (
    CallMismatch,
    capture_calls,
    flatten,
    make_standin,
    same_structure,
    unflatten,
)
from harness.backends.keys import module_fingerprint
from harness.backends.tensorrt import TensorRTNotAvailable, import_tensorrt, optimization_profile
from harness.core.errors import UserInputError

HAS_TRT = importlib.util.find_spec("tensorrt") is not None


def test_cache_hit_miss_commit_and_clear(tmp_path):
    cache = ArtifactCache(tmp_path)
    parts = {"component": "denoiser", "shapes": [[1, 4, 8, 8]], "torch": "x"}
    e = cache.entry("onnxruntime", parts)
    assert not e.hit
    e.file("model.onnx").write_bytes(b"abc")
    assert not cache.entry("onnxruntime", parts).hit  # not committed: a half-built artifact is no hit
    e = cache.entry("onnxruntime", parts)
    e.file("model.onnx").write_bytes(b"abc")
    e.commit(exporter_used="legacy")
    again = cache.entry("onnxruntime", parts)
    assert again.hit and again.key == e.key and again.file("model.onnx").read_bytes() == b"abc"
    assert cache.entry("onnxruntime", {**parts, "shapes": [[2, 4, 8, 8]]}).key != e.key
    (listed,) = [x for x in cache.entries() if x.meta.get("exporter_used")]
    assert listed.backend == "onnxruntime" and listed.size_bytes > 0
    for held in (e, again):  # in use by this process until released: never removed under it
        held.release()
    # the [[2, 4, 8, 8]] entry is still being built by this process: kept
    assert cache.clear("onnxruntime") == (1, 1) and not cache.entry("onnxruntime", parts).hit


def test_cache_location_env(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "c"))
    assert ArtifactCache().root == tmp_path / "c"


def test_module_fingerprint_follows_weights():
    torch.manual_seed(0)
    m = torch.nn.Linear(4, 4)
    a = module_fingerprint(m)
    assert module_fingerprint(m) == a
    with torch.no_grad():
        m.weight[0, 0] += 1e-3
    assert module_fingerprint(m) != a


def test_flatten_round_trip_and_structure():
    t = torch.ones(2, 3)
    tensors: list = []
    spec = flatten(
        ([t, 5], {"mask": None, "flag": False, "extra": {"x": t}}), tensors, numbers_as_tensors=True
    )
    assert len(tensors) == 3 and tensors[1].item() == 5.0  # the Python timestep became a tensor input
    args, kwargs = unflatten(spec, tensors)
    assert args[0] is t and kwargs["mask"] is None and kwargs["flag"] is False and kwargs["extra"]["x"] is t
    other: list = []
    spec2 = flatten(([t, 7], {"mask": None, "flag": True, "extra": {"x": t}}), other, numbers_as_tensors=True)
    assert "constant False vs True" in same_structure(spec, spec2)
    assert same_structure(spec, spec) is None


def test_standin_runs_replacement_and_rejects_other_calls():
    class Den(torch.nn.Module):
        config: ClassVar[dict] = {"in_channels": 4}

        def forward(self, x, t, return_dict=True):
            return (x * 2 + t,)

    den = Den()

    class Gen:
        def components(self):
            return {"denoiser": den}

    calls = capture_calls(Gen(), lambda: den(torch.ones(1, 4), 3, return_dict=False), ["denoiser"])
    call = calls["denoiser"]
    assert [tuple(x.shape) for x in call.example] == [(1, 4), ()]
    standin = make_standin(den, call, lambda ts: [ts[0] * 2 + ts[1]])
    out = standin(torch.zeros(1, 4), 1, return_dict=False)
    assert isinstance(out, tuple) and torch.equal(out[0], torch.ones(1, 4))
    assert standin.config == {"in_channels": 4}
    with pytest.raises(CallMismatch, match=r"denoiser: the pipeline called it differently .*True"):
        standin(torch.zeros(1, 4), 1, return_dict=True)


def test_tensorrt_profile():
    prof = optimization_profile(
        [[2, 4, 64, 64], [2], [2, 77, 768], []], min_batch=1, max_batch=8, spatial_range=(0.5, 2.0)
    )
    assert prof[0] == ((1, 4, 32, 32), (2, 4, 64, 64), (8, 4, 128, 128))
    assert prof[1] == ((1,), (2,), (8,))
    assert prof[2] == ((1, 77, 384), (2, 77, 768), (8, 77, 1536))
    assert prof[3] == ((), (), ())
    assert optimization_profile([[2, 4, 8, 8]], min_batch=1, max_batch=None, spatial_range=(1.0, 1.0))[0][
        2
    ] == (2, 4, 8, 8)
    with pytest.raises(ValueError, match=r"max_batch 1 is below the timed batch 2"):
        optimization_profile([[2, 4]], min_batch=1, max_batch=1, spatial_range=(1.0, 1.0))
    with pytest.raises(ValueError, match=r"spatial_range must satisfy"):
        optimization_profile([[2, 4]], min_batch=1, max_batch=2, spatial_range=(1.5, 2.0))


@pytest.mark.skipif(HAS_TRT, reason="checks the error when TensorRT is absent")
def test_tensorrt_absent_is_a_clear_error():
    with pytest.raises(
        TensorRTNotAvailable, match=r"TensorRT is not usable here .*pip install -e '\.\[tensorrt\]'"
    ):
        import_tensorrt()


def test_backend_options_are_strict():
    ort = BACKENDS.get("onnxruntime")
    with pytest.raises(
        UserInputError, match=r"onnxruntime backend options: exportr: unknown key \(did you mean 'exporter'"
    ):
        ort.parse_options({"exportr": "legacy"})
    with pytest.raises(UserInputError, match=r"provider: 'tpu' is not allowed"):
        ort.parse_options({"provider": "tpu"})
    assert BACKENDS.get("compile").parse_options({"mode": "reduce-overhead"}).mode == "reduce-overhead"


def test_onnxruntime_missing_names_the_install_command(monkeypatch):
    """#24 item 6: without ONNX Runtime the backend fails in one line that says how to install it (make demo
    installs only the metrics extra: its suite runs eager)."""
    from harness.backends.base import BackendUnavailable

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` now raises ImportError
    with pytest.raises(
        BackendUnavailable,
        match=r"^the onnxruntime backend needs ONNX Runtime, which is not installed here \(.*\): "
        r"install the onnx extra with `pip install -e '\.\[onnx\]'` \(onnx, onnxscript, onnxruntime\)$",
    ):
        BACKENDS.get("onnxruntime")().prepare(None, None)


def test_onnxruntime_missing_fails_the_job_not_the_run(write_yaml, tmp_path, capsys, monkeypatch):
    """#24 item 6: the job is a failed record with that line; the run says it and goes on."""
    from harness.cli import main
    from harness.results import RunStore
    from tests.helpers import tiny_suite

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    suite = tiny_suite(backends=["onnxruntime"], metrics=["psnr"])
    suite["models"][0]["variants"] = [{"name": "s2", "overrides": {"steps": 2}}]
    path = write_yaml("s.yaml", suite)
    argv = ["run", str(path), "--out", str(tmp_path), "--isolation", "none", "--device", "cpu"]
    assert main(argv) == 1
    out = capsys.readouterr().out
    (rec,) = RunStore.open(out.strip().splitlines()[-1]).records()
    assert (
        rec.status == "failed"
        and rec.error.type == "BackendUnavailable"
        and rec.error.stage.startswith("prepare")
    )
    assert "install the onnx extra with `pip install -e '.[onnx]'`" in rec.error.message
    assert "tiny-sd / s2 / onnxruntime: FAILED BackendUnavailable: the onnxruntime backend needs" in out


class _Affine(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(8, 8)

    def forward(self, *tensors):  # flat tensors in, a tuple out: what export_onnx receives (FlatCall)
        return (self.lin(tensors[0]),)


@pytest.mark.parametrize("exporter", [pytest.param("dynamo", marks=pytest.mark.slow), "legacy"])
def test_a_small_export_is_one_self_contained_file(exporter, tmp_path):
    """#24 item 6: below the external-data threshold the ONNX file holds its weights; nothing beside it."""
    from harness.backends.onnx_export import export_onnx, needs_external_data

    torch.manual_seed(0)
    module, x = _Affine().eval(), torch.randn(2, 8)
    assert not needs_external_data(module)
    used = export_onnx(module, [x], tmp_path / "model.onnx", exporter=exporter, dynamic_batch=True, opset=18)
    assert used == exporter and [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


@pytest.mark.slow
def test_weights_past_the_threshold_go_to_external_data_that_runs(tmp_path, monkeypatch):
    """#24 item 6: above the threshold (protobuf's 2 GiB limit; lowered here to 0) the dynamo exporter is asked
    for external data: model.onnx.data beside model.onnx, and ONNX Runtime runs the pair as torch does."""
    import onnxruntime as ort

    from harness.backends import onnx_export as hort

    monkeypatch.setattr(hort, "EXTERNAL_DATA_ABOVE_BYTES", 0)
    torch.manual_seed(0)
    module, x = _Affine().eval(), torch.randn(2, 8)
    assert hort.needs_external_data(module) and hort.weight_bytes(module) == (64 + 8) * 4
    hort.export_onnx(module, [x], tmp_path / "model.onnx", exporter="dynamo", dynamic_batch=True, opset=18)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx", "model.onnx.data"]
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    assert torch.allclose(torch.from_numpy(got), module(x)[0], atol=1e-6)

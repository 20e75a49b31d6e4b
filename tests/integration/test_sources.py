"""Cards with a `local` source (a save_pretrained folder) and a `hub` source (offline: fails fast, clearly)."""

from __future__ import annotations

import pytest

from harness.cli import main
from harness.config import load_card
from harness.loaders.from_config import build_pipeline_from_config_dir
from harness.results import RunStore
from tests.helpers import ROOT, has_cuda, tiny_suite


@pytest.mark.slow
def test_local_card_written_from_the_readme_runs(tmp_path, write_yaml, capsys, monkeypatch):
    pipe = build_pipeline_from_config_dir(ROOT / "model_cards/configs/tiny-sd", seed=0)
    pipe.save_pretrained(tmp_path / "my-model")
    write_yaml(
        "model_cards/my-sd.yaml",
        {
            "name": "my-sd",
            "modality": "image",
            "task": "text-to-image",
            "pipeline": "StableDiffusionPipeline",
            "source": {"kind": "local", "path": "../my-model"},
            "dtype": "fp32",
            "defaults": {"steps": 2, "guidance_scale": 7.5, "resolution": 32},
            "license": "mit",
        },
    )
    card = load_card(tmp_path / "model_cards/my-sd.yaml")
    assert not card.random_weights
    # The suite names the card; it is found in model_cards/ beside the suite. FID needs Inception weights,
    # absent here: the metric is skipped with the reason, the rest of the job stands.
    import numpy as np

    np.savez(tmp_path / "ref.npz", mu=np.zeros(2048), sigma=np.eye(2048))
    monkeypatch.setenv("HARNESS_WEIGHTS_DIR", str(tmp_path / "no-weights"))
    suite = tiny_suite(
        models=[{"card": "my-sd", "variants": [{"name": "a"}, {"name": "b", "overrides": {"steps": 1}}]}],
        metrics=["psnr", {"name": "fid", "options": {"reference_path": "ref.npz"}}],
    )
    path = write_yaml("my-suite.yaml", suite)
    assert main(["validate", str(path), str(tmp_path / "model_cards")]) == 0
    assert (
        main(["run", str(path), "--out", str(tmp_path / "r"), "--isolation", "none", "--device", "cpu"]) == 0
    )
    run = capsys.readouterr().out.strip().splitlines()[-1]
    recs = RunStore.open(run).records()
    assert [r.status for r in recs] == ["ok", "ok"] and recs[0].random_weights is False
    assert recs[1].metrics["psnr"].status == "ok"
    fid = recs[1].metrics["fid"]
    assert fid.status == "skipped" and "pt_inception-2015-12-05-6726825d.pth" in fid.reason


def test_hub_card_offline_fails_fast_with_advice(tmp_path, write_yaml, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    write_yaml(
        "model_cards/remote.yaml",
        {
            "name": "remote",
            "modality": "image",
            "task": "text-to-image",
            "pipeline": "StableDiffusionPipeline",
            "source": {"kind": "hub", "repo_id": "someone/not-cached", "revision": "main"},
            "license": "mit",
        },
    )
    path = write_yaml("s.yaml", tiny_suite(models=[{"card": "remote"}]))
    assert (
        main(["run", str(path), "--out", str(tmp_path / "r"), "--isolation", "none", "--device", "cpu"]) == 1
    )
    run = capsys.readouterr().out.strip().splitlines()[-1]
    (rec,) = RunStore.open(run).records()
    assert rec.status == "failed" and rec.error.type == "HarnessError"
    msg = rec.error.message
    assert "HF_HUB_OFFLINE is set" in msg and "someone/not-cached@main" in msg
    assert "hf download someone/not-cached --revision main" in msg


@pytest.mark.gpu
@pytest.mark.skipif(not has_cuda(), reason="needs a CUDA device")
def test_tiny_cards_on_cuda(write_yaml, tmp_path, capsys):
    models = [
        {
            "card": c,
            "variants": [{"name": "a", "overrides": {"steps": 2}}, {"name": "b", "overrides": {"steps": 1}}],
        }
        for c in ("tiny-sd", "tiny-wan", "tiny-stable-audio")
    ]
    path = write_yaml("s.yaml", tiny_suite(models=models, metrics=["psnr"]))
    assert main(["run", str(path), "--out", str(tmp_path), "--device", "cuda"]) == 0
    recs = RunStore.open(capsys.readouterr().out.strip().splitlines()[-1]).records()
    for r in recs:
        assert r.device == "cuda" and r.memory.peak_vram_allocated_mib > 0
        assert r.environment.device_name and r.environment.cuda

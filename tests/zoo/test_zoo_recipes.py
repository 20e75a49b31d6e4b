"""Every recipe still trains: a few optimizer steps through `harness zoo train` (the same code path as a
full rebuild), and what it writes loads the way the committed weights do."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness.cli import main
from harness.zoo.recipes import RECIPES, GeneratorRecipe

pytest.importorskip("diffusers")
pytest.importorskip("sklearn")


def test_extractor_recipe_runs(tmp_path, capsys):
    out = tmp_path / "ext"
    assert main(["zoo", "train", "digits-extractor", "--out", str(out), "--steps", "3"]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["steps"] == 3 and cfg["architecture"]["feature_dim"] == 64
    from harness.metrics.feature_stats import StreamingStats

    stats = StreamingStats.from_npz(out / "digits_heldout_stats.npz")
    assert stats.n == 360 and stats.dim == 64
    assert stats.meta["extractor_sha256"] == cfg["weights_sha256"]
    assert stats.meta["floor"] > 0 and stats.meta["floor_n"] == 1000


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.slow) if n == "digits-large" else n  # digits-small stays fast
        for n, r in RECIPES.items()
        if isinstance(r, GeneratorRecipe) and r.modality == "image"
    ],
)
def test_generator_recipe_runs_and_loads_as_a_card(name, tmp_path, write_yaml, capsys):
    out = tmp_path / name
    assert main(["zoo", "train", name, "--out", str(out), "--steps", "2"]) == 0
    assert (out / "model_index.json").is_file() and (out / "zoo.json").is_file()
    sched = json.loads((out / "scheduler" / "scheduler_config.json").read_text())
    assert sched["clip_sample"] is False and sched["timestep_spacing"] == "trailing"

    from harness.config import CallArgs, load_card
    from harness.loaders import load_generator
    from harness.loaders.base import Request

    card = load_card(
        write_yaml(
            "card.yaml",
            {
                "name": "t",
                "modality": "image",
                "task": "class-conditional",
                "pipeline": "harness.zoo.pipeline:ClassConditionalPipeline",
                "source": {"kind": "local", "path": str(out)},
                "license": "apache-2.0",
            },
        )
    )
    gen = load_generator(card, "cpu", "fp32")
    call = CallArgs(
        steps=2,
        scheduler={"name": "DPMSolverMultistepScheduler", "config": {"algorithm_type": "dpmsolver++"}},
    )
    s = gen.generate(Request(seeds=[0, 1, 2], call=call, class_labels=[3, 4, 5]))
    assert s.data.shape == (3, 16, 16, 1) and s.data.dtype == np.float32
    assert s.data.min() >= 0.0 and s.data.max() <= 1.0
    assert s.labels == [3, 4, 5]


def test_training_is_bitwise_reproducible(tmp_path, capsys):
    for run in ("a", "b"):
        assert main(["zoo", "train", "digits-small", "--out", str(tmp_path / run), "--steps", "2"]) == 0
    blob = "unet/diffusion_pytorch_model.safetensors"
    assert (tmp_path / "a" / blob).read_bytes() == (tmp_path / "b" / blob).read_bytes()

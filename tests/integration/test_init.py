"""`harness init`: a card (and a starter suite) that validates, from a folder, the HF cache or a class."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from harness.cli import main
from harness.config import load_card, load_suite
from harness.config.infer import card_name_from, infer_modality_task
from harness.core.tensorfiles import safetensors_dtype
from tests.helpers import ROOT

SD_INDEX = {
    "_class_name": "StableDiffusionPipeline",
    "_diffusers_version": "0.30.0",
    "scheduler": ["diffusers", "PNDMScheduler"],
    "text_encoder": ["transformers", "CLIPTextModel"],
    "tokenizer": ["transformers", "CLIPTokenizer"],
    "unet": ["diffusers", "UNet2DConditionModel"],
    "vae": ["diffusers", "AutoencoderKL"],
    "safety_checker": [None, None],
}


def _weights(path: Path, dtype=np.float16) -> None:
    from safetensors.numpy import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({"w": np.zeros((2, 2), dtype=dtype), "b": np.zeros(2, dtype=dtype)}, str(path))


def _sd_folder(root: Path, *, variant_only: bool = False, license: str | None = "openrail") -> Path:
    """What save_pretrained writes for a Stable Diffusion pipeline, with tiny weight files."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "model_index.json").write_text(json.dumps(SD_INDEX))
    for comp, cfg in (("unet", {"sample_size": 64}), ("vae", {"block_out_channels": [128, 256, 512, 512]})):
        (root / comp).mkdir(exist_ok=True)
        (root / comp / "config.json").write_text(json.dumps(cfg))
    name = (
        "diffusion_pytorch_model.fp16.safetensors" if variant_only else "diffusion_pytorch_model.safetensors"
    )
    _weights(root / "unet" / name)
    if license:
        (root / "README.md").write_text(f"---\nlicense: {license}\ntags: [diffusers]\n---\n# A model\n")
    return root


def _hub_cache(cache: Path, repo_id: str, index: dict, files: dict[str, object]) -> Path:
    """A Hugging Face cache laid out as huggingface_hub writes it (refs/main → a snapshot folder)."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    (snap / "model_index.json").write_text(json.dumps(index))
    for rel, content in files.items():
        p = snap / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if content == "weights-fp16":
            _weights(p)
        else:
            p.write_text(json.dumps(content))
    return snap


@pytest.fixture
def project(tmp_path, monkeypatch):
    """An empty project folder as the current folder (init writes model_cards/ and suites/ under it)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    return tmp_path


def _card(project: Path, name: str) -> dict:
    return yaml.safe_load((project / "model_cards" / f"{name}.yaml").read_text())


def test_init_from_a_save_pretrained_folder(project, capsys):
    _sd_folder(project / "checkpoints" / "my-sd")
    assert main(["init", "checkpoints/my-sd"]) == 0
    out = capsys.readouterr().out
    assert (
        "wrote model_cards/my-sd.yaml: card 'my-sd' (image, text-to-image, StableDiffusionPipeline, fp16)"
        in out
    )
    card = _card(project, "my-sd")
    assert card["pipeline"] == "StableDiffusionPipeline" and card["modality"] == "image"
    assert card["task"] == "text-to-image" and card["dtype"] == "fp16" and card["license"] == "openrail"
    assert card["source"] == {"kind": "local", "path": "../checkpoints/my-sd"}  # relative: the project moves
    # __call__'s defaults, and 64 (unet sample_size) × 8 (a 4-level VAE) as diffusers computes the size
    assert card["defaults"] == {"steps": 50, "guidance_scale": 7.5, "resolution": 512}
    text = (project / "model_cards" / "my-sd.yaml").read_text()
    assert "resolution: the denoiser's sample_size 64 × the VAE's factor 8" in text
    assert "dtype: the unet weights are F16" in text
    assert load_card(project / "model_cards" / "my-sd.yaml").name == "my-sd"
    assert main(["validate", "model_cards/my-sd.yaml"]) == 0


def test_init_from_the_hugging_face_cache_with_a_suite(project, capsys):
    index = {"_class_name": "WanPipeline", "transformer": ["diffusers", "WanTransformer3DModel"]}
    files = {"transformer/config.json": {"patch_size": [1, 2, 2]}}
    files["transformer/diffusion_pytorch_model.fp16.safetensors"] = "weights-fp16"
    _hub_cache(project / "hf-cache", "org/wan-mini", index, files)
    assert main(["init", "org/wan-mini", "--suite"]) == 0
    out = capsys.readouterr().out
    card = _card(project, "wan-mini")
    assert card["source"] == {"kind": "hub", "repo_id": "org/wan-mini", "revision": "main", "variant": "fp16"}
    assert card["modality"] == "video" and card["task"] == "text-to-video" and card["dtype"] == "fp16"
    assert card["defaults"] == {
        "steps": 50,
        "guidance_scale": 5.0,
        "height": 480,
        "width": 832,
        "num_frames": 81,
    }
    assert card["homepage"] == "https://huggingface.co/org/wan-mini" and card["license"] == "unknown"
    assert "snapshot 0123456789ab" in card["notes"]
    suite = load_suite(project / "suites" / "wan-mini.yaml")
    assert [v.name for v in suite.models[0].variants] == ["steps-50", "steps-25"]
    assert suite.models[0].baseline == "steps-50" and suite.models[0].card == "wan-mini"
    assert suite.metric_names == ["psnr", "ssim", "temporal_ssim", "clip_score_frames"]
    assert suite.objectives == {"latency_per_item_ms.p50": "min", "psnr": "max"}
    assert suite.workload.prompts and suite.threads is None
    assert "run it:  harness run suites/wan-mini.yaml" in out
    assert main(["validate", "model_cards", "suites"]) == 0


def test_init_from_a_pipeline_class_alone(project, capsys):
    """A hub id not downloaded yet: the class gives modality, task and defaults; nothing is looked up."""
    argv = ["init", "stabilityai/stable-audio-open-1.0", "--pipeline", "StableAudioPipeline", "--name", "sao"]
    assert main([*argv, "--suite", "suites/audio-start.yaml"]) == 0
    card = _card(project, "sao")
    assert card["modality"] == "audio" and card["task"] == "text-to-audio" and card["dtype"] == "fp32"
    assert card["defaults"] == {"steps": 100, "guidance_scale": 7.0}
    suite = load_suite(project / "suites" / "audio-start.yaml")
    assert suite.metric_names == ["si_sdr", "stft_distance", "clap_score"]


def test_suite_flag_before_the_source(project, capsys):
    _sd_folder(project / "sd")
    assert main(["init", "--suite", "sd"]) == 0  # argparse hands "sd" to --suite; init reads it as SOURCE
    assert (project / "model_cards" / "sd.yaml").is_file() and (project / "suites" / "sd.yaml").is_file()
    assert main(["init"]) == 2
    assert "give a SOURCE" in capsys.readouterr().err


def test_init_writes_where_asked_and_refers_to_the_card_by_path(project, capsys):
    _sd_folder(project / "ckpt")
    assert (
        main(["init", "ckpt", "-o", "elsewhere/cards/sd.yaml", "--suite", "s/suite.yaml", "--name", "sd"])
        == 0
    )
    suite = yaml.safe_load((project / "s" / "suite.yaml").read_text())
    assert suite["models"][0]["card"] == "../elsewhere/cards/sd.yaml"
    assert load_suite(project / "s" / "suite.yaml").models[0].card.endswith("sd.yaml")
    assert main(["validate", "s/suite.yaml", "elsewhere/cards/sd.yaml"]) == 0


@pytest.mark.slow
def test_the_zoo_pipeline_initialises_and_runs(project, capsys):
    """End to end on a trained model: init a card and a suite for the zoo's digits-small, then run it."""
    zoo = ROOT / "model_cards" / "zoo" / "digits-small"
    pipeline = "harness.zoo.pipeline:ClassConditionalPipeline"
    assert main(["init", str(zoo), "--pipeline", pipeline, "--name", "digits", "--suite"]) == 0
    capsys.readouterr()
    card = _card(project, "digits")
    assert card["task"] == "class-conditional" and card["defaults"] == {"steps": 50}
    sets = ["measurement.min_iterations=1", "measurement.max_iterations=1", "workload.num_samples=2"]
    sets += ["models.0.variants.0.overrides.steps=4", "models.0.variants.1.overrides.steps=2"]
    argv = ["run", "suites/digits.yaml", "--isolation", "none", "--device", "cpu", "--quiet"]
    assert main([*argv, *[x for s in sets for x in ("--set", s)]]) == 0
    run = Path(capsys.readouterr().out.strip().splitlines()[-1])
    from harness.results import RunStore

    recs = RunStore.open(run).records()
    assert [r.status for r in recs] == ["ok", "ok"] and recs[1].metric_value("psnr") > 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["init", "nowhere"], r"nowhere does not exist: give a save_pretrained folder or a hub id"),
        (["init", "NOFILE"], r"NOFILE is not a folder"),
        (["init", "EMPTY"], r"has no model_index\.json \(expected a folder written by save_pretrained\)"),
        (
            ["init", "org/absent"],
            r"'org/absent' \(revision main\) is not in the local Hugging Face cache .*--pipeline CLASS",
        ),
        (
            ["init", "org/absent", "--pipeline", "StableDifusionPipeline"],
            r"'StableDifusionPipeline' is not a diffusers pipeline class \(did you mean 'StableDiffusionPipeline'",
        ),
        (
            ["init", "CUSTOM"],
            r"'MyOwnPipeline' is not a diffusers pipeline class .*\(a pipeline of your own: --pipeline package\.module:Class\)",
        ),
        (["init", "BADJSON"], r"model_index\.json: not valid JSON"),
        (["init", "NOCLASS"], r"model_index\.json names no _class_name; give --pipeline CLASS"),
        (
            ["init", "org/x", "--pipeline", "StableDiffusionImg2ImgPipeline"],
            r"is an image-to-image pipeline \(its __call__ takes an input image\)",
        ),
        (["init", "org/x", "--pipeline", "nosuchmodule:Pipe"], r"cannot find the module 'nosuchmodule'"),
        (["init", "SD", "--name", "Bad Name!"], r"--name: 'Bad Name!' is not a card name .*try 'bad-name'"),
        (["init", "SD", "-o", "x.yaml", "--suite", "x.yaml"], r"--suite and -o name the same file"),
        (["init", "SD", "--dtype", "fp8"], r"argument --dtype: invalid choice: 'fp8'"),
        (["init", "SD", "--task", "image-to-image"], r"argument --task: invalid choice"),
    ],
)
def test_init_bad_input_is_exit_2_with_one_line(argv, message, project, capsys):
    (project / "NOFILE").write_text("x")
    (project / "EMPTY").mkdir()
    for name, index in (
        ("CUSTOM", {"_class_name": "MyOwnPipeline"}),
        ("NOCLASS", {"unet": ["diffusers", "U"]}),
    ):
        (project / name).mkdir()
        (project / name / "model_index.json").write_text(json.dumps(index))
    (project / "BADJSON").mkdir()
    (project / "BADJSON" / "model_index.json").write_text("{not json")
    _sd_folder(project / "SD")
    with pytest.raises(SystemExit) if "invalid choice" in message else _nothing():
        code = main(argv)
        assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert re.search(message, err[-1]), err
    if "invalid choice" not in message:
        assert len(err) == 1
    assert not (project / "model_cards").exists()  # nothing written


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_existing_files_need_force(project, capsys):
    _sd_folder(project / "sd")
    assert main(["init", "sd"]) == 0
    before = (project / "model_cards" / "sd.yaml").read_text()
    assert main(["init", "sd", "--dtype", "fp32"]) == 2
    assert "model_cards/sd.yaml exists (--force overwrites it)" in capsys.readouterr().err
    assert (project / "model_cards" / "sd.yaml").read_text() == before
    (project / "suites").mkdir()
    (project / "suites" / "sd.yaml").write_text("kept")
    # the suite is checked before the card is written: no card 'other' is left behind
    assert main(["init", "sd", "--name", "other", "--suite", "suites/sd.yaml"]) == 2
    assert "suites/sd.yaml exists (--force overwrites it)" in capsys.readouterr().err
    assert not (project / "model_cards" / "other.yaml").exists()
    assert (project / "suites" / "sd.yaml").read_text() == "kept"
    assert main(["init", "sd", "--dtype", "fp32", "--force"]) == 0
    assert _card(project, "sd")["dtype"] == "fp32"


def test_a_folder_outside_the_allowed_roots_is_refused_with_how_to_allow_it(tmp_path, monkeypatch, capsys):
    outside = _sd_folder(tmp_path / "data" / "sd")
    proj = tmp_path / "proj" / "sub"
    proj.mkdir(parents=True)
    monkeypatch.chdir(proj)
    assert main(["init", str(outside)]) == 2
    err = capsys.readouterr().err
    assert "does not validate" in err and "HARNESS_ALLOWED_ROOTS" in err
    assert not (proj / "model_cards" / "sd.yaml").exists() and not list((proj / "model_cards").glob(".*"))
    monkeypatch.setenv("HARNESS_ALLOWED_ROOTS", str(tmp_path / "data"))
    assert main(["init", str(outside)]) == 0
    assert _card(proj, "sd")["source"]["path"] == str(outside)  # outside the project: absolute


def test_a_real_save_pretrained_folder(tmp_path, monkeypatch, capsys):
    """diffusers' own save_pretrained output (tiny-sd's architecture): the card init writes loads it."""
    from harness.loaders.from_config import build_pipeline_from_config_dir

    pipe = build_pipeline_from_config_dir(ROOT / "model_cards" / "configs" / "tiny-sd", seed=0)
    pipe.save_pretrained(tmp_path / "tiny")
    monkeypatch.chdir(tmp_path)
    assert main(["init", "tiny"]) == 0
    card = load_card(tmp_path / "model_cards" / "tiny.yaml")
    assert card.dtype == "fp32" and card.defaults.height == card.defaults.width == 32  # 16 × 2
    assert card.defaults.steps == 50 and card.task == "text-to-image"
    from harness.loaders.diffusers_pipeline import load

    gen = load(card, "cpu", card.dtype)
    assert type(gen.pipeline).__name__ == "StableDiffusionPipeline"


def test_inference_rules():
    f = frozenset
    assert infer_modality_task("X", f({"prompt", "audio_end_in_s"}), "")[:2] == ("audio", "text-to-audio")
    assert infer_modality_task("X", f({"class_labels"}), "AudioOutput | tuple")[:2] == (
        "audio",
        "class-conditional",
    )
    assert infer_modality_task("X", f({"prompt", "num_frames"}), "")[:2] == ("video", "text-to-video")
    assert infer_modality_task("X", f({"prompt", "image", "num_frames"}), "")[:2] == (
        "video",
        "image-to-video",
    )
    assert infer_modality_task("DDPMPipeline", f({"batch_size"}), "")[:2] == ("image", "unconditional")
    assert (
        card_name_from("Stable Diffusion v1.5!") == "stable-diffusion-v1.5"
        and card_name_from("???") == "my-model"
    )


def test_safetensors_dtype_reads_only_the_header(tmp_path):
    _weights(tmp_path / "a.safetensors", np.float32)
    assert safetensors_dtype(tmp_path / "a.safetensors") == "F32"
    (tmp_path / "bad.safetensors").write_bytes(b"\xff" * 16)
    assert safetensors_dtype(tmp_path / "bad.safetensors") is None
    assert safetensors_dtype(tmp_path / "missing.safetensors") is None

"""harness.loaders.from_config: config-only folders → pipelines with seeded random weights, offline."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "model_cards" / "configs"
TINY = ["tiny-sd", "tiny-wan", "tiny-stable-audio"]
# tiny-sd in the fast loop; the video and audio folders take seconds each (slow: `make test` runs them).
TINY_PARAMS = [n if n == "tiny-sd" else pytest.param(n, marks=pytest.mark.slow) for n in TINY]

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from harness.loaders.from_config import build_pipeline_from_config_dir  # noqa: E402


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:  # read at import time; patch the live value too
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


@pytest.fixture(scope="module", autouse=True)
def _two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def _run(pipe, name: str, steps: int = 2, seed: int = 0) -> np.ndarray:
    """One call with the kwargs each pipeline needs; returns the output array."""
    pipe.set_progress_bar_config(disable=True)
    g = torch.Generator("cpu").manual_seed(seed)
    if name == "tiny-sd":
        out = pipe(
            "a red circle", height=32, width=32, num_inference_steps=steps, generator=g, output_type="np"
        )
        return out.images
    if name == "tiny-wan":
        out = pipe(
            "a red circle",
            height=32,
            width=32,
            num_frames=9,
            num_inference_steps=steps,
            guidance_scale=5.0,
            generator=g,
            output_type="np",
        )
        return out.frames
    if name == "tiny-stable-audio":
        out = pipe(
            "a red circle", audio_end_in_s=2.0, num_inference_steps=steps, generator=g, output_type="np"
        )
        return out.audios
    raise AssertionError(name)


EXPECTED = {
    "tiny-sd": ("StableDiffusionPipeline", (1, 32, 32, 3), (0.0, 1.0)),
    "tiny-wan": ("WanPipeline", (1, 9, 32, 32, 3), (0.0, 1.0)),
    "tiny-stable-audio": ("StableAudioPipeline", (1, 2, 16000), (-1.5, 1.5)),
}


def test_module_imports_without_torch():
    code = "import sys, harness.loaders.from_config; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


@pytest.mark.parametrize("name", TINY_PARAMS)
def test_tiny_folder_builds_and_runs(name):
    pipe = build_pipeline_from_config_dir(CONFIGS / name, seed=0)
    cls_name, shape, (lo, hi) = EXPECTED[name]
    assert type(pipe).__name__ == cls_name
    for module in pipe.components.values():
        if isinstance(module, torch.nn.Module):
            assert not module.training
            assert sum(p.numel() for p in module.parameters()) < 2_000_000
    out = np.asarray(_run(pipe, name))
    assert out.shape == shape
    assert out.dtype == np.float32
    assert np.isfinite(out).all()
    assert lo <= out.min() and out.max() <= hi
    assert out.std() > 0


def test_tiny_sd_components():
    pipe = build_pipeline_from_config_dir(CONFIGS / "tiny-sd")
    assert pipe.safety_checker is None and pipe.feature_extractor is None
    assert pipe.config.requires_safety_checker is False
    assert pipe.vae_scale_factor == 2
    assert pipe.vae.config.latent_channels == 4
    assert pipe.text_encoder.config.vocab_size == len(pipe.tokenizer)
    assert pipe.text_encoder.config.eos_token_id == pipe.tokenizer.eos_token_id
    assert type(pipe.scheduler).__name__ == "PNDMScheduler"
    assert pipe.scheduler.config.beta_schedule == "scaled_linear"


def test_tiny_stable_audio_limits():
    pipe = build_pipeline_from_config_dir(CONFIGS / "tiny-stable-audio")
    assert pipe.vae.sampling_rate == 8000
    max_s = pipe.transformer.config.sample_size * pipe.vae.hop_length / pipe.vae.sampling_rate
    assert max_s == 2.0
    assert pipe.projection_model.config.max_value == 2


@pytest.mark.parametrize("name", TINY_PARAMS)
def test_same_seed_is_bitwise_identical(name):
    a = build_pipeline_from_config_dir(CONFIGS / name, seed=3)
    torch.manual_seed(12345)  # global RNG state between builds must not matter
    torch.randn(10)
    b = build_pipeline_from_config_dir(CONFIGS / name, seed=3)
    for key, module in a.components.items():
        if isinstance(module, torch.nn.Module):
            sa, sb = module.state_dict(), b.components[key].state_dict()
            assert sa.keys() == sb.keys()
            assert all(torch.equal(sa[k], sb[k]) for k in sa), key
    assert np.array_equal(_run(a, name), _run(b, name))


@pytest.mark.slow
def test_other_seed_gives_other_weights():
    a = build_pipeline_from_config_dir(CONFIGS / "tiny-wan", seed=0)
    b = build_pipeline_from_config_dir(CONFIGS / "tiny-wan", seed=1)
    assert not torch.equal(a.transformer.proj_out.weight, b.transformer.proj_out.weight)
    assert not np.array_equal(_run(a, "tiny-wan"), _run(b, "tiny-wan"))


def test_build_leaves_global_rng_alone():
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    build_pipeline_from_config_dir(CONFIGS / "tiny-stable-audio", seed=0)
    assert torch.equal(torch.rand(3), expected)


def test_pipeline_class_override():
    pipe = build_pipeline_from_config_dir(
        CONFIGS / "tiny-sd", pipeline_class="StableDiffusionImg2ImgPipeline"
    )
    assert type(pipe).__name__ == "StableDiffusionImg2ImgPipeline"


# --- tokenizers ------------------------------------------------------------------------------------------


def test_clip_tokenizer_offline():
    from transformers import CLIPTokenizer

    tok = CLIPTokenizer.from_pretrained(str(CONFIGS / "tiny-sd" / "tokenizer"), local_files_only=True)
    assert len(tok) == 914 and tok.model_max_length == 77
    ids = tok("A red circle!", padding="max_length", max_length=77).input_ids
    assert len(ids) == 77
    assert ids[0] == tok.bos_token_id == 912
    assert tok.eos_token_id == 913
    assert tok.decode(ids, skip_special_tokens=True) == "a red circle !"
    assert tok.convert_ids_to_tokens(tok("the").input_ids) == ["<|startoftext|>", "the</w>", "<|endoftext|>"]


@pytest.mark.parametrize("name", ["tiny-wan", "tiny-stable-audio"])
def test_t5_tokenizer_offline(name):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(CONFIGS / name / "tokenizer"), local_files_only=True)
    assert (tok.pad_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2)
    ids = tok("A red circle, 3 dogs!").input_ids
    assert ids[-1] == 1
    assert tok.unk_token_id not in ids
    assert tok.convert_ids_to_tokens(tok("a red circle").input_ids) == ["▁a", "▁red", "▁circle", "</s>"]


# --- sd15-arch: configs only (building takes ~17 s and ~5 GB on CPU) ----------------------------------


def test_sd15_arch_configs():
    from diffusers import AutoencoderKL, PNDMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTokenizer

    root = CONFIGS / "sd15-arch"
    index = json.loads((root / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline"
    assert index["safety_checker"] == [None, None] and index["requires_safety_checker"] is False

    unet = UNet2DConditionModel.load_config(str(root / "unet"), local_files_only=True)
    assert unet["cross_attention_dim"] == 768
    assert list(unet["block_out_channels"]) == [320, 640, 1280, 1280]
    assert unet["attention_head_dim"] == 8 and unet["sample_size"] == 64 and unet["in_channels"] == 4
    vae = AutoencoderKL.load_config(str(root / "vae"), local_files_only=True)
    assert list(vae["block_out_channels"]) == [128, 256, 512, 512] and vae["latent_channels"] == 4
    te = CLIPTextConfig.from_pretrained(str(root / "text_encoder"), local_files_only=True)
    assert (te.hidden_size, te.num_hidden_layers, te.num_attention_heads) == (768, 12, 12)
    assert (te.vocab_size, te.max_position_embeddings, te.intermediate_size) == (49408, 77, 3072)
    sched = PNDMScheduler.from_pretrained(str(root / "scheduler"), local_files_only=True)
    assert sched.config.beta_start == 0.00085 and sched.config.beta_end == 0.012
    assert sched.config.skip_prk_steps and sched.config.steps_offset == 1
    tok = CLIPTokenizer.from_pretrained(str(root / "tokenizer"), local_files_only=True)
    ids = tok("a photograph of an astronaut riding a horse", padding="max_length", max_length=77).input_ids
    assert len(ids) == 77 and max(ids) < te.vocab_size


def test_sd15_arch_param_counts_on_meta_device():
    """The published SD 1.5 sizes, without allocating memory."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    root = CONFIGS / "sd15-arch"
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(str(root / "unet")))
        vae = AutoencoderKL.from_config(AutoencoderKL.load_config(str(root / "vae")))
        te = CLIPTextModel(CLIPTextConfig.from_pretrained(str(root / "text_encoder"), local_files_only=True))
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(unet) == 859_520_964
    assert count(vae) == 83_653_863
    assert count(te) == 123_060_480


@pytest.mark.parametrize(
    ("folder", "published"),
    [
        # SDXL 1.0 base: UNet 2.567B, OpenCLIP ViT-bigG text tower 694.7M (+ CLIP ViT-L and SD's VAE)
        (
            "sdxl-arch",
            {
                "unet": 2_567_463_684,
                "text_encoder_2": 694_659_840,
                "text_encoder": 123_060_480,
                "vae": 83_653_863,
            },
        ),
        # Wan 2.1 T2V 1.3B: "1.3B" transformer (1.42B with embeddings), UMT5-XXL encoder, 127M causal VAE
        (
            "wan21-1.3b-arch",
            {"transformer": 1_418_996_800, "text_encoder": 5_680_910_336, "vae": 126_892_531},
        ),
        # Stable Audio Open 1.0 (its paper: DiT 1,057M, autoencoder 156M, T5-base 109M)
        (
            "stable-audio-open-arch",
            {"transformer": 1_056_939_136, "vae": 156_112_514, "text_encoder": 109_628_544},
        ),
    ],
)
def test_real_size_arch_configs_have_the_published_sizes(folder, published):
    """#24 item 5: the -arch folders are the published architectures: their parameter counts, on the meta
    device (no memory), are the published models' sizes."""
    from harness.loaders.from_config import count_parameters

    counts = count_parameters(CONFIGS / folder)
    assert {k: counts[k] for k in published} == published
    for key, n in published.items():  # to the paper's rounding where one gives it
        assert round(n / 1e6) == round(counts[key] / 1e6)


def test_real_size_arch_tokenizers_fit_the_full_encoders():
    """#24 item 5: the small tokenizers of the -arch folders give ids the full-size text encoders accept, and pad
    to the published context lengths (SDXL 77 twice, Wan 512, Stable Audio Open 128)."""
    from transformers import AutoTokenizer, CLIPTokenizer

    for sub in ("tokenizer", "tokenizer_2"):
        tok = CLIPTokenizer.from_pretrained(str(CONFIGS / "sdxl-arch" / sub), local_files_only=True)
        ids = tok(
            "a photograph of an astronaut", padding="max_length", max_length=tok.model_max_length
        ).input_ids
        assert len(ids) == 77 and max(ids) < 49408
    assert tok.pad_token == "!"  # OpenCLIP's padding, as SDXL's tokenizer_2
    for folder, length, vocab in (("wan21-1.3b-arch", 512, 256_384), ("stable-audio-open-arch", 128, 32_128)):
        tok = AutoTokenizer.from_pretrained(str(CONFIGS / folder / "tokenizer"), local_files_only=True)
        ids = tok(
            "a photograph of an astronaut", padding="max_length", max_length=tok.model_max_length
        ).input_ids
        assert tok.model_max_length == length and len(ids) == length and max(ids) < vocab


# --- errors ----------------------------------------------------------------------------------------------


@pytest.fixture
def sd_copy(tmp_path) -> Path:
    dst = tmp_path / "tiny-sd"
    shutil.copytree(CONFIGS / "tiny-sd", dst)
    return dst


def _edit_index(folder: Path, **changes) -> None:
    path = folder / "model_index.json"
    index = json.loads(path.read_text())
    index.update(changes)
    path.write_text(json.dumps(index))


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"config folder not found: .*nope"):
        build_pipeline_from_config_dir(tmp_path / "nope")


def test_missing_model_index(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"model_index\.json"):
        build_pipeline_from_config_dir(tmp_path)


def test_missing_component_config(sd_copy):
    (sd_copy / "unet" / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"unet[/\\]config\.json"):
        build_pipeline_from_config_dir(sd_copy)


def test_missing_scheduler_config(sd_copy):
    (sd_copy / "scheduler" / "scheduler_config.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"scheduler_config\.json"):
        build_pipeline_from_config_dir(sd_copy)


def test_missing_component_folder(sd_copy):
    shutil.rmtree(sd_copy / "vae")
    with pytest.raises(FileNotFoundError, match=r"component folder not found: .*vae"):
        build_pipeline_from_config_dir(sd_copy)


def test_unknown_component_class(sd_copy):
    _edit_index(sd_copy, unet=["diffusers", "NoSuchUNet"])
    with pytest.raises(ValueError, match="NoSuchUNet"):
        build_pipeline_from_config_dir(sd_copy)


def test_unknown_library(sd_copy):
    _edit_index(sd_copy, unet=["somelib", "UNet2DConditionModel"])
    with pytest.raises(ValueError, match="somelib"):
        build_pipeline_from_config_dir(sd_copy)


def test_unknown_pipeline_class(sd_copy):
    with pytest.raises(ValueError, match="NoSuchPipeline"):
        build_pipeline_from_config_dir(sd_copy, pipeline_class="NoSuchPipeline")
    _edit_index(sd_copy, _class_name="AlsoNoSuchPipeline")
    with pytest.raises(ValueError, match="AlsoNoSuchPipeline"):
        build_pipeline_from_config_dir(sd_copy)


def test_bad_json(sd_copy):
    (sd_copy / "model_index.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        build_pipeline_from_config_dir(sd_copy)

"""image_reward, hps_v21, pickscore, aesthetic: parity with each reference scoring function on random weights.

No weights can be downloaded, so each test builds the metric's architecture (the smallest configuration of the same
code path where the real one is too big for a CPU test) with seeded random weights, saves them under the pinned
file names in a weights folder laid out as ``harness.metrics.weights`` expects, re-pins the registry to those files, and
checks the metric's per-sample scores against the reference on the same images and prompts:

* image_reward: image-reward's own ``ImageReward.score(prompt, image)``, one image at a time;
* hps_v21: hpsv2's ``img_score.score`` loop transcribed onto open_clip (model forward with ``output_dict``, then
  ``diag(image_features @ text_features.T)``), one image at a time;
* pickscore: the model card's snippet transcribed (``AutoProcessor``/``AutoModel`` from the saved folders);
* aesthetic: image-reward's own ``AestheticScore.score(prompt, image_path)`` on PNG files.

The full-size architectures are checked on the meta device against published facts: hpsv2 1.2.0's vendored
builder's state-dict keys and shapes, and the byte sizes of the published checkpoints.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re

import numpy as np
import pytest

from harness.core.errors import MetricSkipped, UserInputError
from harness.core.samples import Samples
from harness.measure.stats import bootstrap_ci
from harness.metrics import METRICS
from harness.metrics import weights as W
from harness.metrics.loading import WeightsLoadError
from harness.metrics.preference.image_reward import _OfflineBertTokenizer, import_image_reward
from tests.metrics.weights_helpers import TINY_VOCAB_CHARS, pin_to

torch = pytest.importorskip("torch")
pytest.importorskip("open_clip")
pytest.importorskip("clip")
if importlib.util.find_spec("ImageReward") is None:  # imported under the shim only (image_reward.py)
    pytest.skip("image-reward is not installed (the preference extra)", allow_module_level=True)

PROMPTS = ["a red cat", "a dog on the grass", "a red cat"]
ATOL = 1e-5


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def wdir(tmp_path, monkeypatch):
    """An empty weights folder; nothing else is searched (no env dir, empty torch hub and Hugging Face caches)."""
    monkeypatch.delenv("HARNESS_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    (tmp_path / "w").mkdir()
    return tmp_path / "w"


def images(n: int = 3, h: int = 40, w: int = 56, seed: int = 0) -> np.ndarray:
    """Non-square float32 images in [0, 1], exactly representable as uint8 (what the metric rounds to)."""
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, size=(n, h, w, 3)) / 255.0).astype(np.float32)


def u8(x: np.ndarray) -> np.ndarray:
    return np.rint(x * 255).astype(np.uint8)


def perturbed(module, seed: int = 0, scale: float = 0.05) -> dict:
    """``module``'s state dict with seeded noise on every float tensor (integer buffers kept)."""
    g = torch.Generator().manual_seed(seed)
    return {
        k: v + scale * torch.randn(v.shape, generator=g) if v.is_floating_point() else v.clone()
        for k, v in module.state_dict().items()
    }


def ours(name: str, wdir, data: np.ndarray, prompts: list[str] | None, batch_size: int = 2) -> tuple:
    metric = METRICS.get(name).build({"weights_dir": str(wdir), "batch_size": batch_size})
    metric.update(Samples(modality="image", data=data, prompts=prompts))
    return metric, np.asarray(metric._values)


# ------------------------------------------------------------------------------------------------ image_reward

# salesforce/BLIP's configs/med_config.json; ImageReward's follows it (the checkpoint size test below agrees)
BLIP_MED_CONFIG = {
    "architectures": ["BertModel"],
    "attention_probs_dropout_prob": 0.1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 768,
    "initializer_range": 0.02,
    "intermediate_size": 3072,
    "layer_norm_eps": 1e-12,
    "max_position_embeddings": 512,
    "model_type": "bert",
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "pad_token_id": 0,
    "type_vocab_size": 2,
    "vocab_size": 30524,
    "encoder_width": 768,
    "add_cross_attention": True,
}
WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "red", "cat", "dog", "on", "the", "grass"]
WORDS += [c for c in TINY_VOCAB_CHARS if c not in WORDS] + ["##" + c for c in TINY_VOCAB_CHARS]


@pytest.fixture
def small_blip(monkeypatch):
    """ImageReward's code path with a one-block ViT-L-wide encoder (the package hard-codes 24 blocks)."""
    import_image_reward()
    from ImageReward.models.BLIP import blip_pretrain, vit

    def one_block(kind, image_size, *args, **kw):
        assert kind == "large"
        return vit.VisionTransformer(
            img_size=image_size, patch_size=16, embed_dim=1024, depth=1, num_heads=16
        ), 1024

    monkeypatch.setattr(blip_pretrain, "create_vit", one_block)


def package_image_reward(med_config, vocab_file):
    """The package's ImageReward model, built by the package (BLIP asks for bert-base-uncased: given offline)."""
    import_image_reward()
    from ImageReward.ImageReward import ImageReward
    from ImageReward.models.BLIP import blip

    with pytest.MonkeyPatch.context() as m:
        m.setattr(blip, "BertTokenizer", _OfflineBertTokenizer(str(vocab_file)))
        return ImageReward(med_config=str(med_config), device="cpu").eval()


@pytest.fixture
def image_reward_files(wdir, small_blip, monkeypatch):
    ir, bert = wdir / "imagereward-v1.0", wdir / "bert-base-uncased"
    ir.mkdir()
    bert.mkdir()
    (bert / "vocab.txt").write_text("\n".join(WORDS) + "\n")
    med = {**BLIP_MED_CONFIG, "intermediate_size": 64, "num_hidden_layers": 1, "vocab_size": len(WORDS) + 2}
    (ir / "med_config.json").write_text(json.dumps(med))
    sd = perturbed(package_image_reward(ir / "med_config.json", bert / "vocab.txt"))
    torch.save(sd, ir / "ImageReward.pt")
    pin_to(monkeypatch, "imagereward-v1.0", ir)
    pin_to(monkeypatch, "bert-base-uncased-vocab", bert)
    return ir, bert, sd


@pytest.mark.slow
def test_image_reward_equals_the_packages_own_score(wdir, image_reward_files, monkeypatch):
    ir, bert, sd = image_reward_files
    prompts = [*PROMPTS, "a red cat on the grass " * 8]  # 48 words: truncated to ImageReward's 35 tokens
    data = images(4)
    metric, got = ours("image_reward", wdir, data, prompts)
    from PIL import Image

    ref = package_image_reward(ir / "med_config.json", bert / "vocab.txt")
    ref.load_state_dict(sd, strict=True)
    with torch.no_grad():
        want = [ref.score(p, Image.fromarray(x)) for p, x in zip(prompts, u8(data))]
    np.testing.assert_allclose(got, want, rtol=0, atol=ATOL)
    assert np.ptp(got) > 1e-3, "the random network should tell these images apart"
    value = metric.compute()
    assert value.status == "ok" and value.n == 4 and value.value == pytest.approx(np.mean(want), abs=ATOL)
    assert value.ci95 == tuple(bootstrap_ci(got, statistic="mean")) and value.std == pytest.approx(
        np.std(got, ddof=1)
    )
    assert value.details["scores"] == [float(v) for v in got]
    assert {w["name"] for w in value.details["weights"]} == {"imagereward-v1.0", "bert-base-uncased-vocab"}


def test_image_reward_refuses_a_checkpoint_missing_tensors_and_notes_unused_ones(
    wdir, image_reward_files, monkeypatch
):
    ir, _, sd = image_reward_files
    torch.save({**sd, "blip.extra.weight": torch.zeros(2)}, ir / "ImageReward.pt")
    pin_to(monkeypatch, "imagereward-v1.0", ir)
    metric, _ = ours("image_reward", wdir, images(1), PROMPTS[:1])
    assert metric.compute().details["notes"] == {"unused_checkpoint_tensors": ["blip.extra.weight"]}
    torch.save({k: v for k, v in sd.items() if not k.startswith("mlp.")}, ir / "ImageReward.pt")
    pin_to(monkeypatch, "imagereward-v1.0", ir)
    with pytest.raises(
        WeightsLoadError, match=r"lacks 10 tensors of ImageReward \(no random weights are used\)"
    ):
        ours("image_reward", wdir, images(1), PROMPTS[:1])


def test_image_reward_full_size_matches_the_published_checkpoint_size(tmp_path, monkeypatch):
    """The package's full architecture (BLIP ViT-L/16, BLIP's 12-layer cross-attention BERT, MLP) builds under the
    transformers 5 shim, and its tensors at their dtypes fill the published ImageReward.pt but for the pickle's
    per-tensor overhead. The shim touches transformers only while the package is imported."""
    import transformers.modeling_utils

    import_image_reward()
    from ImageReward.models.BLIP import vit

    assert not hasattr(transformers.modeling_utils, "find_pruneable_heads_and_indices")
    (tmp_path / "vocab.txt").write_text("\n".join(WORDS) + "\n")
    (tmp_path / "med.json").write_text(json.dumps(BLIP_MED_CONFIG))
    # BLIP's ViT calls .item() on a linspace: keep that one tensor off the meta device
    linspace = torch.linspace
    monkeypatch.setattr(vit.torch, "linspace", lambda *a, **k: linspace(*a, **{**k, "device": "cpu"}))
    with torch.device("meta"):
        sd = package_image_reward(tmp_path / "med.json", tmp_path / "vocab.txt").state_dict()
    nbytes = sum(v.numel() * v.element_size() for v in sd.values())
    published = W.WEIGHTS["imagereward-v1.0"].file("ImageReward.pt").size
    assert len(sd) == 625 and sum(v.numel() for v in sd.values()) == 446_666_465
    assert 0 < published - nbytes < 400 * len(sd), (published, nbytes)


# ------------------------------------------------------------------------------------------------ hps_v21

TINY_OPEN_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 224, "layers": 1, "width": 64, "head_width": 32, "patch_size": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
# hpsv2 1.2.0's vendored builder (hpsv2/src/open_clip, create_model('ViT-H-14', precision='amp')) on the meta
# device: sha256 of its sorted "key (shape)" lines, the key count and the parameter count.
HPSV2_VIT_H_14 = ("e8c4c7fb33610e2fabd57424351e6a9095993cd49a0c27633e995eed05ac83c6", 686, 986_109_441)


@pytest.fixture
def hps_files(wdir, monkeypatch):
    import open_clip

    from harness.metrics.preference.hps import HPSv21

    monkeypatch.setitem(open_clip.factory._MODEL_CONFIGS, "hps-test-tiny", TINY_OPEN_CLIP)
    monkeypatch.setattr(HPSv21, "arch", "hps-test-tiny")
    torch.manual_seed(0)
    sd = {k: v.half() for k, v in perturbed(open_clip.create_model("hps-test-tiny")).items()}
    folder = wdir / "hps-v2.1"
    folder.mkdir()
    torch.save({"epoch": 1, "state_dict": sd}, folder / "HPS_v2.1_compressed.pt")  # as released: fp16, nested
    pin_to(monkeypatch, "hps-v2.1", folder)
    return sd


def test_hps_equals_hpsv2s_scoring_loop_on_open_clip(wdir, hps_files):
    import open_clip

    from harness.metrics.preference.hps import hps_preprocess

    data = images(h=60, w=90)
    metric, got = ours("hps_v21", wdir, data, PROMPTS)
    model = open_clip.create_model("hps-test-tiny", precision="fp32", output_dict=True).eval()
    model.load_state_dict(hps_files)  # hpsv2: model.load_state_dict(checkpoint['state_dict'])
    tokenizer = open_clip.get_tokenizer("hps-test-tiny")
    want = []
    with torch.no_grad():
        for x, prompt in zip(u8(data), PROMPTS):
            out = model(hps_preprocess(x)[None], tokenizer([prompt]))
            want.append(torch.diagonal(out["image_features"] @ out["text_features"].T)[0].item())
    np.testing.assert_allclose(got, want, rtol=0, atol=ATOL)
    assert np.ptp(got) > 1e-3
    assert metric.compute().details["precision"] == "float32"


def test_hps_preprocess_fits_the_longer_side_and_zero_pads():
    """hpsv2's preprocess_val on a flat grey 30 x 60 image: resized to 112 x 224 (a constant stays constant under
    bicubic), 56 rows of zero padding above and below, then CLIP mean/std."""
    from harness.metrics.preference.hps import OPENAI_MEAN, OPENAI_STD, hps_preprocess

    grey = np.full((30, 60, 3), 128, dtype=np.uint8)
    x = hps_preprocess(grey).numpy()
    mean, std = np.array(OPENAI_MEAN)[:, None, None], np.array(OPENAI_STD)[:, None, None]
    assert x.shape == (3, 224, 224)
    np.testing.assert_allclose(
        x[:, 56:168], np.broadcast_to((128 / 255 - mean) / std, (3, 112, 224)), atol=1e-5
    )
    np.testing.assert_allclose(x[:, :56], np.broadcast_to(-mean / std, (3, 56, 224)), atol=1e-6)
    np.testing.assert_allclose(x[:, 168:], np.broadcast_to(-mean / std, (3, 56, 224)), atol=1e-6)
    # a white 224 x 101 image keeps its size (hpsv2 would not pad it); 123 columns of padding: 61 left, 62 right
    odd = hps_preprocess(np.full((224, 101, 3), 255, dtype=np.uint8)).numpy()
    np.testing.assert_allclose(odd[:, :, [60, 162]], np.broadcast_to(-mean / std, (3, 224, 2)), atol=1e-6)
    np.testing.assert_allclose(
        odd[:, :, [61, 161]], np.broadcast_to((1 - mean) / std, (3, 224, 2)), atol=1e-5
    )


def test_hps_full_size_has_hpsv2s_keys_and_the_published_checkpoint_size():
    import open_clip

    with torch.device("meta"):
        model = open_clip.create_model("ViT-H-14", pretrained=None, device="meta", output_dict=True)
    sd = model.state_dict()
    lines = sorted(f"{k} {tuple(v.shape)}" for k, v in sd.items())
    digest, count, params = HPSV2_VIT_H_14
    assert (len(lines), sum(v.numel() for v in sd.values())) == (count, params)
    assert hashlib.sha256("\n".join(lines).encode()).hexdigest() == digest
    published = W.WEIGHTS["hps-v2.1"].file("HPS_v2.1_compressed.pt").size
    assert 0 < published - 2 * params < 400 * count, "HPS_v2.1_compressed.pt holds float16 tensors"


# ------------------------------------------------------------------------------------------------ pickscore


@pytest.fixture
def pickscore_files(wdir, monkeypatch, tmp_path):
    """A tiny CLIPModel saved as PickScore_v1's files, and a processor folder as laion's."""
    from transformers import AutoTokenizer, CLIPImageProcessor, CLIPModel

    from tests.metrics.weights_helpers import make_tiny_clip

    tiny = make_tiny_clip(tmp_path / "tiny-clip", seed=3, image_size=32)
    model_dir, proc_dir = wdir / "pickscore-v1", wdir / "clip-vit-h-14-laion2b-processor"
    model = CLIPModel.from_pretrained(str(tiny), local_files_only=True, use_safetensors=False)
    model.save_pretrained(str(model_dir), safe_serialization=True)
    # laion's folder has the older layout (preprocessor_config.json and tokenizer files, no processor_config.json)
    CLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}, resample=3
    ).save_pretrained(str(proc_dir))
    AutoTokenizer.from_pretrained(str(tiny), local_files_only=True).save_pretrained(str(proc_dir))
    (proc_dir / "config.json").write_bytes((model_dir / "config.json").read_bytes())  # AutoProcessor reads it
    assert (proc_dir / "tokenizer.json").is_file() and (proc_dir / "preprocessor_config.json").is_file()
    pin_to(monkeypatch, "pickscore-v1", model_dir)
    pin_to(monkeypatch, "clip-vit-h-14-laion2b-processor", proc_dir)
    return model_dir, proc_dir


def test_pickscore_equals_the_model_cards_snippet(wdir, pickscore_files):
    from PIL import Image
    from transformers import AutoModel, AutoProcessor

    from harness.metrics.loading import embeddings

    model_dir, proc_dir = pickscore_files
    data = images(h=48, w=36)
    metric, got = ours("pickscore", wdir, data, PROMPTS)
    # the snippet: one prompt against a list of images; here each image with its own prompt
    # transformers 4's AutoProcessor (the snippet's) resized with PIL; transformers 5 needs backend="pil" for that
    processor = AutoProcessor.from_pretrained(str(proc_dir), local_files_only=True, backend="pil")
    assert "Pil" in type(processor.image_processor).__name__
    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()
    pil = [Image.fromarray(x) for x in u8(data)]
    want = []
    with torch.no_grad():
        image_inputs = processor(images=pil, return_tensors="pt")
        image_embs = embeddings(model.get_image_features(**image_inputs))
        image_embs = image_embs / torch.norm(image_embs, dim=-1, keepdim=True)
        for i, prompt in enumerate(PROMPTS):
            text_inputs = processor(
                text=prompt, padding=True, truncation=True, max_length=77, return_tensors="pt"
            )
            text_embs = embeddings(model.get_text_features(**text_inputs))
            text_embs = text_embs / torch.norm(text_embs, dim=-1, keepdim=True)
            want.append((model.logit_scale.exp() * (text_embs @ image_embs.T)[0])[i].item())
    np.testing.assert_allclose(got, want, rtol=0, atol=ATOL)
    assert np.ptp(got) > 1e-3
    assert "pickscore" in metric.compute().details["score"].lower()


def test_pickscore_refuses_weights_that_do_not_fit_the_config(wdir, pickscore_files, monkeypatch):
    from safetensors.torch import load_file, save_file

    model_dir, _ = pickscore_files
    sd = load_file(str(model_dir / "model.safetensors"))
    dropped = sorted(k for k in sd if "visual_projection" in k)
    save_file({k: v for k, v in sd.items() if k not in dropped}, str(model_dir / "model.safetensors"))
    pin_to(monkeypatch, "pickscore-v1", model_dir)
    with pytest.raises(
        WeightsLoadError, match=r"does not fit config.json \(no random weights are used\): missing"
    ):
        ours("pickscore", wdir, images(1), PROMPTS[:1])


# ------------------------------------------------------------------------------------------------ aesthetic


@pytest.fixture
def aesthetic_files(wdir, monkeypatch):
    """A small CLIP (the clip package's own class; clip.load infers its size from the file) and a random
    predictor, saved under the pinned names."""
    from harness.metrics.preference.aesthetic import aesthetic_head, import_clip

    clip = import_clip()
    torch.manual_seed(0)
    small = clip.model.CLIP(
        embed_dim=768,
        image_resolution=32,
        vision_layers=1,
        vision_width=64,
        vision_patch_size=16,
        context_length=77,
        vocab_size=49408,
        transformer_width=64,
        transformer_heads=1,
        transformer_layers=1,
    )
    clip_dir, head_dir = wdir / "openai-clip-vit-l-14", wdir / "laion-aesthetic-v2-linear"
    clip_dir.mkdir()
    head_dir.mkdir()
    torch.save(small.state_dict(), clip_dir / "ViT-L-14.pt")
    head = aesthetic_head()
    torch.save(perturbed(head), head_dir / "sac+logos+ava1-l14-linearMSE.pth")
    pin_to(monkeypatch, "openai-clip-vit-l-14", clip_dir)
    pin_to(monkeypatch, "laion-aesthetic-v2-linear", head_dir)
    return clip_dir / "ViT-L-14.pt", head_dir / "sac+logos+ava1-l14-linearMSE.pth"


def package_aesthetic(vit_path, head_path, tmp_path, monkeypatch):
    """image-reward's AestheticScore as its load_score('Aesthetic') builds it, with clip.load given our file."""
    from harness.metrics.preference.aesthetic import import_clip

    clip = import_clip()
    import_image_reward()
    from ImageReward.models.AestheticScore import AestheticScore

    load = clip.load
    monkeypatch.setattr(
        clip, "load", lambda name, **kw: load(str(vit_path) if name == "ViT-L/14" else name, **kw)
    )
    model = AestheticScore(download_root=str(tmp_path), device="cpu")
    model.mlp.load_state_dict(torch.load(head_path, map_location="cpu"), strict=False)
    return model.eval()


def test_aesthetic_equals_image_rewards_aesthetic_score(wdir, aesthetic_files, tmp_path, monkeypatch):
    from PIL import Image

    data = images(h=50, w=40)
    metric, got = ours("aesthetic", wdir, data, None)  # no prompts needed
    ref = package_aesthetic(*aesthetic_files, tmp_path, monkeypatch)
    want = []
    for i, x in enumerate(u8(data)):
        Image.fromarray(x).save(tmp_path / f"{i}.png")
        with torch.no_grad():
            want.append(ref.score("", str(tmp_path / f"{i}.png")))
    np.testing.assert_allclose(got, want, rtol=0, atol=ATOL)
    assert np.ptp(got) > 1e-3
    assert metric.compute().n == 3


def test_aesthetic_full_size_predictor_matches_the_published_file_size():
    from harness.metrics.preference.aesthetic import aesthetic_head

    with torch.device("meta"):
        sd = aesthetic_head().state_dict()
    assert list(sd) == [f"layers.{i}.{p}" for i in (0, 2, 4, 6, 7) for p in ("weight", "bias")]
    nbytes = sum(4 * v.numel() for v in sd.values())
    published = W.WEIGHTS["laion-aesthetic-v2-linear"].files[0].size
    assert 0 < published - nbytes < 4096, (published, nbytes)


def test_a_video_scores_as_the_mean_of_its_frames(wdir, aesthetic_files):
    frames = images(4, 32, 32, seed=5)
    video = Samples(modality="video", data=frames.reshape(2, 2, 32, 32, 3), prompts=["a cat", "a dog"])
    metric = METRICS.get("aesthetic").build({"weights_dir": str(wdir)})
    metric.update(video)
    per_frame = metric.scores(frames, ["a cat"] * 4)
    np.testing.assert_allclose(metric._values, per_frame.reshape(2, 2).mean(1), rtol=0, atol=1e-9)
    one = METRICS.get("aesthetic").build({"weights_dir": str(wdir)})
    one.update(Samples(modality="image", data=frames[:1]))
    value = one.compute()
    assert value.n == 1 and value.ci95 is None and value.std is None


# ------------------------------------------------------------------------------------------------ errors

NAMES = ["image_reward", "hps_v21", "pickscore", "aesthetic"]
FIRST_WEIGHTS = {
    "image_reward": "imagereward-v1.0",
    "hps_v21": "hps-v2.1",
    "pickscore": "pickscore-v1",
    "aesthetic": "openai-clip-vit-l-14",
}


@pytest.mark.parametrize("name", NAMES)
def test_missing_weights_skip_with_the_fetch_command(name, wdir):
    metric = METRICS.get(name).build({"weights_dir": str(wdir)})
    first = FIRST_WEIGHTS[name]
    with pytest.raises(
        MetricSkipped, match=rf"weights '{first}' not found: .*harness weights fetch {first} --to DIR"
    ) as info:
        metric.update(Samples(modality="image", data=images(1), prompts=PROMPTS[:1]))
    assert "\n" not in str(info.value) and str(wdir) in str(info.value)


@pytest.mark.parametrize("name", NAMES)
def test_bad_options_and_bad_input_are_one_line(name, wdir):
    cls = METRICS.get(name)
    with pytest.raises(
        UserInputError, match=rf"^{name}: batch_size: Input should be greater than or equal to 1"
    ):
        cls.parse_options({"batch_size": 0})
    with pytest.raises(UserInputError, match=rf"^{name}: weights_dir: Input should be a valid string, got 3"):
        cls.parse_options({"weights_dir": 3})
    with pytest.raises(TypeError, match=r"batch_size must be an integer >= 1, got True"):
        cls(batch_size=True)
    metric = cls.build({"weights_dir": str(wdir)})
    with pytest.raises(ValueError, match=rf"{name}: 2 prompts for 3 samples \(one per item expected\)"):
        metric.update(Samples(modality="image", data=images(), prompts=PROMPTS[:2]))
    with pytest.raises(ValueError, match=rf"{name}: prompts must be a list of strings, got str"):
        metric.update(Samples(modality="image", data=images(1), prompts="a cat"))
    bad = images(1) * 2
    with pytest.raises(ValueError, match=rf"{name}: expected values in \[0.0, 1.0\], received min .* max 2"):
        metric.update(Samples(modality="image", data=bad, prompts=PROMPTS[:1]))
    with pytest.raises(
        ValueError, match=rf"{name}: expected images of shape \(N, H, W, 3\) .*got \(1, 8, 8, 4\)"
    ):
        metric.update(Samples(modality="image", data=np.zeros((1, 8, 8, 4), np.float32), prompts=PROMPTS[:1]))
    with pytest.raises(MetricSkipped, match=r"applies to image, video, not audio"):
        metric.update(Samples(modality="audio", data=np.zeros((1, 1, 8), np.float32)))
    if name != "aesthetic":
        with pytest.raises(MetricSkipped, match=r"the samples carry no prompts"):
            metric.update(Samples(modality="image", data=images(1)))
    assert metric.compute().status == "skipped"


def test_fingerprints_name_the_weights_and_the_precision_without_loading_them():
    a, b = METRICS.get("hps_v21").build({}), METRICS.get("hps_v21").build({})
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint_details()["weights"] == ["hps-v2.1"]
    gpu = METRICS.get("hps_v21").build({}, device="cuda")
    assert (
        "autocast float16" in gpu.fingerprint_details()["precision"] and gpu.fingerprint() != a.fingerprint()
    )
    ir = METRICS.get("image_reward").build({}).fingerprint_details()
    assert re.search(r"/ 1\.0333394966054072", ir["score"]) and "image-reward" in ir["libraries"]


def test_a_missing_optional_package_skips_the_metric(wdir, hps_files, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "open_clip", None)  # as if open-clip-torch were not installed
    metric = METRICS.get("hps_v21").build({"weights_dir": str(wdir)})
    with pytest.raises(
        MetricSkipped, match=r"hps_v21 needs the Python package 'open_clip', which is not installed"
    ):
        metric.update(Samples(modality="image", data=images(1), prompts=PROMPTS[:1]))


def test_every_bundle_is_pinned_at_a_revision_with_full_hashes():
    names = {n for cls in map(METRICS.get, NAMES) for n in cls.weights}
    assert names == {
        "imagereward-v1.0",
        "bert-base-uncased-vocab",
        "hps-v2.1",
        "pickscore-v1",
        "clip-vit-h-14-laion2b-processor",
        "openai-clip-vit-l-14",
        "laion-aesthetic-v2-linear",
    }
    for name in names:
        spec = W.WEIGHTS[name]
        assert spec.host == "hf" and re.fullmatch(r"[0-9a-f]{40}", spec.revision), name
        for wf in spec.files:
            assert re.fullmatch(r"[0-9a-f]{64}", wf.sha256) and wf.required and wf.hash_source, (name, wf)
    head = W.WEIGHTS["laion-aesthetic-v2-linear"]
    assert head.file_url(head.files[0]).endswith(
        "/60617cce14f355d3923a0e320c9b616fc32ad36d/sac%2Blogos%2Bava1-l14-linearMSE.pth"
    )

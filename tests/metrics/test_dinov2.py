"""DINOv2 features and FD-DINOv2 (#27 item 1), offline, on random weights of the real architecture.

The reference is dgm-eval's path (layer6ai-labs/dgm-eval ``dgm_eval/models/dinov2.py``, ``dataloaders.py``,
``representations.py``) written out here independently of ``harness.metrics.dinov2``: each image as a PIL RGB uint8
image through torchvision ``Resize((224, 224), BICUBIC)``, ``ToTensor`` and ``Normalize`` with the ImageNet
constants, then facebookresearch/dinov2's backbone forward (``dinov2/models/vision_transformer.py``: patch conv, CLS,
position embeddings resampled with ``scale_factor`` (w0 + 0.1) / M, pre-norm blocks with LayerScale, final norm, CLS
token) run on the torch hub checkpoint's own tensors. The harness reads the same checkpoint file (or a Hugging Face
folder of the same weights) into transformers' ``Dinov2Model``; the features must agree to 1e-6.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from harness.cli import main  # noqa: E402
from harness.core.errors import UserInputError, WeightsNotFoundError  # noqa: E402
from harness.core.samples import Samples  # noqa: E402
from harness.metrics import dinov2 as D  # noqa: E402
from harness.metrics import weights as W  # noqa: E402
from harness.metrics.extractors import build_extractor  # noqa: E402
from tests.helpers import tiny_suite  # noqa: E402
from tests.metrics.weights_helpers import pin_to  # noqa: E402

TOL = 1e-6


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def env(monkeypatch, tmp_path):
    """An empty torch hub and Hugging Face cache, HARNESS_WEIGHTS_DIR a fresh folder."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    wdir = tmp_path / "weights"
    wdir.mkdir()
    monkeypatch.setenv("HARNESS_WEIGHTS_DIR", str(wdir))
    return wdir


def _short(monkeypatch, size: str, layers: int) -> D.DINOv2Arch:
    """The real widths of ``size`` with fewer blocks (speed): the harness builds what the file holds."""
    arch = dataclasses.replace(D.ARCHS[size], layers=layers)
    monkeypatch.setitem(D.ARCHS, size, arch)
    return arch


def hub_state_dict(arch: D.DINOv2Arch, seed: int = 0) -> dict:
    """A seeded random state dict under facebookresearch/dinov2's own names and shapes (518 px: 37 × 37 + 1)."""
    g = torch.Generator().manual_seed(seed)
    d = arch.hidden
    hidden = 4 * d
    if arch.swiglu:  # SwiGLUFFNFused: 2/3 of the MLP width, rounded up to a multiple of 8
        hidden = (int(hidden * 2 / 3) + 7) // 8 * 8

    def rnd(*shape, scale=None):
        t = torch.randn(*shape, generator=g)
        return t * (scale if scale is not None else 1 / math.sqrt(shape[-1] if len(shape) > 1 else 1))

    sd = {
        "cls_token": rnd(1, 1, d, scale=0.5),
        "pos_embed": rnd(1, 37 * 37 + 1, d, scale=0.5),
        "mask_token": rnd(1, d, scale=0.1),
        "patch_embed.proj.weight": rnd(d, 3, 14, 14, scale=1 / math.sqrt(3 * 14 * 14)),
        "patch_embed.proj.bias": rnd(d, scale=0.1),
        "norm.weight": 1 + rnd(d, scale=0.1),
        "norm.bias": rnd(d, scale=0.1),
    }
    for i in range(arch.layers):
        b = f"blocks.{i}."
        sd.update(
            {
                b + "norm1.weight": 1 + rnd(d, scale=0.1),
                b + "norm1.bias": rnd(d, scale=0.1),
                b + "attn.qkv.weight": rnd(3 * d, d),
                b + "attn.qkv.bias": rnd(3 * d, scale=0.1),
                b + "attn.proj.weight": rnd(d, d),
                b + "attn.proj.bias": rnd(d, scale=0.1),
                b + "ls1.gamma": rnd(d, scale=0.3),
                b + "norm2.weight": 1 + rnd(d, scale=0.1),
                b + "norm2.bias": rnd(d, scale=0.1),
                b + "ls2.gamma": rnd(d, scale=0.3),
            }
        )
        if arch.swiglu:
            sd[b + "mlp.w12.weight"] = rnd(2 * hidden, d)
            sd[b + "mlp.w12.bias"] = rnd(2 * hidden, scale=0.1)
            sd[b + "mlp.w3.weight"] = rnd(d, hidden)
            sd[b + "mlp.w3.bias"] = rnd(d, scale=0.1)
        else:
            sd[b + "mlp.fc1.weight"] = rnd(hidden, d)
            sd[b + "mlp.fc1.bias"] = rnd(hidden, scale=0.1)
            sd[b + "mlp.fc2.weight"] = rnd(d, hidden)
            sd[b + "mlp.fc2.bias"] = rnd(d, scale=0.1)
    return sd


# ------------------------------------------------------------------------------- dgm-eval's path, written out


def dgm_eval_transform(image_u8: np.ndarray):
    """dgm-eval's DINOv2Encoder.transform (clean_resize off, its default) on the PIL image its loaders make."""
    import torchvision.transforms as TF
    from PIL import Image

    img = Image.fromarray(image_u8).convert("RGB")
    x = TF.Compose([TF.Resize((224, 224), TF.InterpolationMode.BICUBIC), TF.ToTensor()])(img)
    return TF.Normalize(np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225]))(x)


def hub_forward(sd: dict, arch: D.DINOv2Arch, x) -> torch.Tensor:
    """facebookresearch/dinov2 DinoVisionTransformer.forward (is_training False): x_norm_clstoken."""
    F = torch.nn.functional
    d, heads = arch.hidden, arch.heads
    B, _, w, h = x.shape
    t = F.conv2d(x, sd["patch_embed.proj.weight"], sd["patch_embed.proj.bias"], stride=14)
    t = t.flatten(2).transpose(1, 2)
    t = torch.cat((sd["cls_token"].expand(B, -1, -1), t), dim=1)
    # interpolate_pos_encoding, interpolate_offset 0.1, antialias False
    pos = sd["pos_embed"].float()
    N = pos.shape[1] - 1
    M = int(math.sqrt(N))
    w0, h0 = w // 14, h // 14
    patch = F.interpolate(
        pos[:, 1:].reshape(1, M, M, d).permute(0, 3, 1, 2),
        mode="bicubic",
        antialias=False,
        scale_factor=((w0 + 0.1) / M, (h0 + 0.1) / M),
    )
    patch = patch.permute(0, 2, 3, 1).view(1, -1, d)
    t = t + torch.cat((pos[:, 0].unsqueeze(0), patch), dim=1)
    for i in range(arch.layers):
        b = f"blocks.{i}."
        y = F.layer_norm(t, (d,), sd[b + "norm1.weight"], sd[b + "norm1.bias"], eps=1e-6)
        qkv = F.linear(y, sd[b + "attn.qkv.weight"], sd[b + "attn.qkv.bias"])
        qkv = qkv.reshape(B, -1, 3, heads, d // heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * (d // heads) ** -0.5, qkv[1], qkv[2]
        a = (q @ k.transpose(-2, -1)).softmax(dim=-1)
        y = (a @ v).transpose(1, 2).reshape(B, -1, d)
        y = F.linear(y, sd[b + "attn.proj.weight"], sd[b + "attn.proj.bias"])
        t = t + sd[b + "ls1.gamma"] * y
        y = F.layer_norm(t, (d,), sd[b + "norm2.weight"], sd[b + "norm2.bias"], eps=1e-6)
        if arch.swiglu:
            x12 = F.linear(y, sd[b + "mlp.w12.weight"], sd[b + "mlp.w12.bias"])
            x1, x2 = x12.chunk(2, dim=-1)
            y = F.linear(F.silu(x1) * x2, sd[b + "mlp.w3.weight"], sd[b + "mlp.w3.bias"])
        else:
            y = F.linear(F.gelu(F.linear(y, sd[b + "mlp.fc1.weight"], sd[b + "mlp.fc1.bias"])), *_fc2(sd, b))
        t = t + sd[b + "ls2.gamma"] * y
    t = F.layer_norm(t, (d,), sd["norm.weight"], sd["norm.bias"], eps=1e-6)
    return t[:, 0]


def _fc2(sd, b):
    return sd[b + "mlp.fc2.weight"], sd[b + "mlp.fc2.bias"]


def dgm_eval_features(sd: dict, arch: D.DINOv2Arch, images01: np.ndarray) -> np.ndarray:
    """dgm-eval's get_representations on images saved as PNGs (uint8): float32 network, CLS, not normalised."""
    u8 = np.clip(np.rint(images01 * np.float32(255.0)), 0, 255).astype(np.uint8)
    if u8.shape[-1] == 1:
        u8 = u8[..., 0]
    batch = torch.stack([dgm_eval_transform(im) for im in u8])
    with torch.no_grad():
        return hub_forward(sd, arch, batch).numpy().astype(np.float64)


def _images(n: int, h: int, w: int, c: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.random((n, h, w, c))
    # smooth structure plus noise: bicubic resizing then has real work to do
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.clip(0.6 * base + 0.4 * (0.5 + 0.5 * np.sin(6 * xx + 4 * yy))[None, :, :, None], 0, 1)
    return img.astype(np.float32)  # what samples hold; quantised to uint8 (a PNG) from these float32 values


def _hub_file(env, monkeypatch, arch: D.DINOv2Arch, seed: int = 0) -> dict:
    sd = hub_state_dict(arch, seed)
    name = arch.hub_weights
    path = env / W.WEIGHTS[name].files[0].filename
    torch.save(sd, path)
    pin_to(monkeypatch, name, path)
    return sd


# ------------------------------------------------------------------------------------------------- parity


@pytest.mark.parametrize(
    ("size", "layers", "shape"),
    [
        ("s", 12, (3, 64, 64, 3)),  # ViT-S/14, every block
        ("s", 12, (2, 300, 200, 3)),  # non-square, downscaled: no crop, aspect not kept
        ("s", 12, (2, 16, 16, 1)),  # grayscale, upscaled
        ("l", 2, (2, 48, 48, 3)),  # ViT-L/14 widths (fd_dinov2's), 2 of its 24 blocks
        ("g", 1, (1, 40, 40, 3)),  # ViT-g/14 widths, SwiGLU (w12 split into gate and up), 1 block
    ],
)
def test_features_equal_dgm_eval_path_on_the_hub_checkpoint(env, monkeypatch, size, layers, shape):
    """#27 item 1: the harness's DINOv2 path equals dgm-eval's (its transform, the hub backbone's forward, CLS after
    the final norm) from the same torch hub checkpoint file: the network inputs bit for bit, the features to 1e-6
    with both networks in float64 (so only the path is compared), and the float32 features as run to 1e-5
    (float32 rounding: transformers' fused attention sums in another order than the written-out one)."""
    import copy

    arch = _short(monkeypatch, size, layers)
    sd = _hub_file(env, monkeypatch, arch)
    images = _images(*shape)
    ext = build_extractor(f"dinov2-vit-{size}-14", batch_size=2)
    rgb = np.repeat(images, 3, axis=-1) if shape[-1] == 1 else images
    u8 = np.clip(np.rint(images * np.float32(255.0)), 0, 255).astype(np.uint8)
    ref_in = torch.stack([dgm_eval_transform(im[..., 0] if shape[-1] == 1 else im) for im in u8])
    ours_in = ext.pixel_values(rgb)
    assert ours_in.dtype == ref_in.dtype == torch.float32 and ours_in.shape == (shape[0], 3, 224, 224)
    assert torch.equal(ours_in, ref_in)
    with torch.no_grad():
        ours64 = copy.deepcopy(ext.model).double()(pixel_values=ref_in.double()).pooler_output.numpy()
        ref64 = hub_forward({k: v.double() for k, v in sd.items()}, arch, ref_in.double()).numpy()
    assert np.abs(ref64).max() > 0.1  # not a degenerate output
    np.testing.assert_allclose(ours64, ref64, rtol=0, atol=TOL)
    ours = ext.features(images)
    ref = dgm_eval_features(sd, arch, images)
    assert ours.shape == (shape[0], arch.hidden) and ours.dtype == np.float64
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-5)
    # the position-embedding resampling matters: transformers' own (size=) resampling is not dgm-eval's
    with torch.no_grad():
        pos = torch.from_numpy(sd["pos_embed"].numpy())
        hf_way = torch.nn.functional.interpolate(
            pos[:, 1:].reshape(1, 37, 37, -1).permute(0, 3, 1, 2), size=(16, 16), mode="bicubic"
        )
        hub_way = D.hub_pos_embed(pos)[:, 1:].reshape(1, 16, 16, -1).permute(0, 3, 1, 2)
    assert (hf_way - hub_way).abs().max() > 1e-3


def _hf_names(sd: dict, arch: D.DINOv2Arch) -> dict:
    """The hub checkpoint's tensors under the names Hugging Face's facebook/dinov2-* safetensors use (written
    here from the published files' key names: attention.attention.query ..., layer_scale1.lambda1)."""
    out = {
        "embeddings.cls_token": sd["cls_token"],
        "embeddings.mask_token": sd["mask_token"],
        "embeddings.position_embeddings": sd["pos_embed"],
        "embeddings.patch_embeddings.projection.weight": sd["patch_embed.proj.weight"],
        "embeddings.patch_embeddings.projection.bias": sd["patch_embed.proj.bias"],
        "layernorm.weight": sd["norm.weight"],
        "layernorm.bias": sd["norm.bias"],
    }
    for i in range(arch.layers):
        b, e = f"blocks.{i}.", f"encoder.layer.{i}."
        for leaf in ("weight", "bias"):
            q, k, v = sd[b + f"attn.qkv.{leaf}"].chunk(3)
            out[e + f"attention.attention.query.{leaf}"] = q.clone()
            out[e + f"attention.attention.key.{leaf}"] = k.clone()
            out[e + f"attention.attention.value.{leaf}"] = v.clone()
            out[e + f"attention.output.dense.{leaf}"] = sd[b + f"attn.proj.{leaf}"]
            out[e + f"norm1.{leaf}"] = sd[b + f"norm1.{leaf}"]
            out[e + f"norm2.{leaf}"] = sd[b + f"norm2.{leaf}"]
            out[e + f"mlp.fc1.{leaf}"] = sd[b + f"mlp.fc1.{leaf}"]
            out[e + f"mlp.fc2.{leaf}"] = sd[b + f"mlp.fc2.{leaf}"]
        out[e + "layer_scale1.lambda1"] = sd[b + "ls1.gamma"]
        out[e + "layer_scale2.lambda1"] = sd[b + "ls2.gamma"]
    return out


def test_hugging_face_folder_gives_the_same_features_and_is_preferred(env, monkeypatch, capsys):
    """#27 item 1: the same weights as a Hugging Face folder (config.json + model.safetensors under the published
    key names) give dgm-eval's features too; ``source: auto`` takes the folder, ``torch-hub`` the file."""
    import json

    from safetensors.torch import save_file

    arch = _short(monkeypatch, "s", 2)
    sd = _hub_file(env, monkeypatch, arch, seed=3)
    folder = env / W.WEIGHTS[arch.hf_weights].folder
    folder.mkdir()
    save_file({k: v.contiguous() for k, v in _hf_names(sd, arch).items()}, str(folder / "model.safetensors"))
    cfg = {
        "model_type": "dinov2",
        "architectures": ["Dinov2Model"],
        "hidden_size": arch.hidden,
        "num_hidden_layers": arch.layers,
        "num_attention_heads": arch.heads,
        "mlp_ratio": 4,
        "image_size": 518,
        "patch_size": 14,
        "layer_norm_eps": 1e-6,
        "layerscale_value": 1.0,
        "qkv_bias": True,
        "hidden_act": "gelu",
        "use_swiglu_ffn": False,
        "torch_dtype": "float32",
    }
    (folder / "config.json").write_text(json.dumps(cfg))
    # the files made here stand in for the pinned ones; config.json is left unpinned to check that path
    spec = pin_to(monkeypatch, arch.hf_weights, folder)
    unpinned = tuple(
        dataclasses.replace(wf, sha256=None, size=None, hash_source="NOT PINNED (this test)")
        if wf.filename == "config.json"
        else wf
        for wf in spec.files
    )
    monkeypatch.setitem(W.WEIGHTS, arch.hf_weights, dataclasses.replace(spec, files=unpinned))
    images = _images(3, 50, 60, seed=1)
    ref = dgm_eval_features(sd, arch, images)
    hf = build_extractor("dinov2-vit-s-14")
    assert hf.located.spec.name == "dinov2-small-hf"
    hub = build_extractor("dinov2-vit-s-14", source="torch-hub")
    assert hub.located.spec.name == "dinov2-vits14"
    # the same network either way: the HF-loaded model's tensors are the hub file's, bit for bit
    a, b = hf.model.state_dict(), hub.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    np.testing.assert_allclose(hf.features(images), ref, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(hf.features(images), hub.features(images))
    # a file without a published hash (as dinov2-giant's config.json): accepted, recorded, never called verified
    details = hf.protocol()["weights"]
    assert details["unverified"] == ["config.json"]
    assert details["sha256"]["model.safetensors"] == W.sha256_of(folder / "model.safetensors")
    assert hf.fingerprint() != hub.fingerprint()  # other weights files: other fingerprints
    capsys.readouterr()
    rc = main(["weights", "verify", "dinov2-small-hf"])
    out = capsys.readouterr().out
    assert rc == 1 and out.startswith("UNVERIFIED dinov2-small-hf: ")
    assert "no pinned sha256 for config.json" in out and "model.safetensors" not in out.split("no pinned")[1]


def test_fingerprint_names_encoder_size_and_preprocessing_and_refuses_inception_references(
    env, monkeypatch, tmp_path
):
    """#27 item 1: fd_dinov2 is ViT-L/14; its fingerprint names the encoder, size and preprocessing, and a
    reference made with another extractor (Inception FID's) is refused as every Fréchet metric refuses it."""
    from harness.metrics import METRICS
    from harness.metrics.feature_stats import StreamingStats

    arch = _short(monkeypatch, "l", 1)
    _hub_file(env, monkeypatch, arch)
    metric = METRICS.get("fd_dinov2")(reference_path=str(tmp_path / "ref.npz"))
    assert metric.extractor_name == "dinov2-vit-l-14"
    ext = metric.extractor()
    proto = ext.protocol()
    assert proto["extractor"] == "dinov2-vit-l-14" and proto["size"] == "l" and proto["dim"] == 1024
    assert "ViT-L/14" in proto["network"] and "bicubic 224x224" in proto["preprocess"]
    assert "0.485" in proto["preprocess"] and "CLS" in proto["output"]
    assert proto["weights"]["sha256"]["dinov2_vitl14_pretrain.pth"] == W.sha256_of(
        env / "dinov2_vitl14_pretrain.pth"
    )
    # a reference with Inception FID's fingerprint
    stats = StreamingStats()
    stats.update(np.random.default_rng(0).normal(size=(8, 1024)))
    stats.to_npz(tmp_path / "ref.npz", extractor="inception-v3-fid", fingerprint="0" * 16)
    samples = Samples("image", _images(4, 32, 32, seed=2))
    metric.update(samples)
    with pytest.raises(
        ValueError, match=r"ref.npz was made with another feature protocol \(fingerprint 0{16}, ours"
    ):
        metric.compute()
    # the same features as a reference: a value
    ok = METRICS.get("fd_dinov2")(reference_path=str(tmp_path / "own.npz"))
    own = StreamingStats()
    own.update(ext.features(_images(6, 32, 32, seed=5)))
    own.to_npz(tmp_path / "own.npz", extractor=ext.name, fingerprint=ext.fingerprint())
    ok.update(samples)
    res = ok.compute()
    assert res.status == "ok" and res.value > 0


# ------------------------------------------------------------------------------------------------- errors


def test_unknown_size_and_source_are_bad_input_with_a_hint(env):
    """#27 item 1: an unknown DINOv2 size or weights source is refused before any weights are looked for."""
    with pytest.raises(ValueError, match=r"size: unknown DINOv2 size 'xl' .*s, b, l or g"):
        D.DINOv2Features(size="xl")
    with pytest.raises(ValueError, match=r"source: unknown weights source 'hub'"):
        D.DINOv2Features(source="hub")
    with pytest.raises(UserInputError, match=r"unknown extractor 'dinov2-vit-x-14' \(did you mean"):
        build_extractor("dinov2-vit-x-14")


def test_unknown_size_in_a_job_file_is_exit_2_with_file_and_field(env, write_yaml, capsys):
    """#27 item 1: ``extractor: dinov2-vit-xl-14`` in a suite file is exit 2 naming the file and the field."""
    opts = {"extractor": "dinov2-vit-xl-14", "reference_path": "r.npz"}
    job = write_yaml("s.yaml", tiny_suite(metrics=[{"name": "fd_dinov2", "options": opts}]))
    rc = main(["validate", str(job)])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert str(job) in err and "extractor" in err and "dinov2-vit-xl-14" in err and "did you mean" in err


def test_missing_weights_name_both_files_and_the_fetch_commands(env):
    """#27 item 5: no DINOv2 weights anywhere: one line naming the HF files and the hub file, where each was
    looked for, and `harness weights fetch NAME --to DIR` for each."""
    with pytest.raises(WeightsNotFoundError) as info:
        build_extractor("dinov2-vit-l-14")
    msg = str(info.value)
    assert "\n" not in msg
    assert "facebook/dinov2-large (config.json, model.safetensors)" in msg
    assert "dinov2_vitl14_pretrain.pth" in msg
    assert "harness weights fetch dinov2-large-hf --to DIR" in msg
    assert "harness weights fetch dinov2-vitl14 --to DIR" in msg
    assert "$HARNESS_WEIGHTS_DIR" in msg
    with pytest.raises(WeightsNotFoundError, match="harness weights fetch dinov2-vitl14 --to DIR") as only:
        build_extractor("dinov2-vit-l-14", source="torch-hub")
    assert "dinov2-large" not in str(only.value)


def test_a_checkpoint_of_another_size_is_refused_not_padded(env, monkeypatch):
    """#27 item 1: a file that does not fit the size (here ViT-S tensors under ViT-L's name) is an error naming
    the file, never a network with random weights."""
    from harness.metrics.loading import WeightsLoadError

    small = _short(monkeypatch, "s", 1)
    _short(monkeypatch, "l", 1)
    sd = hub_state_dict(small)
    path = env / "dinov2_vitl14_pretrain.pth"
    torch.save(sd, path)
    pin_to(monkeypatch, "dinov2-vitl14", path)
    with pytest.raises(WeightsLoadError, match=r"dinov2_vitl14_pretrain.pth: does not fit DINOv2 ViT-L/14"):
        build_extractor("dinov2-vit-l-14", source="torch-hub")


def test_the_real_vitl14_pin_rejects_another_file(env):
    """#27 item 5: dinov2_vitl14_pretrain.pth is pinned by its full sha256 (several public pins agree); a file of
    that name with other bytes is refused."""
    wf = W.WEIGHTS["dinov2-vitl14"].files[0]
    assert wf.sha256 == "d5383ea8f4877b2472eb973e0fd72d557c7da5d3611bd527ceeb1d7162cbf428"
    assert wf.size == 1_217_586_395
    (env / wf.filename).write_bytes(b"not the checkpoint")
    with pytest.raises(W.WeightsMismatchError, match="sha256 mismatch"):
        build_extractor("dinov2-vit-l-14", source="torch-hub")


@pytest.mark.skipif(
    W.find("dinov2-vitl14") is None and W.find("dinov2-large-hf") is None,
    reason="needs the real DINOv2 ViT-L/14 weights (harness weights fetch dinov2-vitl14 --to DIR); "
    "not downloaded in tests",
)
def test_real_vitl14_features_are_finite_and_1024_d():
    """The real ViT-L/14 weights where present: 1024-d finite features of distinct images."""
    ext = build_extractor("dinov2-vit-l-14", batch_size=2)
    f = ext.features(_images(2, 64, 64))
    assert f.shape == (2, 1024) and np.isfinite(f).all() and not np.allclose(f[0], f[1])

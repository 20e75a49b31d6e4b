"""The real-weights code paths (FID Inception, LPIPS AlexNet, CLIP), offline, on weights files made here.

Each architecture is built with random weights and saved under the pinned file name in a temporary weights
folder; the registry's pinned hash is re-pinned to that file (``pin_to``). Then: the loader finds it through
HARNESS_WEIGHTS_DIR, verifies it and the metric runs; with the real pinned hash the same file is rejected; with
no file the one-line error names the file and every place looked. Where the upstream package can load the same
file itself (pytorch-fid, lpips through torch hub's cache), our values are compared with its own.
"""

from __future__ import annotations

import os
import warnings
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from harness.cli import main  # noqa: E402
from harness.config.job import JobMetric  # noqa: E402
from harness.core.errors import MetricSkipped, UserInputError, WeightsNotFoundError  # noqa: E402
from harness.core.samples import Samples  # noqa: E402
from harness.metrics import weights as W  # noqa: E402
from harness.metrics.extractors import build_extractor  # noqa: E402
from tests.metrics.weights_helpers import (  # noqa: E402
    make_alexnet_file,
    make_inception_file,
    make_tiny_clip,
    pin_to,
    quantized,
    write_pngs,
)

pytestmark = pytest.mark.filterwarnings("ignore::harness.metrics.frechet.FrechetWarning")


@pytest.fixture(scope="module")
def wdir(tmp_path_factory):
    """A weights folder as `harness weights fetch` lays it out, filled with random-weight files."""
    d = tmp_path_factory.mktemp("weights")
    make_inception_file(d)
    make_alexnet_file(d)
    make_tiny_clip(d / "clip-vit-base-patch32")
    return d


def _images(seed, n, size):
    return quantized(np.random.default_rng(seed).uniform(0, 1, (n, size, size, 3)).astype(np.float32))


# ------------------------------------------------------------------------------------------- Inception


@pytest.mark.slow
def test_inception_found_verified_and_equal_to_pytorch_fid_on_the_same_file(wdir, offline_env, monkeypatch):
    """refstats and a metric run offline on the located file; its features equal pytorch-fid's own loading."""
    import pytorch_fid.inception as pi

    from harness.metrics import METRICS

    monkeypatch.setenv("HARNESS_WEIGHTS_DIR", str(wdir))
    pin_to(monkeypatch, "pytorch-fid-inception", wdir / "pt_inception-2015-12-05-6726825d.pth")
    imgs = _images(0, 2, 16)
    folder = write_pngs(offline_env / "ref", imgs)
    npz = offline_env / "ref.npz"
    assert (
        main(
            [
                "refstats",
                "build",
                "--images",
                str(folder),
                "-o",
                str(npz),
                "--device",
                "cpu",
                "--keep-features",
            ]
        )
        == 0
    )
    with np.load(npz) as z:
        ours = z["features"]
        assert str(z["extractor"]) == "inception-v3-fid" and ours.shape == (2, 2048)

    # pytorch-fid itself, finding the same file in torch hub's cache (its own URL path, a cache hit).
    hub = offline_env / "torch-home" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    os.symlink(wdir / "pt_inception-2015-12-05-6726825d.pth", hub / "pt_inception-2015-12-05-6726825d.pth")
    theirs_net = pi.InceptionV3([3]).eval()
    with torch.inference_mode():
        theirs = (
            theirs_net(torch.from_numpy(imgs.transpose(0, 3, 1, 2)).float())[0].flatten(1).double().numpy()
        )
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5)
    assert np.abs(theirs).max() > 1e-3  # not a degenerate network

    # A metric on the same located network, offline: the Inception Score of its logits (pool3 @ fc, no bias).
    # (fid itself is run on fake features elsewhere: with n <= d its covariances need eigh(2048), seconds.)
    is_metric = METRICS.get("inception_score")(device="cpu", splits=1)
    is_metric.update(Samples("image", imgs))
    v = is_metric.compute()
    fc = torch.load(wdir / "pt_inception-2015-12-05-6726825d.pth", weights_only=True)["fc.weight"].double()
    p = (torch.from_numpy(ours) @ fc.T).softmax(1)
    by_hand = float((p * (p.log() - p.mean(0, keepdim=True).log())).sum(1).mean().exp())
    assert v.status == "ok" and v.value == pytest.approx(by_hand, rel=1e-5) and v.value > 1.0
    sha = W.sha256_of(wdir / "pt_inception-2015-12-05-6726825d.pth")
    assert v.details["extractor"]["weights"] == {
        "name": "pytorch-fid-inception",
        "sha256": {"pt_inception-2015-12-05-6726825d.pth": sha},
    }
    assert "HARNESS_WEIGHTS_DIR" in is_metric.extractor().located.where


def test_inception_clean_resize_is_another_protocol(wdir, offline_env, monkeypatch):
    from harness.metrics.inception import clean_resize

    monkeypatch.setenv("HARNESS_WEIGHTS_DIR", str(wdir))
    pin_to(monkeypatch, "pytorch-fid-inception", wdir / "pt_inception-2015-12-05-6726825d.pth")
    clean = build_extractor("inception-v3-fid", resize="clean")
    bil = build_extractor("inception-v3-fid")
    assert clean.fingerprint() != bil.fingerprint() and clean.protocol()["resize"] == "clean"
    assert clean.features(_images(1, 1, 16)).shape == (1, 2048)
    flat = np.full((1, 8, 8, 3), 77, np.uint8)
    np.testing.assert_allclose(clean_resize(flat, 299), 77.0, atol=1e-3)  # bicubic keeps a constant image


def test_inception_real_pin_rejects_the_random_file(wdir, offline_env, monkeypatch):
    monkeypatch.setenv("HARNESS_WEIGHTS_DIR", str(wdir))
    with pytest.raises(
        W.WeightsMismatchError, match=r"sha256 mismatch: expected 6726825d0af5f729cebd58"
    ) as info:
        build_extractor("inception-v3-fid")
    assert "\n" not in str(info.value)


def test_inception_missing_names_the_file_and_every_place(offline_env, monkeypatch):
    empty = offline_env / "empty"
    empty.mkdir()
    monkeypatch.setenv("HARNESS_WEIGHTS_DIR", str(empty))
    with pytest.raises(WeightsNotFoundError) as info:
        build_extractor("inception-v3-fid", weights_dir=offline_env / "flag-dir")
    msg = str(info.value)
    assert "\n" not in msg and "pt_inception-2015-12-05-6726825d.pth" in msg
    for place in (
        "flag-dir (--weights-dir)",
        f"{empty} ($HARNESS_WEIGHTS_DIR)",
        str(offline_env / "torch-home" / "hub" / "checkpoints"),
        "harness weights fetch pytorch-fid-inception",
        "HARNESS_WEIGHTS_DIR=DIR",
    ):
        assert place in msg, place


# ------------------------------------------------------------------------------------------- LPIPS


@pytest.mark.slow
def test_lpips_wrapper_equals_the_lpips_package_on_the_same_backbone_file(wdir, offline_env, monkeypatch):
    import lpips

    from harness.metrics.lpips_metric import LPIPS

    monkeypatch.setenv("HARNESS_WEIGHTS_DIR", str(wdir))
    pin_to(monkeypatch, "torchvision-alexnet", wdir / "alexnet-owt-7be5be79.pth")
    a, b = _images(3, 3, 64), _images(4, 3, 64)
    m = LPIPS(device="cpu")
    m.update(Samples("image", a), Samples("image", b))
    v = m.compute()
    assert v.status == "ok" and v.n == 3
    assert v.details["backbone_weights"]["sha256"]["alexnet-owt-7be5be79.pth"] == W.sha256_of(
        wdir / "alexnet-owt-7be5be79.pth"
    )

    # lpips's own loading: torchvision's alexnet(pretrained=True) reads the same file from torch hub's cache.
    hub = offline_env / "torch-home" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    os.symlink(wdir / "alexnet-owt-7be5be79.pth", hub / "alexnet-owt-7be5be79.pth")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = lpips.LPIPS(net="alex", verbose=False).eval()
    with torch.inference_mode():
        x = torch.from_numpy(a.transpose(0, 3, 1, 2)) * 2 - 1
        y = torch.from_numpy(b.transpose(0, 3, 1, 2)) * 2 - 1
        theirs = ref(x, y).flatten().double().numpy()
    assert v.value == pytest.approx(float(theirs.mean()), abs=1e-6)
    np.testing.assert_allclose(m._values, theirs, rtol=0, atol=1e-6)


def test_lpips_checks_range_and_rejects_the_unpinned_file(wdir, offline_env, monkeypatch):
    from harness.metrics.lpips_metric import LPIPS

    monkeypatch.setenv("HARNESS_WEIGHTS_DIR", str(wdir))
    a = _images(3, 2, 64)
    with pytest.raises(ValueError, match=r"lpips: expected values in \[0.0, 1.0\], received min"):
        LPIPS().update(Samples("image", a * 2), Samples("image", a))
    with pytest.raises(W.WeightsMismatchError, match=r"torchvision-alexnet.*expected 7be5be791159472b"):
        LPIPS().update(Samples("image", a), Samples("image", a))
    with pytest.raises(TypeError, match=r"net must be one of alex, vgg, squeeze"):
        LPIPS(net="resnet")
    assert LPIPS.requires_trained_weights is False and LPIPS.kind == "pairwise"


def test_worker_runs_lpips_and_skips_fid_without_reference(wdir, offline_env, monkeypatch, tmp_path):
    from harness.execute.worker import run_metrics

    monkeypatch.setenv("HARNESS_WEIGHTS_DIR", str(wdir))
    pin_to(monkeypatch, "torchvision-alexnet", wdir / "alexnet-owt-7be5be79.pth")
    job = SimpleNamespace(
        baseline_job_id=None,
        modality="image",
        random_weights=False,
        metrics=(
            JobMetric.parse("lpips"),
            JobMetric.parse("fid"),
            JobMetric.parse("ms_ssim"),
        ),
    )
    out = run_metrics(job, Samples("image", _images(5, 2, 64)), tmp_path, "cpu")
    assert out["lpips"].status == "ok" and out["lpips"].value == pytest.approx(0.0, abs=1e-7)
    assert out["lpips"].details["note"] == "baseline variant: compared with itself"
    assert out["fid"].status == "skipped" and "reference_path" in out["fid"].reason
    assert out["ms_ssim"].status == "skipped" and "needs at least 176 px" in out["ms_ssim"].reason
    # Bad options never reach the worker now: a job's metric options are typed when it is made (#25 item 1).
    with pytest.raises(
        UserInputError, match=r"^kid: subset_size: Input should be greater than or equal to 2"
    ):
        JobMetric.parse("kid", {"subset_size": 1})


# ------------------------------------------------------------------------------------------- CLIP


def test_clip_features_clip_score_and_fd_clip_offline(wdir, offline_env, monkeypatch, capsys):
    from harness.metrics import METRICS

    monkeypatch.setenv("HARNESS_WEIGHTS_DIR", str(wdir))
    pin_to(monkeypatch, "clip-vit-base-patch32", wdir / "clip-vit-base-patch32")
    imgs = _images(6, 3, 40)
    ext = build_extractor("clip-vit-b-32")
    feats = ext.features(imgs)
    assert feats.shape == (3, 8) and ext.located.root == wdir / "clip-vit-base-patch32"

    folder = write_pngs(offline_env / "ref", imgs)
    npz = offline_env / "ref.npz"
    assert (
        main(
            [
                "refstats",
                "build",
                "--images",
                str(folder),
                "--extractor",
                "clip-vit-b-32",
                "-o",
                str(npz),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    fd = METRICS.get("fd_clip-vit-b-32")(device="cpu", reference_path=str(npz))
    fd.update(Samples("image", imgs))
    v = fd.compute()
    assert v.status == "ok" and v.value == pytest.approx(0.0, abs=1e-6)

    cs = METRICS.get("clip_score")(device="cpu")
    samples = Samples("image", imgs)
    with pytest.raises(MetricSkipped, match=r"no prompts"):
        cs.update(samples)
    samples.prompts = ["a cat", "dog on grass", "abc"]
    cs.update(samples)
    v = cs.compute()
    assert v.status == "ok" and v.n == 3 and 0 <= v.value <= 100


def test_clip_score_matches_torchmetrics_per_image(wdir, offline_env, monkeypatch):
    from torchmetrics.functional.multimodal import clip_score

    from harness.metrics.alignment import CLIPScore
    from harness.metrics.clip_features import load_clip
    from harness.metrics.loading import embeddings

    monkeypatch.setenv("HARNESS_WEIGHTS_DIR", str(wdir))
    pin_to(monkeypatch, "clip-vit-base-patch32", wdir / "clip-vit-base-patch32")
    imgs = _images(7, 6, 40)
    prompts = ["a red cat", "dog", "zebra on a hill", "x y z", "abc", "hello world"]
    ours = CLIPScore()
    per = ours.scores(imgs, prompts)
    assert (per > 1).any() and (per == 0).any()  # both sides of max(cos, 0)

    model, processor = load_clip(W.locate("clip-vit-base-patch32"))

    class Tensors(torch.nn.Module):
        """torchmetrics 1.9 expects tensors from get_*_features; transformers 5 returns model outputs."""

        def __init__(self, m):
            super().__init__()
            self.m = m
            self.config = m.config

        def get_image_features(self, *a, **k):
            return embeddings(self.m.get_image_features(*a, **k))

        def get_text_features(self, *a, **k):
            return embeddings(self.m.get_text_features(*a, **k))

    u8 = torch.from_numpy(np.rint(imgs * 255).astype(np.uint8).transpose(0, 3, 1, 2))
    with torch.no_grad():
        theirs = [
            float(clip_score(u8[i], prompts[i], model_name_or_path=lambda: (Tensors(model), processor)))
            for i in range(len(imgs))
        ]
    np.testing.assert_allclose(per, theirs, rtol=0, atol=1e-4)
    # by hand: 100 * max(cos, 0)
    with torch.inference_mode():
        pv = processor(images=list(np.rint(imgs * 255).astype(np.uint8)), return_tensors="pt")["pixel_values"]
        e_i = embeddings(model.get_image_features(pixel_values=pv)).double()
        tok = processor.tokenizer(prompts, padding=True, return_tensors="pt")
        e_t = embeddings(model.get_text_features(**tok)).double()
    cos = torch.nn.functional.cosine_similarity(e_i, e_t).numpy()
    np.testing.assert_allclose(per, 100 * np.maximum(cos, 0), rtol=0, atol=1e-4)
    # MLPerf's SDXL accuracy script does not clip: 100 · cos, negative where the cosine is
    mlperf = CLIPScore(nonnegative=False)
    mlperf._images = ours._images  # the same loaded network
    unclipped = mlperf.scores(imgs, prompts)
    np.testing.assert_allclose(unclipped, 100 * cos, rtol=0, atol=1e-4)
    assert (unclipped < 0).any() and mlperf.fingerprint() != ours.fingerprint()
    with pytest.raises(TypeError, match="nonnegative must be true or false, got 'no'"):
        CLIPScore(nonnegative="no")


def test_clip_real_pins_reject_the_tiny_folder_and_missing_is_one_line(wdir, offline_env, monkeypatch):
    monkeypatch.setenv("HARNESS_WEIGHTS_DIR", str(wdir))
    with pytest.raises(W.WeightsMismatchError, match=r"clip-vit-base-patch32.*sha256 mismatch"):
        build_extractor("clip-vit-b-32")
    monkeypatch.setenv("HARNESS_WEIGHTS_DIR", str(offline_env / "none"))
    with pytest.raises(
        WeightsNotFoundError, match=r"openai/clip-vit-base-patch32 \(config.json, pytorch_model.bin"
    ) as info:
        build_extractor("clip-vit-b-32")
    assert "Hugging Face cache" in str(info.value) and "\n" not in str(info.value)

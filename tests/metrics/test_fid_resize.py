"""FID's resize as an explicit option: ``legacy_pytorch`` (default), ``clean``, ``legacy_tensorflow``.

Each resize is checked against an independent implementation on identical inputs: TF1's legacy bilinear formula
written out in NumPy (and the affine-grid form of the TF-ported Inception clean-fid runs), clean-fid's own PIL
resizer, and pytorch-fid's network fed by hand. The Inception runs on a random-weights file saved under the
pinned name (``make_inception_file``), never the real weights. The resize is part of the fingerprint, so a
reference made with one resize is refused by a metric using another.
"""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

from harness.cli import assets, main
from harness.core.errors import UserInputError
from harness.core.samples import Samples
from harness.metrics import inception as E
from harness.metrics.base import fingerprint_of
from harness.metrics.extractors import build_extractor, quantize
from harness.metrics.feature_metric import FeatureOptions
from harness.metrics.feature_stats import StreamingStats
from harness.metrics.frechet_metric import FID
from harness.metrics.inception import clean_resize, tf1_resize_bilinear
from harness.metrics.kid_metric import KID
from harness.metrics.refstats import stats_meta
from tests.helpers import tiny_suite
from tests.metrics.weights_helpers import make_inception_file, pin_to, quantized, write_pngs

torch = pytest.importorskip("torch")
F = torch.nn.functional

RESIZES = ("legacy_pytorch", "clean", "legacy_tensorflow")
INCEPTION = "pt_inception-2015-12-05-6726825d.pth"


def tf1_resize_bilinear_numpy(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """TF1's resize_bilinear_op.cc (align_corners=False, half_pixel_centers=False) written out for one (H, W, C)
    image: LegacyScaler ``in = out · scale`` in float32, ``lower = max(floor(in), 0)``,
    ``upper = min(ceil(in), in_size − 1)``, ``lerp = in − floor(in)``; then compute_lerp per pixel."""
    in_h, in_w = image.shape[:2]

    def weights(out_size, in_size):
        scale = np.float32(in_size) / np.float32(out_size)
        out = []
        for i in range(out_size):
            src = np.float32(i) * scale
            out.append((max(int(np.floor(src)), 0), min(int(np.ceil(src)), in_size - 1), src - np.floor(src)))
        return out

    ys, xs = weights(out_h, in_h), weights(out_w, in_w)
    result = np.empty((out_h, out_w, image.shape[2]), np.float32)
    for y, (y0, y1, y_lerp) in enumerate(ys):
        for x, (x0, x1, x_lerp) in enumerate(xs):
            top = image[y0, x0] + (image[y0, x1] - image[y0, x0]) * x_lerp
            bottom = image[y1, x0] + (image[y1, x1] - image[y1, x0]) * x_lerp
            result[y, x] = top + (bottom - top) * y_lerp
    return result


def _chw(images: np.ndarray):
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))


# ------------------------------------------------------------------------------------------- the resizes


@pytest.mark.parametrize(
    ("h", "w", "size"),
    [(5, 7, 11), (17, 13, 6), (3, 40, 9), (13, 13, 13), (48, 64, 299)],
    ids=["up", "down", "mixed", "same", "to-299"],
)
def test_tf1_resize_equals_the_tf1_formula(h, w, size):
    images = (
        np.random.default_rng(h * w).uniform(0, 255, (2 if size < 299 else 1, h, w, 3)).astype(np.float32)
    )
    ours = tf1_resize_bilinear(_chw(images), size).numpy().transpose(0, 2, 3, 1)
    theirs = np.stack([tf1_resize_bilinear_numpy(img, size, size) for img in images])
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-4)
    if (h, w) == (size, size):
        np.testing.assert_array_equal(ours, images)


def test_tf1_resize_equals_the_affine_grid_form_of_the_tf_ported_inception():
    """The TF-ported Inception that clean-fid runs for legacy_tensorflow resizes inside with grid_sample on a
    grid shifted by 1/in − 1/out (source = destination · in / out, edges clamped): the same image."""
    images = _chw(np.random.default_rng(5).uniform(0, 255, (2, 37, 52, 3)).astype(np.float32))
    b, c, h, w = images.shape
    theta = torch.eye(2, 3)
    theta[0, 2] += theta[0, 0] / w - theta[0, 0] / 299
    theta[1, 2] += theta[1, 1] / h - theta[1, 1] / 299
    grid = F.affine_grid(theta[None].repeat(b, 1, 1), [b, c, 299, 299], align_corners=False)
    theirs = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    np.testing.assert_allclose(tf1_resize_bilinear(images, 299).numpy(), theirs.numpy(), rtol=0, atol=0.02)


def test_clean_resize_equals_clean_fids_own_resizer():
    from cleanfid.resize import build_resizer, make_resizer

    resizer = make_resizer("PIL", False, "bicubic", (299, 299))
    rng = np.random.default_rng(6)
    for shape in [(17, 23), (64, 64), (400, 310)]:
        u8 = rng.integers(0, 256, (2, *shape, 3), dtype=np.uint8)
        theirs = np.stack([resizer(img) for img in u8])
        np.testing.assert_array_equal(clean_resize(u8), theirs)
        np.testing.assert_array_equal(clean_resize(u8[:1])[0], build_resizer("clean")(u8[0]))


# ------------------------------------------------------------------------------------------- the extractor


@pytest.fixture(scope="module")
def wdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("weights")
    make_inception_file(d)
    return d


@pytest.fixture
def inception(wdir, monkeypatch, tmp_path):
    """The random-weights Inception found through HARNESS_WEIGHTS_DIR; torch hub's cache holds the same file
    for pytorch-fid's own loader; one torch thread."""
    monkeypatch.setenv("HARNESS_WEIGHTS_DIR", str(wdir))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    pin_to(monkeypatch, "pytorch-fid-inception", wdir / INCEPTION)
    hub = tmp_path / "torch-home" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    os.symlink(wdir / INCEPTION, hub / INCEPTION)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield {r: build_extractor("inception-v3-fid", resize=r) for r in RESIZES}
    torch.set_num_threads(threads)


@pytest.mark.slow
def test_each_resize_feeds_pytorch_fids_network_as_its_reference_does(inception):
    """Features of each mode equal pytorch-fid's own network (no resize, no scaling inside) fed by hand: its
    bilinear resize and 2x − 1; clean-fid's PIL resize and (x − 128)/128; TF1's formula (NumPy) and (x − 128)/128."""
    import pytorch_fid.inception as pi

    net = pi.InceptionV3([3], resize_input=False, normalize_input=False).eval()
    imgs = quantized(np.random.default_rng(7).uniform(0, 1, (1, 20, 28, 3)).astype(np.float32))
    by_hand = {
        "legacy_pytorch": 2 * F.interpolate(_chw(imgs), size=(299, 299), mode="bilinear", align_corners=False)
        - 1,
        "clean": (_chw(clean_resize(quantize(imgs))) - 128) / 128,
        "legacy_tensorflow": (_chw(tf1_resize_bilinear_numpy(imgs[0] * 255, 299, 299)[None]) - 128) / 128,
    }
    feats = {}
    for resize, ext in inception.items():
        with torch.inference_mode():
            theirs = net(by_hand[resize].float())[0].flatten(1).double().numpy()
        feats[resize] = ext.features(imgs)
        np.testing.assert_allclose(feats[resize], theirs, rtol=0, atol=1e-6)
    for a, b in [
        ("legacy_pytorch", "clean"),
        ("clean", "legacy_tensorflow"),
        ("legacy_pytorch", "legacy_tensorflow"),
    ]:
        assert np.abs(feats[a] - feats[b]).max() > 1e-5, (a, b)  # each differs far beyond the tolerance


@pytest.mark.slow
def test_every_mode_reads_8_bit_images_as_the_reference_tools_do(inception, tmp_path):
    """#23 item 7 (b): in legacy_pytorch and legacy_tensorflow the network was given float images off the 8-bit
    grid (up to half a level from what pytorch-fid, clean-fid and TTUR read from image files). Every mode now
    quantises first: its features of float images are those of the 8-bit images, and in legacy_pytorch they
    equal pytorch-fid's and clean-fid's own pipelines reading the PNG files of the same images."""
    import pytorch_fid.inception as pi
    from cleanfid.features import build_feature_extractor
    from cleanfid.fid import get_folder_features
    from pytorch_fid.fid_score import get_activations

    imgs = np.random.default_rng(9).uniform(0, 1, (2, 20, 28, 3)).astype(np.float32)
    assert np.abs(imgs - quantized(imgs)).max() > 0.45 / 255  # off the grid by up to half a level
    feats = {}
    for resize, ext in inception.items():
        feats[resize] = ext.features(imgs)
        np.testing.assert_array_equal(feats[resize], ext.features(quantized(imgs)), err_msg=resize)
    folder = write_pngs(tmp_path / "pngs", imgs)
    files = sorted(str(p) for p in folder.glob("*.png"))
    net = pi.InceptionV3([3]).eval()  # pytorch-fid's own loader: torch hub's copy of the test weights
    theirs = get_activations(files, net, batch_size=2, dims=2048, device="cpu", num_workers=0)
    np.testing.assert_allclose(feats["legacy_pytorch"], theirs, rtol=0, atol=1e-6)
    cpu = torch.device("cpu")
    model = build_feature_extractor("legacy_pytorch", device=cpu, use_dataparallel=False)
    clean_fids = get_folder_features(
        str(folder), model, num_workers=0, batch_size=2, device=cpu, mode="legacy_pytorch", verbose=False
    )
    # clean-fid resizes the [0, 255] image and divides after: the same input to float32 rounding
    np.testing.assert_allclose(feats["legacy_pytorch"], clean_fids, rtol=0, atol=1e-5)


def test_quantising_changed_the_legacy_fingerprints(inception, tmp_path):
    """#23 item 7 (b): what the network sees changed in legacy_pytorch and legacy_tensorflow, and so did their
    fingerprints: reference statistics made before are refused (unless allow_mismatch)."""
    before = {
        "legacy_pytorch": "bilinear to 299 inside the network (F.interpolate, align_corners=False), then 2x - 1 "
        "on [0, 1], as pytorch-fid",
        "legacy_tensorflow": "[0, 255], TF1 resize_bilinear to 299 (align_corners=False, no half-pixel centres), "
        "then (x - 128) / 128, as the TTUR / TensorFlow FID",
    }
    old = {}
    for resize, detail in before.items():
        protocol = inception[resize].protocol()
        assert protocol["resize_detail"].startswith("uint8 (as ")
        old[resize] = fingerprint_of({**protocol, "resize_detail": detail})
        assert old[resize] != inception[resize].fingerprint()
    imgs = quantized(np.random.default_rng(10).uniform(0, 1, (2, 16, 16, 3)).astype(np.float32))
    ext = inception["legacy_pytorch"]
    stats = StreamingStats.from_features(ext.features(imgs))
    ref = tmp_path / "made-before.npz"
    stats.to_npz(ref, **{**stats_meta(ext), "fingerprint": old["legacy_pytorch"]})
    fid = FID(reference_path=str(ref))
    fid.update(Samples("image", imgs))
    with pytest.raises(
        ValueError, match=rf"another feature protocol \(fingerprint {old['legacy_pytorch']}, ours"
    ):
        fid.compute()


def test_the_resize_is_in_the_fingerprint(inception):
    prints = {r: ext.fingerprint() for r, ext in inception.items()}
    assert len(set(prints.values())) == 3
    for r, ext in inception.items():
        assert ext.protocol()["resize"] == r and ext.protocol()["resize_detail"] == E.FID_RESIZES[r]
    assert build_extractor("inception-v3-fid").resize == "legacy_pytorch"  # the default: pytorch-fid's
    unbuilt = {FID(resize=r).fingerprint() for r in RESIZES}
    assert len(unbuilt) == 3


@pytest.mark.slow
def test_a_reference_of_another_resize_is_refused_unless_allowed(inception, tmp_path, monkeypatch):
    imgs = quantized(np.random.default_rng(8).uniform(0, 1, (2, 16, 16, 3)).astype(np.float32))
    stats = StreamingStats(keep_features=True)
    stats.update(inception["clean"].features(imgs))
    ref = tmp_path / "clean.npz"
    stats.to_npz(ref, include_features=True, **stats_meta(inception["clean"]))
    # The Fréchet distance of 2048-d features takes tens of seconds here; the refusal comes before it.
    monkeypatch.setattr(StreamingStats, "frechet_distance", lambda self, other, **kw: 1.5)

    tf = FID(reference_path=str(ref), resize="legacy_tensorflow")
    tf.update(Samples("image", imgs))
    with pytest.raises(
        ValueError, match=r"another feature protocol \(fingerprint [0-9a-f]{16}, ours [0-9a-f]{16}\)"
    ):
        tf.compute()
    allowed = FID(reference_path=str(ref), resize="legacy_tensorflow", allow_mismatch=True)
    allowed.update(Samples("image", imgs))
    v = allowed.compute()
    assert v.status == "ok" and "differs from ours" in v.details["note"] and "(allowed)" in v.details["note"]
    same = FID(reference_path=str(ref), resize="clean")
    same.update(Samples("image", imgs))
    assert "note" not in same.compute().details

    kid = KID(reference_path=str(ref), resize="legacy_pytorch", subset_size=2, subsets=2)
    kid.update(Samples("image", imgs))
    with pytest.raises(ValueError, match=r"another feature protocol"):
        kid.compute()


# ------------------------------------------------------------------------------------------- options and CLI


def test_bilinear_is_refused_with_its_new_name():
    with pytest.raises(
        UserInputError, match=r"^fid: resize: 'bilinear' is now called 'legacy_pytorch' \(the same resize"
    ):
        FID.parse_options({"resize": "bilinear"})
    with pytest.raises(
        UserInputError, match=r"kid: resize: 'no-such' is not allowed \(allowed: 'clean', 'legacy_"
    ):
        KID.parse_options({"resize": "no-such"})
    assert FID.parse_options({"resize": "legacy_tensorflow"}).resize == "legacy_tensorflow"
    # the extractor says so too, before it looks for weights
    with pytest.raises(ValueError, match=r"resize 'bilinear' is now called 'legacy_pytorch'"):
        build_extractor("inception-v3-fid", resize="bilinear")


def test_validate_names_the_renamed_resize(write_yaml, capsys):
    suite = write_yaml("s.yaml", tiny_suite(metrics=[{"name": "fid", "options": {"resize": "bilinear"}}]))
    assert main(["validate", str(suite)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "resize: 'bilinear' is now called 'legacy_pytorch'" in err, err


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("bilinear", r"argument --resize: 'bilinear' is now called 'legacy_pytorch'"),
        (
            "bicubic",
            r"argument --resize: invalid choice: 'bicubic' \(choose from '?clean'?, '?legacy_pytorch",
        ),
    ],
)
def test_cli_resize_flag(tmp_path, capsys, value, match):
    with pytest.raises(SystemExit) as info:
        main(["fid", str(tmp_path / "a"), str(tmp_path / "b"), "--resize", value])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count("\n") == 1 and re.search(match, err), err


def test_the_cli_and_the_options_know_the_extractors_resizes():
    import typing

    assert set(assets.FID_RESIZES) == set(E.FID_RESIZES) == set(E.InceptionFID.RESIZES) == set(RESIZES)
    assert assets.RENAMED_RESIZES == E.RENAMED_RESIZES
    literal, _none = typing.get_args(FeatureOptions.model_fields["resize"].annotation)
    assert set(typing.get_args(literal)) == set(E.FID_RESIZES)

"""CMMD: the estimator against closed forms and a direct transcription of google-research's cmmd/distance.py,
the metric end to end on a stand-in extractor, `harness refstats build --for cmmd`, and the real CLIP code path
(`clip-vit-l-14-336`) on a tiny random CLIP saved under the pinned file names.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.cli import main
from harness.core.errors import MetricSkipped, UserInputError, WeightsNotFoundError
from harness.core.samples import Samples
from harness.metrics import METRICS, cmmd
from harness.metrics import weights as W
from harness.metrics.clip_features import CLIP_MEAN, CLIP_STD, center_crop_resize
from harness.metrics.cmmd import CMMD, mmd, read_reference, write_reference
from harness.metrics.extractors import ExtractorSpec, FeatureExtractor, build_extractor, quantize, registered
from harness.metrics.frechet_metric import FID
from harness.metrics.refstats import stats_meta
from tests.metrics.weights_helpers import FLAT, FLAT_NAN, make_tiny_clip, pin_to, quantized, write_pngs


def reference_mmd(x: np.ndarray, y: np.ndarray) -> float:
    """google-research cmmd/distance.py's ``mmd``, line by line in NumPy (float64, no blocks)."""
    x_sqnorms = np.diag(np.matmul(x, x.T))
    y_sqnorms = np.diag(np.matmul(y, y.T))
    gamma = 1 / (2 * 10**2)
    k_xx = np.mean(np.exp(-gamma * (-2 * np.matmul(x, x.T) + x_sqnorms[:, None] + x_sqnorms[None, :])))
    k_xy = np.mean(np.exp(-gamma * (-2 * np.matmul(x, y.T) + x_sqnorms[:, None] + y_sqnorms[None, :])))
    k_yy = np.mean(np.exp(-gamma * (-2 * np.matmul(y, y.T) + y_sqnorms[:, None] + y_sqnorms[None, :])))
    return 1000 * (k_xx + k_yy - 2 * k_xy)


def _unit(rng, n, d=768):
    v = rng.standard_normal((n, d))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


# ------------------------------------------------------------------------------------------- the estimator


def test_identical_sets_give_exactly_zero():
    x = np.random.default_rng(0).standard_normal((37, 16)) * 4
    assert mmd(x, x) == 0.0
    assert mmd(x, x.copy()) == 0.0


@pytest.mark.parametrize("d", [0.5, 10.0, 30.0])
def test_two_points_at_distance_d_give_the_closed_form(d):
    a = np.array([[1.0, -2.0, 3.0]])
    b = a + np.array([[0.6, 0.0, 0.8]]) * d
    expected = 1000.0 * (2.0 - 2.0 * math.exp(-(d**2) / (2 * 10.0**2)))
    assert mmd(a, b) == pytest.approx(expected, rel=1e-12)
    # n copies of one point against m copies of another: the means run over all n², m², n·m entries
    assert mmd(np.repeat(a, 5, 0), np.repeat(b, 3, 0)) == pytest.approx(expected, rel=1e-12)


def test_a_shifted_set_of_far_apart_points_counts_the_diagonals():
    """Points 1000 apart (cross terms underflow to 0): K_xx = K_yy = 1/n (the diagonal only) and
    K_xy = exp(-|s|²/200)/n, so the biased estimator is 1000 · 2/n · (1 − exp(−|s|²/200))."""
    n = 6
    x = np.zeros((n, 4))
    x[:, 0] = 1000.0 * np.arange(n)
    s = np.array([3.0, -4.0, 0.0, 12.0])  # |s| = 13
    expected = 1000.0 * 2.0 / n * (1.0 - math.exp(-169.0 / 200.0))
    assert mmd(x, x + s) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("block", [None, 50])
def test_equals_a_direct_transcription_of_the_reference_code(monkeypatch, block):
    if block:  # rows in blocks of 50 · m entries: the same sums in another order
        monkeypatch.setattr(cmmd, "_BLOCK_ELEMENTS", block * 230)
    rng = np.random.default_rng(1)
    x, y = _unit(rng, 230), _unit(rng, 211)  # CLIP-like: unit vectors, 768-d
    assert mmd(x, y) == pytest.approx(reference_mmd(x, y), abs=1e-9)
    a, b = rng.standard_normal((90, 32)) * 3, rng.standard_normal((70, 32)) * 3 + 0.5
    value = mmd(a, b)
    assert value == pytest.approx(reference_mmd(a, b), abs=1e-9) and value > 1.0


def test_symmetric_invariant_and_in_units_of_sigma_and_scale():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((40, 8)) * 5, rng.standard_normal((30, 8)) * 5 + 1
    v = mmd(x, y)
    assert mmd(y, x) == pytest.approx(v, rel=1e-12)
    q, _ = np.linalg.qr(rng.standard_normal((8, 8)))
    assert mmd(x @ q, y @ q) == pytest.approx(v, rel=1e-9)  # rotation
    shift = rng.standard_normal(8) * 3
    assert mmd(x + shift, y + shift) == pytest.approx(v, rel=1e-9)  # translation
    assert mmd(x[::-1], y[rng.permutation(30)]) == pytest.approx(v, rel=1e-12)  # order of rows
    assert mmd(x * 7, y * 7, sigma=70.0) == pytest.approx(v, rel=1e-9)  # distances in units of sigma
    assert mmd(x, y, scale=1.0) * 1000 == pytest.approx(v, rel=1e-12)


@pytest.mark.parametrize(
    ("x", "y", "kw", "match"),
    [
        (np.zeros(5), np.zeros((2, 5)), {}, r"x must be an \(n, d\) array .* got shape \(5,\)"),
        (np.zeros((2, 5)), np.zeros((0, 5)), {}, r"y must be an \(n, d\) array .* got shape \(0, 5\)"),
        (np.zeros((2, 5)), np.zeros((2, 4)), {}, r"same dimension d, got shapes \(2, 5\) and \(2, 4\)"),
        (np.full((2, 3), np.nan), np.zeros((2, 3)), {}, r"x of shape \(2, 3\) contains NaN or Inf"),
        (np.zeros((2, 3)), np.zeros((2, 3)), {"sigma": 0}, r"sigma must be a finite number > 0, got 0"),
        (np.zeros((2, 3)), np.zeros((2, 3)), {"sigma": True}, r"sigma must be a finite number > 0, got True"),
        (np.zeros((2, 3)), np.zeros((2, 3)), {"scale": math.inf}, r"scale must be a finite number > 0"),
    ],
)
def test_bad_input_is_one_line(x, y, kw, match):
    with pytest.raises(ValueError, match=match) as info:
        mmd(x, y, **kw)
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------------------------------- the metric


class SquarePixels(FeatureExtractor):
    """Stand-in for clip-vit-l-14-336: CMMD's centre crop and resize to ``size``, then the flattened pixels."""

    def __init__(self, *, device="cpu", weights_dir=None, batch_size: int = 3, size: int = 4) -> None:
        super().__init__(batch_size)
        self.size, self.dim = size, size * size * 3

    def protocol(self) -> dict:
        return {"extractor": self.name, "size": self.size}

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        crops = np.stack([center_crop_resize(img, self.size) for img in quantize(batch)])
        return crops.reshape(len(batch), -1) / 255.0


SQUARE = ExtractorSpec(name="test-square-pixels", builder=SquarePixels, dim=48, weights=None, protocol="4x4")
SQUARE5 = ExtractorSpec(
    name="test-square-pixels-5",
    builder=SquarePixels,
    dim=75,
    weights=None,
    protocol="5x5",
    defaults={"size": 5},
)


@pytest.fixture(autouse=True)
def stand_ins():
    with registered(SQUARE), registered(SQUARE5), registered(FLAT), registered(FLAT_NAN):
        yield


def _images(seed, n, h=6, w=9):
    return quantized(np.random.default_rng(seed).uniform(0, 1, (n, h, w, 3)).astype(np.float32))


def _reference_file(tmp_path, images, extractor="test-square-pixels", name="ref.npz"):
    ext = build_extractor(extractor)
    path = tmp_path / name
    write_reference(path, ext.features(images), **stats_meta(ext, purpose="cmmd"))
    return path, ext.features(images)


def test_metric_equals_the_estimator_on_the_same_embeddings(tmp_path):
    ref_imgs, gen = _images(0, 12), _images(1, 9)
    path, ref = _reference_file(tmp_path, ref_imgs)
    m = CMMD(reference_path=str(path), extractor="test-square-pixels")
    m.update(Samples("image", gen[:4]))
    m.update(Samples("image", gen[4:]))
    v = m.compute()
    feats = build_extractor("test-square-pixels").features(gen)
    assert v.status == "ok" and v.n == 9 and not v.higher_is_better
    assert v.value == pytest.approx(reference_mmd(ref, feats), abs=1e-9) and v.value > 0
    assert v.details["reference"]["n"] == 12 and v.details["kernel"]["sigma"] == 10.0
    same = CMMD(reference_path=str(path), extractor="test-square-pixels")
    same.update(Samples("image", ref_imgs))
    assert same.compute().value == 0.0


def test_nan_embeddings_are_invalid_not_a_score(tmp_path):
    """#23 item 7: embeddings that went NaN on finite images failed with a ValueError; the metric is invalid
    with the reason now."""
    path, _ = _reference_file(tmp_path, _images(0, 12), extractor="test-flat-pixels")
    m = CMMD(reference_path=str(path), extractor="test-flat-pixels-nan", allow_mismatch=True)
    m.update(Samples("image", _images(1, 3)))
    v = m.compute()
    assert v.status == "invalid" and v.value is None and v.n == 3
    assert v.reason == "the samples' embeddings of shape (3, 162) contains NaN or Inf"


def test_video_frames_are_images(tmp_path):
    path, _ = _reference_file(tmp_path, _images(0, 10))
    frames = _images(2, 12)
    video = CMMD(reference_path=str(path), extractor="test-square-pixels")
    video.update(Samples("video", frames.reshape(3, 4, *frames.shape[1:])))
    image = CMMD(reference_path=str(path), extractor="test-square-pixels")
    image.update(Samples("image", frames))
    assert video.compute().value == image.compute().value and video.compute().n == 12


def test_reference_of_another_protocol_is_refused_unless_allowed(tmp_path):
    path, _ = _reference_file(tmp_path, _images(0, 8), extractor="test-square-pixels-5")
    m = CMMD(reference_path=str(path), extractor="test-square-pixels")
    m.update(Samples("image", _images(1, 4)))
    with pytest.raises(ValueError, match=r"another feature protocol .*allow_mismatch: true"):
        m.compute()
    ok = CMMD(reference_path=str(path), extractor="test-square-pixels", allow_mismatch=True)
    ok.update(Samples("image", _images(1, 4)))
    with pytest.raises(ValueError, match=r"has d=75 embeddings, the samples d=48"):
        ok.compute()  # allowed, but 5x5 and 4x4 pixels cannot be compared


def test_reference_without_fingerprint_is_used_with_a_note(tmp_path):
    ref = build_extractor("test-square-pixels").features(_images(0, 6))
    np.savez(tmp_path / "plain.npz", embeddings=ref)
    m = CMMD(reference_path=str(tmp_path / "plain.npz"), extractor="test-square-pixels")
    m.update(Samples("image", _images(1, 5)))
    v = m.compute()
    assert v.status == "ok" and "has no fingerprint" in v.details["note"]


def test_a_keep_features_refstats_file_serves_as_reference(tmp_path):
    from harness.metrics.feature_stats import StreamingStats

    ext = build_extractor("test-square-pixels")
    stats = StreamingStats(keep_features=True)
    stats.update(ext.features(_images(0, 6)))
    stats.to_npz(tmp_path / "kf.npz", include_features=True, **stats_meta(ext))
    emb, meta = read_reference(tmp_path / "kf.npz")
    assert emb.shape == (6, 48) and meta["extractor"] == "test-square-pixels" and "mu" not in meta


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (None, r"ref\.npz: reference_path: no such file"),
        (b"not a zip", r"not a readable \.npz file of reference embeddings"),
        ({"mu": np.zeros(3)}, r"has no 'embeddings' \(found keys \['mu'\]\)"),
        ({"embeddings": np.zeros(3)}, r"cannot read the embeddings \(embeddings must be an \(n, d\) array"),
    ],
)
def test_bad_reference_files_are_one_line(tmp_path, content, match):
    path = tmp_path / "ref.npz"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, dict):
        np.savez(path, **content)
    m = CMMD(reference_path=str(path), extractor="test-square-pixels")
    with pytest.raises(UserInputError, match=match) as info:
        m.update(Samples("image", _images(0, 2)))
    assert "\n" not in str(info.value)


def test_without_reference_or_samples_or_on_audio():
    with pytest.raises(MetricSkipped, match=r"cmmd needs reference embeddings: set options.reference_path"):
        CMMD().update(Samples("image", _images(0, 2)))
    assert CMMD(reference_path="x.npz").compute().status == "skipped"


def test_audio_is_skipped(tmp_path):
    path, _ = _reference_file(tmp_path, _images(0, 4))
    m = CMMD(reference_path=str(path), extractor="test-square-pixels")
    with pytest.raises(MetricSkipped, match="applies to image, video, not audio"):
        m.update(Samples("audio", np.zeros((2, 1, 100), np.float32)))


def test_registered_and_its_fingerprint_differs_from_fids():
    cls = METRICS.get("cmmd")
    assert cls is CMMD and cls.kind == "distribution" and not cls.higher_is_better
    assert cls.default_extractor == "clip-vit-l-14-336" and cls.requires_trained_weights
    assert CMMD().fingerprint() != FID().fingerprint()
    # the same extractor does not make them comparable: the method and the metric differ
    assert CMMD(extractor="test-flat-pixels").fingerprint() != FID(extractor="test-flat-pixels").fingerprint()
    assert CMMD().fingerprint() == CMMD().fingerprint()


def test_bad_options_are_one_line():
    with pytest.raises(
        UserInputError, match=r"^cmmd: batch_size: Input should be greater than or equal to 1"
    ):
        CMMD.parse_options({"batch_size": 0})
    with pytest.raises(UserInputError, match=r"cmmd: resize: unknown key"):
        CMMD.parse_options({"resize": "clean"})


# ------------------------------------------------------------------------------------------- refstats --for cmmd


def _run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, errs = capsys.readouterr()
    return rc, out, errs


def _by_hand(path, size):
    """google-research cmmd/io_util.py's _center_crop_and_resize, then /255, then the stand-in's flattening."""
    from PIL import Image

    im = Image.open(path).convert("RGB")
    w, h = im.size
    side = min(w, h)
    top, left = (h - side) // 2, (w - side) // 2
    im = im.crop((left, top, left + side, top + side)).resize((size, size), resample=Image.BICUBIC)
    return np.asarray(im).astype(np.float32).reshape(-1) / np.float32(255.0)


def test_refstats_build_for_cmmd_then_the_metric(tmp_path, capsys):
    from PIL import Image

    folder = write_pngs(tmp_path / "ref", _images(0, 5, h=7, w=12))
    Image.fromarray((np.arange(10 * 6 * 3) % 255).astype(np.uint8).reshape(10, 6, 3)).save(
        folder / "tall.png"
    )
    out = tmp_path / "ref.npz"
    rc, stdout, errs = _run(
        capsys, "refstats", "build", "--for", "cmmd", "--images", folder, "--extractor", "test-square-pixels",
        "-o", out, "--device", "cpu",
    )  # fmt: skip
    assert rc == 0 and stdout.strip() == str(out) and "6 images, test-square-pixels (d=48)" in errs
    emb, meta = read_reference(out)
    expected = np.stack([_by_hand(f, 4) for f in sorted(folder.iterdir())])
    np.testing.assert_allclose(emb, expected, rtol=0, atol=1e-7)  # mixed sizes: each cropped and resized
    assert meta["purpose"] == "cmmd" and meta["extractor"] == "test-square-pixels"
    assert meta["fingerprint"] == build_extractor("test-square-pixels").fingerprint()

    same = CMMD(reference_path=str(out), extractor="test-square-pixels")
    same.update(Samples("image", _images(0, 5, h=7, w=12)))
    other = CMMD(reference_path=str(out), extractor="test-square-pixels")
    other.update(Samples("image", _images(3, 5, h=7, w=12)))
    assert 0 < same.compute().value < other.compute().value


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--keep-features"], r"--keep-features is for --for fid"),
        (["--for", "kid"], r"argument --for: invalid choice: 'kid'"),
        (["--extractor", "nope"], r"unknown extractor 'nope'"),
    ],
)
def test_refstats_for_cmmd_bad_input_exits_2(tmp_path, capsys, extra, match):
    folder = write_pngs(tmp_path / "ref", _images(0, 2))
    argv = ["refstats", "build", "--for", "cmmd", "--images", folder, "-o", tmp_path / "o.npz", *extra]
    try:
        rc, _, errs = _run(capsys, *argv)
    except SystemExit as exc:  # argparse
        rc, errs = exc.code, capsys.readouterr().err
    assert rc == 2 and errs.count("\n") == 1, errs
    assert __import__("re").search(match, errs), errs


# ------------------------------------------------------------------------------------------- the real code path


def test_clip_l14_extractor_prepares_images_as_the_reference_code(offline_env, monkeypatch, one_thread):
    """A tiny random CLIP saved as the bundle's files: located, verified, and each embedding equals the
    reference code's steps written out here (crop, PIL bicubic, /255, CLIP mean/std, projection, L2 norm)."""
    torch = one_thread
    from transformers import CLIPModel

    folder = make_tiny_clip(offline_env / "w" / "clip-vit-large-patch14-336", image_size=32)
    monkeypatch.setenv("HARNESS_WEIGHTS_DIR", str(offline_env / "w"))
    pin_to(monkeypatch, "clip-vit-large-patch14-336", folder)
    ext = build_extractor("clip-vit-l-14-336")
    imgs = _images(4, 3, h=40, w=52)
    ours = ext.features(imgs)

    model = CLIPModel.from_pretrained(str(folder), local_files_only=True, use_safetensors=False).eval()
    pixels = np.stack([center_crop_resize(np.asarray(u8), 32) for u8 in quantize(imgs)]) / np.float32(255)
    pixels = ((pixels - np.float32(CLIP_MEAN)) / np.float32(CLIP_STD)).astype(np.float32)
    with torch.inference_mode():
        out = model.get_image_features(pixel_values=torch.from_numpy(pixels.transpose(0, 3, 1, 2).copy()))
        out = out if hasattr(out, "norm") else out.pooler_output
        theirs = (out / out.norm(dim=-1, keepdim=True)).double().numpy()
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-6)
    proto = ext.protocol()
    assert proto["weights"]["name"] == "clip-vit-large-patch14-336" and "32x32" in proto["preprocess"]
    assert ext.dim == 8 and ours.shape == (3, 8)


def test_missing_clip_weights_name_the_fetch_command(offline_env, monkeypatch, tmp_path):
    empty = offline_env / "empty"
    empty.mkdir()
    monkeypatch.setenv("HARNESS_WEIGHTS_DIR", str(empty))
    path, _ = _reference_file(tmp_path, _images(0, 4))
    m = CMMD(reference_path=str(path))
    with pytest.raises(WeightsNotFoundError) as info:
        m.update(Samples("image", _images(1, 2)))
    msg = str(info.value)
    assert "\n" not in msg and "openai/clip-vit-large-patch14-336 (config.json, pytorch_model.bin)" in msg
    assert "harness weights fetch clip-vit-large-patch14-336 --to DIR" in msg and str(empty) in msg


def test_the_bundle_is_pinned_to_a_revision_with_full_hashes():
    s = W.WEIGHTS["clip-vit-large-patch14-336"]
    assert s.repo_id == "openai/clip-vit-large-patch14-336" and len(s.revision) == 40
    assert {wf.filename for wf in s.required_files} == {"config.json", "pytorch_model.bin"}
    assert all(len(wf.sha256) == 64 and wf.size and wf.hash_source for wf in s.files)
    assert s.file("pytorch_model.bin").size == 1_711_974_081

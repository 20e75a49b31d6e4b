"""FID / FD / KID / IS metrics and the `harness fid` and `harness refstats` commands, on fake extractors.

Fake extractors (flattened pixels of tiny images, pixels @ W as logits) give known features, so each metric is
checked against the numerical core (frechet.py, kid.py) or torchmetrics on exactly the same numbers.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from harness.cli import main
from harness.core.errors import MetricSkipped, UserInputError
from harness.core.samples import Samples
from harness.metrics import METRICS
from harness.metrics.extractors import EXTRACTORS, registered
from harness.metrics.feature_stats import StreamingStats
from harness.metrics.frechet import frechet_distance
from harness.metrics.frechet_metric import FID, frechet_metric
from harness.metrics.inception_score import InceptionScore
from harness.metrics.kid import kernel_inception_distance
from harness.metrics.kid_metric import KID
from tests.metrics.weights_helpers import FLAT, FLAT_NAN, FLAT_X2, LOGITS, quantized, write_pngs

pytestmark = pytest.mark.filterwarnings("ignore::harness.metrics.frechet.FrechetWarning")

H = W = 2  # 2x2 RGB images: 12-d features


def _images(seed: int, n: int, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rng.uniform(0.2, 0.8, (n, H, W, 3)) + shift, 0, 1).astype(np.float32)


@pytest.fixture(autouse=True)
def fake_extractors():
    with registered(FLAT), registered(FLAT_X2), registered(LOGITS), registered(FLAT_NAN):
        yield


def _ref_npz(tmp_path, images, name="ref.npz", extractor="test-flat-pixels", keep=False, **meta):
    from harness.metrics.extractors import build_extractor
    from harness.metrics.refstats import stats_meta

    ext = build_extractor(extractor)
    stats = StreamingStats(keep_features=keep)
    stats.update(ext.features(images))
    path = tmp_path / name
    stats.to_npz(path, include_features=keep, **{**stats_meta(ext), **meta})
    return path


def _flat(images):
    return images.reshape(len(images), -1).astype(np.float64)


# ------------------------------------------------------------------------------------------- FID / FD


def test_fid_metric_equals_frechet_distance_on_the_same_features(tmp_path):
    gen, ref = _images(0, 40), _images(1, 50, shift=0.05)
    path = _ref_npz(tmp_path, ref)
    m = FID(reference_path=str(path), extractor="test-flat-pixels", batch_size=16)
    m.update(Samples("image", gen[:25]))
    m.update(Samples("image", gen[25:]))  # streamed over two updates
    v = m.compute()
    f, r = _flat(gen), _flat(ref)
    expected = frechet_distance(f.mean(0), np.cov(f, rowvar=False), r.mean(0), np.cov(r, rowvar=False))
    assert v.status == "ok" and v.n == 40
    assert v.value == pytest.approx(expected, rel=1e-10)
    assert v.fingerprint and v.details["extractor"]["extractor"] == "test-flat-pixels"
    assert v.details["reference"]["n"] == 50 and v.details["n"] == 40


def test_fid_on_video_uses_every_frame(tmp_path):
    frames = _images(2, 24)
    path = _ref_npz(tmp_path, _images(3, 30))
    v = FID(reference_path=str(path), extractor="test-flat-pixels")
    v.update(Samples("video", frames.reshape(6, 4, H, W, 3)))
    img = FID(reference_path=str(path), extractor="test-flat-pixels")
    img.update(Samples("image", frames))
    assert v.compute().value == pytest.approx(img.compute().value, rel=1e-12)


def test_fid_bootstrap_interval_brackets_nothing_silly(tmp_path):
    path = _ref_npz(tmp_path, _images(1, 60))
    m = FID(reference_path=str(path), extractor="test-flat-pixels", bootstrap=20)
    m.update(Samples("image", _images(0, 60, shift=0.1)))
    v = m.compute()
    lo, hi = v.ci95
    assert 0 <= lo <= hi and v.details["bootstrap"]["replicates"] == 20


def test_fd_class_per_extractor_is_registered_by_name():
    cls = METRICS.get("fd_clip-vit-b-32")
    assert cls.name == "fd_clip-vit-b-32" and cls.default_extractor == "clip-vit-b-32"
    assert frechet_metric("test-flat-pixels")().extractor_name == "test-flat-pixels"
    assert cls.requires_trained_weights and cls.accepts_device and cls.kind == "distribution"


def test_fid_without_reference_is_skipped_with_the_reason():
    m = FID()
    with pytest.raises(MetricSkipped, match=r"needs reference statistics: set options.reference_path"):
        m.update(Samples("image", _images(0, 4)))


def test_fid_against_a_reference_that_is_not_psd_is_invalid_not_a_score(tmp_path):
    """#23 item 7: a reference whose sigma is not positive semi-definite (zero diagonal, eigenvalues ±1 on two
    coordinates) scored a collapsed generator (one image repeated: zero covariance, the reference's mean) 0.0,
    a perfect FID. Now the metric is invalid, naming the file, and has no value."""
    image = _images(0, 1)
    mu = _flat(image)[0]
    sigma = np.zeros((mu.size, mu.size))
    sigma[0, 1] = sigma[1, 0] = 1.0
    path = tmp_path / "broken.npz"
    np.savez(path, mu=mu, sigma=sigma)  # pytorch-fid's layout: read, used, and now checked
    m = FID(reference_path=str(path), extractor="test-flat-pixels")
    m.update(Samples("image", np.repeat(image, 6, axis=0)))
    v = m.compute()
    assert v.status == "invalid" and v.value is None and v.n == 6 and v.fingerprint
    assert v.reason.startswith(
        f"reference {path}: covariance is not positive semi-definite: smallest eigenvalue -1 (largest 1)"
    )
    assert v.number is None


def test_fid_needs_two_samples_and_notes_a_singular_covariance(tmp_path):
    """#23 item 7: one sample gives no covariance: invalid, not skipped. n <= d samples give a singular
    covariance, which is legal: a value, with the note in the details."""
    path = _ref_npz(tmp_path, _images(1, 30))
    one = FID(reference_path=str(path), extractor="test-flat-pixels")
    one.update(Samples("image", _images(0, 1)))
    v = one.compute()
    assert (
        v.status == "invalid"
        and v.value is None
        and v.reason == "a covariance needs at least 2 samples, got 1"
    )
    few = FID(reference_path=str(path), extractor="test-flat-pixels")
    few.update(Samples("image", _images(0, 5)))  # n = 5 <= d = 12
    v = few.compute()
    assert v.status == "ok" and v.value > 0
    assert any(
        w.startswith("samples: covariance is rank-deficient: n=5 samples in d=12 dimensions")
        for w in v.details["warnings"]
    ), v.details["warnings"]


def test_nan_features_make_kid_and_inception_score_invalid(tmp_path):
    """#23 item 7: features or logits that went NaN on finite images: KID failed with a ValueError, the
    Inception Score came out NaN with status ok; both are invalid with the reason now."""
    path = _ref_npz(tmp_path, _images(1, 30), keep=True)
    kid = KID(
        reference_path=str(path),
        extractor="test-flat-pixels-nan",
        subsets=2,
        subset_size=5,
        allow_mismatch=True,
    )
    kid.update(Samples("image", _images(0, 8)))
    v = kid.compute()
    assert v.status == "invalid" and v.value is None
    assert v.reason == "feats2 contains 96 NaN and 0 infinite values (shape (8, 12)); features must be finite"
    score = InceptionScore(extractor="test-flat-pixels-nan", splits=2)
    score.update(Samples("image", _images(0, 8)))
    v = score.compute()
    assert v.status == "invalid" and v.value is None
    assert v.reason == "the logits contain 96 NaN and 0 infinite values"


def test_fid_refuses_reference_of_another_protocol(tmp_path):
    path = _ref_npz(tmp_path, _images(1, 30), extractor="test-flat-pixels-x2")
    m = FID(reference_path=str(path), extractor="test-flat-pixels")
    m.update(Samples("image", _images(0, 30)))
    with pytest.raises(ValueError, match=r"another feature protocol .*allow_mismatch"):
        m.compute()
    ok = FID(reference_path=str(path), extractor="test-flat-pixels", allow_mismatch=True)
    ok.update(Samples("image", _images(0, 30)))
    assert "differs" in ok.compute().details["note"]


def test_fid_accepts_pytorch_fid_file_without_fingerprint(tmp_path):
    r = _flat(_images(1, 30))
    path = tmp_path / "pf.npz"
    np.savez(path, mu=r.mean(0), sigma=np.cov(r, rowvar=False))  # what pytorch-fid writes
    m = FID(reference_path=str(path), extractor="test-flat-pixels")
    m.update(Samples("image", _images(0, 30)))
    v = m.compute()
    assert v.status == "ok" and "no fingerprint" in v.details["note"]


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (None, r"ref\.npz: reference_path: no such file"),
        (b"not a zip", r"not a readable \.npz file"),
        ({"x": np.zeros(3)}, r"missing \['mu', 'sigma'\]"),
    ],
)
def test_fid_bad_reference_files_are_one_line(tmp_path, content, match):
    path = tmp_path / "ref.npz"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, dict):
        np.savez(path, **content)
    m = FID(reference_path=str(path), extractor="test-flat-pixels")
    with pytest.raises(UserInputError, match=match) as info:
        m.update(Samples("image", _images(0, 4)))
    assert "\n" not in str(info.value)


def test_bad_options_are_type_errors_the_worker_reports():
    with pytest.raises(TypeError, match=r"batch_size must be an integer >= 1"):
        FID(batch_size=0)
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'referenc_path'"):
        FID(referenc_path="x.npz")
    with pytest.raises(TypeError, match=r"subset_size must be an integer >= 2"):
        KID(subset_size=1)


# ------------------------------------------------------------------------------------------- KID


def test_kid_metric_equals_kid_core(tmp_path):
    gen, ref = _images(0, 30), _images(1, 40, shift=0.05)
    path = _ref_npz(tmp_path, ref, keep=True)
    m = KID(reference_path=str(path), extractor="test-flat-pixels", subsets=7, subset_size=20, seed=5)
    m.update(Samples("image", gen))
    v = m.compute()
    mean, std = kernel_inception_distance(_flat(ref), _flat(gen), subsets=7, subset_size=20, seed=5)
    assert v.value == pytest.approx(mean, rel=1e-12) and v.std == pytest.approx(std, rel=1e-12)
    assert v.details["kid"]["subset_size"] == 20


def test_kid_needs_reference_features_and_enough_samples(tmp_path):
    """Fewer samples than a subset needs: ``invalid`` with the reason, not skipped (#23 item 7)."""
    no_feats = _ref_npz(tmp_path, _images(1, 30), name="nofeat.npz")
    m = KID(reference_path=str(no_feats), extractor="test-flat-pixels")
    with pytest.raises(UserInputError, match=r"no 'features'.*--keep-features"):
        m.update(Samples("image", _images(0, 8)))
    path = _ref_npz(tmp_path, _images(1, 30), keep=True)
    m = KID(reference_path=str(path), extractor="test-flat-pixels")  # subset_size 1000 by default
    m.update(Samples("image", _images(0, 8)))
    v = m.compute()
    assert v.status == "invalid" and v.value is None and v.n == 8
    assert v.reason == (
        "subset_size=1000 needs at least that many samples and reference features, got 8 samples and 30 "
        "reference features (set options.subset_size <= 8)"
    )
    with pytest.raises(MetricSkipped, match=r"kid needs reference features"):
        KID().update(Samples("image", _images(0, 8)))


# ------------------------------------------------------------------------------------------- IS


def test_inception_score_matches_torchmetrics_on_the_same_logits():
    torch = pytest.importorskip("torch")
    from torchmetrics.image.inception import InceptionScore as TMInceptionScore

    from tests.metrics.weights_helpers import logit_matrix

    imgs = _images(0, 53)
    ours = InceptionScore(extractor="test-pixel-logits", seed=11)
    ours.update(Samples("image", imgs))
    v = ours.compute()

    class Logits(torch.nn.Module):
        def forward(self, x):
            flat = x.reshape(len(x), -1).double()
            return flat @ torch.from_numpy(logit_matrix(flat.shape[1]))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tm = TMInceptionScore(feature=Logits(), splits=10)
    tm.update(torch.from_numpy(imgs))
    torch.manual_seed(11)
    mean, std = tm.compute()
    assert v.value == pytest.approx(float(mean), abs=1e-6) and v.std == pytest.approx(float(std), abs=1e-6)
    assert v.n == 53 and v.details["splits"] == 10


def test_inception_score_needs_as_many_samples_as_splits():
    """Fewer samples than splits: ``invalid`` with the reason, not skipped (#23 item 7)."""
    m = InceptionScore(extractor="test-pixel-logits")
    m.update(Samples("image", _images(0, 4)))
    v = m.compute()
    assert (
        v.status == "invalid" and v.value is None and v.reason == "splits=10 needs at least 10 samples, got 4"
    )


def test_metric_rejects_audio_and_bad_channels(tmp_path):
    m = FID(reference_path=str(_ref_npz(tmp_path, _images(1, 10))), extractor="test-flat-pixels")
    with pytest.raises(MetricSkipped, match="applies to image, video, not audio"):
        m.update(Samples("audio", np.zeros((2, 1, 100), np.float32)))
    with pytest.raises(ValueError, match=r"RGB \(3 channels\) or grayscale \(1\) images, got 4 channels"):
        m.update(Samples("image", np.zeros((2, H, W, 4), np.float32)))


# ------------------------------------------------------------------------------------------- CLI


def _run(capsys, *argv):
    rc = main(list(argv))
    out, errs = capsys.readouterr()
    return rc, out, errs


def test_cli_fid_two_npz_prints_the_metric_value(tmp_path, capsys):
    gen, ref = _images(0, 40), _images(1, 50, shift=0.05)
    a = _ref_npz(tmp_path, gen, name="a.npz")
    b = _ref_npz(tmp_path, ref, name="b.npz")
    m = FID(reference_path=str(b), extractor="test-flat-pixels")
    m.update(Samples("image", gen))
    rc, out, errs = _run(capsys, "fid", str(a), str(b))
    assert rc == 0 and errs == ""
    assert float(out.strip().splitlines()[-1]) == pytest.approx(m.compute().value, rel=1e-12)
    rc, out, _ = _run(capsys, "fid", str(a), str(b), "--json")
    data = json.loads(out)
    assert data["fid"] == pytest.approx(m.compute().value, rel=1e-12) and data["sides"][0]["n"] == 40


def test_cli_fid_two_npz_touches_no_weights_and_no_torch(tmp_path):
    import subprocess
    import sys

    gen, ref = _flat(_images(0, 20)), _flat(_images(1, 20))
    for name, f in (("a.npz", gen), ("b.npz", ref)):
        StreamingStats.from_features(f).to_npz(tmp_path / name, fingerprint="0123456789abcdef")
    code = (
        "import sys, warnings; warnings.simplefilter('ignore'); from harness.cli import main; "
        f"rc = main(['fid', {str(tmp_path / 'a.npz')!r}, {str(tmp_path / 'b.npz')!r}]); "
        "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(rc)"
    )
    env = {"HARNESS_WEIGHTS_DIR": str(tmp_path / "nothing-here"), "PATH": "/usr/bin:/bin"}
    res = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=str(__import__("tests.helpers", fromlist=["ROOT"]).ROOT),
    )
    assert res.returncode == 0, res.stderr
    assert float(res.stdout.strip().splitlines()[-1]) > 0


def test_cli_fid_refuses_mismatched_fingerprints(tmp_path, capsys):
    a = _ref_npz(tmp_path, _images(0, 20), name="a.npz")
    b = _ref_npz(tmp_path, _images(1, 20), name="b.npz", extractor="test-flat-pixels-x2")
    rc, out, errs = _run(capsys, "fid", str(a), str(b))
    assert rc == 2 and out == ""
    assert errs.count("\n") == 1 and "different feature protocols" in errs and "--allow-mismatch" in errs
    rc, out, errs = _run(capsys, "fid", str(a), str(b), "--allow-mismatch")
    assert rc == 0 and "fingerprints differ" in errs and float(out.splitlines()[-1]) > 0


def test_cli_fid_plain_pytorch_fid_npz_is_allowed_with_a_warning(tmp_path, capsys):
    a = _ref_npz(tmp_path, _images(0, 20), name="a.npz")
    r = _flat(_images(1, 20))
    np.savez(tmp_path / "pf.npz", mu=r.mean(0), sigma=np.cov(r, rowvar=False))
    rc, out, errs = _run(capsys, "fid", str(a), str(tmp_path / "pf.npz"))
    assert rc == 0 and "pf.npz has no fingerprint" in errs and errs.startswith("warning:")
    assert float(out.splitlines()[-1]) > 0


def test_cli_refstats_build_then_fid_folder_vs_npz(tmp_path, capsys):
    imgs_a, imgs_b = _images(0, 25), _images(1, 30, shift=0.05)
    da, db = write_pngs(tmp_path / "a", imgs_a), write_pngs(tmp_path / "b", imgs_b)
    out_npz = tmp_path / "b.npz"
    rc, out, _ = _run(
        capsys,
        "refstats",
        "build",
        "--images",
        str(db),
        "--extractor",
        "test-flat-pixels",
        "-o",
        str(out_npz),
        "--keep-features",
        "--device",
        "cpu",
    )
    assert rc == 0 and out.strip() == str(out_npz)
    with np.load(out_npz) as z:
        assert {"mu", "sigma", "n", "features", "fingerprint", "extractor"} <= set(z.files)
        assert str(z["extractor"]) == "test-flat-pixels" and int(z["n"]) == 30
    # the folder side takes the .npz side's extractor when --extractor is not given
    rc, out, _errs = _run(capsys, "fid", str(da), str(out_npz), "--device", "cpu")
    assert rc == 0
    fa, fb = _flat(quantized(imgs_a)), _flat(quantized(imgs_b))
    expected = frechet_distance(fa.mean(0), np.cov(fa, rowvar=False), fb.mean(0), np.cov(fb, rowvar=False))
    assert float(out.splitlines()[-1]) == pytest.approx(expected, rel=1e-9)
    rc, out2, _ = _run(capsys, "fid", str(da), str(db), "--extractor", "test-flat-pixels", "--device", "cpu")
    assert float(out2.splitlines()[-1]) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(
    ("setup", "argv", "match"),
    [
        ("missing", ["fid", "{t}/nope", "{t}/a.npz"], r"nope: PATH_A: no such file or folder"),
        ("empty", ["fid", "{t}/empty", "{t}/a.npz"], r"empty: no images in the folder"),
        ("txt", ["fid", "{t}/x.txt", "{t}/a.npz"], r"x.txt: PATH_A: not a \.npz statistics file"),
        ("nomu", ["fid", "{t}/a.npz", "{t}/nomu.npz"], r"nomu.npz: PATH_B: not a Fréchet statistics file"),
        (
            "sizes",
            [
                "refstats",
                "build",
                "--images",
                "{t}/sizes",
                "--extractor",
                "test-flat-pixels",
                "-o",
                "{t}/o.npz",
            ],
            r"is 3x3 px but 000.png is 2x2",
        ),
        (
            "broken",
            [
                "refstats",
                "build",
                "--images",
                "{t}/broken",
                "--extractor",
                "test-flat-pixels",
                "-o",
                "{t}/o.npz",
            ],
            r"001.png: cannot read the image",
        ),
        (
            "missing",
            ["refstats", "build", "--images", "{t}/a", "--extractor", "nope", "-o", "{t}/o.npz"],
            r"unknown extractor 'nope'",
        ),
        (
            "missing",
            ["refstats", "build", "--images", "{t}/nope", "-o", "{t}/o.npz"],
            r"nope: no such folder",
        ),
        ("missing", ["refstats", "build", "--images", "{t}/a", "-o", "{t}/o.txt"], r"must end in \.npz"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(tmp_path, capsys, setup, argv, match):
    from PIL import Image

    _ref_npz(tmp_path, _images(0, 10), name="a.npz")
    write_pngs(tmp_path / "a", _images(0, 3))
    (tmp_path / "empty").mkdir()
    (tmp_path / "x.txt").write_text("hello")
    np.savez(tmp_path / "nomu.npz", features=np.zeros((3, 12)))
    write_pngs(tmp_path / "sizes", _images(0, 1))
    Image.new("RGB", (3, 3)).save(tmp_path / "sizes" / "001.png")
    write_pngs(tmp_path / "broken", _images(0, 1))
    (tmp_path / "broken" / "001.png").write_bytes(b"not a png")
    rc, _out, errs = _run(capsys, *[a.format(t=tmp_path) for a in argv])
    assert rc == 2, errs
    assert errs.startswith("error: ") and errs.count("\n") == 1, errs
    assert __import__("re").search(match, errs), errs


def test_extractor_registry_lists_the_real_ones():
    assert {"inception-v3-fid", "inception-v3-fid-logits", "clip-vit-b-32"} <= set(EXTRACTORS)
    assert EXTRACTORS["inception-v3-fid"].weights == "pytorch-fid-inception"
    assert EXTRACTORS["clip-vit-b-32"].weights == "clip-vit-base-patch32"

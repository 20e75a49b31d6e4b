"""Precision, recall, density and coverage: the core (harness.metrics.prdc) and the four metrics.

* Parity: ``prdc.compute_prdc`` (open balls) and torch-fidelity's ``calculate_precision_recall_full`` /
  ``_part`` (closed balls) on the same float64 features, with and without ties (small integers: both
  references compute those distances exactly, so their tie outcomes are the definition's).
* Known answers: a hand-counted 1-D case, identical sets, sets farther apart than every radius.
* Ties decided by the rule, not by rounding (exact copies across the sets, a large common offset), against a
  brute-force oracle on directly computed distances; every block size gives identical numbers.
* The metrics: options, one computation for the four, reference files and their errors, the zoo's digits
  extractor with its shipped held-out digits, and the ranking of digits-small's DDIM step counts.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from harness.core.errors import MetricSkipped, UserInputError
from harness.core.samples import Samples
from harness.metrics import METRICS
from harness.metrics.extractors import registered
from harness.metrics.feature_stats import StreamingStats
from harness.metrics.prdc import nearest_neighbour_radii, prdc
from harness.metrics.prdc_metric import SHARED
from tests.metrics.weights_helpers import FLAT, FLAT_NAN, FLAT_X2

NAMES = ("prdc_precision", "prdc_recall", "prdc_density", "prdc_coverage")
FIELDS = ("precision", "recall", "density", "coverage")


@pytest.fixture(autouse=True)
def one_thread():
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    SHARED.clear()
    yield
    SHARED.clear()
    torch.set_num_threads(threads)


def _gauss(seed: int, n: int, d: int, shift: float = 0.0, scale: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d)) * scale + shift


def _ints(seed: int, n: int, d: int, high: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, high, (n, d)).astype(np.float64)


def _oracle(real: np.ndarray, fake: np.ndarray, k: int, closed: bool) -> dict[str, float]:
    """The definitions on full matrices of directly computed squared distances (small sets only)."""

    def sq(a, b):
        return ((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=-1)

    r = np.sort(sq(real, real), axis=1)[:, k]
    s = np.sort(sq(fake, fake), axis=1)[:, k]
    d = sq(real, fake)
    inside = np.less_equal if closed else np.less
    in_real, in_fake = inside(d, r[:, None]), inside(d, s[None, :])
    return {
        "precision": in_real.any(axis=0).mean(),
        "recall": in_fake.any(axis=1).mean(),
        "density": in_real.sum() / (k * len(fake)),
        "coverage": in_real.any(axis=1).mean(),
    }


# ------------------------------------------------------------------------------------------- parity


def _prdc_package(real, fake, k):
    ref = pytest.importorskip("prdc")
    return {key: float(v) for key, v in ref.compute_prdc(real, fake, k).items()}


@pytest.mark.parametrize(
    ("n", "m", "d", "k"),
    [(200, 150, 16, 5), (120, 300, 64, 3), (60, 80, 2, 1), (90, 70, 8, 10), (40, 40, 256, 5)],
)
def test_parity_with_the_prdc_package(n, m, d, k):
    real, fake = _gauss(n, n, d), _gauss(m + 1, m, d, shift=0.3, scale=1.2)
    assert prdc(real, fake, k).values() == _prdc_package(real, fake, k)


@pytest.mark.parametrize(("seed", "d", "high", "k"), [(0, 4, 3, 5), (1, 3, 2, 3), (2, 6, 4, 1), (3, 2, 5, 4)])
def test_parity_with_the_prdc_package_on_ties_and_duplicates(seed, d, high, k):
    # Small integers: many equal distances and duplicate vectors within and across the sets.
    real, fake = _ints(seed, 100, d, high), _ints(seed + 10, 90, d, high)
    ours = prdc(real, fake, k)
    assert ours.rechecked > 0  # the boundary was decided on directly computed distances
    assert ours.values() == _prdc_package(real, fake, k)


def _torch_fidelity(real, fake, k, part=False):
    torch = pytest.importorskip("torch")
    prc = pytest.importorskip("torch_fidelity.metric_prc")
    fn = prc.calculate_precision_recall_part if part else prc.calculate_precision_recall_full
    # torch-fidelity's convention: features_1 generated, features_2 real; batch_size < n exercises its blocks.
    return fn(torch.from_numpy(fake), torch.from_numpy(real), neighborhood=k, batch_size=64)


@pytest.mark.parametrize("part", [False, True])
@pytest.mark.parametrize(
    ("real", "fake", "k"),
    [
        (_gauss(0, 150, 32), _gauss(1, 130, 32, shift=0.2), 3),
        (_gauss(2, 100, 8), _gauss(3, 120, 8, scale=1.5), 5),
        (_ints(4, 100, 4), _ints(5, 90, 4), 3),  # ties
        (_ints(6, 80, 3, 2), _ints(7, 80, 3, 2), 2),  # heavy duplicates
    ],
)
def test_precision_and_recall_match_torch_fidelity_with_closed_balls(real, fake, k, part):
    precision, recall = _torch_fidelity(real, fake, k, part)
    ours = prdc(real, fake, k, ball="closed")
    # torch-fidelity averages in float32: the same counts, to float32 rounding.
    assert ours.precision == pytest.approx(precision, abs=1e-6)
    assert ours.recall == pytest.approx(recall, abs=1e-6)


def test_radii_match_the_prdc_package():
    ref = pytest.importorskip("prdc.prdc")
    x = _gauss(8, 300, 24)
    for k in (1, 5, 20):
        np.testing.assert_allclose(
            nearest_neighbour_radii(x, k), ref.compute_nearest_neighbour_distances(x, k), rtol=1e-12
        )
    dup = np.repeat(_gauss(9, 50, 4), 3, axis=0)  # each vector three times: its 2 nearest are at 0
    assert np.all(nearest_neighbour_radii(dup, 2) == 0.0)
    assert np.all(nearest_neighbour_radii(dup, 3) > 0.0)


# ------------------------------------------------------------------------------------------- known answers


def test_a_case_counted_by_hand():
    real = np.array([[0.0], [1.0], [2.0], [10.0]])
    fake = np.array([[0.5], [1.9], [10.5], [30.0]])
    # k = 1 radii: real 1, 1, 1, 8; generated 1.4, 1.4, 8.6, 19.5.
    # Real balls holding each generated point: 0.5 in those of 0 and 1; 1.9 in 1 and 2; 10.5 in 10; 30 in none.
    # Every real ball holds one (coverage 1); every real point lies in a generated ball (recall 1).
    r = prdc(real, fake, 1)
    assert (r.precision, r.density, r.coverage, r.recall) == (3 / 4, 5 / 4, 1.0, 1.0)
    # On a boundary: 2.0 is at distance 1 of real 1 (radius 1) and 8 of real 10 (radius 8).
    on_edge = np.array([[2.0], [40.0], [41.0]])
    assert prdc(real, on_edge, 1, ball="open").density == 1 / 3  # in real 2's ball only
    assert prdc(real, on_edge, 1, ball="closed").density == 1.0  # and in those of real 1 and real 10


@pytest.mark.parametrize("k", [1, 3, 5])
def test_identical_sets(k):
    x = _gauss(10, 120, 16)
    r = prdc(x, x.copy(), k)
    assert (r.precision, r.recall, r.coverage, r.density) == (1.0, 1.0, 1.0, 1.0)
    closed = prdc(x, x.copy(), k, ball="closed")
    assert (closed.precision, closed.recall, closed.coverage) == (1.0, 1.0, 1.0)
    assert closed.density == pytest.approx((k + 1) / k)  # each ball also holds its k-th neighbour


def test_sets_farther_apart_than_every_radius():
    real, fake = _gauss(11, 80, 8), _gauss(12, 70, 8, shift=100.0)
    for ball in ("open", "closed"):
        r = prdc(real, fake, 5, ball=ball)
        assert r.values() == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}
        assert (r.n_real, r.n_fake, r.k, r.ball) == (80, 70, 5, ball)


# ------------------------------------------------------------------------------------------- exact ties


@pytest.mark.parametrize("ball", ["open", "closed"])
def test_exact_copies_follow_the_ball_rule(ball):
    real = _gauss(13, 90, 12)
    # Generated set: copies of real points (each on the boundary of the balls it is k-th neighbour in),
    # duplicates of one another, and fresh points.
    fake = np.concatenate([real[::3], real[::3][:10], _gauss(14, 40, 12, shift=0.5)])
    real = np.concatenate([real, real[:5]])  # duplicates within the real set
    ours = prdc(real, fake, 4, ball=ball)
    assert ours.rechecked > 0
    assert ours.values() == pytest.approx(_oracle(real, fake, 4, ball == "closed"), abs=0, rel=0)


def test_open_and_closed_differ_exactly_at_copies():
    real = _gauss(15, 60, 6)
    fake = real[[3, 17, 40, 52]].copy()  # each copy sits on the k-th-neighbour boundary of some real points
    a, b = prdc(real, fake, 3, ball="open"), prdc(real, fake, 3, ball="closed")
    oa, ob = _oracle(real, fake, 3, False), _oracle(real, fake, 3, True)
    assert a.density == oa["density"] and b.density == ob["density"]
    assert b.density > a.density


def test_a_large_common_offset_changes_nothing():
    # ‖x‖² ≫ distances: the BLAS shortcut loses digits, the directly computed distances decide.
    real, fake = _gauss(16, 70, 8), _gauss(17, 60, 8, shift=0.2)
    fake[:6] = real[:6]
    base = prdc(real, fake, 3)
    shifted = prdc(real + 1e4, fake + 1e4, 3)
    assert shifted.values() == base.values()
    assert shifted.values() == pytest.approx(_oracle(real + 1e4, fake + 1e4, 3, False), abs=0, rel=0)


@pytest.mark.parametrize("chunk_size", [1, 2, 7, 64, 1000])
def test_every_block_size_gives_identical_numbers(chunk_size):
    real, fake = _ints(18, 130, 5), _ints(19, 110, 5)
    whole = prdc(real, fake, 5, chunk_size=None)
    blocked = prdc(real, fake, 5, chunk_size=chunk_size)
    # How many distances needed a direct check may differ by block (rounding of the shortcut); nothing else.
    assert dataclasses.replace(blocked, rechecked=0) == dataclasses.replace(whole, rechecked=0)
    x = _gauss(20, 150, 10)
    np.testing.assert_array_equal(
        nearest_neighbour_radii(x, 4, chunk_size=chunk_size), nearest_neighbour_radii(x, 4)
    )


def test_torch_tensors_are_accepted():
    torch = pytest.importorskip("torch")
    real, fake = _gauss(21, 50, 4), _gauss(22, 40, 4)
    assert prdc(torch.from_numpy(real).float(), torch.from_numpy(fake).float(), 3) == prdc(
        real.astype(np.float32), fake.astype(np.float32), 3
    )


# ------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("real", "fake", "kw", "match"),
    [
        (
            np.zeros(10),
            _gauss(0, 10, 2),
            {},
            r"real must be a 2-D \(n, d\) array of feature vectors, got shape \(10,\)",
        ),
        (_gauss(0, 10, 2), _gauss(1, 10, 3), {}, r"same dimension d, got shapes \(10, 2\) and \(10, 3\)"),
        (np.full((10, 2), np.nan), _gauss(1, 10, 2), {}, r"real contains .*NaN"),
        (
            _gauss(0, 10, 2),
            _gauss(1, 5, 2),
            {"k": 5},
            r"k=5 nearest neighbours need at least k \+ 1 = 6 vectors in fake, got 5",
        ),
        (_gauss(0, 3, 2), _gauss(1, 10, 2), {"k": 3}, r"need at least k \+ 1 = 4 vectors in real, got 3"),
        (_gauss(0, 10, 2), _gauss(1, 10, 2), {"k": 0}, r"k must be an integer >= 1, got 0"),
        (_gauss(0, 10, 2), _gauss(1, 10, 2), {"k": True}, r"k must be an integer >= 1, got True"),
        (_gauss(0, 10, 2), _gauss(1, 10, 2), {"k": 2.0}, r"k must be an integer >= 1, got 2.0"),
        (
            _gauss(0, 10, 2),
            _gauss(1, 10, 2),
            {"ball": "half"},
            r"ball must be 'open' \(d < r, as prdc\) or 'closed'",
        ),
        (
            _gauss(0, 10, 2),
            _gauss(1, 10, 2),
            {"chunk_size": 0},
            r"chunk_size must be an integer >= 1 \(rows per block\) or None, got 0",
        ),
    ],
)
def test_bad_input_is_one_clear_line(real, fake, kw, match):
    with pytest.raises(ValueError, match=match):
        prdc(real, fake, **kw)


def test_radii_bad_input():
    with pytest.raises(ValueError, match=r"need at least k \+ 1 = 4 vectors in features, got 3"):
        nearest_neighbour_radii(_gauss(0, 3, 2), 3)
    with pytest.raises(ValueError, match=r"features must be real-valued numbers, got dtype <U1"):
        nearest_neighbour_radii(np.array([["a", "b"]] * 5), 1)


# ------------------------------------------------------------------------------------------- the metrics

H = W = 2  # 2x2 RGB images through test-flat-pixels: 12-d features equal to the pixels


def _images(seed: int, n: int, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rng.uniform(0.2, 0.8, (n, H, W, 3)) + shift, 0, 1).astype(np.float32)


def _flat(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1).astype(np.float64)


@pytest.fixture
def flat_extractors():
    with registered(FLAT), registered(FLAT_X2), registered(FLAT_NAN):
        yield


def _ref_npz(tmp_path, images, name="ref.npz", keep=True, extractor="test-flat-pixels"):
    from harness.metrics.extractors import build_extractor
    from harness.metrics.refstats import stats_meta

    ext = build_extractor(extractor)
    stats = StreamingStats(keep_features=keep)
    stats.update(ext.features(images))
    path = tmp_path / name
    stats.to_npz(path, include_features=keep, **stats_meta(ext))
    return path


def _metrics(**options):
    return {name: METRICS.get(name).build(options) for name in NAMES}


def test_the_names_are_registered_and_clash_with_no_record_column():
    from harness.results import flatten, parse_record

    columns = set(
        flatten(
            parse_record(
                {"job_id": "a", "model": "m", "variant": "v", "backend": "eager", "status": "ok"},
                where="test",
            )
        )
    )
    assert "precision" in columns  # a record's numeric precision (fp32, fp16): why the metrics are prefixed
    for name, field in zip(NAMES, FIELDS):
        cls = METRICS.get(name)
        assert cls.name == name and cls.field == field and name not in columns
        assert cls.kind == "distribution" and cls.higher_is_better is True


def test_the_four_metrics_share_one_computation_and_match_the_core(tmp_path, flat_extractors):
    gen, ref = _images(0, 60), _images(1, 50, shift=0.05)
    path = _ref_npz(tmp_path, ref)
    samples = Samples("image", gen)
    values = {}
    for name, metric in _metrics(reference_path=str(path), extractor="test-flat-pixels", k=3).items():
        metric.update(samples)
        values[name] = metric.compute()
    assert SHARED.computed == {"features": 1, "references": 1, "results": 1}
    expected = prdc(_flat(ref), _flat(gen), 3)
    for name, field in zip(NAMES, FIELDS):
        v = values[name]
        assert v.status == "ok" and v.value == getattr(expected, field) and v.n == 60
        assert v.details["values"] == expected.values()
        assert v.details["extractor_fingerprint"] and v.details["reference"]["n"] == 50
        assert v.details["prdc"] == {"k": 3, "ball": "open", "max_samples": None, "seed": 0}
        assert "real_vs_real" not in v.details  # only extractors that ship other real data give one
    # Another setting is another computation; the features are reused.
    other = METRICS.get("prdc_recall").build(
        {"reference_path": str(path), "extractor": "test-flat-pixels", "k": 4}
    )
    other.update(samples)
    assert other.compute().value == prdc(_flat(ref), _flat(gen), 4).recall
    assert SHARED.computed == {"features": 1, "references": 1, "results": 2}
    # New samples (even equal ones) are a new computation: identity, not equality, is what is shared.
    again = METRICS.get("prdc_recall").build(
        {"reference_path": str(path), "extractor": "test-flat-pixels", "k": 4}
    )
    again.update(Samples("image", gen.copy()))
    again.compute()
    assert SHARED.computed["features"] == 2


def test_streamed_updates_and_max_samples(tmp_path, flat_extractors):
    gen, ref = _images(2, 80), _images(3, 70)
    path = _ref_npz(tmp_path, ref)
    m = METRICS.get("prdc_coverage").build({"reference_path": str(path), "extractor": "test-flat-pixels"})
    m.update(Samples("image", gen[:30]))
    m.update(Samples("image", gen[30:]))
    assert m.compute().value == prdc(_flat(ref), _flat(gen), 5).coverage
    capped = METRICS.get("prdc_coverage").build(
        {"reference_path": str(path), "extractor": "test-flat-pixels", "max_samples": 40, "seed": 7}
    )
    capped.update(Samples("image", gen))
    v = capped.compute()
    assert v.n == 40 and v.details["reference"]["n"] == 40
    again = METRICS.get("prdc_coverage").build(
        {"reference_path": str(path), "extractor": "test-flat-pixels", "max_samples": 40, "seed": 7}
    )
    SHARED.clear()
    again.update(Samples("image", gen))
    assert again.compute().value == v.value  # the subsets are seeded


def test_reference_files_and_their_errors(tmp_path, flat_extractors):
    gen = Samples("image", _images(4, 30))
    stats_only = _ref_npz(tmp_path, _images(5, 30), name="mu_sigma.npz", keep=False)
    m = METRICS.get("prdc_precision").build(
        {"reference_path": str(stats_only), "extractor": "test-flat-pixels"}
    )
    with pytest.raises(
        UserInputError,
        match=r"mu_sigma.npz: reference_path: has mu/sigma but no 'features': prdc_precision needs",
    ):
        m.update(gen)
    missing = METRICS.get("prdc_precision").build(
        {"reference_path": str(tmp_path / "nope.npz"), "extractor": "test-flat-pixels"}
    )
    with pytest.raises(UserInputError, match=r"nope.npz: reference_path: no such file"):
        missing.update(gen)
    other = _ref_npz(tmp_path, _images(6, 30), name="x2.npz", extractor="test-flat-pixels-x2")
    mismatch = METRICS.get("prdc_precision").build(
        {"reference_path": str(other), "extractor": "test-flat-pixels"}
    )
    mismatch.update(gen)
    with pytest.raises(
        ValueError, match=r"was made with another feature protocol .* or set allow_mismatch: true"
    ):
        mismatch.compute()
    allowed = METRICS.get("prdc_precision").build(
        {"reference_path": str(other), "extractor": "test-flat-pixels", "allow_mismatch": True}
    )
    allowed.update(gen)
    v = allowed.compute()
    assert v.status == "ok" and "differs from ours" in v.details["note"]


def test_skips_say_why(tmp_path, flat_extractors):
    """Skips and not-applicable say why; fewer samples than k + 1 is ``invalid``, not skipped (#23 item 7)."""
    gen = Samples("image", _images(7, 30))
    with pytest.raises(
        MetricSkipped,
        match=r"prdc_recall needs real features: set options.reference_path to a \.npz with 'features' \(harness refstats build --images DIR --extractor inception-v3-fid --keep-features",
    ):
        METRICS.get("prdc_recall").build({}).update(gen)
    audio = Samples("audio", np.zeros((2, 1, 800), dtype=np.float32), sample_rate=8000)
    m = METRICS.get("prdc_recall").build({"extractor": "test-flat-pixels"})
    m.update(audio)
    v = m.compute()
    assert (
        v.status == "not_applicable"
        and v.reason == "test-flat-pixels features apply to image, video, not audio"
    )
    video = Samples("video", np.zeros((2, 3, 16, 16, 1), dtype=np.float32))
    m = METRICS.get("prdc_recall").build({"extractor": "digits-extractor"})
    m.update(video)
    assert m.compute().reason == "digits-extractor features apply to image, not video"
    path = _ref_npz(tmp_path, _images(8, 30))
    few = METRICS.get("prdc_density").build({"reference_path": str(path), "extractor": "test-flat-pixels"})
    few.update(Samples("image", _images(9, 4)))
    v = few.compute()
    assert v.status == "invalid" and v.value is None and v.n == 4
    assert v.reason == (
        "k=5 needs more than k samples and reference vectors, got 4 samples and 30 reference vectors "
        "(set options.k below 4)"
    )
    assert METRICS.get("prdc_density").build({}).compute().reason == "no samples"


def test_nan_features_are_invalid_not_a_score(tmp_path, flat_extractors):
    """#23 item 7: features that went NaN on finite images failed with a ValueError; the four metrics are
    invalid with the reason now."""
    path = _ref_npz(tmp_path, _images(8, 30))
    options = {"reference_path": str(path), "extractor": "test-flat-pixels-nan", "allow_mismatch": True}
    samples = Samples("image", _images(9, 10))
    for name in ("prdc_precision", "prdc_coverage"):
        m = METRICS.get(name).build(options)
        m.update(samples)
        v = m.compute()
        assert v.status == "invalid" and v.value is None and v.n == 10
        assert (
            v.reason
            == "fake contains 120 NaN and 0 infinite values (shape (10, 12)); features must be finite"
        )


def test_missing_weights_are_the_one_line_error(tmp_path, monkeypatch, flat_extractors):
    import huggingface_hub.constants

    from harness.core.errors import WeightsNotFoundError

    monkeypatch.setenv("HARNESS_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    path = _ref_npz(tmp_path, _images(10, 30))
    m = METRICS.get("prdc_precision").build({"reference_path": str(path), "weights_dir": str(tmp_path)})
    with pytest.raises(WeightsNotFoundError, match=r"pt_inception-2015-12-05-6726825d\.pth"):
        m.update(Samples("image", _images(11, 30)))


def test_options_are_validated():
    cls = METRICS.get("prdc_precision")
    with pytest.raises(
        UserInputError,
        match=r"^prdc_precision: extractor: unknown extractor 'inception-v3-fit' \(did you mean 'inception-v3-fid'\?",
    ):
        cls.parse_options({"extractor": "inception-v3-fit"})
    with pytest.raises(
        UserInputError,
        match=r"prdc_precision: max_samples: must be greater than k \(5\): each radius needs k \+ 1 vectors, got 5",
    ):
        cls.parse_options({"max_samples": 5})
    with pytest.raises(
        UserInputError, match=r"prdc_precision: ball: 'half' is not allowed \(allowed: 'open' or 'closed'\)"
    ):
        cls.parse_options({"ball": "half"})
    with pytest.raises(
        UserInputError, match=r"prdc_precision: k: Input should be greater than or equal to 1"
    ):
        cls.parse_options({"k": 0})
    opts = cls.parse_options({"extractor": "digits-extractor", "k": 3, "max_samples": 4, "ball": "closed"})
    assert (opts.extractor, opts.k, opts.max_samples, opts.ball) == ("digits-extractor", 3, 4, "closed")
    # Video and audio extractors are registered names too.
    assert cls.parse_options({"extractor": "i3d-kinetics-400"}).extractor == "i3d-kinetics-400"
    assert cls.parse_options({"extractor": "vggish"}).extractor == "vggish"


def test_a_real_extractor_path_clip_through_refstats(tmp_path, monkeypatch):
    """CLIP's code path (a tiny random CLIP under the pinned file names; real weights are never downloaded):
    `harness refstats build --keep-features` writes the real set, the four metrics read it, and the values
    are the prdc package's on the same features."""
    import huggingface_hub.constants

    from harness.cli import main
    from harness.metrics.extractors import build_extractor
    from tests.metrics.weights_helpers import make_tiny_clip, pin_to, quantized, write_pngs

    wdir = tmp_path / "weights"
    make_tiny_clip(wdir / "clip-vit-base-patch32")
    monkeypatch.setenv("HARNESS_WEIGHTS_DIR", str(wdir))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    pin_to(monkeypatch, "clip-vit-base-patch32", wdir / "clip-vit-base-patch32")
    rng = np.random.default_rng(30)
    real_images = quantized(rng.uniform(0, 1, (24, 40, 40, 3)).astype(np.float32))
    gen_images = quantized(np.clip(rng.uniform(0, 1, (20, 40, 40, 3)) + 0.1, 0, 1).astype(np.float32))
    npz = tmp_path / "ref.npz"
    folder = write_pngs(tmp_path / "real", real_images)
    argv = ["refstats", "build", "--images", str(folder), "--extractor", "clip-vit-b-32", "--keep-features"]
    assert main([*argv, "-o", str(npz), "--device", "cpu"]) == 0
    values = {}
    for name, metric in _metrics(extractor="clip-vit-b-32", reference_path=str(npz), k=3).items():
        metric.update(Samples("image", gen_images))
        values[name] = metric.compute()
    ext = build_extractor("clip-vit-b-32")
    expected = _prdc_package(StreamingStats.from_npz(npz).features, ext.features(gen_images), 3)
    assert {f: values[n].value for n, f in zip(NAMES, FIELDS)} == expected
    assert values["prdc_recall"].details["extractor_fingerprint"] == ext.fingerprint()


# ------------------------------------------------------------------------------------------- the zoo


def _digit_samples(n: int, seed: int = 0) -> Samples:
    from harness.zoo.data import digits_split

    x = digits_split().x_train
    idx = np.sort(np.random.default_rng(seed).choice(len(x), n, replace=False))
    return Samples("image", np.ascontiguousarray(x[idx].transpose(0, 2, 3, 1)), labels=[0] * n)


def test_digits_extractor_features_are_fd_digits_features():
    from harness.metrics.extractors import build_extractor

    samples = _digit_samples(50)
    fd = METRICS.get("fd_digits").build({})
    x = fd.inputs(samples)
    ours = build_extractor("digits-extractor").samples_features(samples)
    np.testing.assert_array_equal(ours, fd.extractor().features(x))
    rgb = Samples("image", np.repeat(samples.data, 3, axis=-1))
    # RGB is averaged to gray (float32 rounding of (v + v + v) / 3 aside, the same features)
    np.testing.assert_allclose(
        build_extractor("digits-extractor").samples_features(rgb), ours, rtol=1e-5, atol=1e-5
    )
    with pytest.raises(ValueError, match=r"digits-extractor has no resize option"):
        build_extractor("digits-extractor", resize="clean")


def test_digits_extractor_needs_no_reference_path():
    samples = _digit_samples(300, seed=1)
    values = {}
    for name, metric in _metrics(extractor="digits-extractor").items():
        metric.update(samples)
        values[name] = metric.compute()
    v = values["prdc_recall"]
    assert v.status == "ok" and v.n == 300 and v.details["reference"]["n"] == 360
    assert "held-out" in v.details["reference"]["source"]
    rvr = v.details["real_vs_real"]
    assert rvr["n"] == 300 and rvr["draws"] == 5 and "training digits" in rvr["control"]
    # Real training digits score what real data does: near the real-vs-real values.
    for field in FIELDS:
        assert abs(v.details["values"][field] - rvr["mean"][field]) < 0.1, field
    assert SHARED.computed == {"features": 1, "references": 1, "results": 2}  # values + real-vs-real


@pytest.mark.slow
def test_digits_small_step_counts_rank_as_fd_digits():
    """digits-small under DDIM 3 / 5 / 10 / 25 steps, 400 samples each (about 10 s on one thread).

    Measured (also with `harness run`, README "What the zoo measures"): recall rises with the steps exactly as
    fd_digits falls; coverage is lowest at 3 steps and saturates from 5; precision stays >= 0.96 everywhere
    (few-step samples are typical digits, not wrong ones) and density falls from ~1.5 towards the
    real-vs-real ~1.05 as the steps rise (few-step samples crowd the common shapes).
    """
    torch = pytest.importorskip("torch")
    diffusers = pytest.importorskip("diffusers")
    from harness.zoo import ZOO_DIR
    from harness.zoo.pipeline import ClassConditionalPipeline

    pipe = ClassConditionalPipeline.from_pretrained(str(ZOO_DIR / "digits-small"), local_files_only=True)
    pipe.scheduler = diffusers.DDIMScheduler.from_config(
        pipe.scheduler.config, timestep_spacing="trailing", clip_sample=False
    )
    pipe.set_progress_bar_config(disable=True)
    n, steps = 400, (3, 5, 10, 25)
    labels = [i % 10 for i in range(n)]
    table = {}
    for st in steps:
        gens = [torch.Generator().manual_seed(i) for i in range(n)]
        samples = Samples("image", pipe(labels, num_inference_steps=st, generator=gens).images, labels=labels)
        row = {}
        for name in ("fd_digits", *NAMES):
            opts = {"bootstrap": 0} if name == "fd_digits" else {"extractor": "digits-extractor"}
            metric = METRICS.get(name).build(opts)
            metric.update(samples)
            row[name] = metric.compute().value
        table[st] = row
    by_fd = sorted(steps, key=lambda s: -table[s]["fd_digits"])  # worst first
    assert by_fd == list(steps)
    assert sorted(steps, key=lambda s: table[s]["prdc_recall"]) == by_fd
    assert min(steps, key=lambda s: table[s]["prdc_coverage"]) == 3
    # Precision does not rank them: 0.965 / 0.985 / 0.9875 / 0.97 (2 samples of 400 apart at 3 and 25 steps).
    assert all(table[s]["prdc_precision"] >= 0.95 for s in steps)
    assert (
        table[25]["prdc_density"]
        < table[10]["prdc_density"]
        < min(table[3]["prdc_density"], table[5]["prdc_density"])
    )

"""Fréchet distance core: exact answers, a 50-digit reference, parity with pytorch-fid / clean-fid / torchmetrics /
torch-fidelity, numerical failures that must not come out as a score, streaming."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import warnings
from typing import Any

import numpy as np
import pytest

from harness.core.errors import MetricInvalid
from harness.metrics import frechet as frechet_module
from harness.metrics.feature_stats import StreamingStats
from harness.metrics.frechet import FrechetWarning, frechet_distance
from harness.metrics.frechet_estimates import (
    FIDInfinityResult,
    bootstrap_frechet_ci,
    fid_infinity,
    frechet_distance_from_features,
)

D = 32


def _features(seed: int, n: int, d: int = D, shift: float = 0.0, mix: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    if mix:
        x = x @ (np.eye(d) + mix * rng.standard_normal((d, d)))
    return x + shift


def _stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return x.mean(axis=0), np.cov(x, rowvar=False)


@pytest.fixture(scope="module")
def two_sets() -> tuple[np.ndarray, np.ndarray]:
    # Well-conditioned covariances: n = 400 >> d = 32.
    return _features(0, 400), _features(1, 500, shift=0.3, mix=0.2)


def _rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


# --------------------------------------------------------------------------- exact answers


def test_equal_covariances_give_squared_mean_distance() -> None:
    rng = np.random.default_rng(3)
    a = rng.standard_normal((D, D))
    sigma = a @ a.T + np.eye(D)
    mu1, mu2 = rng.standard_normal(D) * 3, rng.standard_normal(D) * 3
    expected = float(np.sum((mu1 - mu2) ** 2))
    assert frechet_distance(mu1, sigma, mu2, sigma) == pytest.approx(expected, rel=1e-10)


def test_identical_sets_give_zero(two_sets) -> None:
    x, _ = two_sets
    assert frechet_distance_from_features(x, x) == pytest.approx(0.0, abs=1e-8)
    mu, sigma = _stats(x)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-8)


def test_diagonal_case_by_hand() -> None:
    # ‖(0,0,0) - (1,2,2)‖² = 9; Σ (√a - √b)² over a = (1,4,9), b = (4,1,16): 1 + 1 + 1 = 3.
    mu1, mu2 = np.zeros(3), np.array([1.0, 2.0, 2.0])
    s1, s2 = np.diag([1.0, 4.0, 9.0]), np.diag([4.0, 1.0, 16.0])
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(12.0, rel=1e-12)


def test_symmetric_and_python_float(two_sets) -> None:
    x, y = two_sets
    (m1, s1), (m2, s2) = _stats(x), _stats(y)
    d12 = frechet_distance(m1, s1, m2, s2)
    assert type(d12) is float
    assert d12 == pytest.approx(frechet_distance(m2, s2, m1, s1), rel=1e-12)


def test_zero_covariance_is_handled() -> None:
    mu1, mu2 = np.zeros(4), np.ones(4)
    s2 = np.diag([1.0, 2.0, 3.0, 4.0])
    with pytest.warns(
        FrechetWarning, match=r"sigma1: covariance is rank-deficient \(numerical rank 0 < d=4\)"
    ):
        value = frechet_distance(mu1, np.zeros((4, 4)), mu2, s2)
    assert value == pytest.approx(4.0 + 10.0, rel=1e-12)


@pytest.mark.parametrize("rank_deficient", [False, True])
def test_numpy_only_path_matches_scipy_path(two_sets, monkeypatch, rank_deficient) -> None:
    from harness.metrics import frechet as frechet_module

    x, y = two_sets
    if rank_deficient:
        x = x[:20]
    (m1, s1), (m2, s2) = _stats(x), _stats(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FrechetWarning)
        with_scipy = frechet_distance(m1, s1, m2, s2)
        monkeypatch.setattr(frechet_module, "_scipy_linalg", lambda: None)
        numpy_only = frechet_distance(m1, s1, m2, s2)
    assert numpy_only == pytest.approx(with_scipy, rel=1e-12)


def test_torch_inputs_match_numpy(two_sets) -> None:
    torch = pytest.importorskip("torch")
    x, y = two_sets
    (m1, s1), (m2, s2) = _stats(x), _stats(y)
    expected = frechet_distance(m1, s1, m2, s2)
    tensors = [torch.from_numpy(a) for a in (m1, s1, m2, s2)]
    assert frechet_distance(*tensors) == pytest.approx(expected, rel=1e-12)
    # float32 tensors are converted to float64 before any arithmetic.
    got32 = frechet_distance(*[t.float() for t in tensors])
    assert got32 == pytest.approx(expected, rel=1e-5)
    got = frechet_distance_from_features(torch.from_numpy(x), torch.from_numpy(y))
    assert got == pytest.approx(expected, rel=1e-12)


# --------------------------------------------------------------------------- input validation


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (
            (np.zeros((2, 2)), np.eye(2), np.zeros(2), np.eye(2)),
            r"mu1 must be a 1-D mean vector .* got shape \(2, 2\)",
        ),
        (
            (np.zeros(3), np.eye(2), np.zeros(3), np.eye(3)),
            r"sigma1 must be a \(d, d\) = \(3, 3\) .* got shape \(2, 2\)",
        ),
        (
            (np.zeros(3), np.eye(3), np.zeros(3), np.eye(2)),
            r"sigma2 must be a \(d, d\) = \(3, 3\) .* got shape \(2, 2\)",
        ),
        (
            (np.zeros(3), np.eye(3), np.zeros(2), np.eye(2)),
            r"mu1 and mu2 must have the same shape, got \(3,\) and \(2,\)",
        ),
        ((np.array([0.0, np.nan]), np.eye(2), np.zeros(2), np.eye(2)), r"mu1 contains 1 NaN and 0 infinite"),
        (
            (np.zeros(2), np.array([[1.0, np.inf], [np.inf, 1]]), np.zeros(2), np.eye(2)),
            r"sigma1 contains 0 NaN and 2 infinite",
        ),
        (
            (np.zeros(2), np.array([[1.0, 0.5], [0.0, 1.0]]), np.zeros(2), np.eye(2)),
            r"sigma1 is not symmetric",
        ),
        (
            (np.array(["a", "b"]), np.eye(2), np.zeros(2), np.eye(2)),
            r"mu1 must be real-valued numbers, got dtype <U1",
        ),
    ],
)
def test_frechet_distance_rejects_bad_input(args, match) -> None:
    with pytest.raises(ValueError, match=match):
        frechet_distance(*args)


def test_features_must_be_2d_and_same_dim() -> None:
    with pytest.raises(
        ValueError, match=r"feats1 must be a 2-D \(n, d\) array of feature vectors, got shape \(10,\)"
    ):
        frechet_distance_from_features(np.zeros(10), np.zeros((10, 2)))
    with pytest.raises(ValueError, match=r"feats1 and feats2 must have the same dimension d, got 2 and 3"):
        frechet_distance_from_features(_features(0, 10, 2), _features(1, 10, 3))


# --------------------------------------------------------------------------- numerical failures (#23 item 7)


def _indefinite(d: int, smallest: float) -> np.ndarray:
    sigma = np.eye(d)
    sigma[-1, -1] = smallest
    return sigma


@pytest.mark.parametrize(
    ("sigma", "match"),
    [
        # Zero diagonal, eigenvalues ±1: came out 0.0, a perfect score (with a "rank 0" warning).
        (
            np.array([[0.0, 1.0], [1.0, 0.0]]),
            r"smallest eigenvalue -1 \(largest 1\) is below -1\.69e-07, more than rounding explains",
        ),
        # An eigenvalue of -1e-5 in d = 64: came out 0.0 without a word.
        (_indefinite(64, -1e-5), r"smallest eigenvalue -1e-05 \(largest 1\) is below -9\.46e-07"),
        # An eigenvalue of -0.5: came out -1.0, a negative "distance", with a warning.
        (_indefinite(64, -0.5), r"smallest eigenvalue -0\.5 \(largest 1\)"),
    ],
    ids=["zero-diagonal", "eig-1e-5", "eig-0.5"],
)
def test_a_covariance_that_is_not_psd_is_invalid_not_a_score(sigma, match) -> None:
    """#23 item 7: a covariance with a negative eigenvalue beyond rounding gave 0.0 (a perfect score) or a
    negative number; now it raises MetricInvalid naming the matrix, whichever side it is on."""
    d = sigma.shape[0]
    with pytest.raises(MetricInvalid, match=r"^sigma1: covariance is not positive semi-definite: " + match):
        frechet_distance(np.zeros(d), sigma, np.zeros(d), sigma)
    with pytest.raises(MetricInvalid, match=r"^sigma2: covariance is not positive semi-definite"):
        frechet_distance(np.zeros(d), np.eye(d), np.zeros(d), sigma)
    stats = StreamingStats.from_mean_cov(np.zeros(d), sigma)  # a pytorch-fid .npz carrying such a sigma
    with pytest.raises(MetricInvalid, match=r"^reference\.npz: covariance is not positive semi-definite"):
        StreamingStats.from_mean_cov(np.zeros(d), np.eye(d)).frechet_distance(
            stats, labels=("samples", "reference.npz")
        )


def test_rounding_level_negative_eigenvalues_are_clipped() -> None:
    """The other side of #23 item 7's check: negative eigenvalues within rounding (a singular covariance stored
    in float32) are clipped, not refused, and the traces are those of the clipped matrices, so the distance
    of such a matrix to itself stays 0."""
    x = _features(40, 20)  # n = 20 < d = 32: singular
    sigma32 = np.cov(x, rowvar=False).astype(np.float32)
    assert np.linalg.eigvalsh(sigma32.astype(np.float64))[0] < 0  # float32 rounding made it indefinite
    mu = x.mean(axis=0)
    y = _features(41, 300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FrechetWarning)
        assert frechet_distance(mu, sigma32, mu, sigma32) == pytest.approx(0.0, abs=1e-9)
        assert frechet_distance(mu, _indefinite(32, -1e-9), mu, _indefinite(32, -1e-9)) == 0.0
        full = frechet_distance(mu, np.cov(x, rowvar=False), y.mean(axis=0), np.cov(y, rowvar=False))
        rounded = frechet_distance(mu, sigma32, y.mean(axis=0), np.cov(y, rowvar=False))
    assert rounded == pytest.approx(full, rel=1e-3)  # float32 rounding of a singular matrix: 7e-5 here


def test_too_few_samples_and_non_finite_features_are_invalid() -> None:
    """#23 item 7: fewer than 2 samples, and NaN or infinite values, raise MetricInvalid (a ValueError)."""
    x, y = _features(0, 10), _features(1, 10)
    with pytest.raises(MetricInvalid, match=r"^a covariance needs at least 2 feature vectors, got 1$"):
        frechet_distance_from_features(x[:1], y)
    x[3, 2] = np.nan
    with pytest.raises(
        MetricInvalid, match=r"^feats1 contains 1 NaN and 0 infinite values \(shape \(10, 32\)\)"
    ):
        frechet_distance_from_features(x, y)
    with pytest.raises(MetricInvalid, match=r"^feats_gen needs at least 2 vectors, got shape \(1, 32\)"):
        bootstrap_frechet_ci(y[:1], y)
    assert issubclass(MetricInvalid, ValueError)


def test_a_result_that_is_not_a_distance_is_invalid(monkeypatch) -> None:
    """#23 item 7: an overflowing or negative result raises MetricInvalid instead of coming out as a number."""
    with pytest.raises(MetricInvalid, match=r"^the Fréchet distance is not finite \(inf; scale inf\)"):
        frechet_distance(np.full(4, 1e200), np.eye(4), np.zeros(4), np.eye(4))
    monkeypatch.setattr(frechet_module, "_trace_sqrt_product", lambda f1, f2, **kw: 5.0)
    with pytest.raises(
        MetricInvalid, match=r"^the Fréchet distance came out negative \(-2\) beyond rounding"
    ):
        frechet_distance(np.zeros(4), np.eye(4), np.zeros(4), np.eye(4))


# --------------------------------------------------------------------------- accuracy: a 50-digit reference


def _mp_frechet(mu1, s1, mu2, s2, dps: int = 50) -> float:
    """The Fréchet distance of the float64 inputs, taken exactly, in ``dps``-digit arithmetic (mpmath):
    ``Tr((σ1σ2)^½) = Tr((s1 σ2 s1)^½)`` with ``s1 = σ1^½`` from a symmetric eigendecomposition."""
    mp = pytest.importorskip("mpmath")
    with mp.workdps(dps):
        a, b = mp.matrix(s1.tolist()), mp.matrix(s2.tolist())
        w, q = mp.eigsy(a)
        s1_half = q * mp.diag([mp.sqrt(x) if x > 0 else mp.mpf(0) for x in w]) * q.T
        m = s1_half * b * s1_half
        trace_sqrt = sum(mp.sqrt(x) for x in mp.eigsy((m + m.T) / 2, eigvals_only=True) if x > 0)
        diff = [mp.mpf(u) - mp.mpf(v) for u, v in zip(mu1.tolist(), mu2.tolist())]
        traces = sum(a[i, i] + b[i, i] for i in range(a.rows))
        return float(sum(t * t for t in diff) + traces - 2 * trace_sqrt)


def _near_singular(seed: int, d: int = 16, rank: int = 4, floor: float = 1e-10) -> tuple[np.ndarray, ...]:
    """Rank-``rank`` covariances plus ``floor``·I: positive definite, condition number ~1e11 at floor 1e-10."""
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((d, rank)), rng.standard_normal((d, rank))
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    return mu1, a @ a.T + floor * np.eye(d), mu2, b @ b.T + floor * np.eye(d)


def _ill_conditioned(seed: int, d: int = 16, alpha: float = 3.0) -> tuple[np.ndarray, ...]:
    """Covariances of n = 4d samples whose scales fall as i^-alpha along random directions."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    scale = np.arange(1, d + 1) ** -alpha
    x = rng.standard_normal((4 * d, d)) * scale @ q.T
    y = rng.standard_normal((4 * d, d)) * scale * (1 + 0.1 * rng.standard_normal(d)) @ q.T + 0.01
    return (*_stats(x), *_stats(y))


ACCURACY_CASES = {
    "rank4+1e-10I": lambda: _near_singular(0),
    "rank4+1e-6I": lambda: _near_singular(1, floor=1e-6),
    "ill-conditioned": lambda: _ill_conditioned(0),
    "well-conditioned": lambda: (*_stats(_features(2, 200, 16)), *_stats(_features(3, 300, 16, 0.3, 0.2))),
}


@pytest.mark.parametrize("case", ACCURACY_CASES)
def test_matches_a_50_digit_reference(case) -> None:
    """#23 item 7 (a): with the trace term as the singular values of L1ᵀL2 the distance is within 1e-13
    relative of a 50-digit reference on the same float64 statistics (measured: <= 1.4e-14); square roots of
    eigvalsh(G Gᵀ) lost about √eps on the small eigenvalues: 3.1e-9, 8.7e-11 and 3.9e-8 on the first three."""
    args = ACCURACY_CASES[case]()
    exact = _mp_frechet(*args)
    assert _rel(frechet_distance(*args), exact) <= 1e-13


# --------------------------------------------------------------------------- parity with other implementations


def _isotropic(seed: int, d: int = 64) -> tuple[tuple[np.ndarray, ...], float]:
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(0.5, 2.0, 2)
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    exact = float(np.sum((mu1 - mu2) ** 2) + d * (np.sqrt(a) - np.sqrt(b)) ** 2)
    return (mu1, a * np.eye(d), mu2, b * np.eye(d)), exact


def _reference_implementations() -> dict[str, Any]:
    """The four third-party Fréchet distances of (mu1, sigma1, mu2, sigma2), each returning a float."""
    fid_score = pytest.importorskip("pytorch_fid.fid_score")
    cleanfid = pytest.importorskip("cleanfid.fid")
    metric_fid = pytest.importorskip("torch_fidelity.metric_fid")
    torch = pytest.importorskip("torch")
    tm_fid = pytest.importorskip("torchmetrics.image.fid")

    def quiet(fn: Any) -> Any:
        def run(*args: np.ndarray) -> float:
            with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # scipy's sqrtm(disp=...) deprecation, clean-fid's print
                return float(fn(*args))

        return run

    def torch_fidelity(m1, s1, m2, s2):
        out = metric_fid.fid_statistics_to_metric(
            {"mu": m1, "sigma": s1}, {"mu": m2, "sigma": s2}, verbose=False
        )
        return out["frechet_inception_distance"]

    return {
        "pytorch-fid": quiet(fid_score.calculate_frechet_distance),
        "clean-fid": quiet(cleanfid.frechet_distance),
        "torch-fidelity": quiet(torch_fidelity),
        "torchmetrics": quiet(lambda *a: tm_fid._compute_fid(*[torch.from_numpy(x) for x in a])),
    }


def test_parity_isotropic() -> None:
    """#23 item 7: isotropic covariances (an exact answer): ours and the four references within 1e-14
    relative of it (measured: ours 2.6e-16, the references up to 7.9e-16)."""
    refs = _reference_implementations()
    for seed in range(3):
        args, exact = _isotropic(seed)
        assert _rel(frechet_distance(*args), exact) <= 1e-14
        for name, fn in refs.items():
            assert _rel(fn(*args), exact) <= 1e-14, name


@pytest.mark.parametrize(("d", "n"), [(32, 400), pytest.param(128, 2000, marks=pytest.mark.slow)])
def test_parity_well_conditioned(d, n) -> None:
    """#23 item 7: n > d samples, well-conditioned covariances: ours within 1e-13 relative of each reference
    and of the route from features (measured: <= 1.8e-15)."""
    refs = _reference_implementations()
    x, y = _features(20 + d, n, d), _features(21 + d, n + 100, d, shift=0.3, mix=0.2)
    args = (*_stats(x), *_stats(y))
    ours = frechet_distance(*args)
    assert _rel(frechet_distance_from_features(x, y), ours) <= 1e-13
    for name, fn in refs.items():
        assert _rel(ours, fn(*args)) <= 1e-13, name


@pytest.mark.parametrize("seed", range(5))
def test_parity_near_singular(seed) -> None:
    """#23 item 7: near-singular covariances (rank 4 + 1e-10·I in d = 16): ours within 1e-13 relative of the
    50-digit value (measured: <= 6.3e-16); the four references within 1e-7 of it (measured: 1.1e-8 to
    3.4e-8, and up to 1.1e-8 apart), so they stand no closer to ours than that."""
    refs = _reference_implementations()
    args = _near_singular(seed)
    exact = _mp_frechet(*args)
    assert _rel(frechet_distance(*args), exact) <= 1e-13
    for name, fn in refs.items():
        value = fn(*args)
        assert _rel(value, exact) <= 1e-7, (name, value)


def test_parity_torchmetrics_fid_module(two_sets) -> None:
    """torchmetrics' FrechetInceptionDistance module fed the features themselves (its float64 running sums)."""
    torch = pytest.importorskip("torch")
    fid_mod = pytest.importorskip("torchmetrics.image.fid")

    class GivenFeatures(torch.nn.Module):
        """The 'feature extractor' returns its input: update() receives the features themselves."""

        num_features = D

        def forward(self, x):
            return x

    x, y = two_sets
    metric = fid_mod.FrechetInceptionDistance(feature=GivenFeatures())
    metric.update(torch.from_numpy(x), real=True)
    metric.update(torch.from_numpy(y), real=False)
    expected = float(metric.compute())
    assert _rel(frechet_distance_from_features(x, y), expected) <= 1e-6


# --------------------------------------------------------------------------- singular covariances


def test_singular_covariance_warns_and_matches_pytorch_fid() -> None:
    fid_score = pytest.importorskip("pytorch_fid.fid_score")
    x = _features(5, 20)  # n = 20 < d = 32: rank 19
    y = _features(6, 300, shift=0.2)
    (m1, s1), (m2, s2) = _stats(x), _stats(y)
    with pytest.warns(
        FrechetWarning, match=r"sigma1: covariance is rank-deficient \(numerical rank 19 < d=32\)"
    ):
        ours = frechet_distance(m1, s1, m2, s2)
    assert np.isfinite(ours)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = float(fid_score.calculate_frechet_distance(m1, s1, m2, s2))
    # pytorch-fid's sqrtm of a singular product (eps on the diagonal if it is not finite) is less exact.
    assert _rel(ours, expected) <= 1e-4


def test_singular_features_warning_names_sample_count() -> None:
    with pytest.warns(
        FrechetWarning, match=r"feats2: covariance is rank-deficient: n=10 samples in d=32 dimensions"
    ):
        value = frechet_distance_from_features(_features(0, 300), _features(1, 10))
    assert np.isfinite(value) and value > 0


def test_singular_result_independent_of_factor_path() -> None:
    # The same rank-deficient pair evaluated in both orders (eigh factor first or second).
    x, y = _features(7, 15), _features(8, 25, shift=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FrechetWarning)
        a = frechet_distance_from_features(x, y)
        b = frechet_distance_from_features(y, x)
    assert a == pytest.approx(b, rel=1e-10)


# --------------------------------------------------------------------------- streaming statistics


def test_streaming_batches_and_merge_equal_one_batch() -> None:
    x = _features(11, 1000, shift=5.0, mix=0.3)  # a large mean: a raw-sums update would lose digits
    one = StreamingStats.from_features(x)
    many = StreamingStats()
    for chunk in np.array_split(x, 13):
        many.update(chunk)
    left, right = StreamingStats.from_features(x[:321]), StreamingStats.from_features(x[321:])
    merged = left.merge(right)
    assert one.n == many.n == merged.n == 1000
    ref_mu, ref_cov = _stats(x)
    for stats in (one, many, merged):
        np.testing.assert_allclose(stats.mean, ref_mu, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(stats.cov, ref_cov, rtol=1e-12, atol=1e-12 * np.abs(ref_cov).max())


def test_streaming_torch_and_numpy_agree() -> None:
    torch = pytest.importorskip("torch")
    x = _features(12, 200)
    a = StreamingStats.from_features(x)
    b = StreamingStats()
    b.update(torch.from_numpy(x[:50]))
    b.update(torch.from_numpy(x[50:]))
    np.testing.assert_allclose(b.mean, a.mean, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(b.cov, a.cov, rtol=1e-12, atol=1e-14)


def test_streaming_keep_features() -> None:
    x = _features(13, 60)
    s = StreamingStats(keep_features=True)
    s.update(x[:25])
    s.update(x[25:])
    np.testing.assert_array_equal(s.features, x)
    with pytest.raises(ValueError, match=r"raw features were not kept"):
        _ = StreamingStats.from_features(x).features


@pytest.mark.parametrize(
    ("batch", "match"),
    [
        (np.zeros(5), r"features must be a 2-D \(n, d\) array of feature vectors, got shape \(5,\)"),
        (
            np.zeros((2, 3, 4)),
            r"features must be a 2-D \(n, d\) array of feature vectors, got shape \(2, 3, 4\)",
        ),
        (np.zeros((0, 4)), r"features must hold at least one vector, got shape \(0, 4\)"),
        (np.full((2, 4), np.nan), r"features contains 8 NaN and 0 infinite values \(shape \(2, 4\)\)"),
        (np.array([[1.0, np.inf, 0, 0]]), r"features contains 0 NaN and 1 infinite values"),
        (np.zeros((3, 5)), r"features have d=5 \(shape \(3, 5\)\) but these statistics have d=4"),
    ],
)
def test_streaming_update_rejects_bad_batches(batch, match) -> None:
    s = StreamingStats(dim=4)
    with pytest.raises(ValueError, match=match):
        s.update(batch)


def test_streaming_errors() -> None:
    with pytest.raises(ValueError, match=r"dim must be a positive integer or None, got 0"):
        StreamingStats(dim=0)
    s = StreamingStats()
    with pytest.raises(ValueError, match=r"no features yet"):
        _ = s.mean
    s.update(np.ones((1, 3)))
    with pytest.raises(ValueError, match=r"a covariance needs at least 2 feature vectors, got 1"):
        _ = s.cov
    with pytest.raises(ValueError, match=r"cannot merge statistics of d=2 into statistics of d=3"):
        s.merge(StreamingStats.from_features(np.ones((2, 2))))
    with pytest.raises(ValueError, match=r"keep raw features but the other ones do not"):
        StreamingStats(keep_features=True).merge(StreamingStats.from_features(np.ones((2, 3))))


def test_npz_round_trip_with_metadata(tmp_path) -> None:
    x = _features(14, 100)
    s = StreamingStats.from_features(x, keep_features=True)
    path = tmp_path / "ref_stats"  # no suffix appended
    s.to_npz(path, fingerprint="abc123", resize=299, include_features=True)
    assert path.exists()
    back = StreamingStats.from_npz(path)
    assert back.n == 100 and back.dim == D
    assert back.meta == {"fingerprint": "abc123", "resize": 299}
    np.testing.assert_array_equal(back.mean, s.mean)
    np.testing.assert_allclose(back.cov, s.cov, rtol=1e-15)
    np.testing.assert_array_equal(back.features, x)
    # A loaded set with a count can keep accumulating.
    back.update(_features(15, 10))
    assert back.n == 110


def test_read_pytorch_fid_style_file(tmp_path) -> None:
    x, y = _features(16, 200), _features(17, 200, shift=0.1)
    mu, sigma = _stats(x)
    path = tmp_path / "pytorch_fid_stats.npz"
    np.savez_compressed(path, mu=mu, sigma=sigma)  # what pytorch-fid's --save-stats writes
    ref = StreamingStats.from_npz(path)
    assert ref.n is None and ref.meta == {}
    gen = StreamingStats.from_features(y)
    assert gen.frechet_distance(ref) == pytest.approx(frechet_distance_from_features(y, x), rel=1e-12)
    with pytest.raises(ValueError, match=r"cannot update: these statistics have no sample count"):
        ref.update(y)
    with pytest.raises(ValueError, match=r"cannot merge: these statistics have no sample count"):
        gen.merge(ref)


def test_npz_errors(tmp_path) -> None:
    bad = tmp_path / "bad.npz"
    np.savez(bad, mean=np.zeros(3))
    with pytest.raises(
        ValueError, match=r"bad.npz: not a Fréchet statistics file: missing \['mu', 'sigma'\]"
    ):
        StreamingStats.from_npz(bad)
    shapes = tmp_path / "shapes.npz"
    np.savez(shapes, mu=np.zeros(3), sigma=np.eye(2))
    with pytest.raises(ValueError, match=r"shapes.npz: sigma must be a \(d, d\) = \(3, 3\)"):
        StreamingStats.from_npz(shapes)
    with pytest.raises(FileNotFoundError):
        StreamingStats.from_npz(tmp_path / "missing.npz")
    s = StreamingStats.from_features(_features(0, 10, 3))
    with pytest.raises(ValueError, match=r"metadata key 'mu' is reserved"):
        s.to_npz(tmp_path / "x.npz", mu=1)
    with pytest.raises(
        ValueError, match=r"metadata 'info' must be a string, number, boolean or numeric array, got dict"
    ):
        s.to_npz(tmp_path / "x.npz", info={"a": 1})


# --------------------------------------------------------------------------- bootstrap and FID∞


def test_bootstrap_ci_brackets_estimate_and_is_seeded(two_sets) -> None:
    x, y = two_sets
    point = frechet_distance_from_features(y, x)
    lo, hi = bootstrap_frechet_ci(y, x, n_boot=50, seed=1)
    assert lo < point < hi
    assert (hi - lo) < point  # a meaningful width at n = 500, d = 32
    assert bootstrap_frechet_ci(y, x, n_boot=50, seed=1) == (lo, hi)
    # The reference can be statistics only, e.g. read from a pytorch-fid file.
    assert bootstrap_frechet_ci(y, _stats(x), n_boot=50, seed=1) == pytest.approx((lo, hi), rel=1e-10)
    assert bootstrap_frechet_ci(y, StreamingStats.from_features(x), n_boot=50, seed=1) == pytest.approx(
        (lo, hi), rel=1e-10
    )


def test_bootstrap_errors(two_sets) -> None:
    x, y = two_sets
    with pytest.raises(ValueError, match=r"n_boot must be an integer >= 2, got 1"):
        bootstrap_frechet_ci(y, x, n_boot=1)
    with pytest.raises(ValueError, match=r"level must be in \(0, 1\), got 1.5"):
        bootstrap_frechet_ci(y, x, level=1.5)
    with pytest.raises(ValueError, match=r"feats_gen has d=32 but feats_ref has d=4"):
        bootstrap_frechet_ci(y, _features(0, 10, 4))
    with pytest.warns(
        FrechetWarning, match=r"a resample of n=40 holds ~25 distinct vectors, not more than d=32"
    ):
        bootstrap_frechet_ci(y[:40], x, n_boot=2)


def test_bootstrap_replicates_take_the_squared_form(two_sets, monkeypatch) -> None:
    """#23 item 7 (a): the point estimate takes the exact trace term (singular values); the replicates, whose
    sampling spread dwarfs √eps, the squared form (about 2.5x cheaper at d = 2048), which stays within
    1e-12 relative of the exact one on these well-conditioned sets."""
    x, y = two_sets
    calls = []
    original = frechet_module._trace_sqrt_product

    def spy(f1, f2, *, exact=True):
        calls.append(exact)
        return original(f1, f2, exact=exact)

    monkeypatch.setattr(frechet_module, "_trace_sqrt_product", spy)
    bootstrap_frechet_ci(y, x, n_boot=4, seed=0)
    assert calls == [True, False, False, False, False]
    s1, s2 = StreamingStats.from_features(x).cov, StreamingStats.from_features(y).cov
    f1, f2 = frechet_module._psd_factor(s1), frechet_module._psd_factor(s2)
    assert original(f1, f2, exact=False) == pytest.approx(original(f1, f2), rel=1e-12)


def test_fid_infinity_recovers_intercept() -> None:
    # Generated ~ N(δ, I) with ‖δ‖² = 1 against the exact reference N(0, I). To first order
    # E[FD(N)] = ‖δ‖² + b/N with b = d (mean term, Tr(I)) + d(d+1)/4 (covariance term, E‖S - I‖²_F / 4).
    d, n = 32, 20000
    rng = np.random.default_rng(0)
    delta = np.zeros(d)
    delta[0] = 1.0
    gen = rng.standard_normal((n, d)) + delta
    b_theory = d + d * (d + 1) / 4
    result = fid_infinity(gen, (np.zeros(d), np.eye(d)), n_points=15, n_min=500, seed=0)
    assert isinstance(result, FIDInfinityResult)
    assert result.sample_sizes[0] == 500 and result.sample_sizes[-1] == n and len(result.distances) == 15
    inv = 1.0 / result.sample_sizes
    np.testing.assert_allclose(np.diff(inv), np.diff(inv)[0], rtol=0.05, atol=2e-6)  # evenly spaced in 1/N
    assert result.slope == pytest.approx(b_theory, rel=0.2)
    assert result.value == pytest.approx(1.0, abs=0.05)
    assert result.distances[0] == pytest.approx(1.0 + b_theory / 500, rel=0.1)  # the bias FID∞ removes
    again = fid_infinity(gen, (np.zeros(d), np.eye(d)), n_points=15, n_min=500, seed=0)
    assert again.value == result.value


def test_fid_infinity_linear_spacing_and_errors() -> None:
    gen = _features(30, 400, d=4)
    ref = _stats(_features(31, 400, d=4))
    res = fid_infinity(gen, ref, n_points=4, n_min=100, spacing="linear")
    np.testing.assert_array_equal(res.sample_sizes, [100, 200, 300, 400])
    with pytest.raises(
        ValueError, match=r"n_min must be an integer with 2 <= n_min < n = 400 generated vectors, got 5000"
    ):
        fid_infinity(gen, ref)
    with pytest.raises(ValueError, match=r"n_points must be an integer >= 2, got 1"):
        fid_infinity(gen, ref, n_points=1, n_min=100)
    with pytest.raises(ValueError, match=r"spacing must be 'inverse' or 'linear', got 'log'"):
        fid_infinity(gen, ref, n_min=100, spacing="log")
    with pytest.warns(FrechetWarning, match=r"n_min=3 <= d=4"):
        fid_infinity(gen, ref, n_points=3, n_min=3)


# --------------------------------------------------------------------------- packaging


def test_modules_import_without_torch() -> None:
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import numpy as np\n"
        "from harness.metrics.frechet_estimates import frechet_distance_from_features\n"
        "from harness.metrics.kid import kernel_inception_distance\n"
        "x = np.random.default_rng(0).standard_normal((50, 3))\n"
        "print(frechet_distance_from_features(x, x + 1), kernel_inception_distance(x, x, subsets=2, subset_size=10))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr

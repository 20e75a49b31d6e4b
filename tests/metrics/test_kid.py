"""KID: a hand-computed case, parity with torchmetrics' KernelInceptionDistance, input validation."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from harness.metrics.kid import kernel_inception_distance, polynomial_mmd

D = 16


def _features(seed: int, n: int, d: int = D, shift: float = 0.0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d)) + shift


def _rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


def test_linear_kernel_by_hand() -> None:
    # degree 1, gamma 1, coef 0: k(a, b) = a·b, so the unbiased MMD² can be written out with loops.
    x, y = _features(0, 7, 3), _features(1, 7, 3, shift=0.5)
    m = len(x)
    xx = sum(x[i] @ x[j] for i in range(m) for j in range(m) if i != j)
    yy = sum(y[i] @ y[j] for i in range(m) for j in range(m) if i != j)
    xy = sum(x[i] @ y[j] for i in range(m) for j in range(m))
    expected = (xx + yy) / (m * (m - 1)) - 2 * xy / m**2
    assert polynomial_mmd(x, y, degree=1, gamma=1.0, coef=0.0) == pytest.approx(expected, rel=1e-12)
    mean, std = kernel_inception_distance(x, y, subsets=1, subset_size=m, degree=1, gamma=1.0, coef=0.0)
    assert mean == pytest.approx(expected, rel=1e-12) and std == 0.0


def _torchmetrics_kid(x: np.ndarray, y: np.ndarray, **kw):
    torch = pytest.importorskip("torch")
    kid_mod = pytest.importorskip("torchmetrics.image.kid")

    class GivenFeatures(torch.nn.Module):
        """The 'feature extractor' returns its input: update() receives the features themselves."""

        def forward(self, t):
            return t

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "will save all extracted features in buffer"
        metric = kid_mod.KernelInceptionDistance(feature=GivenFeatures(), **kw)
    metric.update(torch.from_numpy(x), real=True)
    metric.update(torch.from_numpy(y), real=False)
    return metric


def test_parity_torchmetrics_whole_sets() -> None:
    # subset_size = n and one subset: no sampling, torchmetrics' value is deterministic.
    x, y = _features(2, 120), _features(3, 120, shift=0.2)
    metric = _torchmetrics_kid(x, y, subsets=1, subset_size=120)
    tm_mean, tm_std = (float(v) for v in metric.compute())
    mean, std = kernel_inception_distance(x, y, subsets=1, subset_size=120)
    assert _rel(mean, tm_mean) <= 1e-6
    assert std == tm_std == 0.0


def test_parity_torchmetrics_same_subset_draws() -> None:
    torch = pytest.importorskip("torch")
    x, y = _features(4, 150), _features(5, 130, shift=0.3)
    kw = {"subsets": 6, "subset_size": 50, "degree": 2, "gamma": 0.5, "coef": 0.7}
    metric = _torchmetrics_kid(x, y, **kw)
    torch.manual_seed(1234)
    tm_mean, tm_std = (float(v) for v in metric.compute())
    mean, std = kernel_inception_distance(x, y, seed=1234, rng="torch", **kw)
    assert _rel(mean, tm_mean) <= 1e-6
    assert _rel(std, tm_std) <= 1e-6


def test_identical_distributions_near_zero() -> None:
    x, y, z = _features(6, 600), _features(7, 600), _features(8, 600, shift=0.5)
    same, same_std = kernel_inception_distance(x, y, subsets=20, subset_size=200, seed=0)
    shifted, _ = kernel_inception_distance(x, z, subsets=20, subset_size=200, seed=0)
    assert abs(same) < 3 * same_std  # unbiased: zero within sampling noise
    assert abs(same) < 0.05 * shifted


def test_seeded_and_inputs_agree() -> None:
    x, y = _features(9, 80), _features(10, 90, shift=0.1)
    a = kernel_inception_distance(x, y, subsets=5, subset_size=40, seed=3)
    assert kernel_inception_distance(x, y, subsets=5, subset_size=40, seed=3) == a
    assert kernel_inception_distance(x, y, subsets=5, subset_size=40, seed=4) != a
    torch = pytest.importorskip("torch")
    b = kernel_inception_distance(torch.from_numpy(x), torch.from_numpy(y), subsets=5, subset_size=40, seed=3)
    assert b == pytest.approx(a, rel=1e-12)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (
            {"subset_size": 101},
            r"subset_size=101 is larger than the number of samples \(feats1: 100, feats2: 120\)",
        ),
        ({"subset_size": 1}, r"subset_size must be an integer >= 2"),
        ({"subsets": 0}, r"subsets must be an integer >= 1, got 0"),
        ({"degree": 0}, r"degree must be an integer >= 1, got 0"),
        ({"gamma": -1.0}, r"gamma must be None or a number > 0, got -1.0"),
        ({"coef": -0.5}, r"coef must be a number >= 0, got -0.5"),
        ({"rng": "cuda"}, r"rng must be 'numpy' or 'torch', got 'cuda'"),
    ],
)
def test_kid_rejects_bad_parameters(kw, match) -> None:
    x, y = _features(0, 100), _features(1, 120)
    kw = {"subset_size": 50, **kw}
    with pytest.raises(ValueError, match=match):
        kernel_inception_distance(x, y, **kw)


def test_kid_rejects_bad_features() -> None:
    with pytest.raises(
        ValueError,
        match=r"feats1 and feats2 must have the same dimension d, got shapes \(10, 3\) and \(10, 4\)",
    ):
        kernel_inception_distance(_features(0, 10, 3), _features(1, 10, 4), subset_size=5)
    with pytest.raises(
        ValueError, match=r"feats2 must be a 2-D \(n, d\) array of feature vectors, got shape \(10,\)"
    ):
        kernel_inception_distance(_features(0, 10, 3), np.zeros(10), subset_size=5)
    bad = _features(0, 10, 3)
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"feats1 contains 1 NaN and 0 infinite values"):
        kernel_inception_distance(bad, _features(1, 10, 3), subset_size=5)

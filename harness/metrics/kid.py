"""Kernel Inception Distance: unbiased MMD² with a polynomial kernel, averaged over random subsets.

Computes exactly what torchmetrics' ``KernelInceptionDistance.compute`` does (``poly_kernel``,
``maximum_mean_discrepancy``, a fresh permutation of each set per subset, population standard deviation
over subsets), in float64 numpy on the features given. Numpy only at import time.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from harness.core.errors import MetricInvalid
from harness.metrics.frechet import ArrayLike, as_features

__all__ = ["kernel_inception_distance", "polynomial_mmd"]


def _poly_kernel(a: np.ndarray, b: np.ndarray | None, degree: int, gamma: float, coef: float) -> np.ndarray:
    k = a @ a.T if b is None else a @ b.T  # numpy uses syrk for a @ a.T
    k *= gamma
    k += coef
    return k**degree


def polynomial_mmd(
    x: np.ndarray, y: np.ndarray, *, degree: int = 3, gamma: float | None = None, coef: float = 1.0
) -> float:
    """Unbiased MMD² between two equally sized float64 sets with ``k(a, b) = (γ a·b + coef)^degree``.

    ``(Σ_{i≠j} k(x_i, x_j) + Σ_{i≠j} k(y_i, y_j)) / (m(m-1)) - 2 Σ_{i,j} k(x_i, y_j) / m²``, as
    torchmetrics' ``poly_mmd``; ``γ = 1/d`` when None.
    """
    m = x.shape[0]
    g = 1.0 / x.shape[1] if gamma is None else gamma
    k_xx = _poly_kernel(x, None, degree, g, coef)
    k_yy = _poly_kernel(y, None, degree, g, coef)
    k_xy = _poly_kernel(x, y, degree, g, coef)
    off_xx = k_xx.sum() - np.trace(k_xx)
    off_yy = k_yy.sum() - np.trace(k_yy)
    return float((off_xx + off_yy) / (m * (m - 1)) - 2.0 * k_xy.sum() / (m * m))


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def kernel_inception_distance(
    feats1: ArrayLike,
    feats2: ArrayLike,
    *,
    subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 3,
    gamma: float | None = None,
    coef: float = 1.0,
    seed: int = 0,
    rng: Literal["numpy", "torch"] = "numpy",
) -> tuple[float, float]:
    """KID between two feature sets: mean and standard deviation of unbiased MMD² over random subsets.

    For each of ``subsets`` rounds, ``subset_size`` vectors are drawn without replacement from each set
    (a fresh random permutation of set 1, then of set 2, as torchmetrics does with ``torch.randperm``)
    and their unbiased polynomial-kernel MMD² is computed. KID is symmetric in its value; set 1 plays
    torchmetrics' "real" role only in the order of the draws.

    Args:
        feats1: Features of set 1 (torchmetrics' real set), shape (n1, d); array or tensor.
        feats2: Features of set 2 (generated), shape (n2, d).
        subsets: Number of subsets.
        subset_size: Vectors per subset and per set; at most min(n1, n2). ``subset_size = n`` with
            ``subsets = 1`` is deterministic (the unbiased MMD² of the whole sets).
        degree: Degree of the polynomial kernel.
        gamma: Kernel scale; ``1/d`` when None.
        coef: Kernel offset (>= 0).
        seed: Seed of the generator drawing the subsets.
        rng: ``"numpy"`` draws with ``numpy.random.default_rng(seed)``. ``"torch"`` draws with
            ``torch.randperm`` from a ``torch.Generator`` seeded with ``seed``: the same subsets as
            torchmetrics' ``compute()`` run right after ``torch.manual_seed(seed)`` (needs torch).

    Returns:
        ``(mean, std)`` over subsets; ``std`` is the population standard deviation, as torchmetrics'.

    Raises:
        ValueError: Bad shapes or parameters.
        MetricInvalid: Non-finite features, ``subset_size`` larger than a set (fewer samples than the
            estimator needs), or a non-finite subset score (the kernel overflowed); a ``ValueError`` too.
    """
    x = as_features(feats1, "feats1")
    y = as_features(feats2, "feats2")
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"feats1 and feats2 must have the same dimension d, got shapes {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if not (_is_int(subsets) and subsets >= 1):
        raise ValueError(f"subsets must be an integer >= 1, got {subsets!r}")
    if not (_is_int(subset_size) and subset_size >= 2):
        raise ValueError(
            f"subset_size must be an integer >= 2 (the unbiased MMD needs pairs), got {subset_size!r}"
        )
    if not (_is_int(degree) and degree >= 1):
        raise ValueError(f"degree must be an integer >= 1, got {degree!r}")
    if gamma is not None and not (isinstance(gamma, (int, float)) and gamma > 0):
        raise ValueError(f"gamma must be None or a number > 0, got {gamma!r}")
    if not (isinstance(coef, (int, float)) and coef >= 0):
        raise ValueError(f"coef must be a number >= 0, got {coef!r}")
    n1, n2 = x.shape[0], y.shape[0]
    if subset_size > min(n1, n2):
        raise MetricInvalid(
            f"subset_size={subset_size} is larger than the number of samples "
            f"(feats1: {n1}, feats2: {n2}); use subset_size <= {min(n1, n2)}"
        )
    if rng == "numpy":
        gen = np.random.default_rng(seed)

        def draw(n: int) -> np.ndarray:
            return gen.permutation(n)[:subset_size]

    elif rng == "torch":
        import torch

        tgen = torch.Generator().manual_seed(seed)

        def draw(n: int) -> np.ndarray:
            return torch.randperm(n, generator=tgen)[:subset_size].numpy()

    else:
        raise ValueError(f"rng must be 'numpy' or 'torch', got {rng!r}")

    scores = np.empty(subsets)
    for i in range(subsets):
        idx1 = draw(n1)
        idx2 = draw(n2)
        scores[i] = polynomial_mmd(x[idx1], y[idx2], degree=degree, gamma=gamma, coef=float(coef))
        if not np.isfinite(scores[i]):
            raise MetricInvalid(
                f"subset {i}'s MMD² is not finite ({scores[i]}): the degree-{degree} polynomial kernel overflows "
                "float64 on these features"
            )
    return float(scores.mean()), float(scores.std())

"""Precision, recall, density and coverage of generated features against real ones (plain functions).

Real features X = x_1 … x_n, generated Y = y_1 … y_m (both (·, d)), Euclidean distance, ``k`` neighbours:

* radius ``r(x_i)``: the distance from x_i to its k-th nearest neighbour in X, the point itself excluded, i.e.
  the (k+1)-th smallest of d(x_i, x_1 … x_n); a duplicate of x_i is a neighbour at distance 0. ``s(y_j)``
  likewise within Y. This is what ``prdc`` (``get_kth_value(…, k + 1)``) and torch-fidelity
  (``kthvalue(k + 1)``) compute.
* ``y ∈ B(x, r)``: ``d(x, y) < r`` for ``ball="open"`` (the default: the ``prdc`` package of Naeem et al.,
  2020), ``d(x, y) <= r`` for ``ball="closed"`` (torch-fidelity's ``prc`` and Kynkäänniemi et al., 2019's code).
* precision = (1/m) Σ_j 1[∃ i: y_j ∈ B(x_i, r(x_i))]: the share of generated samples on the real manifold.
* recall    = (1/n) Σ_i 1[∃ j: x_i ∈ B(y_j, s(y_j))]: the share of real samples on the generated manifold.
* density   = 1/(k m) Σ_j Σ_i 1[y_j ∈ B(x_i, r(x_i))]: how many real neighbourhoods hold each generated
  sample, over k; about 1 when Y is distributed as X, above 1 where samples crowd the real modes.
* coverage  = (1/n) Σ_i 1[∃ j: y_j ∈ B(x_i, r(x_i))]: the share of real neighbourhoods holding a generated sample.

Known answers: Y = X (no duplicates) gives precision = recall = coverage = 1 and density = 1 with open balls
(each x_i's ball holds itself and its k - 1 nearer neighbours), (k + 1)/k with closed ones; sets farther apart
than every radius give 0 for all four.

Numerics, float64 throughout: squared distances come from ‖a‖² + ‖b‖² − 2 a·b (one BLAS product per block of
rows), so memory is O(chunk · max(n, m)) for the block plus O(n + m) for the radii, never an n × n matrix.
Every radius, and every comparison that rounding could decide (a squared distance within a bound of the
product's rounding error of the threshold), is taken from the squared distance recomputed directly,
Σ (a_l − b_l)²: identical vectors are at exactly 0 and equal pairs of vectors give bitwise equal distances,
so ties follow the ball's rule, not rounding, and the block size does not change any number. Thresholds are
compared on squared distances. ``prdc`` (sklearn's ``euclidean_distances``) and torch-fidelity (``torch.cdist``)
compute the same definitions with unchecked rounding; on features whose distances they compute exactly (small
integers) and on features without ties the values are identical (tests/metrics/test_prdc.py).

Numpy only at import time; torch tensors are accepted and converted to float64.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from harness.core.errors import MetricInvalid
from harness.metrics.frechet import ArrayLike, as_features

__all__ = ["PRDCResult", "nearest_neighbour_radii", "prdc"]

Ball = Literal["open", "closed"]
BLOCK_ELEMENTS = 1 << 22  # default block: rows × columns of one distance block (32 MiB of float64)
_PAIR_ELEMENTS = 1 << 21  # vector differences held at once when recomputing distances directly
_EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class PRDCResult:
    """The four values, the set sizes and settings they came from, and how many distances were rechecked."""

    precision: float
    recall: float
    density: float
    coverage: float
    n_real: int
    n_fake: int
    k: int
    ball: str
    rechecked: int  # distances recomputed directly because rounding could have decided a comparison

    def values(self) -> dict[str, float]:
        """``{"precision": …, "recall": …, "density": …, "coverage": …}``."""
        d = asdict(self)
        return {key: d[key] for key in ("precision", "recall", "density", "coverage")}


def _check_k(k: object, n: int, name: str) -> int:
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    if n < k + 1:
        raise MetricInvalid(
            f"k={k} nearest neighbours need at least k + 1 = {k + 1} vectors in {name}, got {n}"
        )
    return int(k)


def _block_rows(chunk_size: int | None, width: int) -> int:
    if chunk_size is None:
        return max(1, BLOCK_ELEMENTS // max(width, 1))
    if not isinstance(chunk_size, (int, np.integer)) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an integer >= 1 (rows per block) or None, got {chunk_size!r}")
    return int(chunk_size)


def _tolerance(d: int) -> float:
    # |computed − exact| of ‖a‖² + ‖b‖² − 2a·b, and of the direct Σ(a_l − b_l)², are each at most about
    # (2d + 4)·eps·(‖a‖² + ‖b‖²) (dot products: γ_d ‖a‖‖b‖); their difference is bounded by twice that.
    return (4 * d + 16) * _EPS


def _approx_sq(a: np.ndarray, b: np.ndarray, a_sq: np.ndarray, b_sq: np.ndarray) -> np.ndarray:
    out = a @ b.T
    out *= -2.0
    out += a_sq[:, None]
    out += b_sq[None, :]
    return out


def _direct_sq(a: np.ndarray, b: np.ndarray, ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
    """Σ_l (a[ia]_l − b[ib]_l)² pair by pair; the same pair of vectors always gives the same bits."""
    out = np.empty(len(ia))
    step = max(1, _PAIR_ELEMENTS // a.shape[1])
    for s in range(0, len(ia), step):
        diff = a[ia[s : s + step]] - b[ib[s : s + step]]
        diff *= diff
        out[s : s + step] = diff.sum(axis=1)
    return out


def _radii_sq(x: np.ndarray, x_sq: np.ndarray, k: int, rows: int) -> np.ndarray:
    """Squared k-NN radii (self excluded) of every row of ``x``, decided on directly computed distances."""
    n, tol_f = len(x), _tolerance(x.shape[1])
    out = np.empty(n)
    for s in range(0, n, rows):
        e = min(n, s + rows)
        a = _approx_sq(x[s:e], x, x_sq[s:e], x_sq)
        a[np.arange(e - s), np.arange(s, e)] = 0.0
        kth = np.partition(a, k, axis=1)[:, k]
        # Any vector whose direct distance could be at or below the true (k+1)-th smallest is a candidate.
        limit = kth + 2.0 * tol_f * (x_sq[s:e] + x_sq.max())
        r, c = np.nonzero(a <= limit[:, None])
        exact = _direct_sq(x, x, r + s, c)
        order = np.lexsort((exact, r))
        first = np.searchsorted(r[order], np.arange(e - s))
        out[s:e] = exact[order][first + k]
    return out


def nearest_neighbour_radii(features: ArrayLike, k: int, *, chunk_size: int | None = None) -> np.ndarray:
    """Distance from each vector to its k-th nearest neighbour in the same set, itself excluded.

    Args:
        features: (n, d) array or tensor, n >= k + 1.
        k: Neighbours (>= 1).
        chunk_size: Rows per distance block (default: about 4M distances per block); any value gives the
            same result.

    Returns:
        (n,) float64 radii, ``prdc``'s ``compute_nearest_neighbour_distances``.

    Raises:
        ValueError: Not a finite 2-D array, or fewer than k + 1 vectors.
    """
    x = np.ascontiguousarray(as_features(features, "features"))
    k = _check_k(k, len(x), "features")
    x_sq = np.einsum("ij,ij->i", x, x)
    return np.sqrt(_radii_sq(x, x_sq, k, _block_rows(chunk_size, len(x))))


def _inside(sq: np.ndarray, radius_sq: np.ndarray, closed: bool) -> np.ndarray:
    return sq <= radius_sq if closed else sq < radius_sq


def prdc(
    real: ArrayLike,
    fake: ArrayLike,
    k: int = 5,
    *,
    ball: Ball = "open",
    chunk_size: int | None = None,
) -> PRDCResult:
    """Precision, recall, density and coverage of ``fake`` against ``real`` (see the module docstring).

    Args:
        real: Real (reference) features, (n, d), n >= k + 1; array or tensor.
        fake: Generated features, (m, d), m >= k + 1.
        k: Nearest neighbours defining each radius (``prdc``'s ``nearest_k``; the paper's 5).
        ball: ``"open"`` (d < r, as ``prdc``) or ``"closed"`` (d <= r, as torch-fidelity).
        chunk_size: Rows of ``real`` (and of each set for its radii) per distance block; default about 4M
            distances per block. It changes memory, never the values.

    Returns:
        A :class:`PRDCResult`.

    Raises:
        ValueError: Not finite 2-D arrays, different dimensions, too few vectors for ``k``, a bad ``ball``.
    """
    x = np.ascontiguousarray(as_features(real, "real"))
    y = np.ascontiguousarray(as_features(fake, "fake"))
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"real and fake must have the same dimension d, got shapes {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if ball not in ("open", "closed"):
        raise ValueError(
            f"ball must be 'open' (d < r, as prdc) or 'closed' (d <= r, as torch-fidelity), got {ball!r}"
        )
    k = _check_k(k, len(x), "real")
    _check_k(k, len(y), "fake")
    n, m = len(x), len(y)
    rows_x, rows_y = _block_rows(chunk_size, n), _block_rows(chunk_size, m)
    x_sq, y_sq = np.einsum("ij,ij->i", x, x), np.einsum("ij,ij->i", y, y)
    r_sq = _radii_sq(x, x_sq, k, rows_x)
    s_sq = _radii_sq(y, y_sq, k, rows_y)
    closed, tol_f = ball == "closed", _tolerance(x.shape[1])
    in_real_balls = np.zeros(m, dtype=np.int64)  # per generated sample: how many real balls hold it
    covered = np.zeros(n, dtype=bool)
    recalled = np.zeros(n, dtype=bool)
    rechecked = 0
    rows = _block_rows(chunk_size, m)
    for s in range(0, n, rows):
        e = min(n, s + rows)
        a = _approx_sq(x[s:e], y, x_sq[s:e], y_sq)
        tol = (tol_f * (x_sq[s:e] + y_sq.max()))[:, None]
        gap = a - r_sq[s:e, None]
        in_real = gap < -tol
        unsure = np.abs(gap) <= tol
        np.subtract(a, s_sq[None, :], out=gap)
        in_fake = gap < -tol
        unsure |= np.abs(gap) <= tol
        r, c = np.nonzero(unsure)
        if len(r):
            exact = _direct_sq(x, y, r + s, c)
            in_real[r, c] = _inside(exact, r_sq[r + s], closed)
            in_fake[r, c] = _inside(exact, s_sq[c], closed)
            rechecked += len(r)
        in_real_balls += in_real.sum(axis=0)
        covered[s:e] = in_real.any(axis=1)
        recalled[s:e] = in_fake.any(axis=1)
    return PRDCResult(
        precision=float(np.count_nonzero(in_real_balls) / m),
        recall=float(np.count_nonzero(recalled) / n),
        density=float((1.0 / k) * (in_real_balls.sum() / m)),  # prdc's order of operations
        coverage=float(np.count_nonzero(covered) / n),
        n_real=n,
        n_fake=m,
        k=k,
        ball=ball,
        rechecked=rechecked,
    )

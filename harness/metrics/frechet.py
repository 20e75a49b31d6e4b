"""Fréchet distance between Gaussians fitted to feature sets: the core of FID, FVD and FAD.

The chain is the one of pytorch-fid: features -> (mean, covariance) -> distance, with three changes:

* ``StreamingStats`` keeps float64 running statistics (Chan's pairwise update), so memory is O(d²)
  however many samples arrive, and reads and writes pytorch-fid / clean-fid ``.npz`` files (keys
  ``mu`` and ``sigma``).
* ``frechet_distance`` does not call ``scipy.linalg.sqrtm``. ``Tr((σ1 σ2)^{1/2})`` is the sum of the
  singular values of ``G = L1ᵀ L2``, ``Li`` a factor of ``σi = Li Liᵀ`` (see ``_trace_sqrt_product``):
  accurate to about eps·‖G‖ where square roots of eigenvalues lose √eps on ill-conditioned or
  near-singular covariances, faster than pytorch-fid, and defined when a covariance is singular, where
  pytorch-fid adds ``eps`` to the diagonal.
* Nothing that is not a distance comes out as one: NaN or infinite inputs, a covariance that is not
  positive semi-definite beyond rounding, fewer than 2 samples, or a non-finite or negative result raise
  ``MetricInvalid`` (a ``ValueError``) with the reason, and the metrics record it as ``invalid``.
  A covariance of n <= d samples is singular: legal, computed exactly, and said in a ``FrechetWarning``.
* Helpers for the uncertainty and the bias of the estimate: ``bootstrap_frechet_ci`` and
  ``fid_infinity`` (Chong & Forsyth, 2020).

Numpy only at import time; torch tensors are accepted anywhere an array is and converted to float64.
"""

from __future__ import annotations

import functools
import os
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from harness.core.errors import MetricInvalid

__all__ = [
    "FIDInfinityResult",
    "FrechetWarning",
    "StreamingStats",
    "as_float64",
    "bootstrap_frechet_ci",
    "fid_infinity",
    "frechet_distance",
    "frechet_distance_from_features",
]

ArrayLike = Any  # a numpy array, a torch tensor (any device or dtype) or a nested sequence of numbers

_EPS = np.finfo(np.float64).eps
# Negative eigenvalues of a covariance down to -2^-23 ‖σ‖_F are taken as rounding and clipped; below that the
# matrix is not a covariance. A PSD matrix whose entries were rounded to float32 (covariances computed or stored
# in float32) has none below -2^-24 ‖σ‖_F (Weyl: |Δλ| <= ‖E‖_2 <= ‖E‖_F <= 2^-24 ‖σ‖_F); a float64 estimate from
# up to ~10^8 samples stays far inside that. Twice the bound for margin.
_PSD_TOLERANCE = 2.0**-23
_RESERVED_NPZ_KEYS = frozenset({"mu", "sigma", "n", "features"})


class FrechetWarning(UserWarning):
    """A numerical caveat of a Fréchet distance: a rank-deficient (singular) covariance."""


# --------------------------------------------------------------------------- conversion and checks


def _is_tensor(x: Any) -> bool:
    # Duck typing keeps torch out of the import: a torch.Tensor (or subclass) has all three.
    return hasattr(x, "detach") and hasattr(x, "cpu") and hasattr(x, "numpy")


def as_float64(x: ArrayLike, name: str = "array") -> np.ndarray:
    """Return ``x`` as a float64 numpy array (a torch tensor is detached and moved to the CPU).

    The result may share memory with ``x``; callers must not modify it.

    Raises:
        ValueError: ``x`` is not real-valued (complex, strings, objects).
    """
    if _is_tensor(x):
        t = x.detach().cpu()
        if t.is_complex():
            raise ValueError(f"{name} must be real-valued, got a complex tensor of dtype {t.dtype}")
        return t.double().numpy()
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be real-valued numbers, got dtype {arr.dtype}")
    return arr.astype(np.float64, copy=False)


def _check_finite(arr: np.ndarray, name: str) -> None:
    if not np.isfinite(arr).all():
        n_nan = int(np.isnan(arr).sum())
        n_inf = int(np.isinf(arr).sum())
        raise MetricInvalid(
            f"{name} contains {n_nan} NaN and {n_inf} infinite values (shape {arr.shape}); "
            "features must be finite"
        )


def _as_features(x: ArrayLike, name: str) -> np.ndarray:
    arr = as_float64(x, name)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D (n, d) array of feature vectors, got shape {tuple(arr.shape)}"
        )
    if arr.shape[1] == 0:
        raise ValueError(f"{name} must have at least one feature dimension, got shape {tuple(arr.shape)}")
    _check_finite(arr, name)
    return arr


def _check_stats(mu: np.ndarray, sigma: np.ndarray, mu_name: str, sigma_name: str) -> np.ndarray:
    """Validate one (mu, sigma) pair and return sigma (only its lower triangle is used afterwards)."""
    if mu.ndim != 1:
        raise ValueError(f"{mu_name} must be a 1-D mean vector of length d, got shape {tuple(mu.shape)}")
    d = mu.shape[0]
    if sigma.shape != (d, d):
        raise ValueError(
            f"{sigma_name} must be a (d, d) = ({d}, {d}) covariance matching {mu_name} of shape ({d},), "
            f"got shape {tuple(sigma.shape)}"
        )
    _check_finite(mu, mu_name)
    _check_finite(sigma, sigma_name)
    if d:
        # Symmetry on row vs column sums and a sample of rows vs columns: O(d²) contiguous reads, where a
        # full |σ - σᵀ| (strided transpose) costs a tenth of the whole distance at d = 2048. Covariances
        # written in float32 (e.g. by a GPU matmul) are symmetric only to ~1e-7 relative.
        scale = float(np.abs(np.diag(sigma)).max()) or float(np.abs(sigma).max())
        rows = np.unique(np.linspace(0, d - 1, min(d, 16)).astype(np.int64))
        asym = max(
            float(np.abs(sigma.sum(axis=0) - sigma.sum(axis=1)).max()) / d,
            float(np.abs(sigma[rows, :] - sigma[:, rows].T).max()),
        )
        if asym > 1e-5 * scale:
            raise ValueError(
                f"{sigma_name} is not symmetric (|σ - σᵀ| up to {asym:.3g} for max |σ_ii| = {scale:.3g}); "
                "expected a covariance matrix"
            )
    return sigma


@functools.lru_cache(maxsize=1)
def _scipy_linalg() -> Any:
    """scipy.linalg if importable: its LAPACK/BLAS wrappers avoid copies and use triangular products."""
    try:
        import scipy.linalg
    except ImportError:  # numpy alone gives the same values, ~20% slower
        return None
    return scipy.linalg


# --------------------------------------------------------------------------- the numerical core


@dataclass
class _Factor:
    """``sigma⁺ = f @ f.T`` with ``f`` of shape (d, rank); from Cholesky when ``sigma`` is positive definite.

    ``sigma⁺`` is ``sigma`` with its negative eigenvalues (rounding, within ``_PSD_TOLERANCE``) set to 0;
    ``clipped`` is their total magnitude, so that ``Tr(sigma⁺) = Tr(sigma) + clipped``.
    """

    f: np.ndarray
    rank: int
    dim: int
    cholesky: bool
    clipped: float = 0.0


def _cholesky(sigma: np.ndarray) -> np.ndarray | None:
    """Lower-triangular L with ``sigma = L Lᵀ`` from sigma's lower triangle; None if not positive definite."""
    sp = _scipy_linalg()
    if sp is None:
        try:
            return np.linalg.cholesky(sigma)
        except np.linalg.LinAlgError:
            return None
    # sigma.T is a Fortran-ordered view of C-ordered sigma (no transposing copy); its upper triangle is
    # sigma's lower one, factored as Uᵀ U, so L = Uᵀ.
    u, info = sp.lapack.dpotrf(np.asarray(sigma).T, lower=0, clean=1)
    return u.T if info == 0 else None


def _psd_factor(sigma: np.ndarray, label: str = "sigma") -> _Factor:
    """Factor a symmetric PSD matrix as ``F Fᵀ`` (reading its lower triangle).

    Cholesky first (fast); when it fails or meets a pivot at rounding level, the matrix is numerically
    singular and we take ``F = V sqrt(w)`` from ``eigh``, keeping only eigenvalues above the numerical
    rank threshold ``d·eps·max(w)`` (the smaller ones are rounding noise). Negative eigenvalues within
    ``_PSD_TOLERANCE`` are rounding too and are clipped to 0.

    Raises:
        MetricInvalid: An eigenvalue is negative beyond that tolerance: ``sigma`` is not a covariance.
    """
    d = sigma.shape[0]
    if d == 0 or not sigma.any():
        return _Factor(np.zeros((d, 0)), rank=0, dim=d, cholesky=False)
    diag_max = float(np.max(np.diag(sigma)))
    if diag_max > 0.0:
        chol = _cholesky(sigma)
        # A pivot (L_jj²) bounds the smallest eigenvalue of the leading j x j block, hence of sigma, from above.
        if chol is not None and float(np.min(np.diag(chol))) ** 2 > d * _EPS * diag_max:
            return _Factor(chol, rank=d, dim=d, cholesky=True)
    w, v = np.linalg.eigh(sigma)
    tol = _PSD_TOLERANCE * float(np.sqrt(w @ w))  # ‖σ‖_F
    if float(w[0]) < -tol:
        raise MetricInvalid(
            f"{label}: covariance is not positive semi-definite: smallest eigenvalue {w[0]:.6g} (largest "
            f"{w[-1]:.6g}) is below -{tol:.3g}, more than rounding explains (2^-23 ‖σ‖_F); no covariance of "
            "samples has one: the statistics are damaged or are not a covariance"
        )
    w_max = max(float(w[-1]), 0.0)
    keep = w > d * _EPS * w_max
    f = v[:, keep] * np.sqrt(w[keep])
    clipped = float(-w[w < 0.0].sum())
    return _Factor(f, rank=int(keep.sum()), dim=d, cholesky=False, clipped=clipped)


def _trace_sqrt_product(f1: _Factor, f2: _Factor, *, exact: bool = True) -> float:
    """``Tr((σ1 σ2)^{1/2})`` from factors ``σi = Fi Fiᵀ``: the sum of the singular values of ``G = F1ᵀ F2``.

    ``σ1 σ2 = F1 (F1ᵀ F2 F2ᵀ) F1ᵀ`` has the same non-zero eigenvalues as ``G Gᵀ``, the squares of the
    singular values of G, so the trace of the principal square root is G's nuclear norm. The singular values
    are taken from G itself, each to about eps·‖G‖. The square roots of ``eigvalsh(G Gᵀ)`` (the form before
    #23 item 7) lose about √eps·‖G‖ on the small ones, which squaring puts below the eigensolver's eps·‖G‖²
    resolution: 9e-11 to 4e-8 relative on near-singular and ill-conditioned covariances against a 50-digit
    reference (tests/metrics/test_frechet.py), for a distance about 2.5x cheaper at d = 2048 (CPU time,
    tests/benchmarks/bench_frechet.py). ``exact=False`` keeps that squared form for bootstrap replicates and
    FID∞ points, whose sampling spread is many orders above √eps.
    """
    if f1.rank == 0 or f2.rank == 0:
        return 0.0
    sp = _scipy_linalg()
    if sp is not None and f1.cholesky and f2.cholesky:
        # Fortran views Ui = Liᵀ: G = L1ᵀ L2 = U1 U2ᵀ, a triangular product.
        g = sp.blas.dtrmm(1.0, f2.f.T, f1.f.T, side=1, lower=0, trans_a=1)
    else:
        g = f1.f.T @ f2.f
    if exact:
        if sp is None:
            return float(np.linalg.svd(g, compute_uv=False).sum())
        return float(sp.svdvals(g, overwrite_a=True, check_finite=False).sum())
    if sp is not None and f1.cholesky and f2.cholesky:
        w = sp.eigh(
            sp.blas.dsyrk(1.0, g), lower=False, eigvals_only=True, overwrite_a=True, check_finite=False
        )
    else:
        # G Gᵀ or Gᵀ G, whichever is smaller; numpy calls syrk for X @ X.T, so it is exactly symmetric.
        w = np.linalg.eigvalsh(g @ g.T if g.shape[0] <= g.shape[1] else g.T @ g)
    return float(np.sqrt(np.clip(w, 0.0, None)).sum())


def _distance(
    mu1: np.ndarray,
    sigma1: np.ndarray,
    f1: _Factor,
    mu2: np.ndarray,
    sigma2: np.ndarray,
    f2: _Factor,
    *,
    exact: bool = True,
) -> float:
    diff = mu1 - mu2
    with np.errstate(over="ignore"):  # an overflow is reported below, as a non-finite distance
        mean_term = float(diff @ diff)
    # The traces of the clipped matrices the factors stand for: the distance is that of PSD matrices.
    tr1 = float(np.trace(sigma1)) + f1.clipped
    tr2 = float(np.trace(sigma2)) + f2.clipped
    fd = mean_term + tr1 + tr2 - 2.0 * _trace_sqrt_product(f1, f2, exact=exact)
    scale = mean_term + tr1 + tr2
    if not np.isfinite(fd):
        raise MetricInvalid(
            f"the Fréchet distance is not finite ({fd}; scale {scale:.6g}): the statistics overflow float64"
        )
    if fd < 0.0:
        if fd >= -1e-6 * scale:
            return 0.0  # rounding: the distance between PSD matrices is >= 0
        raise MetricInvalid(
            f"the Fréchet distance came out negative ({fd:.6g}) beyond rounding (scale {scale:.6g}); "
            "a distance is >= 0, so this number would mean nothing"
        )
    return fd


def _warn_factor(label: str, f: _Factor, n: int | None, stacklevel: int) -> None:
    # A singular covariance is legal (its distance is computed exactly) but worth a note: n <= d samples
    # always give one, and such distances are strongly biased.
    d = f.dim
    if n is not None and n <= d:
        warnings.warn(
            f"{label}: covariance is rank-deficient: n={n} samples in d={d} dimensions give rank <= n-1 "
            f"= {n - 1} < d. The distance is computed exactly for this singular matrix (no eps on the "
            "diagonal), but Fréchet distances from fewer samples than dimensions are strongly biased and "
            "not comparable with the usual ones",
            FrechetWarning,
            stacklevel=stacklevel,
        )
    elif f.rank < d:
        warnings.warn(
            f"{label}: covariance is rank-deficient (numerical rank {f.rank} < d={d}), as when it is "
            "estimated from fewer samples than dimensions (n < d). The distance is computed exactly for "
            "this singular matrix (no eps on the diagonal), but such estimates are strongly biased",
            FrechetWarning,
            stacklevel=stacklevel,
        )


def frechet_distance(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

    ``‖μ1 - μ2‖² + Tr(σ1) + Tr(σ2) - 2 Tr((σ1 σ2)^{1/2})``, computed in float64 without a general
    matrix square root (see the module docstring). By pytorch-fid's convention set 1 is the generated
    one, set 2 the reference; the distance is symmetric.

    Args:
        mu1: Mean of set 1, shape (d,). Numpy array or torch tensor.
        sigma1: Covariance of set 1, shape (d, d), symmetric positive semi-definite.
        mu2: Mean of set 2, shape (d,).
        sigma2: Covariance of set 2, shape (d, d).

    Returns:
        The distance as a Python float (tiny negative rounding results are returned as 0.0).

    Raises:
        ValueError: Shapes do not match (the message shows those received) or a covariance is not symmetric.
        MetricInvalid: A value is NaN or infinite, a covariance is not positive semi-definite beyond
            rounding, or the result is not finite (a ``ValueError`` too).

    Warns:
        FrechetWarning: A covariance is rank-deficient (fewer samples than dimensions).
    """
    mu1_a, mu2_a = as_float64(mu1, "mu1"), as_float64(mu2, "mu2")
    s1 = _check_stats(mu1_a, as_float64(sigma1, "sigma1"), "mu1", "sigma1")
    s2 = _check_stats(mu2_a, as_float64(sigma2, "sigma2"), "mu2", "sigma2")
    if mu1_a.shape != mu2_a.shape:
        raise ValueError(
            f"mu1 and mu2 must have the same shape, got {tuple(mu1_a.shape)} and {tuple(mu2_a.shape)}"
        )
    f1, f2 = _psd_factor(s1, "sigma1"), _psd_factor(s2, "sigma2")
    _warn_factor("sigma1", f1, None, stacklevel=3)
    _warn_factor("sigma2", f2, None, stacklevel=3)
    return _distance(mu1_a, s1, f1, mu2_a, s2, f2)


# --------------------------------------------------------------------------- streaming statistics


class StreamingStats:
    """Float64 running mean and covariance of feature vectors; memory O(d²) whatever the count.

    Batches are combined with Chan et al.'s pairwise update (exact, and better conditioned than raw
    sums of x and x xᵀ when features have a large mean). ``cov`` is unbiased (ddof=1), like
    ``np.cov(features, rowvar=False)`` in pytorch-fid.

    Statistics read from a file without a sample count (pytorch-fid, clean-fid) have ``n = None``: they
    give a mean and covariance for distances but cannot be updated or merged.

    Args:
        dim: Feature dimension, if known in advance (checked against the first batch).
        keep_features: Also keep the raw features (O(n·d) memory), for bootstrap intervals and KID.
    """

    def __init__(self, dim: int | None = None, *, keep_features: bool = False) -> None:
        if dim is not None and (not isinstance(dim, (int, np.integer)) or dim < 1):
            raise ValueError(f"dim must be a positive integer or None, got {dim!r}")
        self._dim: int | None = int(dim) if dim is not None else None
        self._n: int | None = 0
        self._mean: np.ndarray | None = None
        self._m2: np.ndarray | None = None  # sum of outer products of deviations from the mean
        self._sigma: np.ndarray | None = None  # only for statistics loaded without a count
        self.keep_features = keep_features
        self._features: list[np.ndarray] = []
        self.meta: dict[str, Any] = {}

    # -- construction

    @classmethod
    def from_features(cls, features: ArrayLike, *, keep_features: bool = False) -> StreamingStats:
        """Statistics of one (n, d) array or tensor."""
        stats = cls(keep_features=keep_features)
        stats.update(features)
        return stats

    @classmethod
    def from_mean_cov(cls, mu: ArrayLike, sigma: ArrayLike, n: int | None = None) -> StreamingStats:
        """Statistics from a mean and covariance (``n`` None when the count is unknown)."""
        mu_a = as_float64(mu, "mu").copy()
        sigma_a = _check_stats(mu_a, as_float64(sigma, "sigma"), "mu", "sigma")
        stats = cls(dim=mu_a.shape[0])
        stats._mean = mu_a
        if n is None:
            stats._n = None
            stats._sigma = sigma_a
        else:
            if int(n) < 2:
                raise ValueError(f"n must be >= 2 for a covariance, got {n}")
            stats._n = int(n)
            stats._m2 = sigma_a * (int(n) - 1)
        return stats

    # -- accumulation

    def _require_count(self, action: str) -> None:
        if self._n is None:
            raise ValueError(
                f"cannot {action}: these statistics have no sample count (loaded from a file with only "
                "'mu' and 'sigma'); they can only be used for distances"
            )

    def update(self, features: ArrayLike) -> None:
        """Add a batch of feature vectors.

        Args:
            features: Array or tensor of shape (n, d), any real dtype, any device.

        Raises:
            ValueError: Wrong shape (the message shows it), a dimension differing from earlier batches,
                an empty batch, or NaN / infinite values.
        """
        self._require_count("update")
        x = _as_features(features, "features")
        nb, d = x.shape
        if nb == 0:
            raise ValueError(f"features must hold at least one vector, got shape {tuple(x.shape)}")
        if self._dim is not None and d != self._dim:
            raise ValueError(
                f"features have d={d} (shape {tuple(x.shape)}) but these statistics have d={self._dim}"
            )
        self._dim = d
        mean_b = x.mean(axis=0)
        xc = x - mean_b
        m2_b = xc.T @ xc
        self._combine(nb, mean_b, m2_b)
        if self.keep_features:
            self._features.append(np.array(x, dtype=np.float64, copy=True))

    def _combine(self, nb: int, mean_b: np.ndarray, m2_b: np.ndarray) -> None:
        na = self._n
        assert na is not None
        if na == 0:
            self._mean, self._m2 = mean_b.copy(), m2_b.copy()
        else:
            assert self._mean is not None and self._m2 is not None
            n = na + nb
            delta = mean_b - self._mean
            self._mean = self._mean + delta * (nb / n)
            self._m2 = self._m2 + m2_b + np.outer(delta, delta) * (na * nb / n)
        self._n = na + nb

    def merge(self, other: StreamingStats) -> StreamingStats:
        """Add another set's statistics to these (in place) and return ``self``.

        Raises:
            ValueError: Dimensions differ, a count is unknown, or only ``self`` keeps raw features.
        """
        self._require_count("merge")
        other._require_count("merge")
        if other._n == 0:
            return self
        if self._dim is not None and other._dim != self._dim:
            raise ValueError(f"cannot merge statistics of d={other._dim} into statistics of d={self._dim}")
        if self.keep_features and not other.keep_features:
            raise ValueError("cannot merge: these statistics keep raw features but the other ones do not")
        assert other._n is not None and other._mean is not None and other._m2 is not None
        self._dim = other._dim
        self._combine(other._n, other._mean, other._m2)
        if self.keep_features:
            self._features.extend(f.copy() for f in other._features)
        return self

    # -- results

    @property
    def n(self) -> int | None:
        """Number of feature vectors seen (None for statistics loaded without a count)."""
        return self._n

    @property
    def dim(self) -> int | None:
        """Feature dimension d (None before the first batch)."""
        return self._dim

    @property
    def mean(self) -> np.ndarray:
        """Mean feature vector, shape (d,), float64."""
        if self._mean is None:
            raise ValueError("no features yet: call update() first")
        return self._mean.copy()

    @property
    def cov(self) -> np.ndarray:
        """Unbiased covariance (ddof=1), shape (d, d), float64."""
        if self._sigma is not None:
            return self._sigma.copy()
        if self._n is None or self._n < 2 or self._m2 is None:
            raise MetricInvalid(f"a covariance needs at least 2 feature vectors, got {self._n or 0}")
        return self._m2 / (self._n - 1)

    @property
    def features(self) -> np.ndarray:
        """The raw features, shape (n, d), when ``keep_features=True``."""
        if not self.keep_features:
            raise ValueError("raw features were not kept: create StreamingStats(keep_features=True)")
        if not self._features:
            raise ValueError("no features yet: call update() first")
        if len(self._features) > 1:
            self._features = [np.concatenate(self._features, axis=0)]
        return self._features[0]

    def frechet_distance(
        self, other: StreamingStats, *, labels: tuple[str, str] = ("self", "other")
    ) -> float:
        """Fréchet distance to another set's statistics (warns with the sample counts when n <= d).

        ``labels`` name the two sets in warnings and errors. Raises ``MetricInvalid`` as ``frechet_distance``.
        """
        return _stats_distance(self, other, labels[0], labels[1], stacklevel=4)

    def __repr__(self) -> str:
        return f"StreamingStats(n={self._n}, dim={self._dim}, keep_features={self.keep_features})"

    # -- files

    def to_npz(self, path: str | os.PathLike[str], *, include_features: bool = False, **meta: Any) -> None:
        """Write ``mu``, ``sigma``, ``n`` (and metadata) to an ``.npz`` file at exactly ``path``.

        The file is readable by pytorch-fid and clean-fid, which read the ``mu`` and ``sigma`` keys.

        Args:
            path: Destination file (no ``.npz`` suffix is appended).
            include_features: Also store the raw features (requires ``keep_features=True``).
            **meta: Extra entries such as ``fingerprint="…"``: strings, numbers, booleans or arrays.

        Raises:
            ValueError: A metadata key is reserved or a value is not storable without pickle.
        """
        arrays: dict[str, np.ndarray] = {"mu": self.mean, "sigma": self.cov}
        if self._n is not None:
            arrays["n"] = np.asarray(self._n, dtype=np.int64)
        if include_features:
            arrays["features"] = self.features
        for key, value in meta.items():
            if key in _RESERVED_NPZ_KEYS:
                raise ValueError(f"metadata key {key!r} is reserved (reserved: {sorted(_RESERVED_NPZ_KEYS)})")
            arr = np.asarray(value)
            if arr.dtype.kind not in "biufcUS":
                raise ValueError(
                    f"metadata {key!r} must be a string, number, boolean or numeric array, got {type(value).__name__}; "
                    "serialise it (e.g. json.dumps) first"
                )
            arrays[key] = arr
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def from_npz(cls, path: str | os.PathLike[str]) -> StreamingStats:
        """Read statistics written by ``to_npz``, pytorch-fid or clean-fid (keys ``mu`` and ``sigma``).

        Extra keys are returned in ``meta`` (0-d entries as Python scalars). Without an ``n`` key the
        count is unknown (``n is None``).

        Raises:
            FileNotFoundError: No such file.
            ValueError: ``mu`` or ``sigma`` missing or of the wrong shape.
        """
        with np.load(path, allow_pickle=False) as z:
            keys = set(z.files)
            missing = sorted({"mu", "sigma"} - keys)
            if missing:
                raise ValueError(
                    f"{os.fspath(path)}: not a Fréchet statistics file: missing {missing} (found keys "
                    f"{sorted(keys)}); expected 'mu' and 'sigma' as written by pytorch-fid, clean-fid or to_npz"
                )
            mu = np.asarray(z["mu"], dtype=np.float64)
            sigma = np.asarray(z["sigma"], dtype=np.float64)
            n = int(z["n"]) if "n" in keys else None
            feats = np.asarray(z["features"], dtype=np.float64) if "features" in keys else None
            meta = {k: (z[k].item() if z[k].ndim == 0 else z[k]) for k in sorted(keys - _RESERVED_NPZ_KEYS)}
        try:
            stats = cls.from_mean_cov(mu, sigma, n)
        except ValueError as exc:
            raise ValueError(f"{os.fspath(path)}: {exc}") from None
        if feats is not None:
            if feats.ndim != 2 or feats.shape[1] != mu.shape[0] or (n is not None and feats.shape[0] != n):
                raise ValueError(
                    f"{os.fspath(path)}: 'features' of shape {feats.shape} do not match n={n}, d={mu.shape[0]}"
                )
            stats.keep_features = True
            stats._features = [feats]
        stats.meta = meta
        return stats


# --------------------------------------------------------------------------- convenience and statistics


def _stats_distance(
    a: StreamingStats, b: StreamingStats, label_a: str, label_b: str, stacklevel: int
) -> float:
    mu_a, mu_b = a.mean, b.mean
    if mu_a.shape != mu_b.shape:
        raise ValueError(f"{label_a} and {label_b} have different dimensions: d={a.dim} and d={b.dim}")
    sa, sb = a.cov, b.cov
    fa, fb = _psd_factor(sa, label_a), _psd_factor(sb, label_b)
    _warn_factor(label_a, fa, a.n, stacklevel)
    _warn_factor(label_b, fb, b.n, stacklevel)
    return _distance(mu_a, sa, fa, mu_b, sb, fb)


def frechet_distance_from_features(feats1: ArrayLike, feats2: ArrayLike) -> float:
    """Fréchet distance between Gaussians fitted to two (n, d) feature sets (ddof=1 covariances).

    Raises:
        ValueError: A set is not 2-D or the dimensions differ.
        MetricInvalid: A set has fewer than 2 vectors or NaN / infinite values (a ``ValueError`` too).
    """
    s1 = StreamingStats.from_features(_as_features(feats1, "feats1"))
    s2 = StreamingStats.from_features(_as_features(feats2, "feats2"))
    if s1.dim != s2.dim:
        raise ValueError(f"feats1 and feats2 must have the same dimension d, got {s1.dim} and {s2.dim}")
    return _stats_distance(s1, s2, "feats1", "feats2", stacklevel=4)


def _reference(ref: Any, name: str) -> tuple[np.ndarray, np.ndarray, int | None]:
    """(mu, sigma, n) of a reference given as StreamingStats, a (mu, sigma) pair or an (n, d) array."""
    if isinstance(ref, StreamingStats):
        return ref.mean, ref.cov, ref.n
    if isinstance(ref, (tuple, list)) and len(ref) == 2:
        mu = as_float64(ref[0], f"{name}[0] (mu)")
        sigma = _check_stats(mu, as_float64(ref[1], f"{name}[1] (sigma)"), f"{name} mu", f"{name} sigma")
        return mu, sigma, None
    feats = _as_features(ref, name)
    stats = StreamingStats.from_features(feats)
    return stats.mean, stats.cov, stats.n


def _prepare_gen_ref(
    feats_gen: ArrayLike, ref: Any, ref_name: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int | None]:
    gen = _as_features(feats_gen, "feats_gen")
    mu_r, sigma_r, n_r = _reference(ref, ref_name)
    if mu_r.shape[0] != gen.shape[1]:
        raise ValueError(f"feats_gen has d={gen.shape[1]} but {ref_name} has d={mu_r.shape[0]}")
    return gen, mu_r, sigma_r, n_r


def _subset_distance(x: np.ndarray, mu_r: np.ndarray, sigma_r: np.ndarray, f_r: _Factor) -> float:
    mu = x.mean(axis=0)
    xc = x - mu
    sigma = (xc.T @ xc) / (x.shape[0] - 1)
    # A replicate or an FID∞ point: its sampling spread dwarfs the squared form's √eps (see _trace_sqrt_product).
    return _distance(mu, sigma, _psd_factor(sigma), mu_r, sigma_r, f_r, exact=False)


def bootstrap_frechet_ci(
    feats_gen: ArrayLike,
    feats_ref: Any,
    *,
    n_boot: int = 100,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Bootstrap interval for the Fréchet distance, resampling the generated set only.

    Only the generated set is resampled: the reference is fixed and shared by every model compared
    (often available only as ``mu``/``sigma``, e.g. a pytorch-fid ``.npz``), so the variability that
    matters when ranking models is the finite generated sample. Each replicate draws n generated
    vectors with replacement and recomputes the distance to the fixed reference (whose factorisation
    is reused). With n <= 1.6 d a resample has fewer distinct vectors than dimensions, and a
    ``FrechetWarning`` says the interval is unreliable.

    Resampling with replacement repeats ~37% of the vectors, which biases the replicates upward (the
    Fréchet distance grows as the effective sample shrinks), so the raw percentile interval tends to
    sit above the estimate. The interval returned is the percentile interval re-centred on the point
    estimate: ``d̂ + (q_lo - mean*, q_hi - mean*)``, clipped at 0. It describes the spread of the
    distance at this sample size, not the bias (see ``fid_infinity`` for that).

    Args:
        feats_gen: Generated features, shape (n, d).
        feats_ref: Reference: features (m, d), a ``StreamingStats`` or a ``(mu, sigma)`` pair.
        n_boot: Number of bootstrap replicates (each costs one covariance and one distance).
        seed: Seed of the numpy generator drawing the resamples.
        level: Coverage of the interval, in (0, 1).

    Returns:
        ``(lo, hi)``.
    """
    if not (isinstance(n_boot, (int, np.integer)) and n_boot >= 2):
        raise ValueError(f"n_boot must be an integer >= 2, got {n_boot!r}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    gen, mu_r, sigma_r, n_r = _prepare_gen_ref(feats_gen, feats_ref, "feats_ref")
    n = gen.shape[0]
    if n < 2:
        raise MetricInvalid(f"feats_gen needs at least 2 vectors, got shape {gen.shape}")
    f_r = _psd_factor(sigma_r, "feats_ref")
    point = _stats_distance(
        StreamingStats.from_features(gen),
        StreamingStats.from_mean_cov(mu_r, sigma_r, n_r),
        "feats_gen",
        "feats_ref",
        stacklevel=4,
    )
    d = gen.shape[1]
    distinct = round(n * (1.0 - (1.0 - 1.0 / n) ** n))  # expected distinct vectors in a resample, ~0.632 n
    if n > d >= distinct:
        warnings.warn(
            f"bootstrap_frechet_ci: a resample of n={n} holds ~{distinct} distinct vectors, not more than "
            f"d={d}: replicate covariances are rank-deficient and the interval is unreliable; use n >= 1.6 d",
            FrechetWarning,
            stacklevel=2,
        )
    rng = np.random.default_rng(seed)
    boots = np.empty(n_boot)
    for i in range(n_boot):
        boots[i] = _subset_distance(gen[rng.integers(0, n, size=n)], mu_r, sigma_r, f_r)
    alpha = (1.0 - level) / 2.0
    q_lo, q_hi = np.quantile(boots, [alpha, 1.0 - alpha])
    centre = float(boots.mean())
    return max(0.0, point + float(q_lo) - centre), max(0.0, point + float(q_hi) - centre)


@dataclass(frozen=True)
class FIDInfinityResult:
    """FID∞ and the points of its fit ``FD(N) = value + slope / N``."""

    value: float
    slope: float
    sample_sizes: np.ndarray  # the N of each point
    distances: np.ndarray  # FD at each N


def fid_infinity(
    feats_gen: ArrayLike,
    stats_ref: Any,
    *,
    n_points: int = 15,
    n_min: int = 5000,
    seed: int = 0,
    spacing: Literal["inverse", "linear"] = "inverse",
) -> FIDInfinityResult:
    """Extrapolated, effectively unbiased Fréchet distance FID∞ (Chong & Forsyth, CVPR 2020).

    The Fréchet distance of N samples is biased by about ``b/N``. For ``n_points`` sample sizes N
    between ``n_min`` and n, a random subset (without replacement) of N generated vectors is scored
    against the fixed reference; ``FD = a + b/N`` is fitted by least squares and ``a`` is returned.

    Args:
        feats_gen: Generated features, shape (n, d), n > n_min.
        stats_ref: Reference: ``StreamingStats``, a ``(mu, sigma)`` pair, or features (m, d).
        n_points: Number of sample sizes (>= 2).
        n_min: Smallest sample size (the paper uses 5000 of 50000). Keep it above d.
        seed: Seed of the numpy generator drawing the subsets.
        spacing: ``"inverse"`` spaces the N evenly in 1/N (even leverage along the fitted axis);
            ``"linear"`` spaces them evenly in N, as the authors' released code does.

    Returns:
        ``FIDInfinityResult(value, slope, sample_sizes, distances)``.
    """
    gen, mu_r, sigma_r, _ = _prepare_gen_ref(feats_gen, stats_ref, "stats_ref")
    n, d = gen.shape
    if not (isinstance(n_points, (int, np.integer)) and n_points >= 2):
        raise ValueError(f"n_points must be an integer >= 2, got {n_points!r}")
    if not (isinstance(n_min, (int, np.integer)) and 2 <= n_min < n):
        raise ValueError(
            f"n_min must be an integer with 2 <= n_min < n = {n} generated vectors, got {n_min!r}"
        )
    if spacing == "inverse":
        sizes = np.rint(1.0 / np.linspace(1.0 / n_min, 1.0 / n, n_points)).astype(np.int64)
    elif spacing == "linear":
        sizes = np.linspace(n_min, n, n_points).astype(np.int64)
    else:
        raise ValueError(f"spacing must be 'inverse' or 'linear', got {spacing!r}")
    sizes = np.clip(sizes, n_min, n)
    if n_min <= d:
        warnings.warn(
            f"fid_infinity: n_min={n_min} <= d={d}: the smallest subsets give rank-deficient covariances "
            "and strongly biased distances; use n_min > d",
            FrechetWarning,
            stacklevel=2,
        )
    f_r = _psd_factor(sigma_r, "stats_ref")
    rng = np.random.default_rng(seed)
    dists = np.array([_subset_distance(gen[rng.permutation(n)[:size]], mu_r, sigma_r, f_r) for size in sizes])
    design = np.stack([np.ones(len(sizes)), 1.0 / sizes], axis=1)
    (a, b), *_ = np.linalg.lstsq(design, dists, rcond=None)
    return FIDInfinityResult(value=float(a), slope=float(b), sample_sizes=sizes, distances=dists)

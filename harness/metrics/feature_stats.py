"""Float64 running statistics of feature vectors (mean, covariance, optionally the features), with their files.

``StreamingStats`` keeps float64 running statistics (Chan's pairwise update), so memory is O(d²) however many
samples arrive, merges the statistics of two sets, and reads and writes pytorch-fid / clean-fid ``.npz`` files
(keys ``mu`` and ``sigma``). Its ``frechet_distance`` is :func:`harness.metrics.frechet.stats_distance`.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from harness.core.errors import MetricInvalid
from harness.metrics.frechet import ArrayLike, _check_stats, as_features, as_float64, stats_distance

__all__ = ["StreamingStats"]

_RESERVED_NPZ_KEYS = frozenset({"mu", "sigma", "n", "features"})


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
        x = as_features(features, "features")
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

    def to_state(self) -> dict[str, np.ndarray]:
        """The statistics as plain arrays (count, float64 mean and sum of outer products of deviations, the raw
        features where kept): a shard's state (:mod:`harness.metrics.state`), exact to the bit."""
        self._require_count("save a state of")
        out: dict[str, np.ndarray] = {"n": np.asarray(self._n, dtype=np.int64)}
        if self._n:
            assert self._mean is not None and self._m2 is not None
            out["mean"], out["m2"] = self._mean.copy(), self._m2.copy()
        if self.keep_features:
            out["features"] = (
                np.concatenate(self._features, axis=0) if self._features else np.zeros((0, self._dim or 0))
            )
        return out

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> StreamingStats:
        """Statistics from :meth:`to_state`'s arrays."""
        stats = cls(keep_features="features" in state)
        n = int(state["n"])
        if n:
            stats._mean = np.asarray(state["mean"], dtype=np.float64).copy()
            stats._m2 = np.asarray(state["m2"], dtype=np.float64).copy()
            stats._dim, stats._n = int(stats._mean.shape[0]), n
            if "features" in state and len(state["features"]):
                stats._features = [np.asarray(state["features"], dtype=np.float64).copy()]
        return stats

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
        return stats_distance(self, other, labels[0], labels[1], stacklevel=4)

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

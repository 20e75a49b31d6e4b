"""Counting core of the face-verification threat metrics (#28): the decision threshold at a chosen false-accept
rate, and the attack acceptance rates ISO/IEC 30107-3 and the morphing literature name, each with its Wilson 95%
interval (``scipy.stats.binomtest``) and the support it has.

Scores are distances (dlib's and FaceNet's convention): a probe is accepted as the enrolled identity when its
distance to the template is at most the threshold (``face_recognition.compare_faces``: ``distance <= tolerance``).

* :func:`threshold_at_far`: the largest threshold whose share of accepted impostor pairs is at most ``far``.
  Fewer than ``100 / far`` impostor pairs cannot support that rate (a handful of pairs decides it); the result
  says so (``supported``), it is never hidden.
* :func:`iapmr`: impostor attack presentation match rate, the share of attack presentations accepted as the
  target.
* :func:`mmpmr`: mated morph presentation match rate (Scherhag et al. 2017), the share of morphs accepted as
  every identity that contributed to them.
* :func:`accepted_in_k_of_n`: a video attack counts as accepted when at least ``k`` of its frames are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

SUPPORT_FACTOR = 100  # impostor pairs per unit of 1 / FAR below which a FAR is not supported


@dataclass(frozen=True)
class Rate:
    """``k`` of ``n`` trials, their share and its Wilson 95% interval."""

    k: int
    n: int
    value: float
    ci95: tuple[float, float]


@dataclass(frozen=True)
class Threshold:
    """A decision threshold chosen on impostor distances: what was asked, what it gives on them, and whether
    the impostor pairs are enough for the rate asked (at least ``SUPPORT_FACTOR / far_asked``)."""

    value: float
    far_asked: float
    far_achieved: float
    impostor_pairs: int
    supported: bool

    @property
    def note(self) -> str:
        if self.supported:
            return f"{self.impostor_pairs} impostor pairs support FAR {self.far_asked:g}"
        need = math.ceil(SUPPORT_FACTOR / self.far_asked)
        return (
            f"only {self.impostor_pairs} impostor pairs: FAR {self.far_asked:g} needs about {need} "
            "(the threshold rests on a handful of pairs)"
        )


def _distances(values: ArrayLike, what: str, ndim: int = 1) -> np.ndarray:
    d = np.asarray(values, dtype=np.float64)
    if d.ndim != ndim:
        raise ValueError(f"{what} must be a {ndim}-D array of distances, got shape {d.shape}")
    if d.size == 0:
        raise ValueError(f"no {what}")
    if not np.isfinite(d).all():
        raise ValueError(f"{what} contain {int((~np.isfinite(d)).sum())} NaN or infinite values")
    return d


def rate(k: int, n: int) -> Rate:
    """``k`` successes of ``n`` trials with the Wilson score interval (scipy's ``proportion_ci``)."""
    from scipy.stats import binomtest

    if n < 1 or not 0 <= k <= n:
        raise ValueError(f"a rate needs 0 <= k <= n and n >= 1, got k={k}, n={n}")
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return Rate(k, n, k / n, (float(ci.low), float(ci.high)))


def accepted(distances: ArrayLike, threshold: float) -> np.ndarray:
    """Which distances are accepted as a match: ``distance <= threshold``."""
    return np.asarray(distances, dtype=np.float64) <= threshold


def threshold_at_far(impostor: ArrayLike, far: float) -> Threshold:
    """The largest threshold at which at most a share ``far`` of the impostor distances is accepted.

    With the distances sorted, d(1) <= … <= d(n), at most ``k = floor(far · n)`` may be accepted, so the
    threshold is the largest float below d(k+1) (ties at d(k+1) are then all rejected, never some of them).
    """
    if not 0.0 < far < 1.0:
        raise ValueError(f"far must be in (0, 1), got {far!r}")
    d = np.sort(_distances(impostor, "impostor distances"))
    n = len(d)
    k = math.floor(far * n)
    if (k + 1) / n <= far:  # far · n rounded down past a whole count (0.29 · 100 = 28.999…)
        k += 1
    t = float(np.nextafter(d[k], -np.inf)) if k < n else float(d[-1])
    achieved = int(accepted(d, t).sum()) / n
    return Threshold(t, far, achieved, n, n >= SUPPORT_FACTOR / far)


def iapmr(attack: ArrayLike, threshold: float) -> Rate:
    """Share of attack presentations (their distances to the target's template) accepted as the target."""
    d = _distances(attack, "attack distances")
    return rate(int(accepted(d, threshold).sum()), len(d))


def mmpmr(morph: ArrayLike, threshold: float) -> Rate:
    """Share of morphs accepted as every contributing identity: ``morph`` is (morphs, contributors) distances
    of each morph to each contributor's template."""
    d = _distances(morph, "morph distances", ndim=2)
    if d.shape[1] < 2:
        raise ValueError(f"a morph has at least 2 contributing identities, got {d.shape[1]}")
    return rate(int(accepted(d, threshold).all(axis=1).sum()), len(d))


def accepted_in_k_of_n(frames: ArrayLike, threshold: float, k: int) -> np.ndarray:
    """Per video (rows of ``frames``: its frames' distances), whether at least ``k`` frames are accepted."""
    d = _distances(frames, "frame distances", ndim=2)
    if not 1 <= k <= d.shape[1]:
        raise ValueError(f"k must be in 1 … {d.shape[1]} (the frames per video), got {k}")
    return accepted(d, threshold).sum(axis=1) >= k

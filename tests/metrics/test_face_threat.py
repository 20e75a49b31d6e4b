"""The counting core of #28's threat metrics against brute force and hand-counted cases."""

from __future__ import annotations

import numpy as np
import pytest

from harness.metrics.face_threat import (
    accepted_in_k_of_n,
    iapmr,
    mmpmr,
    rate,
    threshold_at_far,
)


def _brute_threshold(d: np.ndarray, far: float) -> float:
    """The largest candidate threshold (each distance, the float just below it, or below all) whose accepted
    share of ``d`` (distance <= t) is at most ``far``, by counting every candidate."""
    candidates = sorted({*d.tolist(), *np.nextafter(d, -np.inf).tolist()})
    ok = [t for t in candidates if (d <= t).sum() / len(d) <= far]
    return max(ok) if ok else float(np.nextafter(d.min(), -np.inf))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("far", [0.001, 0.01, 0.05, 0.29, 0.5])
def test_threshold_at_far_is_the_brute_force_count(seed, far):
    rng = np.random.default_rng(seed)
    d = np.round(rng.uniform(0.3, 1.0, size=rng.integers(5, 400)), 2)  # rounded: ties
    t = threshold_at_far(d, far)
    assert t.value == _brute_threshold(d, far)
    assert t.far_achieved == (d <= t.value).sum() / len(d) <= far
    assert t.impostor_pairs == len(d) and t.supported == (len(d) >= 100 / far)


def test_threshold_at_far_says_when_pairs_are_too_few():
    d = np.linspace(0.5, 1.0, 200)
    assert threshold_at_far(d, 0.5).supported
    few = threshold_at_far(d, 0.001)
    assert not few.supported and few.far_achieved == 0.0 and few.value < 0.5
    assert (
        few.note
        == "only 200 impostor pairs: FAR 0.001 needs about 100000 (the threshold rests on a handful of pairs)"
    )
    with pytest.raises(ValueError, match=r"far must be in \(0, 1\), got 0"):
        threshold_at_far(d, 0)
    with pytest.raises(ValueError, match="impostor distances contain 1 NaN"):
        threshold_at_far([0.5, np.nan], 0.1)
    with pytest.raises(ValueError, match="no impostor distances"):
        threshold_at_far([], 0.1)


def test_iapmr_and_mmpmr_hand_counted():
    # accepted when distance <= 0.6: 0.59 and 0.6 yes, 0.61 and 0.9 no
    r = iapmr([0.59, 0.6, 0.61, 0.9], 0.6)
    assert (r.k, r.n, r.value) == (2, 4, 0.5)
    # Wilson 95% for 2 of 4: (0.1500, 0.8500)
    assert r.ci95 == pytest.approx((0.15003898915214947, 0.8499610108478506), abs=1e-9)
    morphs = [[0.5, 0.55], [0.5, 0.7], [0.65, 0.3], [0.1, 0.2], [0.6, 0.6]]
    m = mmpmr(morphs, 0.6)
    assert (m.k, m.n) == (3, 5)  # rows 0, 3 and 4 match both contributors
    with pytest.raises(ValueError, match="at least 2 contributing identities"):
        mmpmr([[0.5], [0.4]], 0.6)
    with pytest.raises(ValueError, match="must be a 2-D array"):
        mmpmr([0.5, 0.4], 0.6)


def test_video_accepted_in_k_of_n_frames():
    frames = np.array([[0.5, 0.7, 0.5, 0.7], [0.7, 0.7, 0.7, 0.5], [0.1, 0.1, 0.1, 0.1]])
    assert accepted_in_k_of_n(frames, 0.6, 1).tolist() == [True, True, True]
    assert accepted_in_k_of_n(frames, 0.6, 2).tolist() == [True, False, True]
    assert accepted_in_k_of_n(frames, 0.6, 4).tolist() == [False, False, True]
    with pytest.raises(ValueError, match=r"k must be in 1 … 4"):
        accepted_in_k_of_n(frames, 0.6, 5)


def test_rate_edges():
    assert rate(0, 10).ci95[0] == 0.0 and rate(10, 10).ci95[1] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="0 <= k <= n and n >= 1"):
        rate(3, 2)

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.measure.stats import bootstrap_ci, summarize
from harness.results.pareto import dominated_mask, pareto_front, step_line


def test_summarize_matches_numpy():
    x = np.array([10.0, 12.0, 11.0, 50.0, 10.5, 11.5])
    s = summarize(x)
    assert s["p50"] == pytest.approx(np.percentile(x, 50))
    assert s["p99"] == pytest.approx(np.percentile(x, 99))
    assert s["std"] == pytest.approx(np.std(x, ddof=1))
    assert s["cv"] == pytest.approx(np.std(x, ddof=1) / x.mean())
    lo, hi = s["p50_ci95"]
    assert lo <= s["p50"] <= hi and s["samples"] == list(x)


def test_bootstrap_deterministic_and_degenerate():
    x = np.random.default_rng(1).normal(100, 5, 50)
    assert bootstrap_ci(x) == bootstrap_ci(x)
    assert bootstrap_ci([3.0]) == (3.0, 3.0)
    lo, hi = bootstrap_ci(np.full(20, 7.0))
    assert lo == hi == 7.0
    with pytest.raises(ValueError, match="no samples"):
        summarize([])


def test_dominated_mask_known_answer():
    # latency (min), quality (max)
    v = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 15.0], [2.0, 20.0], [np.nan, 99.0]])
    mask = dominated_mask(v, ["min", "max"])
    assert mask.tolist() == [False, False, True, False, True]


def test_pareto_front_grouped():
    df = pd.DataFrame(
        {
            "modality": ["image", "image", "audio", "audio"],
            "lat": [1.0, 2.0, 5.0, 6.0],
            "q": [1.0, 0.5, 1.0, 2.0],
        }
    )
    front = pareto_front(df, {"lat": "min", "q": "max"}, group_by="modality")
    assert front.tolist() == [True, False, True, True]


def test_step_line():
    xs, ys = step_line(np.array([3.0, 1.0, 2.0, 4.0]), np.array([30.0, 10.0, 5.0, 40.0]), "min", "max")
    assert xs.tolist() == [1.0, 3.0, 4.0] and ys.tolist() == [10.0, 30.0, 40.0]

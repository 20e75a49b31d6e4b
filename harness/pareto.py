"""Non-dominated sets over any number of objectives. Pure functions on pandas tables."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np


def _oriented(values: np.ndarray, directions: list[str]) -> np.ndarray:
    """Every objective turned into one to minimise."""
    signs = np.array([1.0 if d == "min" else -1.0 for d in directions])
    return values * signs


def dominated_mask(values: np.ndarray, directions: list[str]) -> np.ndarray:
    """``mask[i]`` is True when some row j is at least as good on every objective and better on one.

    Rows with a NaN in any objective are neither on the front nor dominating anything.
    """
    v = _oriented(np.asarray(values, dtype=np.float64), directions)
    n = len(v)
    valid = ~np.isnan(v).any(axis=1)
    dominated = ~valid.copy()
    for i in range(n):
        if not valid[i]:
            continue
        others = v[valid]
        at_least = (others <= v[i]).all(axis=1)
        better = (others < v[i]).any(axis=1)
        dominated[i] = bool((at_least & better).any())
    return dominated


def pareto_front(table, objectives: Mapping[str, Literal["min", "max"]], group_by: str | None = None):
    """Boolean Series: True for rows on the Pareto front (within each group when ``group_by`` is given)."""
    import pandas as pd

    cols = list(objectives)
    dirs = [objectives[c] for c in cols]
    out = pd.Series(False, index=table.index)
    groups = table.groupby(group_by, sort=False) if group_by else [(None, table)]
    for _, part in groups:
        if part.empty:
            continue
        values = part[cols].to_numpy(dtype=np.float64)
        mask = dominated_mask(values, dirs)
        valid = ~np.isnan(values).any(axis=1)
        out.loc[part.index] = valid & ~mask
    return out


def step_line(xs: np.ndarray, ys: np.ndarray, x_dir: str, y_dir: str) -> tuple[np.ndarray, np.ndarray]:
    """The 2-D front of points as a staircase, sorted from best x to worst x."""
    order = np.argsort(xs if x_dir == "min" else -xs, kind="stable")
    xs, ys = np.asarray(xs)[order], np.asarray(ys)[order]
    keep, best = [], None
    for i, y in enumerate(ys):
        better = best is None or (y < best if y_dir == "min" else y > best)
        if better:
            keep.append(i)
            best = y
    return xs[keep], ys[keep]

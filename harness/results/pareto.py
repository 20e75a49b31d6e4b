"""Non-dominated sets over any number of objectives. Pure functions on numpy arrays and pandas tables.

:func:`classify` is what the reports use: feasibility against the suite's constraints, then, among the
feasible rows of each group, the front, the rows tied with it within their 95% intervals
(:func:`tied_mask`), the rest (dominated) and the knee (:func:`knee_index`).
"""

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


# ------------------------------------------------------------------------------------------ uncertainty


def interval_bounds(
    values: np.ndarray, lo: np.ndarray | None, hi: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds per cell: the interval where given, else the point itself.

    A missing bound (NaN, or no column) means an interval of zero width; a bound on the wrong side of the
    point estimate is widened to the point, so ``lower <= value <= upper`` always holds.
    """
    v = np.asarray(values, dtype=np.float64)
    lower = v.copy() if lo is None else np.where(np.isnan(lo), v, np.asarray(lo, dtype=np.float64))
    upper = v.copy() if hi is None else np.where(np.isnan(hi), v, np.asarray(hi, dtype=np.float64))
    return np.fmin(lower, v), np.fmax(upper, v)


def tied_mask(values: np.ndarray, lo: np.ndarray, hi: np.ndarray, directions: list[str]) -> np.ndarray:
    """Rows dominated by the point estimates but not beyond the uncertainty: "tied with the frontier".

    Every objective is first turned into one to minimise. Row ``i``'s *optimistic* vector takes, per
    objective, the best end of its interval (``lo`` for a "min" objective, ``hi`` for "max"); row ``j``'s
    *pessimistic* vector takes the worst end (``hi`` for "min", ``lo`` for "max"). Row ``j`` *surely
    dominates* ``i`` when ``j``'s pessimistic vector is at least as good as ``i``'s optimistic vector on
    every objective and strictly better on one. Then::

        tied[i] = dominated_mask(values)[i] and not any(j surely dominates i for j != i)

    that is, ``i`` loses on the point estimates, yet no other row beats it at every point of the two
    intervals. Without intervals (zero width) nothing is tied. Rows with a NaN value are never tied and
    never dominate.

    Args:
        values: ``(n, k)`` point estimates.
        lo: ``(n, k)`` lower ends of the 95% intervals (NaN where unknown: the point is used).
        hi: ``(n, k)`` upper ends (NaN where unknown: the point is used).
        directions: ``"min"`` or ``"max"`` per objective.

    Returns:
        Boolean array of length ``n``.
    """
    v = np.asarray(values, dtype=np.float64)
    lower, upper = interval_bounds(v, np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64))
    is_min = np.array([d == "min" for d in directions])
    optimistic = _oriented(np.where(is_min, lower, upper), directions)
    pessimistic = _oriented(np.where(is_min, upper, lower), directions)
    dominated = dominated_mask(v, directions)
    valid = ~np.isnan(v).any(axis=1)
    tied = np.zeros(len(v), dtype=bool)
    for i in np.flatnonzero(dominated & valid):
        others = pessimistic[valid & (np.arange(len(v)) != i)]
        at_least = (others <= optimistic[i]).all(axis=1)
        better = (others < optimistic[i]).any(axis=1)
        tied[i] = not bool((at_least & better).any())
    return tied


# ------------------------------------------------------------------------------------------ constraints


def _bound_of(constraint) -> tuple[str, float | None, float | None]:
    if isinstance(constraint, Mapping):
        return constraint["metric"], constraint.get("min"), constraint.get("max")
    return constraint.metric, constraint.min, constraint.max


def describe_constraint(constraint) -> str:
    """``"fid ≤ 20"``, ``"psnr ≥ 30"``, ``"20 ≤ fid ≤ 30"``."""
    metric, lo, hi = _bound_of(constraint)
    if lo is not None and hi is not None:
        return f"{lo:g} ≤ {metric} ≤ {hi:g}"
    return f"{metric} ≥ {lo:g}" if lo is not None else f"{metric} ≤ {hi:g}"


def bound_violation(metric: str, lo: float | None, hi: float | None, value: float | None) -> str | None:
    """What ``value`` breaks of the bound ``lo ≤ metric ≤ hi`` (either end may be None), or None; a missing or
    NaN value breaks it. The one wording of constraints, fidelity bounds and reports."""
    if value is None or value != value:
        return f"{metric} has no value"
    if lo is not None and hi is not None and not lo <= value <= hi:
        return f"{metric} {value:.4g} outside its window [{lo:g}, {hi:g}]"
    if lo is not None and value < lo:
        return f"{metric} {value:.4g} < {lo:g}"
    if hi is not None and value > hi:
        return f"{metric} {value:.4g} > {hi:g}"
    return None


def constraint_violations(table, constraints):
    """Per row, the constraints it breaks as text ("" when feasible). A missing value breaks its bound.

    Args:
        table: one row per job with the constrained columns (a missing column counts as missing values).
        constraints: objects with ``metric``, ``min``, ``max`` (``harness.config.Constraint``) or mappings.
    """
    import pandas as pd

    out = pd.Series("", index=table.index, dtype=object)
    for c in constraints:
        metric, lo, hi = _bound_of(c)
        col = table[metric].astype(float) if metric in table.columns else pd.Series(np.nan, index=table.index)
        for idx in table.index:
            msg = bound_violation(metric, lo, hi, float(col[idx]))
            if msg:
                out[idx] = f"{out[idx]}; {msg}" if out[idx] else msg
    return out


def feasible_mask(table, constraints):
    """Boolean Series: True where a row meets every constraint (no constraints: every row)."""
    return constraint_violations(table, constraints) == ""


# ---------------------------------------------------------------------------------------------- knee


def normalized(values: np.ndarray, directions: list[str]) -> np.ndarray:
    """Min-max normalised and oriented: per objective 0 is the best value among the rows, 1 the worst.

    An objective with a single distinct value becomes 0 everywhere. Infinite values (the PSNR of outputs
    identical to the baseline) are placed one finite span beyond the finite range, so they count as the
    best (or worst) without flattening everything else to one end.
    """
    v = _oriented(np.asarray(values, dtype=np.float64), directions).copy()
    for k in range(v.shape[1]):
        col = v[:, k]
        finite = col[np.isfinite(col)]
        if finite.size and (~np.isfinite(col)).any():
            span = float(finite.max() - finite.min()) or 1.0
            col = np.where(np.isposinf(col), finite.max() + span, col)
            col = np.where(np.isneginf(col), finite.min() - span, col)
        lo, hi = np.nanmin(col), np.nanmax(col)
        v[:, k] = (col - lo) / (hi - lo) if hi > lo else 0.0
    return v


def knee_index(values: np.ndarray, directions: list[str]) -> int | None:
    """Position of the knee among rows that form a front, or None when the front has no bend.

    Rule (any number of objectives): drop objectives on which every row is equal, normalise the rest with
    :func:`normalized` (0 best, 1 worst per objective) and score each row by the sum of its normalised
    values (its L1 distance to the ideal point). The knee is the row with the smallest score, provided
    that score is strictly below the score of every *extreme* row (a row best on some objective);
    otherwise the front has no knee. Equal scores go to the earliest row.

    In 2-D the two extremes normalise to ``(0, 1)`` and ``(1, 0)``, so this is exactly the point farthest
    from the line between the front's extremes, on the ideal side (distance ``(1 - score) / sqrt(2)``);
    a straight or concave front, or one with fewer than three rows, has no knee.

    Args:
        values: ``(n, k)`` objective values of the front's rows (non-dominated among themselves).
        directions: ``"min"`` or ``"max"`` per objective.
    """
    v = np.asarray(values, dtype=np.float64)
    if len(v) < 3 or np.isnan(v).any():
        return None
    keep = [k for k in range(v.shape[1]) if len(np.unique(v[:, k])) > 1]
    if len(keep) < 2:
        return None
    z = normalized(v[:, keep], [directions[k] for k in keep])
    score = z.sum(axis=1)
    extreme = (z == 0.0).any(axis=1)
    best = int(np.argmin(score))
    return best if score[best] < score[extreme].min() - 1e-9 else None


# ------------------------------------------------------------------------------------------ frontier


def classify(
    table, objectives: Mapping[str, Literal["min", "max"]], constraints=(), group_by: str | None = None
):
    """The frontier status of every row: feasibility, front, ties within intervals, dominated, knee.

    Feasibility uses the point estimates against ``constraints``; the front, the ties and the knee are then
    computed over the feasible rows only (within each ``group_by`` group). Interval columns are
    ``<objective>_lo`` / ``<objective>_hi`` (``latency_ms.p50_lo`` for ``latency_ms.p50``); missing ones
    mean zero width.

    Returns:
        A copy of ``table`` with added columns ``feasible`` (bool), ``violations`` (str, "" when feasible),
        ``on_front``, ``tied``, ``dominated`` (bool; for feasible rows with every objective, exactly one of
        these is True), ``knee`` (bool, at most one per group) and ``frontier_status``: one of
        ``"front"``, ``"tied"``, ``"dominated"``, ``"infeasible"``, ``"incomplete"`` (an objective missing).
    """
    cols = list(objectives)
    dirs = [objectives[c] for c in cols]
    out = table.copy()
    out["violations"] = constraint_violations(out, constraints) if len(out) else []
    out["feasible"] = out["violations"] == "" if len(out) else []
    for name in ("on_front", "tied", "dominated", "knee"):
        out[name] = False
    missing = [c for c in cols if c not in out.columns]
    values_all = out[cols].astype(float) if not missing else None
    groups = (
        out.groupby(group_by, sort=False, dropna=False).groups.values()
        if group_by and len(out)
        else [out.index]
    )
    import pandas as pd

    incomplete = pd.Series(bool(missing), index=out.index)
    for index in groups:
        part = out.loc[index]
        if values_all is None or part.empty:
            continue
        # An objective no row of the group has does not apply to it (fvd_digits for an image model, in a
        # suite over several modalities): the group's front is over the objectives it has.
        keep = [i for i, c in enumerate(cols) if values_all.loc[index, c].notna().any()]
        if not keep:
            incomplete.loc[index] = True
            continue
        gcols, gdirs = [cols[i] for i in keep], [dirs[i] for i in keep]
        vals = values_all.loc[index, gcols].to_numpy()
        complete = ~np.isnan(vals).any(axis=1)
        incomplete.loc[index] = ~complete
        use = part["feasible"].to_numpy(dtype=bool) & complete
        if not use.any():
            continue
        sub = part.index[use]
        v = vals[use]
        lo = np.column_stack([_col(part.loc[sub], f"{c}_lo") for c in gcols])
        hi = np.column_stack([_col(part.loc[sub], f"{c}_hi") for c in gcols])
        dom = dominated_mask(v, gdirs)
        tied = tied_mask(v, lo, hi, gdirs)
        out.loc[sub, "on_front"] = ~dom
        out.loc[sub, "tied"] = tied
        out.loc[sub, "dominated"] = dom & ~tied
        front = sub[~dom]
        k = knee_index(v[~dom], gdirs)
        if k is not None:
            out.loc[front[k], "knee"] = True
    status = np.where(out["on_front"], "front", np.where(out["tied"], "tied", "dominated"))
    if len(out):
        status = np.where(incomplete.to_numpy(dtype=bool), "incomplete", status)
        status = np.where(~out["feasible"].to_numpy(dtype=bool), "infeasible", status)
    out["frontier_status"] = status
    for name in ("feasible", "on_front", "tied", "dominated", "knee"):
        out[name] = out[name].astype(bool)
    return out


def _col(part, name: str) -> np.ndarray:
    if name in part.columns:
        return part[name].astype(float).to_numpy()
    return np.full(len(part), np.nan)


def pick_best(table, column: str, direction: Literal["min", "max"], mask=None):
    """Index label of the row with the best ``column`` among ``mask`` (True rows), or None."""
    if column not in table.columns or table.empty:
        return None
    col = table[column].astype(float)
    if mask is not None:
        col = col[mask.astype(bool)]
    col = col.dropna()
    if col.empty:
        return None
    return col.idxmin() if direction == "min" else col.idxmax()

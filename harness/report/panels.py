"""What the Pareto views share, drawn as PNG (:mod:`.plots`) or as inline SVG (:mod:`.frontier_svg`): which
panels a pair of objectives gets, their rows and titles, labels, colours, and where infinities and
constraint thresholds go on an axis."""

from __future__ import annotations

import numpy as np

MODALITY_COLORS = {"image": "#1f77b4", "video": "#2ca02c", "audio": "#d62728"}


def label_of(row) -> str:
    """``model / variant / backend / precision`` of a table row."""
    parts = [str(row["model"]), str(row["variant"]), str(row["backend"])]
    if row.get("precision"):
        parts.append(str(row["precision"]))
    return " / ".join(parts)


def axis_label(name: str, direction: str) -> str:
    arrow = "lower is better" if direction == "min" else "higher is better"
    return f"{name} ({arrow})"


def bound_text(name: str, kind: str, threshold: float) -> str:
    """``psnr ≥ 18``: a constraint's threshold on an axis (``kind`` ``min`` or ``max``)."""
    return f"{name} {'≥' if kind == 'min' else '≤'} {threshold:g}"


def axis_bounds(constraints, metric: str) -> list[tuple[str, float]]:
    """("min"|"max", threshold) for each bound the constraints put on ``metric``."""
    out = []
    for c in constraints or ():
        name, lo, hi = (
            (c["metric"], c.get("min"), c.get("max")) if isinstance(c, dict) else (c.metric, c.min, c.max)
        )
        if name == metric:
            out += [("min", float(lo))] if lo is not None else []
            out += [("max", float(hi))] if hi is not None else []
    return out


def finite_for_plot(values: np.ndarray, thresholds=()) -> tuple[np.ndarray, float | None]:
    """Infinite values (PSNR of identical outputs) drawn just beyond the finite range and beyond every
    constraint threshold on that axis (so +∞ is never drawn inside a window it breaks), marked ∞."""
    finite = values[np.isfinite(values)]
    if not np.isinf(values).any():
        return values, None
    marks = np.concatenate([finite, np.asarray([t for _, t in thresholds], dtype=float)])
    top = float(marks.max()) if marks.size else 0.0
    bottom = float(marks.min()) if marks.size else 0.0
    span = float(marks.max() - marks.min()) if marks.size > 1 else max(abs(top), 1.0)
    pos = top + 0.15 * span + 1e-9
    out = values.copy()
    out[np.isposinf(values)] = pos
    out[np.isneginf(values)] = bottom - 0.15 * span
    return out, pos


def log_scale_x(x: str, xs: np.ndarray) -> bool:
    """Latencies spanning more than a factor 20 are drawn on a log scale."""
    return bool(x.startswith("latency") and np.nanmin(xs) > 0 and np.nanmax(xs) / np.nanmin(xs) > 20)


def panel_modalities(df, x: str, y: str) -> list[str | None]:
    """The modalities that get a panel for ``x`` against ``y``: those where at least one row of ``df`` has
    both values (image, video, audio first, then others by name), and ``None`` last for rows without a
    modality that have both (classified as a group of their own, as by :func:`harness.results.pareto.classify`).
    ``[]`` when no row has both: no figure is drawn then."""
    if df is None or df.empty or x not in df.columns or y not in df.columns:
        return []
    both = df[x].notna() & df[y].notna()
    if "modality" not in df.columns:
        return [None] if bool(both.any()) else []
    values = list(df.loc[both, "modality"])
    present = {m for m in values if m is not None and m == m}
    order = [m for m in ("image", "video", "audio") if m in present]
    order += sorted((m for m in present if m not in order), key=str)
    unrecorded = any(m is None or m != m for m in values)  # None or NaN
    return order + ([None] if unrecorded else [])


def panel_rows(df, modality: str | None):
    """The rows of ``df`` drawn in ``modality``'s panel (``None``: those without a modality)."""
    if "modality" not in df.columns:
        return df
    return df[df["modality"].isna()] if modality is None else df[df["modality"] == modality]


def panel_title(modality: str | None) -> str:
    return "no modality recorded" if modality is None else str(modality)

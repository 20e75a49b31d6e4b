"""Pareto plots: one PNG per pair of objectives, one panel per modality, the front as a step line."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from harness.pareto import step_line

MODALITY_COLORS = {"image": "#1f77b4", "video": "#2ca02c", "audio": "#d62728"}


def label_of(row) -> str:
    parts = [str(row["model"]), str(row["variant"]), str(row["backend"])]
    if row.get("precision") and row["precision"] != "fp32":
        parts.append(str(row["precision"]))
    return " / ".join(parts)


def axis_label(name: str, direction: str) -> str:
    arrow = "lower is better" if direction == "min" else "higher is better"
    return f"{name} ({arrow})"


def _finite_for_plot(values: np.ndarray) -> tuple[np.ndarray, float | None]:
    """Infinite values (PSNR of identical outputs) drawn just beyond the finite range, marked ∞."""
    finite = values[np.isfinite(values)]
    if not np.isinf(values).any():
        return values, None
    top = float(finite.max()) if finite.size else 0.0
    span = float(finite.max() - finite.min()) if finite.size > 1 else max(abs(top), 1.0)
    pos = top + 0.15 * span + 1e-9
    out = values.copy()
    out[np.isposinf(values)] = pos
    out[np.isneginf(values)] = (float(finite.min()) if finite.size else 0.0) - 0.15 * span
    return out, pos


def pareto_plot(df, x: str, y: str, directions: dict[str, str], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modalities = [m for m in ("image", "video", "audio") if m in set(df["modality"])]
    ncols = max(len(modalities), 1)
    fig, axes = plt.subplots(1, ncols, figsize=(6.2 * ncols, 4.8), squeeze=False)
    for ax, modality in zip(axes[0], modalities or [None]):
        part = df[df["modality"] == modality] if modality else df
        part = part[part[x].notna() & part[y].notna()]
        ax.set_title(f"{modality or ''}".strip() or title, fontsize=11)
        ax.set_xlabel(axis_label(x, directions[x]), fontsize=9)
        ax.set_ylabel(axis_label(y, directions[y]), fontsize=9)
        ax.grid(True, alpha=0.3)
        if part.empty:
            ax.text(0.5, 0.5, "no jobs with both values", ha="center", va="center", transform=ax.transAxes)
            continue
        xs, x_inf = _finite_for_plot(part[x].to_numpy(dtype=float))
        ys, y_inf = _finite_for_plot(part[y].to_numpy(dtype=float))
        color = MODALITY_COLORS.get(modality or "", "#444444")
        fx, fy = step_line(xs, ys, directions[x], directions[y])
        on = np.isin(np.arange(len(xs)), [i for i in range(len(xs)) if (xs[i], ys[i]) in set(zip(fx, fy))])
        ax.scatter(xs[~on], ys[~on], s=36, color=color, alpha=0.35, label="dominated", zorder=2)
        ax.scatter(xs[on], ys[on], s=56, color=color, edgecolor="black", label="Pareto front", zorder=3)
        if len(fx) > 1:
            ax.step(fx, fy, where="post", color=color, lw=1.6, zorder=1)
        span = (np.nanmin(xs), np.nanmax(xs))
        for xi, yi, (_, row) in zip(xs, ys, part.iterrows()):
            right = span[1] > span[0] and (xi - span[0]) / (span[1] - span[0]) > 0.6
            ax.annotate(label_of(row), (xi, yi), fontsize=7, xytext=(-4 if right else 4, 4),
                        textcoords="offset points", ha="right" if right else "left")
        for col, values, err_axis in ((x, xs, "x"), (y, ys, "y")):
            lo, hi = f"{col}_lo", f"{col}_hi"
            if col == "latency_ms.p50":
                lo, hi = "latency_ms.p50_lo", "latency_ms.p50_hi"
            if lo in part.columns and part[lo].notna().any():
                err = np.vstack([values - part[lo].to_numpy(float), part[hi].to_numpy(float) - values])
                err = np.where(np.isfinite(err), np.clip(err, 0, None), 0)
                kw = {"xerr": err} if err_axis == "x" else {"yerr": err}
                ax.errorbar(xs, ys, fmt="none", ecolor=color, alpha=0.6, capsize=2, lw=0.8, zorder=1, **kw)
        ax.margins(x=0.2, y=0.12)
        if x_inf is not None:
            ax.axvline(x_inf, color="grey", ls=":", lw=0.8)
            ticks = [t for t in ax.get_xticks() if t < x_inf]
            ax.set_xticks([*ticks, x_inf], [*(f"{t:g}" for t in ticks), "∞"])
        if y_inf is not None:
            ax.axhline(y_inf, color="grey", ls=":", lw=0.8)
            ticks = [t for t in ax.get_yticks() if t < y_inf - 1e-9]
            ax.set_yticks([*ticks, y_inf], [*(f"{t:g}" for t in ticks), "∞ (identical)"])
        if x.startswith("latency") and np.nanmin(xs) > 0 and np.nanmax(xs) / np.nanmin(xs) > 20:
            ax.set_xscale("log")
        ax.legend(fontsize=7, loc="best")
    fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def fmt(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)

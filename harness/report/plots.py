"""Pareto plots: one PNG per pair of objectives, one panel per modality, the front as a step line.

Points are styled by their frontier status (front, tied within the intervals, dominated, infeasible),
constraints on an axis shade the region that breaks them, and a star marks the knee of each view.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import numpy as np

from harness.report.panels import (
    MODALITY_COLORS,
    axis_bounds,
    axis_label,
    bound_text,
    finite_for_plot,
    label_of,
    log_scale_x,
    panel_modalities,
    panel_rows,
    panel_title,
)
from harness.results.outcome import scenario_headline
from harness.results.pareto import classify, dominated_mask, knee_index, step_line


def _plain(text: str) -> str:
    """Text for matplotlib: a ``$`` in a card name must not start mathtext."""
    return text.replace("$", r"\$")


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _include_thresholds(ax, axis: str, bounds: list[tuple[str, float]]) -> list[str]:
    """Widen the view to show a threshold within one data span of it; return those left out."""
    lo, hi = ax.get_xlim() if axis == "x" else ax.get_ylim()
    span = hi - lo
    left_out = []
    for _, t in bounds:
        if lo - span <= t <= hi + span:
            lo, hi = min(lo, t - 0.03 * span), max(hi, t + 0.03 * span)
        elif not lo <= t <= hi:
            left_out.append(t)
    (ax.set_xlim if axis == "x" else ax.set_ylim)(lo, hi)
    return left_out


def _shade(ax, axis: str, bounds: list[tuple[str, float]], name: str) -> bool:
    """Grey out the side of each threshold that breaks the constraint; True when something was drawn."""
    drawn = False
    lo, hi = ax.get_xlim() if axis == "x" else ax.get_ylim()
    for kind, t in bounds:
        a, b = (t, hi) if kind == "max" else (lo, t)
        a, b = max(a, lo), min(b, hi)
        label = None if drawn else "infeasible region"
        if b > a:
            span = ax.axvspan if axis == "x" else ax.axhspan
            span(a, b, color="#888888", alpha=0.16, lw=0, zorder=0, label=label, hatch="//")
            drawn = True
        if lo <= t <= hi:
            line = ax.axvline if axis == "x" else ax.axhline
            line(t, color="#555555", ls="--", lw=0.9, zorder=1)
            text = bound_text(name, kind, t)
            if axis == "x":
                ax.text(
                    t,
                    0.99,
                    " " + text,
                    transform=ax.get_xaxis_transform(),
                    fontsize=7,
                    va="top",
                    ha="left",
                    color="#444444",
                    rotation=90,
                )
            else:
                ax.text(
                    0.01,
                    t,
                    text,
                    transform=ax.get_yaxis_transform(),
                    fontsize=7,
                    va="bottom",
                    ha="left",
                    color="#444444",
                )
    (ax.set_xlim if axis == "x" else ax.set_ylim)(lo, hi)
    return drawn


def draw_pareto(
    ax,
    part,
    x: str,
    y: str,
    directions: dict[str, str],
    constraints=(),
    color: str = "#444444",
    title: str = "",
    legend: bool = True,
) -> None:
    """One 2-D view of a frontier on ``ax``.

    ``part`` is one group's table as :func:`harness.results.pareto.classify` returns it (classified here, without
    constraints, when it is not). Markers: the front over every objective (solid, black edge), tied with
    the front within the 95% intervals (hollow), dominated (faded), infeasible (grey x). The step line is
    the front of the feasible jobs in this view, the star its knee (:func:`harness.results.pareto.knee_index`),
    error bars the 95% intervals, hatched areas the regions that break a constraint on an axis.
    With ``legend=False`` the axes gets no legend; its artists keep their labels for a figure legend.
    """
    if "frontier_status" not in part.columns:
        part = classify(part, {x: directions[x], y: directions[y]}, constraints)
    ax.set_title(_plain(title), fontsize=11)
    ax.set_xlabel(axis_label(x, directions[x]), fontsize=9)
    ax.set_ylabel(axis_label(y, directions[y]), fontsize=9)
    ax.grid(True, alpha=0.3)
    part = (
        part[part[x].notna() & part[y].notna()] if x in part.columns and y in part.columns else part.iloc[0:0]
    )
    if part.empty:
        ax.text(0.5, 0.5, "no jobs with both values", ha="center", va="center", transform=ax.transAxes)
        return
    xs, x_inf = finite_for_plot(part[x].to_numpy(dtype=float), axis_bounds(constraints, x))
    ys, y_inf = finite_for_plot(part[y].to_numpy(dtype=float), axis_bounds(constraints, y))
    status = part["frontier_status"].to_numpy()
    _scatter_by_status(ax, xs, ys, status, color)
    _error_bars(ax, part, ((x, xs, "x"), (y, ys, "y")), xs, ys, color)
    _view_front(ax, part, x, y, xs, ys, directions, color)
    ax.margins(x=0.2, y=0.12)
    for axis in ("x", "y"):
        with contextlib.suppress(AttributeError):  # plain numbers: "1043", not "0.08 + 1.043e3"
            ax.ticklabel_format(axis=axis, useOffset=False, style="plain")
    if log_scale_x(x, xs):
        ax.set_xscale("log")
    _constraint_thresholds(ax, x, y, constraints)
    _mark_infinity(ax, "x", x_inf, "∞")
    _mark_infinity(ax, "y", y_inf, "∞ (identical)")
    _place_labels(
        ax,
        xs,
        ys,
        [_plain(_short(label_of(row))) for _, row in part.iterrows()],
        [st in ("front", "tied") for st in status],
    )
    if legend:
        ax.legend(fontsize=7, loc=_emptiest_corner(ax, xs, ys))


def _status_styles(color: str) -> list[tuple[str, dict, str]]:
    """(frontier status, scatter style, legend label) in the panel's colour, in drawing order."""
    return [
        ("front", dict(s=60, color=color, edgecolor="black", linewidths=0.9, zorder=4), "on the front"),
        (
            "tied",
            dict(s=60, facecolor="white", edgecolor=color, linewidths=1.6, zorder=4),
            "tied with the front (95% CI)",
        ),
        ("dominated", dict(s=36, color=color, alpha=0.3, zorder=3), "dominated"),
        (
            "incomplete",
            dict(s=36, color=color, alpha=0.3, marker="s", zorder=3),
            "not ranked (objective missing)",
        ),
        ("infeasible", dict(s=44, color="#777777", marker="x", linewidths=1.4, zorder=3), "infeasible"),
    ]


def _scatter_by_status(ax, xs: np.ndarray, ys: np.ndarray, status: np.ndarray, color: str) -> None:
    """The points, styled by frontier status."""
    for key, kw, label in _status_styles(color):
        sel = status == key
        if sel.any():
            ax.scatter(xs[sel], ys[sel], label=label, **kw)


def _error_bars(ax, part, columns, xs: np.ndarray, ys: np.ndarray, color: str) -> None:
    """The 95% intervals (``<col>_lo``, ``<col>_hi``) of each axis's column, where the table has them."""
    for col, values, err_axis in columns:
        lo, hi = f"{col}_lo", f"{col}_hi"
        if lo in part.columns and hi in part.columns and part[lo].notna().any():
            err = np.vstack([values - part[lo].to_numpy(float), part[hi].to_numpy(float) - values])
            err = np.where(np.isfinite(err), np.clip(err, 0, None), 0)
            kw = {"xerr": err} if err_axis == "x" else {"yerr": err}
            ax.errorbar(xs, ys, fmt="none", ecolor=color, alpha=0.55, capsize=2, lw=0.8, zorder=2, **kw)


def _view_front(ax, part, x: str, y: str, xs: np.ndarray, ys: np.ndarray, directions, color: str) -> None:
    """The front of this view, over feasible jobs only, as a step line, and its knee as a star."""
    feasible = part["feasible"].to_numpy(dtype=bool)
    if not feasible.any():
        return
    raw = part[[x, y]].to_numpy(dtype=float)
    dirs = [directions[x], directions[y]]
    fidx = np.flatnonzero(feasible)
    on2 = fidx[~dominated_mask(raw[fidx], dirs)]
    fx, fy = step_line(xs[on2], ys[on2], *dirs)
    if len(fx) > 1:
        ax.step(fx, fy, where="post", color=color, lw=1.6, zorder=1, label="front in this view")
    k = knee_index(raw[on2], dirs)
    if k is not None:
        ax.scatter(
            xs[on2[k]],
            ys[on2[k]],
            s=260,
            marker="*",
            facecolor="gold",
            edgecolor="black",
            linewidths=0.8,
            zorder=5,
            label="knee of this view",
        )


def _constraint_thresholds(ax, x: str, y: str, constraints) -> None:
    """Each constraint threshold on an axis: shaded where it is broken, or named under the x label when it
    lies beyond the view."""
    left_out = []
    for col, axis in ((x, "x"), (y, "y")):
        bounds = axis_bounds(constraints, col)
        if bounds:
            missed = _include_thresholds(ax, axis, bounds)
            left_out += [bound_text(col, k, t) for k, t in bounds if t in missed]
            _shade(ax, axis, [b for b in bounds if b[1] not in missed], col)
    if left_out:
        ax.set_xlabel(ax.get_xlabel() + "\nbeyond the view: " + ", ".join(left_out), fontsize=9)


def _mark_infinity(ax, axis: str, at: float | None, label: str) -> None:
    """Where infinite values are drawn (:func:`harness.report.panels.finite_for_plot`): a dotted line and a
    tick named ``label`` in place of the ticks too close to it."""
    if at is None:
        return
    (ax.axvline if axis == "x" else ax.axhline)(at, color="grey", ls=":", lw=0.8)
    lim = ax.get_xlim() if axis == "x" else ax.get_ylim()
    ticks = ax.get_xticks() if axis == "x" else ax.get_yticks()
    ticks = [t for t in ticks if lim[0] <= t < at - 0.06 * (lim[1] - lim[0])]
    (ax.set_xticks if axis == "x" else ax.set_yticks)([*ticks, at], [*(f"{t:g}" for t in ticks), label])
    (ax.set_xlim if axis == "x" else ax.set_ylim)(lim)


def _emptiest_corner(ax, xs: np.ndarray, ys: np.ndarray) -> str:
    """The corner with the fewest points: matplotlib's ``loc="best"`` costs seconds with many artists."""
    ax.get_xlim(), ax.get_ylim()
    frac = ax.transAxes.inverted().transform(ax.transData.transform(np.column_stack([xs, ys])))
    corners = {"upper left": (0, 1), "upper right": (1, 1), "lower left": (0, 0), "lower right": (1, 0)}
    counts = {}
    for name, (cx, cy) in corners.items():
        near_x = frac[:, 0] < 0.45 if cx == 0 else frac[:, 0] > 0.55
        near_y = frac[:, 1] < 0.45 if cy == 0 else frac[:, 1] > 0.55
        counts[name] = int((near_x & near_y).sum())
    return min(counts, key=lambda k: counts[k])  # ties keep the order above


def _place_labels(
    ax, xs: np.ndarray, ys: np.ndarray, labels: list[str], strong: list[bool], fontsize: float = 7
) -> None:
    """Annotate each point, moving a label up or down when it would overlap one already placed.

    Sizes are estimated from the character count (no renderer pass), which is enough to keep labels of
    points sharing a row, like jobs with equal memory, apart.
    """
    ax.get_xlim(), ax.get_ylim()  # settle pending autoscaling (margins) before reading transData
    px = ax.transData.transform(np.column_stack([xs, ys])) * 72.0 / ax.figure.dpi  # points
    box = ax.get_window_extent()
    x0, x1 = box.x0 * 72.0 / ax.figure.dpi, box.x1 * 72.0 / ax.figure.dpi
    y0, y1 = box.y0 * 72.0 / ax.figure.dpi, box.y1 * 72.0 / ax.figure.dpi
    placed: list[tuple[float, float, float, float]] = []
    h = fontsize * 1.25
    order = sorted(range(len(labels)), key=lambda i: (not strong[i], -px[i, 1], px[i, 0]))
    for i in order:
        w = len(labels[i]) * fontsize * 0.52
        right = px[i, 0] + 5 + w > x1 and px[i, 0] - 5 - w >= x0
        dx = -5.0 if right else 5.0
        chosen = 4.0
        for dy in (4.0, -4.0 - h, 4.0 + h, -4.0 - 2 * h, 4.0 + 2 * h, -4.0 - 3 * h, 4.0 + 3 * h):
            bx0 = px[i, 0] + dx - (w if right else 0.0)
            by0 = px[i, 1] + dy
            cand = (bx0, by0, bx0 + w, by0 + h)
            inside = y0 <= cand[1] and cand[3] <= y1
            if inside and not any(
                c[0] < cand[2] and cand[0] < c[2] and c[1] < cand[3] and cand[1] < c[3] for c in placed
            ):
                chosen = dy
                placed.append(cand)
                break
        else:
            bx0 = px[i, 0] + dx - (w if right else 0.0)
            placed.append((bx0, px[i, 1] + chosen, bx0 + w, px[i, 1] + chosen + h))
        text = ax.annotate(
            labels[i],
            (xs[i], ys[i]),
            fontsize=fontsize,
            xytext=(dx, chosen),
            textcoords="offset points",
            ha="right" if right else "left",
            va="bottom",
            alpha=1.0 if strong[i] else 0.6,
            zorder=6,
            clip_on=True,
            arrowprops=None if abs(chosen) <= 4.0 + 1e-9 else dict(arrowstyle="-", lw=0.4, color="#888888"),
        )
        text.set_in_layout(False)  # a long name must not squeeze the panel


def pareto_figure(df, x: str, y: str, directions: dict[str, str], title: str, constraints=()):
    """A matplotlib figure: one panel per modality of ``df`` (a classified table) where a job has both
    values (:func:`panel_modalities`), see :func:`draw_pareto`; None when no modality has one."""
    modalities = panel_modalities(df, x, y)
    if not modalities:
        return None
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg",) and "inline" not in matplotlib.get_backend():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ncols = len(modalities)
    fig, axes = plt.subplots(1, ncols, figsize=(6.2 * ncols, 4.8), squeeze=False)
    for ax, modality in zip(axes[0], modalities):
        draw_pareto(
            ax,
            panel_rows(df, modality),
            x,
            y,
            directions,
            constraints,
            MODALITY_COLORS.get(modality or "", "#444444"),
            panel_title(modality),
            legend=False,
        )
    fig.suptitle(_plain(title), fontsize=12)
    handles = _legend_handles({lbl for ax in axes[0] for lbl in ax.get_legend_handles_labels()[1]})
    bottom = 0.0
    if handles:
        # as many columns as the figure's width holds (a legend entry takes about 1.9 inches), in rows
        per_row = max(1, min(len(handles), int(fig.get_figwidth() // 1.9)))
        rows = math.ceil(len(handles) / per_row)
        fig.legend(handles=handles, loc="lower center", ncol=per_row, fontsize=8, frameon=False)
        bottom = (0.06 + 0.045 * (rows - 1)) * 4.8 / fig.get_figheight()
    fig.tight_layout(rect=(0, bottom, 1, 1))
    return fig


def _legend_handles(labels: set[str]) -> list:
    """One figure legend for every panel, in neutral colours (the panels' colours only tell modalities)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    grey = "#555555"
    proxies = {
        "on the front": Line2D([], [], ls="", marker="o", ms=7, mfc=grey, mec="black"),
        "tied with the front (95% CI)": Line2D(
            [], [], ls="", marker="o", ms=7, mfc="white", mec=grey, mew=1.6
        ),
        "dominated": Line2D([], [], ls="", marker="o", ms=6, mfc=grey, mec=grey, alpha=0.3),
        "not ranked (objective missing)": Line2D(
            [], [], ls="", marker="s", ms=6, mfc=grey, mec=grey, alpha=0.3
        ),
        "infeasible": Line2D([], [], ls="", marker="x", ms=7, mec="#777777", mew=1.4),
        "front in this view": Line2D([], [], color=grey, lw=1.6),
        "knee of this view": Line2D([], [], ls="", marker="*", ms=13, mfc="gold", mec="black"),
        "infeasible region": Patch(facecolor="#888888", alpha=0.25, hatch="//", lw=0),
    }
    out = []
    for label, handle in proxies.items():
        if label in labels:
            handle.set_label(label)
            out.append(handle)
    return out


def pareto_plot(
    df, x: str, y: str, directions: dict[str, str], path: Path, title: str, constraints=()
) -> Path | None:
    """Write :func:`pareto_figure` as a PNG at ``path``; None (nothing written) when it has no panel."""
    import matplotlib.pyplot as plt

    fig = pareto_figure(df, x, y, directions, title, constraints)
    if fig is None:
        return None
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def load_curve_plot(records, path: Path, title: str) -> Path | None:
    """Latency against offered load for every job with LoadGen Server runs: p50 (dashed) and p99 (solid)
    against the scheduled QPS of each run, the latency bound drawn, each job's max_qps marked. None when no
    job has Server runs."""
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg",) and "inline" not in matplotlib.get_backend():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    jobs = [r for r in records if r.loadgen is not None and r.loadgen.kind == "server" and r.loadgen.runs]
    if not jobs:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    bounds = set()
    for i, r in enumerate(jobs):
        runs = sorted(
            (x for x in r.loadgen.runs if x.scheduled_qps is not None), key=lambda x: x.scheduled_qps
        )
        qps = [x.scheduled_qps for x in runs]
        c = colors[i % len(colors)]
        label = _plain(_short(f"{r.model} / {r.variant} / {r.backend}", 40))
        ax.plot(qps, [x.p99_ms for x in runs], "-o", color=c, ms=4, label=f"{label}: p99")
        ax.plot(qps, [x.p50_ms for x in runs], "--", color=c, alpha=0.6, lw=1)
        if r.loadgen.max_qps is not None:
            ax.axvline(r.loadgen.max_qps, color=c, ls=":", lw=1)
            invalid = scenario_headline(r.loadgen).valid is False  # accepted by the suite: marked
            ax.annotate(
                f"max {r.loadgen.max_qps:.3g} QPS" + (" (INVALID run)" if invalid else ""),
                (r.loadgen.max_qps, ax.get_ylim()[0]),
                color=c,
                fontsize=7,
                rotation=90,
                va="bottom",
                ha="right",
            )
        if r.loadgen.latency_bound_ms is not None:
            bounds.add((r.loadgen.latency_bound_ms, r.loadgen.percentile))
    for bound, pct in sorted(bounds):
        ax.axhline(bound, color="#cc0000", lw=1.2)
        ax.annotate(
            f"p{pct:g} bound {bound:g} ms",
            (ax.get_xlim()[0], bound),
            color="#cc0000",
            fontsize=8,
            va="bottom",
        )
    ax.set_xlabel("offered load (scheduled QPS, LoadGen's Poisson schedule)")
    ax.set_ylabel("latency ms, queueing included (solid p99, dashed p50)")
    ax.set_yscale("log")
    ax.set_title(_plain(title), fontsize=11)
    ax.legend(fontsize=7, loc="best", frameon=True, framealpha=0.8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

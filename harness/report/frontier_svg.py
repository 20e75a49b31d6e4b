"""The interactive frontier of report.html: one inline SVG scatter per pair of objectives and modality.

Styled like the PNG (:mod:`harness.report.plots`): front solid, tied hollow, dominated faded, infeasible ×,
★ the knee of this view, the step line the view's front among feasible jobs, bars the 95% intervals, grey
the region a constraint on an axis excludes. Each point is a focusable ``<g class="pt">`` whose ``data-*``
attributes (escaped) carry what the page's script shows on hover. Every text is escaped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from markupsafe import Markup, escape

from harness.core.numfmt import fmt_ci, fmt_shared
from harness.report.panels import axis_bounds, axis_label, bound_text, finite_for_plot, label_of, log_scale_x
from harness.results.pareto import dominated_mask, knee_index, step_line

STATUS_TEXT = {
    "front": "on the front",
    "tied": "tied with the front (95% CI)",
    "dominated": "dominated",
    "incomplete": "not ranked (an objective is missing)",
    "infeasible": "infeasible",
}
DRAW_ORDER = ("infeasible", "incomplete", "dominated", "tied", "front")  # the front drawn last, on top


def _nice_ticks(lo: float, hi: float, log: bool, n: int = 6) -> list[tuple[float, str]]:
    """About ``n`` round tick positions in [lo, hi] with their labels (decades and 2, 5 on a log axis)."""
    if log:
        ticks = []
        for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
            ticks += [m * 10.0**e for m in (1, 2, 5)]
        inside = [t for t in ticks if lo <= t <= hi]
        decades = [t for t in inside if math.isclose(math.log10(t), round(math.log10(t)))]
        inside = decades if len(decades) >= 3 else inside
        return [(t, fmt_shared([t])[0]) for t in inside]
    raw = (hi - lo) / n
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if (hi - lo) / (m * mag) <= n)
    ks = range(math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9) + 1)
    values = [k * step for k in ks]
    labels = fmt_shared([step, *values])[1:]
    return list(zip(values, labels))


class _Axis:
    """One axis of a panel: the view's limits (a log scale for latencies spanning a factor 20), the pixel
    mapping and the ticks; ``inf_at`` is where infinite values are drawn (marked ∞)."""

    def __init__(self, values, lo, hi, inf_at, bounds, p0: float, p1: float, log: bool):
        vals = np.concatenate([values, lo, hi])
        vals = vals[np.isfinite(vals)]
        if log:
            vals = vals[vals > 0]
        a, b = float(vals.min()), float(vals.max())
        span = b - a
        self.left_out = []
        for _, t in bounds:  # a threshold within one data span of the view is shown, the others named
            if a - span <= t <= b + span and (not log or t > 0):
                a, b = min(a, t), max(b, t)
            else:
                self.left_out.append(t)
        self.log = log
        ta, tb = self._t(a), self._t(b)
        if tb - ta <= 0:
            pad = 0.3 if log else max(abs(ta) * 0.05, 0.5)
            ta, tb = ta - pad, tb + pad
        pad = 0.08 * (tb - ta)
        self.ta, self.tb = ta - pad, tb + pad
        self.lo, self.hi = self._inv(self.ta), self._inv(self.tb)
        self.p0, self.p1 = p0, p1
        self.inf_at = inf_at

    def _t(self, v: float) -> float:
        return math.log10(v) if self.log else v

    def _inv(self, t: float) -> float:
        return 10.0**t if self.log else t

    def __call__(self, v: float) -> float:
        v = min(max(v, self.lo), self.hi)
        if self.log and v <= 0:
            v = self.lo
        return self.p0 + (self.p1 - self.p0) * (self._t(v) - self.ta) / (self.tb - self.ta)

    def ticks(self) -> list[tuple[float, str]]:
        ticks = _nice_ticks(self.lo, self.hi, self.log)
        if self.inf_at is not None:
            near = 0.06 * abs(self.p1 - self.p0)
            ticks = [(t, s) for t, s in ticks if abs(self(t) - self(self.inf_at)) > near and t < self.inf_at]
            ticks.append((self.inf_at, "∞"))
        return ticks


def _star(r_out: float = 10.0, r_in: float = 4.2) -> str:
    pts = []
    for k in range(10):
        r = r_out if k % 2 == 0 else r_in
        a = math.pi / 2 + k * math.pi / 5
        pts.append(f"{r * math.cos(a):.1f},{-r * math.sin(a):.1f}")
    return "M" + "L".join(pts) + "Z"


def _marker(status: str, color: str) -> str:
    if status == "front":
        return f'<circle class="mk" r="5.5" fill="{color}" stroke="#000" stroke-width="1"/>'
    if status == "tied":
        return f'<circle class="mk" r="5.5" fill="#fff" stroke="{color}" stroke-width="1.8"/>'
    if status == "incomplete":
        return f'<rect class="mk" x="-4.5" y="-4.5" width="9" height="9" fill="{color}" fill-opacity="0.3"/>'
    if status == "infeasible":
        return '<path class="mk" d="M-4.5,-4.5L4.5,4.5M-4.5,4.5L4.5,-4.5" stroke="#777" stroke-width="1.8"/>'
    return f'<circle class="mk" r="4.5" fill="{color}" fill-opacity="0.3" stroke="{color}" stroke-opacity="0.4"/>'


@dataclass
class _View:
    """One panel being drawn: its rows, their values as recorded (``raw``) and as drawn (``xs``, ``ys``:
    infinities placed beyond the data), their 95% intervals, the constraint bounds on each axis, the axes
    and the plot frame in pixels."""

    part: Any
    x: str
    y: str
    raw: np.ndarray
    xs: np.ndarray
    ys: np.ndarray
    xlo: np.ndarray
    xhi: np.ndarray
    ylo: np.ndarray
    yhi: np.ndarray
    bx: list[tuple[str, float]]
    by: list[tuple[str, float]]
    ax: _Axis
    ay: _Axis
    log_x: bool
    frame: tuple[float, float, float, float]  # px0, px1, py0, py1
    uid: str
    color: str


def _interval(part, col: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    lo = part[f"{col}_lo"].to_numpy(float) if f"{col}_lo" in part.columns else np.full(n, np.nan)
    hi = part[f"{col}_hi"].to_numpy(float) if f"{col}_hi" in part.columns else np.full(n, np.nan)
    return lo, hi


def _view(part, x: str, y: str, constraints, uid: str, color: str, width: int, height: int) -> _View | None:
    """The panel's rows with both values, placed on its axes; None when no row has both."""
    if part is None or part.empty or x not in part.columns or y not in part.columns:
        return None
    part = part[part[x].notna() & part[y].notna()]
    if part.empty:
        return None
    n = len(part)
    raw = part[[x, y]].to_numpy(dtype=float)
    bx, by = axis_bounds(constraints, x), axis_bounds(constraints, y)
    xs, x_inf = finite_for_plot(raw[:, 0], bx)
    ys, y_inf = finite_for_plot(raw[:, 1], by)
    (xlo, xhi), (ylo, yhi) = _interval(part, x, n), _interval(part, y, n)
    left, right, top, bottom = 58, 14, 26, 46
    log_x = log_scale_x(x, xs)
    ax = _Axis(xs, xlo, xhi, x_inf, bx, left, width - right, log_x)
    ay = _Axis(ys, ylo, yhi, y_inf, by, height - bottom, top, False)
    frame = (left, width - right, top, height - bottom)
    return _View(part, x, y, raw, xs, ys, xlo, xhi, ylo, yhi, bx, by, ax, ay, log_x, frame, uid, color)


def frontier_svg(
    part,
    x: str,
    y: str,
    directions: dict[str, str],
    constraints,
    jobs: list[dict[str, Any]],
    *,
    uid: str,
    color: str = "#444444",
    title: str = "",
    width: int = 400,
    height: int = 310,
) -> tuple[Markup, str]:
    """One modality's view of ``x`` against ``y`` as an inline SVG, and a note naming the thresholds
    beyond the view.

    ``part`` holds classified rows (:func:`harness.results.pareto.classify`) indexed like ``jobs`` (the page's
    jobs, see :func:`harness.report.html.job_view`); a point's ``data-*`` attributes carry the job's label,
    status, both values with their intervals, the id of its first sample's thumbnail and the anchor of its
    details. Empty when no row has both values.
    """
    view = _view(part, x, y, constraints, uid, color, width, height)
    if view is None:
        return Markup(""), ""
    view_knee, front = _front_line(view, [directions[x], directions[y]])
    out = [
        *_frame(view, width, height, title),
        *_grid(view),
        *_constraint_regions(view),
        *front,
        *_interval_bars(view),
        *_points(view, jobs, view_knee),
        *_axis_titles(view, directions, title, height),
        "</svg>",
    ]
    left_out = [bound_text(x, k, t) for k, t in view.bx if t in view.ax.left_out]
    left_out += [bound_text(y, k, t) for k, t in view.by if t in view.ay.left_out]
    return Markup("".join(out)), ("beyond the view: " + ", ".join(left_out)) if left_out else ""


def _frame(view: _View, width: int, height: int, title: str) -> list[str]:
    """The ``<svg>`` element, its hatch pattern and clip path (ids under ``uid``), and the plot's background."""
    px0, px1, py0, py1 = view.frame
    uid = view.uid
    return [
        f'<svg class="chart frontier" id="{uid}" role="group" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-label="{escape(f"{view.y} vs {view.x}, {title}")}">',
        f'<defs><pattern id="{uid}-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#888" fill-opacity="0.12"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#888" stroke-opacity="0.45" stroke-width="1.2"/></pattern>'
        f'<clipPath id="{uid}-clip"><rect x="{px0}" y="{py0}" width="{px1 - px0}" height="{py1 - py0}"/>'
        "</clipPath></defs>",
        f'<rect x="{px0}" y="{py0}" width="{px1 - px0}" height="{py1 - py0}" fill="#fff" stroke="#bbb"/>',
    ]


def _grid(view: _View) -> list[str]:
    """Grid lines and tick labels of both axes (∞ marked)."""
    px0, px1, py0, py1 = view.frame
    out = []
    for t, label in view.ax.ticks():
        p = view.ax(t)
        out.append(f'<line x1="{p:.1f}" y1="{py0}" x2="{p:.1f}" y2="{py1}" stroke="#eee"/>')
        cls = ' class="inf"' if label == "∞" else ""
        out.append(f'<text{cls} x="{p:.1f}" y="{py1 + 13}" text-anchor="middle">{escape(label)}</text>')
    for t, label in view.ay.ticks():
        p = view.ay(t)
        out.append(f'<line x1="{px0}" y1="{p:.1f}" x2="{px1}" y2="{p:.1f}" stroke="#eee"/>')
        cls = ' class="inf"' if label == "∞" else ""
        out.append(f'<text{cls} x="{px0 - 4}" y="{p + 3:.1f}" text-anchor="end">{escape(label)}</text>')
    return out


def _constraint_regions(view: _View) -> list[str]:
    """The region each constraint on an axis excludes (hatched), its threshold (dashed) and its text."""
    out = []
    for axis, bounds, name in ((view.ax, view.bx, view.x), (view.ay, view.by, view.y)):
        for kind, t in bounds:
            if t in axis.left_out:
                continue
            a, b = (t, axis.hi) if kind == "max" else (axis.lo, t)
            pa, pb = sorted((axis(a), axis(b)))
            text = escape(bound_text(name, kind, t))
            out += _region(view, axis is view.ax, pa, pb, axis(t), text)
    return out


def _region(view: _View, on_x: bool, pa: float, pb: float, pt: float, text: str) -> list[str]:
    px0, px1, py0, py1 = view.frame
    hatch = f'fill="url(#{view.uid}-hatch)"/>'
    if on_x:
        return [
            f'<rect x="{pa:.1f}" y="{py0}" width="{pb - pa:.1f}" height="{py1 - py0}" {hatch}',
            f'<line x1="{pt:.1f}" y1="{py0}" x2="{pt:.1f}" y2="{py1}" stroke="#555" stroke-dasharray="4 3"/>',
            f'<text class="thr" x="{pt + 3:.1f}" y="{py0 + 10}">{text}</text>',
        ]
    return [
        f'<rect x="{px0}" y="{pa:.1f}" width="{px1 - px0}" height="{pb - pa:.1f}" {hatch}',
        f'<line x1="{px0}" y1="{pt:.1f}" x2="{px1}" y2="{pt:.1f}" stroke="#555" stroke-dasharray="4 3"/>',
        f'<text class="thr" x="{px0 + 3}" y="{pt - 3:.1f}">{text}</text>',
    ]


def _front_line(view: _View, dirs: list[str]) -> tuple[int | None, list[str]]:
    """The view's front (feasible jobs) as a staircase, and the row of its knee (None without one)."""
    feasible = view.part["feasible"].to_numpy(dtype=bool)
    if not feasible.any():
        return None, []
    out = []
    fidx = np.flatnonzero(feasible)
    on2 = fidx[~dominated_mask(view.raw[fidx], dirs)]
    fx, fy = step_line(view.xs[on2], view.ys[on2], *dirs)
    if len(fx) > 1:
        pts = [(fx[0], fy[0])]
        for k in range(1, len(fx)):
            pts += [(fx[k], fy[k - 1]), (fx[k], fy[k])]
        coords = " ".join(f"{view.ax(a):.1f},{view.ay(b):.1f}" for a, b in pts)
        out.append(
            f'<polyline points="{coords}" fill="none" stroke="{view.color}" stroke-width="1.6" '
            f'clip-path="url(#{view.uid}-clip)"/>'
        )
    k = knee_index(view.raw[on2], dirs)
    return (int(on2[k]) if k is not None else None), out


def _interval_bars(view: _View) -> list[str]:
    """Each point's 95% intervals, as bars with caps."""
    out = []
    color = view.color
    for j in range(len(view.xs)):
        for lo, hi, horizontal in ((view.xlo[j], view.xhi[j], True), (view.ylo[j], view.yhi[j], False)):
            if not (np.isfinite(lo) or np.isfinite(hi)):
                continue
            a = lo if np.isfinite(lo) else (view.xs[j] if horizontal else view.ys[j])
            b = hi if np.isfinite(hi) else (view.xs[j] if horizontal else view.ys[j])
            if horizontal:
                p, q, c = view.ax(a), view.ax(b), view.ay(view.ys[j])
                out.append(
                    f'<path d="M{p:.1f},{c:.1f}H{q:.1f}M{p:.1f},{c - 2:.1f}v4M{q:.1f},{c - 2:.1f}v4" '
                    f'stroke="{color}" stroke-opacity="0.5" fill="none"/>'
                )
            else:
                p, q, c = view.ay(a), view.ay(b), view.ax(view.xs[j])
                out.append(
                    f'<path d="M{c:.1f},{p:.1f}V{q:.1f}M{c - 2:.1f},{p:.1f}h4M{c - 2:.1f},{q:.1f}h4" '
                    f'stroke="{color}" stroke-opacity="0.5" fill="none"/>'
                )
    return out


def _value_text(col: str, v: float, lo: float, hi: float) -> str:
    """``col: value [lo, hi]`` (the bounds where there are any)."""
    has = np.isfinite(lo) or np.isfinite(hi)
    bounds = (lo if np.isfinite(lo) else None, hi if np.isfinite(hi) else None)
    return f"{col}: {fmt_ci(v, *bounds) if has else fmt_ci(v)}"


def _state_text(row, status: str, in_view_knee: bool) -> str:
    """A point's status in words: with what it violates, and whether it is a knee."""
    state = STATUS_TEXT.get(status, status)
    if status == "infeasible" and row.get("violations"):
        state += f" ({row['violations']})"
    if bool(row.get("knee", False)):
        state += " · knee of the front"
    if in_view_knee:
        state += " · ★ knee of this view"
    return state


def _points(view: _View, jobs: list[dict[str, Any]], view_knee: int | None) -> list[str]:
    """The points, each a focusable group carrying its tooltip, the front drawn last (on top)."""
    status = view.part["frontier_status"].to_numpy()
    n = len(view.xs)
    order = sorted(range(n), key=lambda j: DRAW_ORDER.index(status[j]) if status[j] in DRAW_ORDER else 0)
    out = []
    for j in order:
        idx = view.part.index[j]
        job = jobs[idx] if isinstance(idx, (int, np.integer)) and 0 <= idx < len(jobs) else {}
        row = view.part.iloc[j]
        st = str(status[j])
        state = _state_text(row, st, j == view_knee)
        label = job.get("label") or label_of(row)
        attrs = {
            "data-job": job.get("anchor", ""),
            "data-label": label,
            "data-status": state,
            "data-x": _value_text(view.x, view.raw[j, 0], view.xlo[j], view.xhi[j]),
            "data-y": _value_text(view.y, view.raw[j, 1], view.ylo[j], view.yhi[j]),
            "data-thumb": job.get("thumb", ""),
            "aria-label": f"{label}: {state}",
        }
        attr_text = " ".join(f'{k}="{escape(v)}"' for k, v in attrs.items())
        out.append(
            f'<g class="pt st-{escape(st)}" transform="translate({view.ax(view.xs[j]):.1f},{view.ay(view.ys[j]):.1f})" '
            f'tabindex="0" role="button" {attr_text}><circle class="hit" r="10" fill="transparent"/>'
            + _marker(st, view.color)
            + (  # over the marker, as in the PNG
                f'<path class="mk" d="{_star()}" fill="gold" stroke="#000" stroke-width="0.8"/>'
                if j == view_knee
                else ""
            )
            + "</g>"
        )
    return out


def _axis_titles(view: _View, directions: dict[str, str], title: str, height: int) -> list[str]:
    """The panel's title and both axes' names with their directions."""
    px0, px1, py0, py1 = view.frame
    cy = (py0 + py1) / 2
    return [
        f'<text class="ttl" x="{(px0 + px1) / 2:.1f}" y="16" text-anchor="middle">{escape(title)}</text>',
        f'<text x="{(px0 + px1) / 2:.1f}" y="{height - 8}" text-anchor="middle">'
        f"{escape(axis_label(view.x, directions[view.x]))}{' (log scale)' if view.log_x else ''}</text>",
        f'<text x="12" y="{cy:.1f}" text-anchor="middle" transform="rotate(-90 12 {cy:.1f})">'
        f"{escape(axis_label(view.y, directions[view.y]))}</text>",
    ]

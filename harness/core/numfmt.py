"""Numbers as reports, gates and checks print them: the one formatter of the harness.

:func:`fmt` writes one number; :func:`fmt_ci` an estimate and its interval to the same precision
(``101.7 [102, 106]`` reads as a point outside its own interval; :func:`fmt_ci` writes ``101.7 [101.5, 105.8]``).
"""

from __future__ import annotations

import math
from typing import Literal

__all__ = ["FIXED_RANGE", "fmt", "fmt_ci", "fmt_shared"]

# "fixed" notation: fixed-point from 1e-3 up to 1e6 (whole numbers from 100), scientific beyond.
FIXED_NOTATION_RANGE = (1e-3, 1e6)


def fmt(
    value,
    digits: int = 4,
    *,
    notation: Literal["general", "fixed"] = "general",
    nan: str = "–",
    unit: str = "",
) -> str:
    """One number as text: ``digits`` significant digits.

    Args:
        value: a float (an int or anything else is written as ``str`` does); None is ``–``, NaN is ``nan``,
            an infinity ``∞`` / ``-∞``.
        digits: significant digits.
        notation: ``general`` (``format``'s ``g``: ``1.235e+05``); ``fixed``: no exponent between 1e-3 and 1e6,
            whole numbers from 100 (``123456``), and ``digits - 1`` decimals of a mantissa beyond
            (``1.235e-04``): a comparison's two values read alike.
        nan: the text of a NaN.
        unit: appended after a space to a number (a missing value stays ``–``).
    """
    if value is None:
        return "–"
    if isinstance(value, float) and math.isnan(value):
        return nan
    if isinstance(value, float) and math.isinf(value):
        text = "∞" if value > 0 else "-∞"
    elif isinstance(value, float):
        text = _finite(value, digits, notation)
    else:
        text = str(value)
    return f"{text} {unit}" if unit else text


def _finite(value: float, digits: int, notation: str) -> str:
    size = abs(value)
    if notation == "fixed" and size != 0:
        if not FIXED_NOTATION_RANGE[0] <= size < FIXED_NOTATION_RANGE[1]:
            return f"{value:.{digits - 1}e}"
        if size >= 100:
            return f"{value:.0f}"
    return f"{value:.{digits}g}"


# Fixed-point notation for estimates from 1e-4 up to 1e7; beyond, a mantissa and the estimate's exponent.
FIXED_RANGE = (-4, 7)


def fmt_shared(values, digits: int = 4) -> list[str]:
    """``values`` (an estimate first, then e.g. its interval's bounds) in one format chosen from the
    estimate's magnitude: ``digits`` significant digits of the estimate fix the number of decimals for all
    of them, trailing zeros they all share are dropped (``100 [96, 104]``, ``101.7 [101.5, 105.8]``).
    Outside :data:`FIXED_RANGE` every value is written as a mantissa times the estimate's power of ten,
    with the same decimals (``1.23e-09 [0.98e-09, 1.50e-09]``). A missing or NaN value is ``–``, an
    infinite one ``∞`` / ``-∞``; when the estimate is zero or not finite the first finite non-zero bound
    sets the scale."""
    nums: list[float | None] = []
    for v in values:
        try:
            nums.append(None if v is None else float(v))
        except (TypeError, ValueError):
            nums.append(None)
    scale = next((abs(v) for v in nums if v is not None and math.isfinite(v) and v != 0), None)
    if scale is None:
        exp, decimals, sci = 0, 0, False
    else:
        exp = math.floor(math.log10(float(f"{scale:.{digits - 1}e}")))  # after rounding: 9.99996 -> 10.00
        sci = not FIXED_RANGE[0] <= exp < FIXED_RANGE[1]
        decimals = digits - 1 if sci else max(0, digits - 1 - exp)
    body: dict[int, str] = {}
    for i, v in enumerate(nums):
        if v is not None and math.isfinite(v):
            text = f"{(v / 10.0**exp) if sci else v:.{decimals}f}"
            if text.lstrip("-").strip("0.") == "":
                text = text.lstrip("-")  # -0.0 is 0.0
            body[i] = text
    if decimals and body:
        common = min(len(t) - len(t.rstrip("0")) for t in body.values())
        cut = min(common, decimals)
        if cut:
            body = {i: t[:-cut].rstrip(".") for i, t in body.items()}
    out = []
    for i, v in enumerate(nums):
        if i in body:
            out.append(body[i] + (f"e{exp:+03d}" if sci else ""))
        elif v is None or math.isnan(v):
            out.append("–")
        else:
            out.append("∞" if v > 0 else "-∞")
    return out


def fmt_ci(value, lo=None, hi=None, digits: int = 4) -> str:
    """``value [lo, hi]`` in one shared format (:func:`fmt_shared`); just the value without bounds."""
    if lo is None and hi is None:
        return fmt_shared([value], digits)[0]
    v, a, b = fmt_shared([value, lo, hi], digits)
    return f"{v} [{a}, {b}]"

"""The syntax of a suite's ``gates:`` (and of gate files): ``+N%``, ``-N%``, ``+N``, ``-N`` or ``N`` per column.

``%`` is relative to the base value, otherwise absolute in the column's unit; the sign says which direction
is worse and must agree with the column's direction; without a sign the direction is the column's own
(YAML reads an unquoted ``+0.5`` as ``0.5``). The gate (``harness.gate``) reads thresholds parsed here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.core.errors import UserInputError
from harness.core.numfmt import fmt
from harness.core.registry import did_you_mean
from harness.results.columns import SPEED_COLUMNS, higher_is_better

THRESHOLD_HELP = "+N%, -N%, +N, -N or N"
_THRESHOLD_RE = re.compile(r"^\s*([+-])?\s*(\d+(?:\.\d*)?|\.\d+)(?:[eE]([+-]?\d+))?\s*(%)?\s*$")


@dataclass(frozen=True)
class Threshold:
    """One gate: how far a column may move in its worse direction before it is a regression."""

    key: str
    amount: float  # ≥ 0; a fraction when relative (0.05 for 5%)
    relative: bool
    sign: int  # +1: an increase is worse, -1: a decrease is worse, 0: the column's own direction
    text: str

    def worse_sign(self, higher_is_better: bool) -> int:
        """+1 when an increase is worse for this column. Bad input when the sign contradicts the direction."""
        natural = -1 if higher_is_better else 1
        if self.sign and self.sign != natural:
            way = "higher is better" if higher_is_better else "lower is better"
            fix = f"{'-' if natural < 0 else '+'}{self.text.lstrip('+-').strip()}"
            raise UserInputError(
                f"{self.key}: '{self.text}' says {'an increase' if self.sign > 0 else 'a decrease'} "
                f"is worse, but for {self.key} {way} (write '{fix}')"
            )
        if self.relative and natural < 0 and self.amount >= 1:
            raise UserInputError(f"{self.key}: a relative drop of {self.text} cannot happen (below 100%)")
        return natural


def parse_threshold(key: str, value: Any) -> Threshold:
    """``"+10%"``, ``"-0.5"``, ``0.5``, ``-1e-6`` → :class:`Threshold`. ValueError with the allowed forms."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{key}: {value!r} is not a threshold (allowed: {THRESHOLD_HELP})")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(f"{key}: {value!r} is not a threshold (allowed: {THRESHOLD_HELP}, finite)")
        return Threshold(key, abs(float(value)), False, -1 if value < 0 else 0, fmt(float(value), 6))
    m = _THRESHOLD_RE.match(value)
    if not m:
        raise ValueError(f"{key}: '{value}' is not a threshold (allowed: {THRESHOLD_HELP})")
    sign_s, digits, exp, pct = m.groups()
    amount = float(digits + (f"e{exp}" if exp else ""))
    if not math.isfinite(amount):
        raise ValueError(f"{key}: '{value}' is not a threshold (allowed: {THRESHOLD_HELP}, finite)")
    if pct:
        amount /= 100.0
    sign = {"+": 1, "-": -1, None: 0}[sign_s]
    return Threshold(key, amount, bool(pct), sign, value.strip())


def check_gate_keys(
    gates: Mapping[str, Any], metric_names: list[str], directions: Mapping[str, bool] | None = None
) -> None:
    """For suite validation: keys are speed/memory columns or the suite's metrics, values parse, and a sign
    agrees with the column's direction (``directions``: metric → higher_is_better, where known). ValueError."""
    allowed = [*SPEED_COLUMNS, *metric_names]
    for key, value in gates.items():
        if key not in allowed:
            raise ValueError(f"unknown column '{key}' ({did_you_mean(key, allowed)})")
        thr = parse_threshold(key, value)
        hib = higher_is_better(key) if key in SPEED_COLUMNS else (directions or {}).get(key)
        if hib is not None:
            try:
                thr.worse_sign(hib)
            except UserInputError as exc:
                raise ValueError(exc.detail) from None

"""Gate thresholds per column, from a suite's ``gates:`` or a gate file; their syntax
(:mod:`harness.config.gates`) is the suite schema's, read here for ``harness compare``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.config.gates import Threshold, parse_threshold
from harness.core.errors import UserInputError
from harness.core.registry import did_you_mean
from harness.core.yamlio import read_yaml


def parse_gates(
    gates: Any,
    allowed: list[str] | None = None,
    *,
    source: str | None = None,
    field_name: str = "gates",
) -> dict[str, Threshold]:
    """Every gate parsed; an unknown column (when ``allowed`` is given) or a bad value is bad input."""
    if not isinstance(gates, Mapping):
        raise UserInputError(
            f"expected a mapping of column: threshold, got {type(gates).__name__}",
            source=source,
            field=field_name,
        )
    out: dict[str, Threshold] = {}
    for key, value in gates.items():
        if allowed is not None and key not in allowed:
            raise UserInputError(
                f"unknown column '{key}' ({did_you_mean(str(key), allowed)})", source=source, field=field_name
            )
        try:
            out[str(key)] = parse_threshold(str(key), value)
        except ValueError as exc:
            raise UserInputError(str(exc), source=source, field=field_name) from None
    return out


def load_gate_file(path: str | Path) -> dict[str, Any]:
    """``gates:`` from a YAML file: a gate file (only ``gates:``) or a suite (its ``gates:``)."""
    data = read_yaml(path)
    if not isinstance(data, dict) or "gates" not in data:
        raise UserInputError("expected a mapping with 'gates:' (column: threshold)", source=str(path))
    extra = sorted(map(str, set(data) - {"gates"}))
    if extra and "models" not in data:  # a suite may carry other keys; a gate file may not
        raise UserInputError(f"unknown key '{extra[0]}' (a gate file has only 'gates:')", source=str(path))
    if not isinstance(data["gates"], dict) or not data["gates"]:
        raise UserInputError("gates: expected a non-empty mapping of column: threshold", source=str(path))
    return data["gates"]

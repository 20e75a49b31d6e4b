"""A metric's options: the typed model a suite's options are checked against, and the checks of its constructor.

A suite gives a metric options (``{name: fid, options: {batch_size: 64}}``); each metric declares a
``MetricOptions`` subclass, checked by ``harness validate`` before any job. The constructor takes the same options as
keywords (tests and library callers build metrics directly) and checks them again with the functions here; the
worker reports a TypeError raised there as bad options.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["MetricOptions", "flag_option", "int_option", "path_option", "weights_option"]


class MetricOptions(BaseModel):
    """A metric's options as a suite gives them (``{name: fid, options: {batch_size: 64}}``).

    Each metric declares its own subclass with typed fields and ranges; unknown keys, wrong types (``true``
    where a count belongs) and values out of range are bad input, caught by ``harness validate`` before any
    job starts. Defaults equal the metric constructor's (a contract test checks it). Options whose name
    ends in ``_path`` are paths relative to the suite file, checked to exist inside the allowed folders.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def int_option(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` when it is an integer >= ``minimum`` (a boolean is not); a TypeError naming ``name`` otherwise."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def flag_option(name: str, value: Any) -> bool:
    """``value`` when it is a boolean; a TypeError naming ``name`` otherwise."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be true or false, got {value!r}")
    return value


def weights_option(value: Any) -> str:
    """``value`` when it is a string (a ``harness weights list`` name); a TypeError otherwise."""
    if not isinstance(value, str):
        raise TypeError(f"weights must be a name from `harness weights list`, got {value!r}")
    return value


def path_option(name: str, value: Any) -> str | None:
    """``value`` (a string or a path) as a string, None as None; a TypeError naming ``name`` otherwise."""
    if value is not None and not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a string, got {value!r}")
    return None if value is None else os.fspath(value)

"""Values a record holds that JSON has no literal for: non-finite floats and the moment a job started.

Non-finite floats are written as the strings ``"inf"``, ``"-inf"`` and ``"nan"`` (strict JSON) and read back
as floats (:data:`Num`, :func:`number`). ``started_at`` is local time with microseconds and the UTC offset.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

NON_FINITE = {"inf": math.inf, "+inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def _number_in(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in NON_FINITE:
        return NON_FINITE[value.strip().lower()]
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    return value


def _number_out(value: float | None) -> float | str | None:
    if value is None or math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


# A float that may be non-finite; JSON carries "inf"/"-inf"/"nan" for those.
Num = Annotated[float, BeforeValidator(_number_in), PlainSerializer(_number_out, when_used="json")]

STARTED_AT_FORMATS = ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z")  # written since 2026-12; before


def started_at_now() -> str:
    """A record's ``started_at``: local time with microseconds and the UTC offset. Microseconds, because a
    record is identified by its job and start (:mod:`harness.results.identity`): two repeats of a fast job can
    start within one second."""
    return datetime.now().astimezone().strftime(STARTED_AT_FORMATS[0])


def parse_started_at(stamp: str | None) -> datetime | None:
    """``started_at`` as an aware datetime (either format written so far), None when absent or unreadable."""
    for fmt in STARTED_AT_FORMATS:
        try:
            return datetime.strptime(stamp or "", fmt)
        except ValueError:
            continue
    return None


def number(value: Any) -> float | None:
    """A raw JSON value as a float (the strings written for non-finite values included); None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        return NON_FINITE.get(value.strip().lower())
    return float(value)

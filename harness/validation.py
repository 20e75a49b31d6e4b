"""pydantic's validation errors as one line each: ``field: what is wrong (what is allowed)``.

Shared by the YAML schemas (:mod:`harness.config`), the record schema (:mod:`harness.results.schema`), the
options of metrics and backends. Unknown keys get a did-you-mean against the keys allowed at that place.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ValidationError

from harness.registry import did_you_mean

# pydantic's names for union members and validators: they say nothing to a user.
_TAGS = re.compile(r"^(function-(after|before|wrap|plain)\[.*\]|hub|local|config|tagged-union\[.*\])$")


def format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and _TAGS.match(part):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _message(err: dict[str, Any]) -> str:
    msg = re.sub(r"^(Value error|Assertion failed), ", "", err["msg"])
    where = format_loc(err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"{where}: unknown key"
    if kind == "literal_error":
        return (
            f"{where}: {err.get('input')!r} is not allowed ({msg.replace('Input should be ', 'allowed: ')})"
        )
    if kind == "missing":
        return f"{where}: missing (required)"
    if kind.endswith(("_type", "_parsing")) or kind == "int_from_float":
        return f"{where}: {msg.split(', unable to')[0]}, got {_shown(err.get('input'))}"
    return f"{where}: {msg}"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _unknown_key_hint(model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    """For an unknown key, the closest allowed key of the model at that location."""
    target: Any = model
    for part in loc[:-1]:
        if isinstance(part, int) or not isinstance(part, str):
            continue
        fields = getattr(target, "model_fields", None)
        if fields is None:
            return ""
        field = fields.get(part)
        if field is None:
            continue  # a union tag or a dict key: stay at this model
        target = _model_in(field.annotation) or target
    keys = list(getattr(target, "model_fields", {}))
    return f" ({did_you_mean(str(loc[-1]), keys)})" if keys else ""


def _model_in(annotation: Any) -> type[BaseModel] | None:
    stack = [annotation]
    while stack:
        ann = stack.pop()
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            return ann
        stack.extend(getattr(ann, "__args__", ()) or ())
        if hasattr(ann, "__origin__") and ann.__origin__ is not None and not getattr(ann, "__args__", None):
            stack.append(ann.__origin__)
    return None


def validation_message(model: type[BaseModel], exc: ValidationError, *, limit: int = 3) -> str:
    """Every error of ``exc`` (up to ``limit``, then how many more) as ``field: what``, joined by ``; ``."""
    parts = []
    errors = exc.errors()
    for err in errors[:limit]:
        text = _message(err)
        if err["type"] == "extra_forbidden":
            text += _unknown_key_hint(model, err["loc"])
        parts.append(text)
    if len(errors) > limit:
        parts.append(f"and {len(errors) - limit} more")
    return "; ".join(parts)

"""pydantic's validation errors as one line each: ``field: what is wrong (what is allowed)``.

Shared by the YAML schemas (:mod:`harness.config`), the record schema (:mod:`harness.results.record`), the
options of metrics and backends. Unknown keys get a did-you-mean against the keys allowed at that place.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from harness.core.registry import did_you_mean

# pydantic's names for union members and validators: they say nothing to a user.
_TAGS = re.compile(
    r"^(function-(after|before|wrap|plain)\[.*\]|hub|local|config|tagged-union\[.*\]|list\[.*\]|dict\[.*\])$"
)
# When a field is a union (one mapping or a list of them), pydantic reports every branch; the branch that
# wanted another container ("Input should be a valid list") says nothing the other branch did not say better.
_CONTAINER_TYPES = {"list_type", "dict_type", "model_type", "model_attributes_type"}


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
    parts = list(loc[:-1])
    for i, part in enumerate(parts):
        if isinstance(part, int) or not isinstance(part, str):
            continue
        fields = getattr(target, "model_fields", None)
        if fields is None:
            return ""
        field = fields.get(part)
        if field is None:
            continue  # a union tag or a dict key: stay at this model
        members = _models_in(field.annotation)
        tag = next((p for p in parts[i + 1 :] if isinstance(p, str)), None)
        target = next((m for m in members if tag is not None and _is_member(m, tag)), None) or (
            members[0] if members else target
        )
    keys = list(getattr(target, "model_fields", {}))
    return f" ({did_you_mean(str(loc[-1]), keys)})" if keys else ""


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models an annotation names (the members of a union, the item of a list), in order."""
    out: list[type[BaseModel]] = []
    stack = [annotation]
    while stack:
        ann = stack.pop(0)
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out.append(ann)
            continue
        stack.extend(getattr(ann, "__args__", ()) or ())
    return out


def _is_member(model: type[BaseModel], tag: str) -> bool:
    """Whether a loc part names this union member: its class name, or the Literal value of its tag field."""
    if model.__name__ == tag:
        return True
    for field in model.model_fields.values():
        if getattr(field.annotation, "__origin__", None) is Literal and tag in field.annotation.__args__:
            return True
    return False


def validation_message(model: type[BaseModel], exc: ValidationError, *, limit: int = 3) -> str:
    """Every error of ``exc`` (up to ``limit``, then how many more) as ``field: what``, joined by ``; ``."""
    parts = []
    errors = exc.errors()

    def branch(e: dict[str, Any]) -> bool:  # a union branch that wanted another container
        return e["type"] in _CONTAINER_TYPES and any(
            isinstance(p, str) and p.startswith(("list[", "dict[")) for p in e["loc"]
        )

    informative = [e for e in errors if not branch(e)]
    if informative and len(informative) < len(errors):
        errors = informative
    for err in errors[:limit]:
        text = _message(err)
        if err["type"] == "extra_forbidden":
            text += _unknown_key_hint(model, err["loc"])
        parts.append(text)
    if len(errors) > limit:
        parts.append(f"and {len(errors) - limit} more")
    return "; ".join(parts)

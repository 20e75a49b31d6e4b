"""``--set PATH=VALUE``: overrides applied to a suite's mapping before it is validated, checked against the
suite's schema key by key."""

from __future__ import annotations

import copy
import re
from typing import Any

from pydantic import BaseModel

from harness.config.suite import Suite
from harness.core.errors import UserInputError
from harness.core.registry import did_you_mean
from harness.core.yamlio import loads


def overrides_at(message: str, overrides: list[str]) -> list[str]:
    """The overrides that set the field a validation message is about (``measurement.min_iterations: ...``)."""
    where = message.split(": ", 1)[0].replace("[", ".").replace("]", "")
    out = []
    for text in overrides:
        key = ".".join(map(str, parse_override(text)[0]))
        if key.startswith(where) or where.startswith(key):
            out.append(text)
    return out


def parse_override(text: str) -> tuple[list[str | int], Any]:
    """``measurement.min_iterations=5`` → (["measurement", "min_iterations"], 5); the value is YAML. List
    items by index, ``models.0.variants`` or ``models[0].variants``."""
    key, sep, raw = text.partition("=")
    key = re.sub(r"\[(\d+)\]", r".\1", key.strip())
    if not sep or not key:
        raise UserInputError(
            f"expected PATH=VALUE (e.g. measurement.min_iterations=5), got {text!r}", field="--set"
        )
    if any(not p for p in key.split(".")):
        raise UserInputError(f"'{key}' is not a dotted path (e.g. workload.num_samples)", field="--set")
    value = loads(raw, source=f"--set {key}")
    return [int(p) if p.isdigit() else p for p in key.split(".")], value


def _child_model(model: Any, name: str) -> Any:
    """The pydantic model a field of ``model`` holds (through unions, lists and Optional), or None."""
    field = model.model_fields[name]
    stack = [field.annotation]
    while stack:
        ann = stack.pop(0)
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            return ann
        stack.extend(getattr(ann, "__args__", ()) or ())
    return None


def _check_distinct(parsed: list[tuple[str, list[str | int], Any]]) -> None:
    """Each ``--set`` path once: a path given twice, or inside another one given (``measurement=...`` and
    ``measurement.warmup=2``), would leave the result to the order of the flags."""
    for i, (text_a, a, _) in enumerate(parsed):
        for text_b, b, _ in parsed[i + 1 :]:
            shorter, longer = sorted((a, b), key=len)
            if [str(p) for p in longer[: len(shorter)]] == [str(p) for p in shorter]:
                what = (
                    "is given twice" if len(a) == len(b) else "is set twice (one path lies inside the other)"
                )
                key = ".".join(map(str, shorter))
                raise UserInputError(
                    f"'{key}' {what}: {text_a} and {text_b} (allowed: each path once)", field="--set"
                )


def apply_overrides(data: Any, overrides: list[str]) -> dict[str, Any]:
    """Each ``PATH=VALUE`` set into the suite's mapping; a path through a key the schema does not have is bad
    input with did-you-mean (list items by index: ``models.0.variants.1.overrides.steps=10``)."""
    if not isinstance(data, dict):
        raise UserInputError("the suite is not a mapping: nothing to override", field="--set")
    data = copy.deepcopy(data)
    parsed = [(text, *parse_override(text)) for text in overrides]
    _check_distinct(parsed)
    for _text, parts, value in parsed:
        target: Any = data
        model: Any = Suite
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            where = ".".join(map(str, parts[: i + 1]))
            if isinstance(part, int):
                if not isinstance(target, list) or not -len(target) <= part < len(target):
                    size = len(target) if isinstance(target, list) else 0
                    raise UserInputError(f"{where}: no item {part} (the list has {size})", field="--set")
                if last:
                    target[part] = value
                else:
                    target = target[part]
                continue
            if model is not None and part not in model.model_fields:
                raise UserInputError(
                    f"{where}: unknown key '{part}' ({did_you_mean(part, list(model.model_fields))})",
                    field="--set",
                )
            if not isinstance(target, dict):
                raise UserInputError(f"{where}: the value there is not a mapping", field="--set")
            if last:
                target[part] = value
                break
            if target.get(part) is None:
                target[part] = {}
            child = _child_model(model, part) if model is not None else None
            if model is not None and child is None and isinstance(target[part], dict):
                # a mapping of free keys (gates, objectives, sweep): the rest of the path is one key, dots and all
                target[part][".".join(map(str, parts[i + 1 :]))] = value
                break
            model = child
            target = target[part]
    return data

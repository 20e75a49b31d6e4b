"""What a harness run is called in MLflow: the tags that mark its runs, and keys and values as MLflow takes
them (its characters, its lengths, two names that map to one key told apart)."""

from __future__ import annotations

import json
import posixpath
import re
from typing import Any

from harness.results.store import jsonable
from harness.results.values import parse_started_at

PARENT_RUN_ID_TAG = "mlflow.parentRunId"  # MLflow's own nesting (the UI folds children under the parent)
NOTE_TAG = "mlflow.note.content"  # the run's description in MLflow's UI
RUN_ID_TAG = "harness.run_id"
KIND_TAG = "harness.kind"
COMPLETE_TAG = "harness.complete"

MAX_KEY_LENGTH = 250  # MLflow's limits on keys and values
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000

_BAD_KEY_CHARS = re.compile(r"[^A-Za-z0-9_\-./ ]")


def mlflow_key(name: str) -> str:
    """A metric, param or tag key MLflow accepts: ASCII letters, digits, ``_ - . / space`` (anything else
    becomes ``_``), at most 250 characters, and no path that would resolve to another name (``a//b``, ``./a``,
    ``a/..``, a leading or trailing ``/``)."""
    text = _BAD_KEY_CHARS.sub("_", str(name))[:MAX_KEY_LENGTH]
    parts = ["_" if p in (".", "..") else p for p in text.split("/") if p]
    key = "/".join(parts) or "_"
    return key if posixpath.normpath(key) == key else key.replace("/", "_")


class Keys:
    """Keys of one namespace (one run's metrics, params or tags): two names that map to one key get
    ``_2``, ``_3`` …, and each renaming is noted."""

    def __init__(self, notes: list[str], what: str):
        self.taken: dict[str, str] = {}
        self.notes, self.what = notes, what

    def __call__(self, name: str) -> str:
        if self.taken.get(name) == name:
            return name
        key = base = mlflow_key(name)
        n = 1
        while key in self.taken and self.taken[key] != name:
            n += 1
            key = f"{base[: MAX_KEY_LENGTH - len(str(n)) - 1]}_{n}"
        self.taken[key] = name
        if key != name:
            self.notes.append(f"{self.what} {name!r} logged as {key!r}")
        return key


def value_text(value: Any) -> str:
    """A param or tag value as text: strings as they are, numbers as Python writes them (``inf`` included),
    booleans as ``true``/``false``, lists and mappings as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(jsonable(value), sort_keys=True)


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters (the last one ``…``) when longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def flat(prefix: str, value: Any, out: dict[str, Any]) -> dict[str, Any]:
    """``{"scheduler": {"name": "ddim"}}`` under ``call`` → ``call.scheduler.name = ddim``; None and empty
    mappings are left out."""
    if isinstance(value, dict):
        for k, v in value.items():
            flat(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif value is not None:
        out[prefix] = value
    return out


def epoch_ms(stamp: str | None) -> int | None:
    """A record's ``started_at`` (``2024-05-01T12:00:00+0000``) in milliseconds since the epoch."""
    moment = parse_started_at(stamp)
    return int(moment.timestamp() * 1000) if moment is not None else None


def path_part(text: str) -> str:
    """``text`` as one part of an artifact path: runs of other characters than ``A-Za-z0-9._-`` become ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "x"

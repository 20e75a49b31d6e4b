"""Name → lazily imported object. Heavy modules are imported only when a name is used."""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterator
from typing import Any

from harness.core.errors import UserInputError

MAX_LISTED = 30


def did_you_mean(name: str, choices: list[str] | tuple[str, ...] | Any) -> str:
    """A hint for an unknown name: "did you mean 'x'? available: a, b, c"."""
    choices = sorted(choices)
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'? " if close else ""
    if len(choices) > MAX_LISTED:  # a long list buries the hint: name how many there are instead
        return f"{hint}{len(choices)} available" if hint else f"none close among {len(choices)} available"
    return f"{hint}available: {', '.join(choices) if choices else '(none)'}"


class Registry:
    """Maps a name to a ``"module:attr"`` target imported on first use.

    Each entry carries a one-line summary so ``harness ls`` can list entries without importing them.
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._targets: dict[str, tuple[str, str]] = {}

    def register(self, name: str, target: str, summary: str = "") -> None:
        if name in self._targets:
            raise ValueError(f"{self.kind} '{name}' is already registered")
        self._targets[name] = (target, summary)

    def __contains__(self, name: object) -> bool:
        return name in self._targets

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._targets))

    def names(self) -> list[str]:
        return sorted(self._targets)

    def summary(self, name: str) -> str:
        return self._targets[name][1]

    def check(self, name: str, *, source: str | None = None, field: str | None = None) -> None:
        if name not in self._targets:
            raise UserInputError(
                f"unknown {self.kind} '{name}' ({did_you_mean(name, self._targets)})",
                source=source,
                field=field,
            )

    def target(self, name: str) -> str:
        """The ``"module:attr"`` string ``name`` stands for (nothing imported)."""
        self.check(name)
        return self._targets[name][0]

    def get(self, name: str) -> Any:
        self.check(name)
        module, _, attr = self._targets[name][0].partition(":")
        return getattr(importlib.import_module(module), attr)

"""Error types. A ``UserInputError`` is bad input: the CLI prints its one-line message and exits 2."""

from __future__ import annotations


class HarnessError(Exception):
    """Base class of the harness's own errors."""


class UserInputError(HarnessError):
    """Bad input from the user (a card, a suite, a flag, a file): one line, exit code 2.

    The message reads ``file: field: what is wrong (what is allowed)``.
    """

    def __init__(self, message: str, *, source: str | None = None, field: str | None = None):
        parts = [p for p in (source, field) if p]
        self.detail = message
        self.source = source
        self.field = field
        super().__init__(": ".join([*parts, message]))


class WeightsNotFoundError(HarnessError, FileNotFoundError):
    """Weights a metric or a model needs are not on this machine (and will not be downloaded)."""


class MetricSkipped(HarnessError):
    """A metric does not apply to a job (wrong modality, no baseline, random weights...). Not a failure."""

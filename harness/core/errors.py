"""Error types. A ``UserInputError`` is bad input: the CLI prints its one-line message and exits 2."""

from __future__ import annotations

# Exit codes of every command: 0 a success this run measured, 1 a failure or nothing measured, 2 bad input,
# 3 an internal error (a bug). What counts as a success is decided in :mod:`harness.results.outcome`.
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3


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


class MetricInvalid(HarnessError, ValueError):
    """A metric's value would be a number that means nothing: NaN or infinite features, a covariance that is
    not positive semi-definite, fewer samples than the estimator needs, a non-finite result. The metric is
    recorded ``invalid`` with this reason, never with a value (a ValueError too: the numerical cores raise it
    for such inputs)."""


class ScenarioNotMeasured(HarnessError):
    """A LoadGen scenario ran but gave no headline figure this run can stand behind: the job fails."""

    def __init__(self, message: str, *, advice: str | None = None):
        super().__init__(message)
        self.advice = advice


class MaxQpsNotFound(ScenarioNotMeasured):
    """The Server max-QPS search found no rate that met the latency bound (in a VALID run, by default)."""


class LoadgenRunInvalid(ScenarioNotMeasured):
    """The scenario's figure comes from a run LoadGen calls INVALID, and the suite requires VALID runs."""


OOM_ADVICE = "out of memory: try a smaller batch_size or resolution, or a lower precision (fp16/bf16)"
_OOM_TEXTS = ("out of memory", "can't allocate memory", "cannot allocate memory", "failed to allocate memory")


def is_out_of_memory(exc: BaseException) -> bool:
    """A refused allocation: the CPU allocator's "can't allocate memory", CUDA's ``torch.OutOfMemoryError``,
    ONNX Runtime's "Failed to allocate memory", Python's ``MemoryError``."""
    text = f"{type(exc).__name__}: {exc}".lower()
    return (
        isinstance(exc, MemoryError)
        or type(exc).__name__ == "OutOfMemoryError"
        or any(t in text for t in _OOM_TEXTS)
    )


def advice_for(exc: BaseException) -> str | None:
    """What to try after a failure: the error's own ``advice`` where it has one, else where the failure says
    it (out of memory)."""
    own = getattr(exc, "advice", None)
    if isinstance(own, str):
        return own
    return OOM_ADVICE if is_out_of_memory(exc) else None

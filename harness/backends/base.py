"""The backend contract: take a loaded Generator and return it ready to run (compiled, exported, cast)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from harness.config.backends import BackendOptions, parse_backend_options
from harness.core.errors import HarnessError

if TYPE_CHECKING:
    from harness.config.job import Job
    from harness.loaders.base import Generator


class BackendUnavailable(HarnessError):
    """A backend's library is not installed or not usable here (the message names how to install it)."""


@dataclass
class Prepared:
    """What a backend did: the generator to run and what it cost."""

    generator: Generator
    precision: str
    compile_s: float = 0.0  # export + build, or the setup of a lazy compiler: what a cache saves
    # A lazy compiler (torch.compile) compiles in its first call: that call's own time. The worker adds its
    # excess over the median steady call (the timed loop's) to compile_s.
    first_call_s: float | None = None
    capture_s: float = 0.0  # a generation run only to record how the pipeline calls its components
    cache_hit: bool | None = None
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    # For compilers: a counter of compilations so far, read before and after the timed loop.
    recompiles: Callable[[], int] | None = None
    # Undoes what prepare changed in the loaded pipeline (stand-ins, compiled wrappers), so the next variant of
    # the same card (isolation: card) is prepared from the pipeline as loaded, exactly as in its own process.
    restore: Callable[[], None] = field(default=lambda: None)


@dataclass(frozen=True)
class MemoryFactor:
    """How much host memory a job of a backend grows by, per byte of the pipeline's weights: its peak RSS less
    the process's RSS before the load, over the weights' bytes, measured on a real-size model (``basis`` says
    which, where and when). It includes the activations at the size it was measured at, so for larger calls
    the estimate it gives is a floor."""

    value: float
    basis: str


class Backend(ABC):
    name: ClassVar[str]
    # The typed options a job of this backend carries (:mod:`harness.config.backends`, by the backend's name).
    options_model: ClassVar[type[BackendOptions]] = BackendOptions
    # None: not measured (the pre-flight estimate then counts the weights alone and only warns beyond them).
    memory_factor: ClassVar[MemoryFactor | None] = None

    @classmethod
    def parse_options(
        cls, options: dict[str, Any], *, source: str | None = None, field: str | None = None
    ) -> BackendOptions:
        """A variant's ``backend_options`` validated as this backend's options (the plan does it for a job)."""
        return parse_backend_options(cls.name, options, source=source, field=field)

    @abstractmethod
    def prepare(self, generator: Generator, job: Job) -> Prepared:
        """Make ``generator`` ready to run ``job`` (the load itself has already happened)."""

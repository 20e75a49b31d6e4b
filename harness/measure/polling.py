"""A reading taken on a background thread while a block runs: the NVML samplers' shared loop.

NVML has no per-process peak and no min/max of clocks over an interval, so both :class:`~harness.measure.memory.NvmlPeak`
and :class:`~harness.measure.conditions.GpuSampler` poll it: every ``interval_s`` while the block runs, and once
more as it ends (what the last interval saw is not lost).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import TypeVar

P = TypeVar("P", bound="Poller")


class Poller(ABC):
    """``with poller:`` calls ``_sample()`` every ``interval_s`` on a daemon thread, and once more at the end.

    Subclasses read one sample in ``_sample`` and say in ``_begin`` (called on entry) whether there is anything to
    poll here; where there is not, no thread starts and nothing is sampled.
    """

    def __init__(self, interval_s: float) -> None:
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _begin(self) -> bool:
        """On entry, before the thread starts: whether to poll at all."""
        return True

    @abstractmethod
    def _sample(self) -> None:
        """Read one sample."""

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def __enter__(self: P) -> P:
        if self._begin():
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._sample()

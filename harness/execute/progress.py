"""Where a running job is: its stage and how far through it (``load``, ``compile``, ``warmup 1/2``,
``timed 7/30``, ``quality 300/1000 items``, ``metrics fd_digits``).

The worker reports through a callback; in its own process (the fork server's child) the callback writes the
latest state to ``logs/<job_id>.progress`` (replaced atomically, at most a few times a second) and the
executor, waiting for the job, reads it back for the live display.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Progress:
    stage: str
    done: int | None = None
    total: int | None = None
    unit: str = ""
    rate: float | None = None  # units per second in this stage, where it means something (items/s)
    t: float = 0.0  # perf_counter when the stage started

    def text(self) -> str:
        if self.total:
            rate = f", {self.rate:.3g} {self.unit}/s" if self.rate else ""
            return f"{self.stage} {self.done or 0}/{self.total}{' ' + self.unit if self.unit else ''}{rate}"
        return self.stage


Report = Callable[[Progress], None]


class Stage:
    """The worker's current stage: ``stage.start("timed", total=30, unit="calls")``, then ``stage.step(i)``."""

    def __init__(self, report: Report | None = None):
        self.name = "load"
        self._report = report
        self._current = Progress("load")

    def start(self, name: str, *, total: int | None = None, unit: str = "") -> None:
        self.name = name
        self._current = Progress(name, 0 if total else None, total, unit, None, time.perf_counter())
        self._emit()

    def step(self, done: int) -> None:
        p = self._current
        p.done = done
        elapsed = time.perf_counter() - p.t
        p.rate = done / elapsed if elapsed > 0 and p.unit == "items" else None
        self._emit()

    def _emit(self) -> None:
        if self._report is not None:
            with contextlib.suppress(Exception):  # a display must never fail a job
                self._report(Progress(**asdict(self._current)))


class ProgressFile:
    """A :data:`Report` that keeps the latest state in a file (atomic replace, throttled)."""

    def __init__(self, path: Path, min_interval_s: float = 0.2):
        self.path, self.min_interval = Path(path), min_interval_s
        self._last, self._stage = 0.0, ""

    def __call__(self, p: Progress) -> None:
        now = time.perf_counter()
        if p.stage == self._stage and now - self._last < self.min_interval and p.done != p.total:
            return
        self._last, self._stage = now, p.stage
        tmp = self.path.with_suffix(".progress.tmp")
        tmp.write_text(json.dumps(asdict(p)))
        os.replace(tmp, self.path)


def read_progress(path: Path) -> Progress | None:
    try:
        return Progress(**json.loads(Path(path).read_text()))
    except (OSError, ValueError, TypeError):
        return None

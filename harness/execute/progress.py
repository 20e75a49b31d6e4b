"""Where a running job is: its stage and how far through it (``load``, ``compile``, ``warmup 1/2``,
``timed 7/30``, ``quality 300/1000 items``, ``metrics fd_digits``).

The worker reports through a callback; in its own process (the fork server's child) the callback writes the
latest state to ``logs/<job_id>.progress`` (replaced atomically, at most a few times a second) and the
executor, waiting for the job, reads it back for the display and for its watchdog: each state names the job's
phase (load, compile, measure) and, once the pipeline is loaded, the job's budgets
(:mod:`harness.execute.budgets`).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
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
    phase: str | None = None  # load | compile | measure: which budget applies
    budgets: dict | None = None  # the job's budgets (Budgets.to_dict()), once the pipeline is loaded

    def text(self) -> str:
        if self.total:
            rate = f", {self.rate:.3g} {self.unit}/s" if self.rate else ""
            return f"{self.stage} {self.done or 0}/{self.total}{' ' + self.unit if self.unit else ''}{rate}"
        return self.stage


Report = Callable[[Progress], None]


class Stage:
    """The worker's current stage: ``stage.start("timed", total=30, unit="calls")``, then ``stage.step(i)``.

    Each stage belongs to a phase (``load``, ``compile``, ``measure``) whose budget the executor applies; a
    stage keeps the phase it was started in unless a step says otherwise (the warm-up's first call is the
    compile phase's end)."""

    def __init__(self, report: Report | None = None):
        self.name = "load"
        self._report = report
        self._current = Progress("load", phase="load")
        self.budgets: dict | None = None

    def start(self, name: str, *, total: int | None = None, unit: str = "", phase: str | None = None) -> None:
        self.name = name
        phase = phase or self._current.phase
        self._current = Progress(
            name, 0 if total else None, total, unit, None, time.perf_counter(), phase, self.budgets
        )
        self._emit()

    def set_budgets(self, budgets: dict) -> None:
        """The job's budgets, reported with every later state (the executor's watchdog takes them in)."""
        self.budgets = budgets
        self._current.budgets = budgets
        self._emit()

    def step(self, done: int, *, phase: str | None = None) -> None:
        p = self._current
        p.done = done
        if phase is not None:
            p.phase = phase
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
        self._last, self._kind = 0.0, None
        self._lock = threading.Lock()  # a LoadGen scenario reports from its issuing threads

    def __call__(self, p: Progress) -> None:
        now = time.perf_counter()
        kind = (p.stage, p.phase, p.budgets is not None)  # a new stage, phase or budget is always written
        with self._lock:
            if kind == self._kind and now - self._last < self.min_interval and p.done != p.total:
                return
            self._last, self._kind = now, kind
            tmp = self.path.with_suffix(".progress.tmp")
            tmp.write_text(json.dumps(asdict(p)))
            os.replace(tmp, self.path)


def read_progress(path: Path) -> Progress | None:
    try:
        return Progress(**json.loads(Path(path).read_text()))
    except (OSError, ValueError, TypeError):
        return None

"""What ``harness run`` shows while it works.

In a terminal: a live display (rich) of the run as a whole — jobs done of total, elapsed, time left — and of
the running job's stage (load, prepare, warm-up, the timed loop's iterations, the quality pass's items and
items/s, metrics). In a pipe or a CI log: one plain line per finished job, as greppable as before. With
``--quiet``: nothing but the run folder's path at the end (warnings still go to stderr).
"""

from __future__ import annotations

import sys
import time
from typing import Any

from harness.cli.core import say


class RunDisplay:
    def __init__(self, total: int, *, done: int = 0, quiet: bool = False, live: bool | None = None):
        self.total, self.done, self.quiet = total, done, quiet
        self.live = (sys.stdout.isatty() if live is None else live) and not quiet
        self.width = len(str(total))
        self._progress: Any = None
        self._run_task = self._job_task = None
        self._job_label = ""
        self._t0 = time.perf_counter()

    def __enter__(self) -> RunDisplay:
        if self.live:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(bar_width=24),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                transient=False,
                refresh_per_second=4,
            )
            self._progress.__enter__()
            self._run_task = self._progress.add_task("run", total=self.total, completed=self.done)
            self._job_task = self._progress.add_task("", total=None, visible=False)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.update(self._job_task, visible=False)
            self._progress.__exit__(*exc)
            self._progress = None

    def line(self, text: str) -> None:
        """A line of the run's log (above the live display, or plain)."""
        if self.quiet:
            return
        if self._progress is not None:
            self._progress.console.print(text, markup=False, highlight=False)
        else:
            say(text)

    def progress(self, job: Any, state: Any) -> None:
        if self._progress is None:
            return
        label = f"{job.model} / {job.variant} / {job.backend}"
        self._progress.update(
            self._job_task,
            description=f"  {label}: {state.text()}",
            total=state.total,
            completed=state.done or 0,
            visible=True,
        )

    def job_done(self, text: str) -> None:
        self.done += 1
        self.line(f"[{self.done:>{self.width}}/{self.total}] {text}")
        if self._progress is not None:
            self._progress.update(self._run_task, completed=self.done)
            self._progress.update(self._job_task, visible=False)

"""What ``harness run`` shows while it works.

In a terminal: a live display (rich) of the run as a whole — jobs done of total, elapsed, time left — and of
the running job's stage (load, prepare, warm-up, the timed loop's iterations, the quality pass's items and
items/s, metrics). In a pipe or a CI log: a plain line when the running job enters a stage and at least one a
minute while it stays there (a 16-minute compile must not look like a hang), and one per finished job, as
greppable as before. In both, each job's budgets (:mod:`harness.execute.budgets`) once its pipeline is loaded.
With ``--quiet``: nothing but the run folder's path at the end (warnings still go to stderr).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from harness.cli.core import say

HEARTBEAT_S = 60.0  # in a pipe, the longest silence while a stage runs


class RunDisplay:
    def __init__(
        self,
        total: int,
        *,
        done: int = 0,
        quiet: bool = False,
        live: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.total, self.done, self.quiet = total, done, quiet
        self.live = (sys.stdout.isatty() if live is None else live) and not quiet
        self.width = len(str(total))
        self._progress: Any = None
        self._run_task = self._job_task = None
        self._clock = clock
        self._announced: set[str] = set()  # jobs whose budgets were shown
        self._shown: tuple[str, str] | None = None  # (job, stage) of the last plain progress line
        self._stage_t = self._line_t = 0.0

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
        """The running job's latest state (heard a few times a second)."""
        label = f"{job.model} / {job.variant} / {job.backend}"
        if getattr(state, "budgets", None) and job.job_id not in self._announced:
            from harness.execute.budgets import Budgets

            self._announced.add(job.job_id)
            self.line(f"  {label}: {Budgets(**state.budgets).text()}")
        if self._progress is None:
            self._plain(job, label, state)
            return
        self._progress.update(
            self._job_task,
            description=f"  {label}: {state.text()}",
            total=state.total,
            completed=state.done or 0,
            visible=True,
        )

    def _plain(self, job: Any, label: str, state: Any) -> None:
        """Not a terminal: a line when the job enters a stage, then one a minute while the stage runs."""
        if self.quiet:
            return
        now = self._clock()
        where = (job.job_id, state.stage)
        if where != self._shown:
            self._shown, self._stage_t, self._line_t = where, now, now
            self.line(f"  {label}: {state.text()}")
        elif now - self._line_t >= HEARTBEAT_S:
            self._line_t = now
            self.line(f"  {label}: {state.text()} ({now - self._stage_t:.0f} s in this stage)")

    def job_done(self, text: str) -> None:
        self.done += 1
        self.line(f"[{self.done:>{self.width}}/{self.total}] {text}")
        if self._progress is not None:
            self._progress.update(self._run_task, completed=self.done)
            self._progress.update(self._job_task, visible=False)

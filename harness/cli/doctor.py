"""``harness doctor``: is this machine fit to measure? Exit 0 when it is, 1 (with each reason) when not."""

from __future__ import annotations

import argparse
import json
from typing import Any

from harness.cli.core import EXIT_FAILED, EXIT_OK, err, say
from harness.core.errors import UserInputError
from harness.measure.env import resolve_device


def cmd_doctor(args: argparse.Namespace) -> int:
    if args.iterations is not None and args.iterations < 2:
        raise UserInputError(f"--iterations: must be at least 2, got {args.iterations}")
    iterations, threads = args.iterations, None
    if args.suite:
        from harness.config import load_suite

        suite = load_suite(args.suite)
        iterations = iterations or suite.measurement.min_iterations
        threads = suite.threads
    device = resolve_device(args.device)

    from harness.doctor.checks import run_doctor

    report = run_doctor(device, iterations=iterations or 30, threads=threads, quick=args.quick)
    if args.json:
        from harness.results.store import dumps

        say(json.dumps(json.loads(dumps(report.to_dict())), indent=2))
    else:
        _table(report)
    if not report.fit:
        for reason in report.reasons:
            err(f"not fit to measure: {reason}")
    return EXIT_OK if report.fit else EXIT_FAILED


def _table(report: Any) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(width=max(110, Console().width))
    table = Table("", "check", "measured", "", "what it means", title=f"harness doctor — {report.device}")
    for f in report.findings:
        mark = {True: "[green]ok[/green]", False: "[red]NOT FIT[/red]", None: "info"}[f.ok]
        table.add_row(f.section, escape(f.name), escape(f.value), mark, escape(f.detail))
    console.print(table)
    verdict = "fit to measure" if report.fit else f"NOT fit to measure ({len(report.reasons)} reason(s))"
    console.print(f"{verdict} · {report.seconds:.1f} s")


def register(sub: Any) -> None:
    d = sub.add_parser(
        "doctor",
        help="measure this machine as an instrument: timer, overhead, memory, noise, contention, energy",
    )
    d.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default="auto",
        help="what to check (auto: cuda if present)",
    )
    d.add_argument("--json", action="store_true", help="print the findings as JSON")
    d.add_argument(
        "--suite", default=None, metavar="FILE", help="take threads and the iteration count from this suite"
    )
    d.add_argument(
        "--iterations",
        type=int,
        default=None,
        metavar="N",
        help="iterations per side for the gate's detectable slowdown (default: the suite's min_iterations, else 30)",
    )
    d.add_argument("--quick", action="store_true", help="fewer repeats (a rough answer in a few seconds)")
    d.set_defaults(fn=cmd_doctor)

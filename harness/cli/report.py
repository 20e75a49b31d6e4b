"""``harness report RUN_DIR...``: report.html, report.md, frontier.csv, records.parquet and Pareto PNGs."""

from __future__ import annotations

import argparse
from typing import Any

from harness.cli.core import EXIT_OK, err, output_folder, say, switch


def cmd_report(args: argparse.Namespace) -> int:
    from harness.report import build_report

    if args.out is not None:
        output_folder(args.out, "--out")
    out = build_report(args.run_dirs, args.out, html=args.html, allow_mismatch=args.allow_mismatch)
    for line in out["read_once"]:
        err(f"note: {line}")
    for w in out.get("warnings") or []:
        err(f"warning: {w}")
    for p in out["plots"]:
        say(f"wrote {p}")
    for key in ("frontier_csv", "parquet", "markdown", "html"):
        if out.get(key):
            say(f"wrote {out[key]}")
    for line in out.get("skipped") or []:
        err(f"skipped {line}")
    tally = out["tally"]
    if tally.measured < out["n_jobs"]:
        err(
            f"note: {out['n_jobs'] - tally.measured} of {out['n_jobs']} jobs are not a measured success; "
            "the report says why"
        )
    code = tally.reader_exit_code()
    if code != EXIT_OK:
        for s in tally.shortfalls:
            err(f"error: {s.text()}")
        err("error: no job was measured: the report shows only failures and shortfalls (above)")
    return code


def register(sub: Any) -> None:
    rep = sub.add_parser(
        "report", help="write report.html, report.md, frontier.csv, records.parquet and Pareto PNGs for runs"
    )
    rep.add_argument(
        "run_dirs",
        nargs="+",
        metavar="RUN_DIR",
        help="results/<run_id>/ folders; several are merged when environments and fingerprints agree",
    )
    rep.add_argument(
        "--out",
        metavar="DIR",
        help="where to write (default: the run folder; required with several runs)",
    )
    rep.add_argument(
        "--allow-mismatch",
        action="store_true",
        help="merge runs whose environments or metric fingerprints differ (the report says so)",
    )
    switch(rep, "--html", "write the self-contained report.html")
    rep.set_defaults(fn=cmd_report)

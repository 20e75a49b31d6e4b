"""``harness compare``, ``harness export`` and ``harness gate record|derive``: the CI regression gate."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from harness.cli.core import EXIT_FAILED, EXIT_OK, Parser, csv_list, err, output_file, say, write_text
from harness.core.errors import UserInputError


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.gate.compare import compare_runs
    from harness.gate.render import skipped_junit, skipped_markdown, to_junit, to_markdown
    from harness.results.runs import NotComparable
    from harness.results.store import dumps

    markdown, junit = output_file(args.markdown, "--markdown"), output_file(args.junit, "--junit")
    try:
        cmp = compare_runs(
            args.base,
            args.head,
            args.gate,
            allow_mismatch=args.allow_mismatch,
            allow_missing=args.allow_missing,
            strict=args.strict,
        )
    except NotComparable as exc:
        if not args.skip_on_mismatch:
            raise
        # An explicit opt-out (make test on a machine unlike every baseline): exit 0, and every output says
        # that nothing was compared and nothing passed.
        reason = (
            f"the baseline cannot judge this machine ({'; '.join(exc.differences)}); "
            "record one here with `make gate-baseline`"
        )
        line = f"NOT COMPARED (--skip-on-mismatch): nothing was compared and nothing passed: {reason}"
        if args.json:
            verdict = {"verdict": "not compared", "passed": False, "exit_code": EXIT_OK}
            say(json.dumps({**verdict, "skipped": "--skip-on-mismatch", "differences": exc.differences}))
        else:
            say(line)
        _write_outputs(markdown, junit, skipped_markdown(reason), lambda: skipped_junit(reason))
        return EXIT_OK
    for w in cmp.warnings:
        err(f"warning: {w}")
    if cmp.differences:
        err(f"warning: comparing runs that differ (--allow-mismatch): {'; '.join(cmp.differences)}")
    md = to_markdown(cmp)
    say(json.dumps(json.loads(dumps(cmp.to_dict())), indent=2) if args.json else md)
    if cmp.verdict == "not compared":
        err("error: NOT COMPARED: no gate compared a value; each gate and why:")
        for key, why in cmp.not_compared().items():
            err(f"error: {key}: {why}")
    _write_outputs(markdown, junit, md, lambda: to_junit(cmp))
    return cmp.exit_code


def _write_outputs(markdown, junit, md: str, junit_text) -> None:
    """--markdown, --junit and $GITHUB_STEP_SUMMARY (appended)."""
    if markdown:
        write_text(markdown, md, "--markdown")
    if junit:
        write_text(junit, junit_text(), "--junit")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        try:
            with open(summary, "a", encoding="utf-8") as fh:
                fh.write(md + "\n")
        except OSError as exc:
            err(f"warning: GITHUB_STEP_SUMMARY: cannot append to {summary} ({exc.strerror or exc})")


def cmd_export(args: argparse.Namespace) -> int:
    from harness.gate.export import export_run
    from harness.results.store import dumps

    out = output_file(args.output, "--output")
    result = export_run(args.run_dir, args.format)
    where = (
        "not exported (Bencher's format has no place for it)"
        if args.format == "bencher"
        else 'not exported, listed under "not_measured"'
    )
    for s in result.left_out:
        err(f"warning: {where}: {s.text()}")
    if not result.benchmarks:
        err(f"error: {args.run_dir}: no job was measured: nothing to export, nothing written (above: why)")
        return EXIT_FAILED
    text = json.dumps(json.loads(dumps(result.data)), indent=2)
    if out is None:
        say(text)
    else:
        write_text(out, text + "\n", "--output")
        say(f"wrote {args.output} ({result.benchmarks} benchmarks, {args.format} format)")
    code = result.tally.reader_exit_code()
    if code != EXIT_OK:
        err(
            f"error: {args.run_dir}: no job is a measured success (above: why); the file holds what was measured"
        )
    return code


def cmd_gate_record(args: argparse.Namespace) -> int:
    from harness.gate.baselines import record_baseline

    dest, replaced = record_baseline(args.run_dir, args.into)
    for p in replaced:
        say(f"replaced {p} (the same kind of machine)")
    say(f"baseline: {dest} (from {args.run_dir})")
    return EXIT_OK


def cmd_gate_derive(args: argparse.Namespace) -> int:
    from harness.gate.derive import derive_gates, gates_yaml

    if not args.k > 0:
        raise UserInputError(f"--k: must be > 0, got {args.k}")
    out = output_file(args.output, "--output")
    gates, spreads = derive_gates(args.run_dirs, k=args.k, keys=args.keys)
    text = gates_yaml(gates, spreads, args.run_dirs, args.k)
    if out is None:
        say(text.rstrip())
    else:
        write_text(out, text, "--output")
        for line in text.splitlines():
            if line.startswith("#   "):
                say(line[4:])
        say(f"wrote {args.output}")
    return EXIT_OK


def register(sub: Any) -> None:
    _register_compare(sub)
    _register_export(sub)
    _register_gate_tools(sub)


# compare's on/off flags: (flag, help)
COMPARE_FLAGS = (
    (
        "--allow-missing",
        "a job ok in base and missing in head is a warning, not a regression (deliberately partial runs)",
    ),
    (
        "--strict",
        "fail on inconclusive checks (too few samples or too much noise to decide) and on gates that "
        "compared no value too",
    ),
    (
        "--skip-on-mismatch",
        "when no baseline matches this machine: exit 0 instead of 2, every output saying NOT COMPARED "
        "(nothing was compared and nothing passed)",
    ),
    (
        "--allow-mismatch",
        "compare even when environments or metric fingerprints differ (and say what differs)",
    ),
    ("--json", "print the verdict as JSON instead of the table"),
)


def _register_compare(sub: Any) -> None:
    cmp = sub.add_parser(
        "compare",
        help="CI regression gate: compare HEAD_RUN with BASE_RUN under gates (exit 1 on a regression, 2 when "
        "no gate compared a value)",
    )
    cmp.add_argument(
        "base",
        metavar="BASE_RUN",
        help="the reference run folder, or a folder of baselines (one per machine: `harness gate record`)",
    )
    cmp.add_argument("head", metavar="HEAD_RUN", help="the run under test")
    cmp.add_argument(
        "--gate",
        metavar="FILE",
        help="YAML with 'gates:' (a gate file or a suite); default: the head run's suite gates (needed: one or the other)",
    )
    cmp.add_argument("--junit", metavar="FILE", help="write JUnit XML (one testcase per job × column)")
    cmp.add_argument("--markdown", metavar="FILE", help="write the Markdown table to FILE")
    for flag, text in COMPARE_FLAGS:
        cmp.add_argument(flag, action="store_true", help=text)
    cmp.set_defaults(fn=cmd_compare)


def _register_export(sub: Any) -> None:
    ex = sub.add_parser(
        "export",
        help="write a run's measured values in another tool's format (pytest-benchmark JSON, Bencher's BMF "
        "JSON); jobs not measured are listed (pytest-benchmark) or named on stderr (BMF); exit 1 when none was",
    )
    ex.add_argument("run_dir", metavar="RUN_DIR")
    ex.add_argument(
        "--format",
        choices=["pytest-benchmark", "bencher"],
        default="pytest-benchmark",
        help="pytest-benchmark's --benchmark-json, or Bencher Metric Format for `bencher run --file` "
        "(default: pytest-benchmark)",
    )
    ex.add_argument("-o", "--output", metavar="FILE", required=True, help="output file ('-': stdout)")
    ex.set_defaults(fn=cmd_export)


def _register_gate_tools(sub: Any) -> None:
    g = sub.add_parser(
        "gate", help="regression-gate tools: record a baseline, derive thresholds from repeated runs"
    )
    gsub = g.add_subparsers(dest="gate_command", required=True, parser_class=Parser, metavar="ACTION")
    gr = gsub.add_parser(
        "record", help="keep a run as the baseline for its kind of machine in a folder of baselines"
    )
    gr.add_argument("run_dir", metavar="RUN_DIR", help="the run to keep (its run.json and records.jsonl)")
    gr.add_argument(
        "--into",
        metavar="DIR",
        required=True,
        help="folder of baselines; one already there for the same kind of machine is replaced",
    )
    gr.set_defaults(fn=cmd_gate_record)
    gd = gsub.add_parser(
        "derive", help="thresholds = max(k × largest change between runs of the same code, floor)"
    )
    gd.add_argument(
        "run_dirs", nargs="+", metavar="RUN_DIR", help="two or more runs of the same suite and code"
    )
    gd.add_argument("-o", "--output", metavar="FILE", required=True, help="gate file to write ('-': stdout)")
    gd.add_argument(
        "--k", type=float, default=3.0, help="multiplier on the largest observed change (default 3)"
    )
    gd.add_argument(
        "--keys",
        type=csv_list,
        metavar="COL,...",
        help="columns to gate (default: latency_ms.p50, memory, every metric with a value)",
    )
    gd.set_defaults(fn=cmd_gate_derive)

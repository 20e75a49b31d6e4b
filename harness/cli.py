"""The ``harness`` command. Thin: parses flags, calls the package, maps errors to exit codes.

Exit codes: 0 success, 1 a job failed (run) or a regression (compare), 2 bad input.
Nothing heavy is imported here; each subcommand imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

from harness import __version__
from harness.errors import HarnessError, UserInputError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, printable(f"error: {self.prog}: {message} (see {self.prog} --help)") + "\n")


def say(text: str = "") -> None:
    print(text, flush=True)


def printable(text: str) -> str:
    """Control characters from user input escaped, so an error stays one visible line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def err(text: str) -> None:
    print(printable(text), file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------ run


def _csv(value: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list of names")
    return items


def cmd_run(args: argparse.Namespace) -> int:
    if args.resume and args.suite:
        raise UserInputError("give a suite or --resume RUN_DIR, not both")
    if not args.resume and not args.suite:
        raise UserInputError("give a suite to run, or --resume RUN_DIR")
    if args.repeat < 1:
        raise UserInputError(f"--repeat: must be at least 1, got {args.repeat}")
    if args.gpus_per_job < 0:
        raise UserInputError(f"--gpus-per-job: must be ≥ 0, got {args.gpus_per_job}")
    if args.executor != "ray" and (args.address or args.gpus_per_job):
        raise UserInputError("--address and --gpus-per-job apply to --executor ray")
    if args.resume:
        return _resume(args)

    from harness.config import load_suite
    from harness.plan import plan, portable_path

    suite = load_suite(args.suite)
    jobs = plan(suite, only=args.only)
    if not jobs:
        raise UserInputError("the suite has no job to run", source=args.suite)
    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserInputError("--out: exists and is not a folder", source=str(out_dir))

    from harness.measure.env import host_environment, resolve_device
    from harness.results import RunStore

    device = resolve_device(args.device or suite.device)
    worst = EXIT_OK
    for repeat in range(args.repeat):
        store = RunStore.create(out_dir, suite.name)
        meta: dict[str, Any] = {
            "run_id": store.run_id,
            "suite": {**suite.model_dump(mode="json"), "path": portable_path(suite.path)},
            "device": device,
            "isolation": args.isolation,
            "executor": args.executor,
            "only": args.only,
            "repeat": {"index": repeat, "of": args.repeat},
            "environment": host_environment(),
            "jobs": [j.to_portable_dict() for j in jobs],
        }
        store.write_meta(meta)
        worst = max(worst, _execute(store, meta, jobs, device, args))
    return worst


def _resume(args: argparse.Namespace) -> int:
    """Run only the jobs of RUN_DIR that have no finished record (ok or failed)."""
    from harness.plan import Job
    from harness.results import RunStore

    store = RunStore.open(args.resume)
    meta = store.meta()
    if "jobs" not in meta:
        raise UserInputError("run.json has no job list (not written by harness run)", source=str(store.path))
    jobs = [Job.from_dict(j) for j in meta["jobs"]]
    done = {r["job_id"] for r in store.records() if r.get("status") in ("ok", "failed")}
    todo = [j for j in jobs if j.job_id not in done]
    say(f"resuming {store.run_id}: {len(done)} of {len(jobs)} jobs already recorded, {len(todo)} to run")
    meta.setdefault("resumed", []).append(time.strftime("%Y-%m-%dT%H:%M:%S"))
    store.write_meta(meta)
    return _execute(store, meta, todo, meta["device"], args, total=len(jobs), offset=len(done))


def _execute(
    store,
    meta: dict[str, Any],
    jobs: list,
    device: str,
    args: argparse.Namespace,
    total: int | None = None,
    offset: int = 0,
) -> int:
    total = total or len(jobs)
    say(
        f"run {store.run_id}: {len(jobs)} jobs on {device} ({args.executor} executor, {args.isolation} isolation)"
    )
    width = len(str(total))
    counter = {"i": offset}

    def on_record(rec: dict[str, Any]) -> None:
        counter["i"] += 1
        label = f"[{counter['i']:>{width}}/{total}] {rec['model']} / {rec['variant']} / {rec['backend']}"
        if rec["status"] == "ok":
            lat = rec["latency_ms"]
            thr = rec.get("throughput") or {}
            say(f"{label}: ok  p50 {lat['p50']:.1f} ms  {thr.get('value', 0):.3g} {thr.get('unit', '')}")
        else:
            e = rec.get("error") or {}
            say(f"{label}: {rec['status'].upper()} {e.get('type')}: {e.get('message')}")
        if "device_environment" not in meta and rec.get("environment"):
            meta["device_environment"] = rec["environment"]
            store.write_meta(meta)

    if args.executor == "ray":
        from harness.execute.ray_executor import RayExecutor

        executor: Any = RayExecutor(address=args.address, gpus_per_job=args.gpus_per_job)
    else:
        from harness.execute.local import LocalExecutor

        executor = LocalExecutor(args.isolation)
    try:
        executor.run(jobs, store, device, on_record=on_record)
    except KeyboardInterrupt:
        err(f"interrupted; what finished is in {store.path} (harness run --resume {store.path})")
        return 130
    records = store.records()
    failed = sum(r["status"] != "ok" for r in records)
    if failed:
        say(f"{failed} of {len(records)} jobs failed (see records.jsonl and logs/)")
    say(str(store.path))
    return EXIT_FAILED if failed else EXIT_OK


# --------------------------------------------------------------------------------------------- report


def cmd_report(args: argparse.Namespace) -> int:
    from harness.report import build_report

    out = build_report(args.run_dirs, args.out, html=args.html, allow_mismatch=args.allow_mismatch)
    for p in out["plots"]:
        say(f"wrote {p}")
    for key in ("frontier_csv", "parquet", "markdown", "html"):
        if out.get(key):
            say(f"wrote {out[key]}")
    for line in out.get("skipped") or []:
        err(f"skipped {line}")
    return EXIT_OK


# ------------------------------------------------------------------------------------------- validate


def _yaml_files(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(q for q in p.rglob("*.y*ml") if "configs" not in q.relative_to(p).parts)
        else:
            files.append(p)
    return files


def cmd_validate(args: argparse.Namespace) -> int:
    from harness.config import load_card, load_suite, sniff_kind
    from harness.plan import check_suite

    bad = 0
    files = _yaml_files(args.paths)
    if not files:
        raise UserInputError("no YAML files found", source=" ".join(args.paths))
    for path in files:
        try:
            kind = sniff_kind(path)
            if kind == "card":
                card = load_card(path)
                say(
                    f"ok   {path}: card '{card.name}' ({card.modality}, {card.task}, source {card.source.kind})"
                )
            else:
                suite = load_suite(path)
                pf = suite.workload.prompts_file
                unset = sorted(set(re.findall(r"\$\{?(\w+)\}?", pf or "")) - set(os.environ))
                check_suite(suite, check_files=not unset)
                n_variants = sum(len(m.variants) for m in suite.models)
                note = f"; needs user data: {pf} (set {', '.join(unset)})" if unset else ""
                say(
                    f"ok   {path}: suite '{suite.name}' ({len(suite.models)} models, {n_variants} variants){note}"
                )
        except UserInputError as exc:
            bad += 1
            err(f"error: {exc}")
    return EXIT_BAD_INPUT if bad else EXIT_OK


# ------------------------------------------------------------------------------------------------- ls


def cmd_ls(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(100, Console().width))
    if args.what == "cards":
        from harness.catalog import card_files
        from harness.config import load_card

        table = Table("name", "modality", "task", "source", "pipeline", "file")
        for name, path in sorted(card_files().items()):
            try:
                c = load_card(path)
                src = c.source.repo_id if c.source.kind == "hub" else f"{c.source.kind}: {c.source.path}"
                table.add_row(c.name, c.modality, c.task, src, c.pipeline, str(_rel(path)))
            except UserInputError as exc:
                table.add_row(name, "", "", f"[red]invalid: {exc.detail}[/red]", "", str(_rel(path)))
        console.print(table)
    elif args.what == "suites":
        from harness.catalog import suite_files
        from harness.config import load_suite

        table = Table("name", "models", "metrics", "objectives", "file")
        for _name, path in sorted(suite_files().items()):
            try:
                s = load_suite(path)
                table.add_row(
                    s.name,
                    str(len(s.models)),
                    ", ".join(s.metric_names),
                    ", ".join(s.objectives),
                    str(_rel(path)),
                )
            except UserInputError as exc:
                table.add_row(path.stem, "", "", f"[red]invalid: {exc.detail}[/red]", str(_rel(path)))
        console.print(table)
    else:
        from harness.backends import BACKENDS
        from harness.metrics import METRICS

        reg = BACKENDS if args.what == "backends" else METRICS
        table = Table("name", "what")
        for name in reg:
            table.add_row(name, reg.summary(name))
        console.print(table)
    return EXIT_OK


def _rel(path: Path) -> Path:
    try:
        return path.resolve().relative_to(Path.cwd())
    except ValueError:
        return path


# ---------------------------------------------------------------------------------------------- cache


def cmd_cache(args: argparse.Namespace) -> int:
    from harness.backends.cache import ArtifactCache

    cache = ArtifactCache(args.dir) if args.dir else ArtifactCache()
    if args.action == "path":
        say(str(cache.root))
    elif args.action == "ls":
        entries = [e for e in cache.entries() if not args.backend or e.get("backend") == args.backend]
        if not entries:
            say(f"no cached artifacts in {cache.root}")
        for e in entries:
            parts = e.get("parts") or {}
            what = parts.get("component") or parts.get("onnx", "")
            say(f"{e['backend']:<12} {e['key']}  {what:<13} {e['size_mib']:8.1f} MiB  {e.get('created', '')}")
        total = sum(e["size_mib"] for e in entries)
        say(f"{len(entries)} entries, {total:.1f} MiB in {cache.root}")
    else:
        n = cache.clear(args.backend)
        say(f"removed {n} entries from {cache.root}")
    return EXIT_OK


# ------------------------------------------------------------------------------ compare, export, gate


def cmd_compare(args: argparse.Namespace) -> int:
    import json

    from harness.gate import NotComparable, compare_runs, to_junit, to_markdown
    from harness.results import dumps

    try:
        cmp = compare_runs(args.base, args.head, args.gate, allow_mismatch=args.allow_mismatch)
    except NotComparable as exc:
        if not args.skip_on_mismatch:
            raise
        # A baseline recorded on another kind of machine cannot judge this one: say so and pass.
        say(
            f"skipped: the baseline cannot judge this machine ({'; '.join(exc.differences)}); "
            "record one here with `make gate-baseline`"
        )
        return EXIT_OK
    if cmp.differences:
        err(f"warning: comparing runs that differ (--allow-mismatch): {'; '.join(cmp.differences)}")
    md = to_markdown(cmp)
    if args.json:
        say(json.dumps(json.loads(dumps(cmp.to_dict())), indent=2))
    else:
        say(md)
    if args.markdown:
        Path(args.markdown).write_text(md, encoding="utf-8")
    if args.junit:
        Path(args.junit).write_text(to_junit(cmp), encoding="utf-8")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(md + "\n")
    return EXIT_FAILED if cmp.regressions else EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    import json

    from harness.gate import to_pytest_benchmark
    from harness.results import dumps

    data = to_pytest_benchmark(args.run_dir)
    text = json.dumps(json.loads(dumps(data)), indent=2)
    if args.output == "-":
        say(text)
    else:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
        say(f"wrote {args.output} ({len(data['benchmarks'])} benchmarks)")
    return EXIT_OK


def cmd_gate_record(args: argparse.Namespace) -> int:
    from harness.gate import record_baseline

    dest, replaced = record_baseline(args.run_dir, args.into)
    for p in replaced:
        say(f"replaced {p} (the same kind of machine)")
    say(f"baseline: {dest} (from {args.run_dir})")
    return EXIT_OK


def cmd_gate_derive(args: argparse.Namespace) -> int:
    from harness.gate import derive_gates, gates_yaml

    if args.k <= 0:
        raise UserInputError(f"--k: must be > 0, got {args.k}")
    gates, spreads = derive_gates(args.run_dirs, k=args.k, keys=args.keys)
    text = gates_yaml(gates, spreads, args.run_dirs, args.k)
    if args.output == "-":
        say(text.rstrip())
    else:
        Path(args.output).write_text(text, encoding="utf-8")
        for line in text.splitlines():
            if line.startswith("#   "):
                say(line[4:])
        say(f"wrote {args.output}")
    return EXIT_OK


# ----------------------------------------------------------------------------------------------- main


def build_parser() -> Parser:
    p = Parser(
        prog="harness",
        description="Benchmark image, video and audio generators: speed, memory, compile cost and quality.",
    )
    p.add_argument("--version", action="version", version=f"harness {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="COMMAND")

    r = sub.add_parser("run", help="run a suite; writes results/<run_id>/ and prints it")
    r.add_argument("suite", nargs="?", help="suite YAML file")
    r.add_argument("--out", default="results", help="parent folder of the run folder (default: results)")
    r.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default=None,
        help="where jobs run (default: the suite's device, auto = cuda if present)",
    )
    r.add_argument(
        "--only",
        type=_csv,
        default=None,
        metavar="MODEL,...",
        help="run only these cards (by name or reference); other cards that do not load here are left out",
    )
    r.add_argument(
        "--isolation",
        choices=["process", "none"],
        default="process",
        help="each job in its own process (default), or in this process",
    )
    r.add_argument(
        "--resume",
        metavar="RUN_DIR",
        default=None,
        help="run only the jobs of an interrupted run that have no record yet",
    )
    r.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="run the suite N times (one run folder each), e.g. to measure the noise floor",
    )
    r.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="run jobs here one by one (default) or as Ray tasks",
    )
    r.add_argument("--address", default=None, help="Ray cluster address (default: start a local one)")
    r.add_argument("--gpus-per-job", type=float, default=0.0, metavar="N", help="GPUs each Ray task holds")
    r.set_defaults(fn=cmd_run)

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
        default=None,
        metavar="DIR",
        help="where to write (default: the run folder; required with several runs)",
    )
    rep.add_argument(
        "--allow-mismatch",
        action="store_true",
        help="merge runs whose environments or metric fingerprints differ (the report says so)",
    )
    rep.add_argument(
        "--html",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write the self-contained report.html (default: yes)",
    )
    rep.set_defaults(fn=cmd_report)

    v = sub.add_parser("validate", help="check model cards and suites (files or folders)")
    v.add_argument("paths", nargs="+", metavar="PATH")
    v.set_defaults(fn=cmd_validate)

    ls = sub.add_parser("ls", help="list cards, suites, backends or metrics")
    ls.add_argument("what", choices=["cards", "suites", "backends", "metrics"])
    ls.set_defaults(fn=cmd_ls)
    c = sub.add_parser("cache", help="list or clear built artifacts (ONNX models, engines, compiler caches)")
    c.add_argument("action", choices=["ls", "clear", "path"])
    c.add_argument("--backend", default=None, help="only this backend's entries")
    c.add_argument(
        "--dir", default=None, help="cache folder (default: $HARNESS_CACHE_DIR or ~/.cache/harness)"
    )
    c.set_defaults(fn=cmd_cache)

    cmp = sub.add_parser(
        "compare", help="CI regression gate: compare HEAD_RUN with BASE_RUN (exit 1 on a regression)"
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
        default=None,
        help="YAML with 'gates:' (a gate file or a suite); default: the head run's suite gates",
    )
    cmp.add_argument(
        "--junit", metavar="FILE", default=None, help="write JUnit XML (one testcase per job × metric)"
    )
    cmp.add_argument("--markdown", metavar="FILE", default=None, help="write the Markdown table to FILE")
    cmp.add_argument(
        "--skip-on-mismatch",
        action="store_true",
        help="exit 0 with a note, instead of 2, when the runs' environments differ (CI on other machines)",
    )
    cmp.add_argument(
        "--allow-mismatch",
        action="store_true",
        help="compare even when environments or metric fingerprints differ (and say what differs)",
    )
    cmp.add_argument("--json", action="store_true", help="print the verdict as JSON instead of the table")
    cmp.set_defaults(fn=cmd_compare)

    ex = sub.add_parser("export", help="write a run in another tool's format (pytest-benchmark JSON)")
    ex.add_argument("run_dir", metavar="RUN_DIR")
    ex.add_argument("--format", choices=["pytest-benchmark"], default="pytest-benchmark")
    ex.add_argument("-o", "--output", metavar="FILE", required=True, help="output file ('-': stdout)")
    ex.set_defaults(fn=cmd_export)

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
        type=_csv,
        default=None,
        metavar="COL,...",
        help="columns to gate (default: latency_ms.p50, memory, every metric with a value)",
    )
    gd.set_defaults(fn=cmd_gate_derive)

    from harness.cli_metrics import add_subcommands

    add_subcommands(sub)
    from harness.zoo.cli import add_subcommands as add_zoo_subcommands

    add_zoo_subcommands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    from harness.backends.cache import configure_compiler_caches

    configure_compiler_caches()  # before anything imports torch
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.fn(args))
    except UserInputError as exc:
        err(f"error: {exc}")
        return EXIT_BAD_INPUT
    except HarnessError as exc:
        err(f"error: {exc}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        err("interrupted")
        return 130
    except BrokenPipeError:  # `harness compare ... | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())

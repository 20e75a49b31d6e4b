"""``harness run SUITE`` and ``harness run --resume RUN_DIR``: the jobs of a suite, one record each."""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from typing import Any

from harness.cli.core import EXIT_FAILED, EXIT_OK, csv_list, err, output_folder, say
from harness.core.errors import UserInputError


def cmd_run(args: argparse.Namespace) -> int:
    if args.resume and args.suite:
        raise UserInputError("give a suite or --resume RUN_DIR, not both")
    if not args.resume and not args.suite:
        raise UserInputError("give a suite to run, or --resume RUN_DIR")
    if args.repeat is not None and args.repeat < 1:
        raise UserInputError(f"--repeat: must be at least 1, got {args.repeat}")
    if args.gpus_per_job < 0:
        raise UserInputError(f"--gpus-per-job: must be ≥ 0, got {args.gpus_per_job}")
    if args.executor != "ray" and (args.address or args.gpus_per_job):
        raise UserInputError("--address and --gpus-per-job apply to --executor ray")
    if args.experiment is not None and args.mlflow is None:
        raise UserInputError("--experiment applies with --mlflow")
    from harness.backends.cache import check_cache_settings

    check_cache_settings()  # HARNESS_CACHE_DIR / HARNESS_CACHE_MAX_GB, before any job builds an artifact
    from harness.execute.preflight import memory_check_mode

    memory_check_mode()  # $HARNESS_MEMORY_CHECK, read by every job: a typo is bad input before the first one
    if args.resume:
        for flag, given, why in (
            ("--set", args.set, "the run's jobs are fixed"),
            ("--only", args.only, "the run's jobs are fixed"),
            (
                "--shards",
                args.shards is not None,
                "the run's jobs keep their shards: the merged values match",
            ),
            ("--repeat", args.repeat is not None, "it completes the one run it is given"),
            ("--device", args.device is not None, "the run's jobs keep the device they were planned on"),
        ):
            if given:
                raise UserInputError(f"{flag} applies to a suite, not to --resume ({why})")
        return _resume(args)

    from harness.config import load_suite
    from harness.config.plan import check_on_device, plan, portable_path

    # Cheap checks first (the suite and its files, names, what each column needs), then what costs seconds
    # (torch to resolve the device, the tracking store), and only then any job.
    if args.shards is not None:  # the same check and record as the suite's field (file: field on bad input)
        args.set = [*(args.set or []), f"workload.shards={args.shards}"]
    suite = load_suite(args.suite, overrides=args.set)
    jobs = plan(suite, only=args.only)
    if not jobs:
        raise UserInputError("the suite has no job to run", source=args.suite)
    out_dir = output_folder(args.out, "--out")

    from harness.measure.env import host_environment, resolve_device
    from harness.results.run_meta import RunMeta
    from harness.results.store import RunStore

    device = resolve_device(args.device or suite.device)
    if args.address is None:  # the jobs run on this machine: its device's meters are looked for, not assumed
        check_on_device(suite, device, only=args.only)
    args.isolation = args.isolation or suite.isolation
    check_isolation(args)
    if args.mlflow is not None:
        check_mlflow(args)
    warn_if_oversubscribed(suite.threads)
    worst = EXIT_OK
    repeats = args.repeat or 1
    for repeat in range(repeats):
        store = RunStore.create(out_dir, suite.name)
        meta = RunMeta(
            run_id=store.run_id,
            suite={**suite.model_dump(mode="json"), "path": portable_path(suite.path)},
            device=device,
            isolation=args.isolation,
            executor=args.executor,
            only=args.only,
            overrides=list(args.set or []),
            repeat={"index": repeat, "of": repeats},
            environment=host_environment(),
            jobs=[j.to_portable_dict() for j in jobs],
        )
        store.write_meta(meta)
        worst = max(worst, _execute(store, meta, jobs, device, args))
    return worst


def check_mlflow(args: argparse.Namespace) -> None:
    """``--mlflow``: the tracking store checked before any job (a bad store must not cost the run)."""
    from harness.cli.track import check_mlflow_target

    check_mlflow_target(args.mlflow)


def check_isolation(args: argparse.Namespace) -> None:
    """Ray runs each job as its own task: a card's variants cannot share a load there."""
    if args.executor == "ray" and args.isolation == "card":
        raise UserInputError(
            "isolation card (one load per card) runs on the local executor; with --executor ray give "
            "--isolation process"
        )


def warn_if_oversubscribed(threads: int | None) -> None:
    """Warn before any job when the jobs' torch threads exceed the cores other processes leave idle: on a
    shared 2-core machine that made a UNet step 140× slower with a within-run CV of only 6 %."""
    from harness.measure.conditions import busy_cores, usable_cores

    cores = usable_cores()
    wanted = threads or cores  # torch's default: one thread per core
    others = busy_cores(0.3)
    idle = max(cores - others, 0.0)
    if wanted > idle + 0.5:
        err(
            f"warning: each job runs {wanted} torch thread(s) but only {idle:.1f} of {cores} core(s) are idle "
            f"(other processes keep {others:.1f} busy): timings will be slower and noisier than on a quiet "
            "machine; the records say so (conditions), `harness doctor` measures it"
        )


def _resume(args: argparse.Namespace) -> int:
    """Run only the jobs of RUN_DIR that have no finished record (ok or failed)."""
    from harness.config.plan import Job
    from harness.results.store import RunStore

    store = RunStore.open(args.resume)
    meta = store.meta()
    if not meta.jobs:
        raise UserInputError("run.json has no job list (not written by harness run)", source=str(store.path))
    try:
        jobs = [Job.from_dict(j) for j in meta.jobs]
    except (TypeError, ValueError) as exc:
        raise UserInputError(
            f"run.json: jobs: not a job list written by harness run ({exc})", source=str(store.path)
        ) from None
    read = store.read()
    for w in read.warnings:
        err(f"warning: {w}")
    # A job failed for a lost shard is not done: resumed, it runs the shards without a state, then itself.
    done = {
        r.job_id
        for r in read.records
        if r.status == "ok" or (r.status == "failed" and (r.error is None or r.error.type != "ShardLost"))
    }
    todo = [j for j in jobs if j.job_id not in done]
    say(f"resuming {store.run_id}: {len(done)} of {len(jobs)} jobs already recorded, {len(todo)} to run")
    args.isolation = args.isolation or meta.isolation or "process"
    check_isolation(args)
    if args.mlflow is not None:
        check_mlflow(args)
    meta.resumed.append(time.strftime("%Y-%m-%dT%H:%M:%S"))
    store.write_meta(meta)
    return _execute(store, meta, todo, meta.device or "cpu", args, total=len(jobs), offset=len(done))


def _execute(
    store, meta, jobs: list, device: str, args: argparse.Namespace, total: int | None = None, offset: int = 0
) -> int:
    from harness.cli.display import RunDisplay
    from harness.results.record import Record

    total = total or len(jobs)
    display = RunDisplay(total, done=offset, quiet=args.quiet)
    display.line(
        f"run {store.run_id}: {len(jobs)} jobs on {device} ({args.executor} executor, {args.isolation} isolation)"
    )

    def on_record(rec: Record) -> None:
        display.job_done(job_line(rec))
        if meta.device_environment is None and rec.environment is not None:
            meta.device_environment = rec.environment
            store.write_meta(meta)

    if args.executor == "ray":
        from harness.execute.ray_executor import RayExecutor

        executor: Any = RayExecutor(address=args.address, gpus_per_job=args.gpus_per_job)
    else:
        from harness.execute.local import LocalExecutor

        executor = LocalExecutor(args.isolation)
    try:
        with display:
            executor.run(jobs, store, device, on_record=on_record, on_progress=display.progress)
    except KeyboardInterrupt:
        err(f"interrupted; what finished is in {store.path} (harness run --resume {store.path})")
        return 130
    code = closing_summary(store.records(), display.line)
    if getattr(args, "mlflow", None) is not None:
        code = max(code, _log_to_mlflow(store.path, args, display.line))
    say(str(store.path))
    return code


def job_line(rec: Any) -> str:
    """The run's line for one finished job: its headline figures, or its status and error; metrics not
    computed and the conditions that distort its timing (contention, throttling) as the record flags them."""
    if rec.ok and rec.latency_ms is not None:
        from harness.results.outcome import scenario_headline

        thr = rec.throughput
        rate = f"  {thr.value:.3g} {thr.unit}" if thr is not None else ""
        bad = [n for n, mv in rec.metrics.items() if mv.status in ("failed", "invalid")]
        note = f"  metric(s) {', '.join(bad)} not computed" if bad else ""
        lg = rec.loadgen
        served = f"  max {lg.max_qps:.3g} QPS" if lg is not None and lg.max_qps is not None else ""
        if served and scenario_headline(lg).valid is False:  # accepted by the suite (require_valid: false)
            served += " (INVALID LoadGen run)"
        flags = rec.conditions.flags if rec.conditions is not None else []
        marks = f"  [{', '.join(flags)}]" if flags else ""
        return f"{rec.label}: ok  p50 {rec.latency_ms.p50:.1f} ms{rate}{served}{note}{marks}"
    e = rec.error
    advice = f" → {e.advice}" if e is not None and e.advice else ""
    return f"{rec.label}: {rec.status.upper()} {e.type if e else ''}: {e.message if e else ''}{advice}"


def _log_to_mlflow(run_dir: Any, args: argparse.Namespace, line: Any) -> int:
    """``--mlflow``: the finished run into MLflow. A failure to log is exit 1 (what was asked did not happen)
    but loses nothing: the run folder is complete and ``harness log`` logs it later."""
    from harness.cli.track import log_mlflow
    from harness.core.errors import HarnessError

    try:
        log_mlflow(run_dir, args.mlflow, experiment=args.experiment, line=line)
    except HarnessError as exc:
        err(f"error: MLflow: {exc}; the run is complete, log it later: harness log {run_dir} --mlflow URI")
        return EXIT_FAILED
    return EXIT_OK


def closing_summary(records: list, line: Any = say) -> int:
    """What the run measured and what it did not (:mod:`harness.results.outcome`): failed jobs, jobs "ok"
    without their headline or with it from a run its engine calls invalid, metrics failed or invalid, and
    every metric skipped with its reason. Exit 1 unless every job is a measured success."""
    from harness.results.outcome import Tally

    tally = Tally.of_records(records)
    failed = [r for r in records if not r.ok]
    if failed:
        line(f"{len(failed)} of {len(records)} jobs failed (see records.jsonl and logs/)")
    metric_lines: dict[tuple[str, str], list[str]] = defaultdict(list)
    for s in tally.shortfalls:
        job, sep, what = s.subject.partition(": metric ")
        if sep:
            metric_lines[(f"metric {what} {s.kind}", s.reason)].append(job)
        elif s.kind != "failed":
            line(f"{s.subject}: {s.label}: {s.reason}")
    for r in records:
        for name, mv in r.metrics.items():
            if mv.status == "skipped":
                metric_lines[(f"metric {name} skipped", mv.reason or "")].append(r.label)
    for (what, reason), labels in sorted(metric_lines.items()):
        where = labels[0] if len(labels) == 1 else f"{len(labels)} jobs"
        line(f"{what} on {where}: {reason}")
    for note in tally.notes:
        if ": metric " not in note:
            line(f"note: {note}")
    code = tally.exit_code()
    if code == EXIT_OK:
        skipped = sum(len(v) for k, v in metric_lines.items() if k[0].endswith(" skipped"))
        line(
            f"{tally.measured} of {len(records)} jobs ok"
            + (f"; {skipped} metric value(s) skipped (above)" if skipped else "")
        )
    elif not failed and tally.measured < len(records):
        line(f"{tally.measured} of {len(records)} jobs measured what they claim (above: why not the others)")
    return code


def register(sub: Any) -> None:
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
        type=csv_list,
        default=None,
        metavar="MODEL[/VARIANT],...",
        help="run only these cards (by name or reference) or variants (digits-small/ddim-10); other cards "
        "that do not load here are left out",
    )
    r.add_argument(
        "--isolation",
        choices=["process", "card", "none"],
        default=None,
        help="process: each job in its own process and load; card: a card's variants that agree on dtype and "
        "backend share one process and one load; none: in this process (default: the suite's isolation, "
        "else process)",
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
        default=None,
        metavar="N",
        help="run the suite N times (one run folder each), e.g. to measure the noise floor (default 1)",
    )
    r.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="run jobs here one by one (default) or as Ray tasks",
    )
    r.add_argument("--address", default=None, help="Ray cluster address (default: start a local one)")
    r.add_argument("--gpus-per-job", type=float, default=0.0, metavar="N", help="GPUs each Ray task holds")
    r.add_argument(
        "--shards",
        type=int,
        default=None,
        metavar="N",
        help="split each job's quality pass into N shards of whole batches, run in parallel (Ray tasks, or "
        "local worker processes) and merged exactly: --set workload.shards=N (a model's own workload wins)",
    )
    r.add_argument(
        "--set",
        action="append",
        default=None,
        metavar="PATH=VALUE",
        help="override a suite setting (dotted path, YAML value), checked like the file: "
        "--set measurement.min_iterations=5 --set workload.num_samples=200 (recorded in run.json)",
    )
    r.add_argument(
        "--quiet", "-q", action="store_true", help="print only the run folder's path (and warnings)"
    )
    r.add_argument(
        "--mlflow",
        nargs="?",
        const="",
        default=None,
        metavar="URI",
        help="log the finished run into MLflow, a run per job (default URI: MLflow's, $MLFLOW_TRACKING_URI "
        "or sqlite:///mlflow.db); harness log does it for a run already finished",
    )
    r.add_argument(
        "--experiment", default=None, help="with --mlflow: the experiment (default: the suite's name)"
    )
    r.set_defaults(fn=cmd_run)


__all__ = ["closing_summary", "cmd_run", "register"]

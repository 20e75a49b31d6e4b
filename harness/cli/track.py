"""``harness log RUN_DIR --mlflow URI``: a finished run into an experiment tracker (and ``run --mlflow``)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.cli.core import EXIT_OK, err, say, switch
from harness.core.errors import HarnessError, UserInputError
from harness.tracking.probe import check_tracking_store
from harness.tracking.stores import sqlite_path

SCHEMES = ("", "file", "sqlite", "http", "https", "databricks", "postgresql", "mysql", "mssql")


def check_mlflow_target(uri: str | None) -> None:
    """What ``--mlflow`` would fail on after the jobs, checked before them: MLflow installed, a tracking URI
    of a kind MLflow opens, a SQLite database's folder present and the file an MLflow store (or absent or
    empty), an http(s) server answering within seconds (:mod:`harness.tracking.probe`)."""
    import importlib.util
    from urllib.parse import urlparse

    if importlib.util.find_spec("mlflow") is None:
        raise UserInputError("--mlflow: the mlflow package is not installed (pip install -e '.[tracking]')")
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        return
    scheme = urlparse(uri).scheme.split("+", 1)[0]
    if scheme not in SCHEMES and len(scheme) != 1:
        raise UserInputError(
            f"--mlflow: '{uri}' is not a tracking URI MLflow opens (sqlite:///mlflow.db, file:./mlruns, "
            "http(s)://server, databricks)"
        )
    if scheme == "sqlite":
        db = sqlite_path(uri)
        if db is None:
            raise UserInputError(f"--mlflow: '{uri}' names no database file (sqlite:///mlflow.db)")
        if db.parent != Path() and not db.parent.is_dir():
            raise UserInputError(f"--mlflow: {db.parent}: folder not found (for the database {db.name})")
    check_tracking_store(uri)


def log_mlflow(
    run_dir: str | Path,
    uri: str | None,
    *,
    experiment: str | None = None,
    replace: bool = False,
    report: bool = True,
    line: Callable[[str], None] = say,
) -> Any:
    """Build the run's report where it has none (so it goes with the run), then log the run into MLflow."""
    # Usage telemetry off: an offline machine has nowhere to send it and a benchmark must not phone home.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from harness.tracking.mlflow_log import log_run

    run_dir = Path(run_dir)
    if report and not (run_dir / "report.md").is_file() and (run_dir / "records.jsonl").is_file():
        from harness.report import build_report

        try:
            built = build_report([str(run_dir)], None, html=True)
        except HarnessError as exc:  # e.g. no job finished: the records are still worth logging
            err(f"warning: no report to log with the run ({exc})")
        else:
            for w in built.get("warnings") or []:
                err(f"warning: report: {w}")
    logged = log_run(run_dir, uri or None, experiment=experiment, replace=replace)
    for note in logged.notes:
        err(f"note: {note}")
    line(
        f"logged {len(logged.runs)} job(s) to MLflow {logged.tracking_uri}, experiment '{logged.experiment_name}' "
        f"(id {logged.experiment_id}), parent run {logged.parent_run_id}"
        + (f", replacing {len(logged.replaced)} earlier run(s)" if logged.replaced else "")
    )
    return logged


def cmd_log(args: argparse.Namespace) -> int:
    check_mlflow_target(args.mlflow)
    log_mlflow(
        args.run_dir, args.mlflow, experiment=args.experiment, replace=args.replace, report=args.report
    )
    return EXIT_OK


def register(sub: Any) -> None:
    lg = sub.add_parser(
        "log",
        help="log a finished run into MLflow: a run per job (parameters, metrics, tags, samples, report)",
    )
    lg.add_argument("run_dir", metavar="RUN_DIR")
    lg.add_argument(
        "--mlflow",
        required=True,
        metavar="URI",
        help="tracking URI: sqlite:///mlflow.db, file:./mlruns, or a tracking server's http(s) URL",
    )
    lg.add_argument("--experiment", help="MLflow experiment (default: the suite's name)")
    lg.add_argument(
        "--replace",
        action="store_true",
        help="log again a run already in the experiment (its old runs deleted)",
    )
    switch(lg, "--report", "build the run's report first when it has none, to log it with the run")
    lg.set_defaults(fn=cmd_log)


__all__ = ["check_mlflow_target", "cmd_log", "log_mlflow", "register"]

"""A finished run folder logged into MLflow: one parent run for the harness run, one nested run per job.

What lands where (every key a harness column's name, mapped to the characters MLflow allows):

* **the parent run** (``harness.kind=run``): named after the harness run id; tags ``harness.run_id``, the
  suite, commit, device; params: the suite's name and version, device, isolation and measurement settings;
  artifacts: ``run/run.json``, ``run/records.jsonl`` and, when a report was built, ``report/`` (report.md,
  report.html, frontier.csv, records.parquet and the PNG plots, together so the report's links hold).
* **a child run per job** (``harness.kind=job``, ``mlflow.parentRunId`` and ``harness.parent`` = the
  parent's MLflow run id): named after the job's label; tags: identity, status, device, commit, the error of
  a failed job; params: model, variant, backend, precision, batch size, every ``call.*`` argument
  (flattened), ``num_samples`` and ``measurement.*``; metrics (ok jobs only): the speed, memory, energy,
  cost and scenario columns of :func:`harness.results.table.flatten` that have a value, and each ok quality
  metric with ``<name>.ci95_lo`` / ``.ci95_hi``; artifacts: ``samples/``, ``loadgen/``, ``error/``.

A value that is absent is not logged; a non-finite one (a baseline's PSNR of +inf, a NaN) is not either:
MLflow would keep it as 0 or as ±1.8e308. Both are named in the job's ``harness.not_logged`` tag and in
:attr:`LoggedRun.notes`.

A harness run is logged once per experiment: logging it again is refused (naming the MLflow parent run found
by its ``harness.run_id`` tag) unless ``replace=True``, which deletes the runs logged before (MLflow's
delete: they leave every listing; ``mlflow gc`` purges them) and logs anew.

MLflow is imported when :func:`log_run` is called, not with this module. The parent and its jobs are logged by
:class:`harness.tracking.mlflow_logger.RunLogger`; keys and values are made MLflow's by
:mod:`harness.tracking.mlflow_names`.
"""

from __future__ import annotations

import time
from pathlib import Path

from harness.core.errors import HarnessError, UserInputError
from harness.results.runs import Run
from harness.tracking.mlflow_logger import LoggedRun, RunLogger
from harness.tracking.mlflow_names import COMPLETE_TAG, KIND_TAG, RUN_ID_TAG
from harness.tracking.stores import ALLOW_FILE_STORE_ENV, file_store_allowed, is_file_store, sqlite_path

__all__ = ["LoggedRun", "log_run"]

INSTALL = "pip install mlflow"


def _import_mlflow():
    """MLflow's module, or how to install it."""
    try:
        import mlflow
        import mlflow.entities
        import mlflow.exceptions
    except ImportError as exc:
        raise HarnessError(f"logging to MLflow needs the mlflow package ({exc}): {INSTALL}") from None
    return mlflow


def _filter_value(value: str) -> str | None:
    """``value`` quoted for MLflow's search filter, or None when it holds both kinds of quote."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    return None


def log_run(
    run_dir: str | Path,
    tracking_uri: str | Path | None = None,
    *,
    experiment: str | None = None,
    replace: bool = False,
    artifact_location: str | None = None,
) -> LoggedRun:
    """Log every job of a finished run folder into MLflow: a parent run for the harness run, a child per job.

    Args:
        run_dir: the run folder (``run.json`` and ``records.jsonl``).
        tracking_uri: where to log: ``file:///path/mlruns``, ``sqlite:///path.db`` (its parent folder is
            created), a tracking server's URL; None: MLflow's default (``MLFLOW_TRACKING_URI``, else
            ``./mlruns`` or ``sqlite:///mlflow.db`` as this MLflow version decides). MLflow 3 keeps its
            file store in maintenance mode and refuses it unless ``MLFLOW_ALLOW_FILE_STORE=true``: this
            call opts in for its own duration (readers of that store need the variable too).
        experiment: the MLflow experiment (created when missing); default: the suite's name.
        replace: when this harness run is already logged in the experiment, delete those runs and log it
            again (default: refuse, naming the parent run found).
        artifact_location: where a new experiment keeps its artifacts. Default: MLflow's, except for a
            ``sqlite:///`` URI given here, whose artifacts go to ``mlartifacts/`` beside the database file
            (MLflow's own default would be ``./mlruns`` under whatever folder this is called from).

    Returns:
        the tracking URI, experiment id and name, the parent's MLflow run id, each job's MLflow run id, the
        runs replaced, and notes on what was not logged (absent or non-finite values, missing files).

    Raises:
        UserInputError: no run folder, no records, a tracking URI MLflow cannot open, a deleted experiment of
            that name, or the run logged already (without ``replace``).
        HarnessError: MLflow is not installed, or refused something while logging (the parent is then
            marked FAILED and lacks the ``harness.complete`` tag; log again with ``replace=True``).
    """
    t0 = time.perf_counter()
    run = Run.open(run_dir)
    mlflow = _import_mlflow()
    tracking_uri = str(tracking_uri) if tracking_uri is not None else None  # a Path: a file store's folder
    name = experiment or run.meta.suite_name or run.run_id
    resolved = tracking_uri if tracking_uri is not None else mlflow.get_tracking_uri()
    file_store = is_file_store(resolved)
    with file_store_allowed(file_store):
        out = _log(mlflow, run, name, tracking_uri, replace, artifact_location)
    if file_store:
        out.notes.append(
            f"{out.tracking_uri} is MLflow's file store, which MLflow 3 keeps in maintenance mode: reading it "
            f"back (mlflow ui, MlflowClient) needs {ALLOW_FILE_STORE_ENV}=true; sqlite:///PATH.db needs nothing"
        )
    out.seconds = time.perf_counter() - t0
    return out


def _log(
    mlflow, run: Run, name: str, tracking_uri: str | None, replace: bool, artifact_location: str | None
) -> LoggedRun:
    """Log ``run`` into experiment ``name``: its earlier logging refused or replaced first."""
    from mlflow.exceptions import MlflowException

    client, exp = _experiment(mlflow, name, tracking_uri, artifact_location)
    out = LoggedRun(client.tracking_uri, exp.experiment_id, exp.name, run.run_id, "")
    out.notes.extend(run.warnings)
    try:
        _refuse_or_replace(client, exp, out, replace)
        RunLogger(client, run, out).log_all()
    except MlflowException as exc:
        raise HarnessError(f"MLflow refused the run ({client.tracking_uri}): {exc.message}") from exc
    return out


def _experiment(mlflow, name: str, tracking_uri: str | None, artifact_location: str | None):
    """The client and the experiment ``name`` (created when missing; a sqlite store's artifacts go to
    ``mlartifacts/`` beside its file). A store MLflow cannot open or a deleted experiment is bad input."""
    from mlflow.exceptions import MlflowException

    where = tracking_uri or "MLflow's default tracking URI"
    db = sqlite_path(tracking_uri) if tracking_uri else None
    if db is not None and artifact_location is None:
        artifact_location = (db.absolute().parent / "mlartifacts").as_uri()
    try:
        if db is not None:
            db.absolute().parent.mkdir(parents=True, exist_ok=True)
        client = mlflow.MlflowClient(tracking_uri=tracking_uri)
        exp = client.get_experiment_by_name(name)
        if exp is None:
            exp_id = client.create_experiment(name, artifact_location=artifact_location)
            exp = client.get_experiment(exp_id)
    except MlflowException as exc:
        raise UserInputError(f"MLflow cannot use this tracking store: {exc.message}", source=where) from None
    except OSError as exc:
        raise UserInputError(f"cannot open the tracking store ({exc})", source=where) from None
    if exp.lifecycle_stage == "deleted":
        raise UserInputError(
            f"MLflow experiment {name!r} (id {exp.experiment_id}) is deleted: restore it "
            f"(mlflow experiments restore --experiment-id {exp.experiment_id}) or log to another experiment",
            source=client.tracking_uri,
        )
    return client, exp


def _refuse_or_replace(client, exp, out: LoggedRun, replace: bool) -> None:
    """A harness run logged before in this experiment: refused (naming its parent run), or with ``replace``
    its MLflow runs deleted (children first)."""
    harness_run_id = out.harness_run_id
    before = _logged_before(client, exp.experiment_id, harness_run_id)
    if before and not replace:
        parents = [r for r in before if r.data.tags.get(KIND_TAG) == "run"]
        parent = parents[0] if parents else None
        what = (
            f"as parent run {parent.info.run_id} ({parent.info.run_name})"
            + ("" if parent.data.tags.get(COMPLETE_TAG) == "true" else ", logged only in part")
            if parent is not None
            else "in part (no parent run)"
        )
        raise UserInputError(
            f"harness run {harness_run_id!r} is logged already in MLflow experiment {exp.name!r} "
            f"(id {exp.experiment_id}) {what}, {len(before)} MLflow run(s) with tag "
            f"{RUN_ID_TAG}={harness_run_id}; pass replace=True (--replace) to delete them and log it again",
            source=client.tracking_uri,
        )
    for r in sorted(before, key=lambda r: r.data.tags.get(KIND_TAG) == "run"):  # children first
        client.delete_run(r.info.run_id)
        out.replaced.append(r.info.run_id)


def _logged_before(client, experiment_id: str, harness_run_id: str) -> list:
    """The active MLflow runs of this experiment tagged with this harness run id (parent and children)."""
    from mlflow.entities import ViewType

    value = _filter_value(harness_run_id)
    flt = f"tags.`{RUN_ID_TAG}` = {value}" if value else f"tags.`{KIND_TAG}` != ''"
    found, token = [], None
    while True:
        page = client.search_runs(
            [experiment_id], flt, run_view_type=ViewType.ACTIVE_ONLY, max_results=1000, page_token=token
        )
        found.extend(r for r in page if r.data.tags.get(RUN_ID_TAG) == harness_run_id)
        token = page.token
        if not token:
            return found

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

MLflow is imported when :func:`log_run` is called, not with this module.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import posixpath
import re
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse

from harness.core.errors import HarnessError, UserInputError
from harness.results.columns import SPEED_COLUMNS
from harness.results.record import Record
from harness.results.runs import Run
from harness.results.store import RECORDS, RUN_META, jsonable
from harness.results.table import flatten
from harness.results.values import parse_started_at

PARENT_RUN_ID_TAG = "mlflow.parentRunId"  # MLflow's own nesting (the UI folds children under the parent)
NOTE_TAG = "mlflow.note.content"  # the run's description in MLflow's UI
RUN_ID_TAG = "harness.run_id"
KIND_TAG = "harness.kind"
COMPLETE_TAG = "harness.complete"

MAX_KEY_LENGTH = 250  # MLflow's limits on keys and values
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_PARAMS_OR_TAGS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 800  # and at most 1000 entities in all per batch

# The files of `harness report` that go on the parent run (beside the PNG plots), when present.
REPORT_FILES = ("report.md", "report.html", "frontier.csv", "records.parquet")
RUN_STATUS = {"ok": "FINISHED", "failed": "FAILED", "skipped": "FINISHED", "interrupted": "KILLED"}
INSTALL = "pip install mlflow"
ALLOW_FILE_STORE_ENV = "MLFLOW_ALLOW_FILE_STORE"

_BAD_KEY_CHARS = re.compile(r"[^A-Za-z0-9_\-./ ]")


@dataclass
class LoggedRun:
    """Where a harness run went in MLflow."""

    tracking_uri: str
    experiment_id: str
    experiment_name: str
    harness_run_id: str
    parent_run_id: str
    runs: dict[str, str] = field(default_factory=dict)  # job_id → its MLflow run id
    replaced: list[str] = field(default_factory=list)  # MLflow run ids deleted first (replace=True)
    notes: list[str] = field(default_factory=list)  # what was not logged, and why
    seconds: float = 0.0


def mlflow_key(name: str) -> str:
    """A metric, param or tag key MLflow accepts: ASCII letters, digits, ``_ - . / space`` (anything else
    becomes ``_``), at most 250 characters, and no path that would resolve to another name (``a//b``, ``./a``,
    ``a/..``, a leading or trailing ``/``)."""
    text = _BAD_KEY_CHARS.sub("_", str(name))[:MAX_KEY_LENGTH]
    parts = ["_" if p in (".", "..") else p for p in text.split("/") if p]
    key = "/".join(parts) or "_"
    return key if posixpath.normpath(key) == key else key.replace("/", "_")


class _Keys:
    """Keys of one namespace (one run's metrics, params or tags): two names that map to one key get
    ``_2``, ``_3`` …, and each renaming is noted."""

    def __init__(self, notes: list[str], what: str):
        self.taken: dict[str, str] = {}
        self.notes, self.what = notes, what

    def __call__(self, name: str) -> str:
        if self.taken.get(name) == name:
            return name
        key = base = mlflow_key(name)
        n = 1
        while key in self.taken and self.taken[key] != name:
            n += 1
            key = f"{base[: MAX_KEY_LENGTH - len(str(n)) - 1]}_{n}"
        self.taken[key] = name
        if key != name:
            self.notes.append(f"{self.what} {name!r} logged as {key!r}")
        return key


def _text(value: Any) -> str:
    """A param or tag value as text: strings as they are, numbers as Python writes them (``inf`` included),
    booleans as ``true``/``false``, lists and mappings as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(jsonable(value), sort_keys=True)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _flat(prefix: str, value: Any, out: dict[str, Any]) -> dict[str, Any]:
    """``{"scheduler": {"name": "ddim"}}`` under ``call`` → ``call.scheduler.name = ddim``; None and empty
    mappings are left out."""
    if isinstance(value, dict):
        for k, v in value.items():
            _flat(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif value is not None:
        out[prefix] = value
    return out


def _ms(stamp: str | None) -> int | None:
    """A record's ``started_at`` (``2024-05-01T12:00:00+0000``) in milliseconds since the epoch."""
    moment = parse_started_at(stamp)
    return int(moment.timestamp() * 1000) if moment is not None else None


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "x"


def _import_mlflow():
    """MLflow's module, or how to install it."""
    try:
        import mlflow
        import mlflow.entities
        import mlflow.exceptions
    except ImportError as exc:
        raise HarnessError(f"logging to MLflow needs the mlflow package ({exc}): {INSTALL}") from None
    return mlflow


def _sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///path.db`` URI (``sqlite:////abs/path.db`` for an absolute one)."""
    if not uri.startswith("sqlite:///"):
        return None
    path = unquote(uri[len("sqlite:///") :].split("?", 1)[0])
    return None if not path or path == ":memory:" else Path(path)


def _is_file_store(uri: str) -> bool:
    """A ``file:`` URI or a plain path (MLflow's file store), not a database or a server."""
    scheme = urlparse(uri).scheme
    return scheme in ("", "file") or len(scheme) == 1  # len 1: a Windows drive letter


@contextlib.contextmanager
def _file_store_allowed(allow: bool):
    """MLflow 3 refuses its file store (in maintenance mode) unless ``MLFLOW_ALLOW_FILE_STORE=true``: opt in
    while logging to a ``file:`` store, asked for or MLflow's default (a value the user set is left alone)."""
    if not allow or ALLOW_FILE_STORE_ENV in os.environ:
        yield
        return
    os.environ[ALLOW_FILE_STORE_ENV] = "true"
    try:
        yield
    finally:
        os.environ.pop(ALLOW_FILE_STORE_ENV, None)


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
    file_store = _is_file_store(resolved)
    with _file_store_allowed(file_store):
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
    from mlflow.exceptions import MlflowException

    where = tracking_uri or "MLflow's default tracking URI"
    db = _sqlite_path(tracking_uri) if tracking_uri else None
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
    harness_run_id = run.run_id
    out = LoggedRun(client.tracking_uri, exp.experiment_id, exp.name, harness_run_id, "")
    out.notes.extend(run.warnings)

    try:
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
        _Logger(client, run, out).log_all()
    except MlflowException as exc:
        raise HarnessError(f"MLflow refused the run ({client.tracking_uri}): {exc.message}") from exc
    return out


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


class _Logger:
    """One harness run's logging: the parent, then each job, then the parent's artifacts and end."""

    def __init__(self, client, run: Run, out: LoggedRun):
        self.client = client
        self.run, self.meta, self.records, self.out = run, run.meta, run.latest, out
        self.root = run.path.resolve()
        self.suite = self.meta.suite_name or ""
        dev = self.meta.device_environment
        self.device_name = dev.device_name if dev is not None else None
        self.commit = self.meta.environment.harness_commit

    # -- the parent run

    def log_all(self) -> None:
        starts = [_ms(r.started_at) for r in self.records]
        known = [s for s in starts if s is not None]
        now = int(time.time() * 1000)
        start = min(known) if known else now
        statuses = [r.status for r in self.records]
        tags = {
            "harness.kind": "run",
            RUN_ID_TAG: self.out.harness_run_id,
            "harness.suite": self.suite,
            "harness.commit": self.commit,
            "harness.version": self.meta.environment.harness_version,
            "harness.device": self.meta.device,
            "harness.device_name": self.device_name,
            "harness.run_dir": str(self.root),
            "harness.jobs": len(self.records),
            "harness.jobs_ok": statuses.count("ok"),
            "harness.jobs_failed": statuses.count("failed"),
            NOTE_TAG: self.meta.suite.get("description"),
        }
        parent = self.client.create_run(
            self.out.experiment_id,
            start_time=start,
            tags={k: _clip(_text(v), MAX_TAG_VALUE_LENGTH) for k, v in tags.items() if v is not None},
            run_name=self.out.harness_run_id,
        )
        pid = self.out.parent_run_id = parent.info.run_id
        try:
            params = {
                "suite": self.suite or None,
                "suite.version": self.meta.suite.get("version"),
                "device": self.meta.device,
                "isolation": self.meta.isolation,
                "executor": self.meta.executor,
                **_flat("measurement", self.meta.measurement, {}),
            }
            keys = _Keys(self.out.notes, "param")
            self._batch(pid, params=[(keys(k), v) for k, v in params.items() if v is not None])
            end = start
            for rec in self.records:
                end = max(end, self._log_job(rec, pid))
            for fname in REPORT_FILES:
                self._artifact(pid, fname, "report", "report file", quiet=True)
            for png in sorted(self.run.path.glob("*.png")):
                self._artifact(pid, png.name, "report", "plot")
            for fname in (RUN_META, RECORDS):
                self._artifact(pid, fname, "run", "run file")
        except BaseException:
            self.client.set_terminated(pid, "FAILED")
            raise
        self.client.set_tag(pid, COMPLETE_TAG, "true")
        self.client.set_terminated(pid, "FINISHED", end_time=max(end, start))

    # -- one job

    def _log_job(self, r: Record, parent_id: str) -> int:
        start = _ms(r.started_at) or int(time.time() * 1000)
        end = start + int(1000 * r.duration_s) if r.duration_s and math.isfinite(r.duration_s) else start
        env = r.environment
        identity = {
            "harness.kind": "job",
            PARENT_RUN_ID_TAG: parent_id,
            "harness.parent": parent_id,
            RUN_ID_TAG: self.out.harness_run_id,
            "harness.job_id": r.job_id,
        }
        run = self.client.create_run(
            self.out.experiment_id, start_time=start, tags=identity, run_name=_clip(r.label, 250)
        )
        rid = run.info.run_id
        self.out.runs[r.job_id] = rid
        notes: list[str] = []
        try:
            tags: dict[str, Any] = {
                "harness.suite": r.suite or self.suite,
                "harness.model": r.model,
                "harness.variant": r.variant,
                "harness.backend": r.backend,
                "harness.scenario": r.scenario,
                "harness.status": r.status,
                "harness.device": r.device or self.meta.device,
                "harness.device_name": (env.device_name if env else None) or self.device_name,
                "harness.commit": self.commit,
                "harness.modality": r.modality,
                "harness.throughput_unit": r.throughput.unit if r.throughput else None,
            }
            if r.error is not None:
                tags.update(
                    {
                        "harness.error.type": r.error.type,
                        "harness.error.message": r.error.message,
                        "harness.error.stage": r.error.stage,
                        "harness.error.advice": r.error.advice,
                    }
                )
            params = {
                "model": r.model,
                "variant": r.variant,
                "backend": r.backend,
                "precision": r.precision,
                "batch_size": r.batch_size,
                "scenario": r.scenario,
                "modality": r.modality,
                "task": r.task,
                "random_weights": r.random_weights,
                "num_samples": r.num_samples,
                **_flat("call", r.call, {}),
                **_flat("measurement", self.meta.measurement, {}),
            }
            metrics = self._metrics(r, tags, notes) if r.ok else []
            self._job_artifacts(r, rid, notes)
            renamed: list[str] = []
            pkeys, mkeys, tkeys = (_Keys(renamed, w) for w in ("param", "metric", "tag"))
            metric_items = [(mkeys(k), v, end) for k, v in metrics]
            param_items = [(pkeys(k), v) for k, v in params.items() if v is not None]
            tag_items = [(tkeys(k), v) for k, v in tags.items() if v is not None]
            if notes:
                tag_items.append(("harness.not_logged", "; ".join(notes)))
            if renamed:
                tag_items.append(("harness.renamed", "; ".join(renamed)))
            self._batch(rid, metrics=metric_items, params=param_items, tags=tag_items)
            notes += renamed
        except BaseException:
            self.client.set_terminated(rid, "FAILED")
            raise
        finally:
            self.out.notes.extend(f"{r.job_id}: {n}" for n in notes)
        self.client.set_terminated(rid, RUN_STATUS.get(r.status, "FINISHED"), end_time=end)
        return end

    def _metrics(self, r: Record, tags: dict[str, Any], notes: list[str]) -> list[tuple[str, float]]:
        """The job's metrics by the harness's column names; absent values left out, non-finite ones noted."""
        row = flatten(r)
        values: list[tuple[str, Any]] = [(c, row.get(c)) for c in SPEED_COLUMNS]
        ci = r.latency_ms.p50_ci95 if r.latency_ms is not None else None
        if ci is not None:
            values += [("latency_ms.p50.ci95_lo", ci[0]), ("latency_ms.p50.ci95_hi", ci[1])]
        for name, mv in r.metrics.items():
            if mv.ok:
                values.append((name, mv.value))
                if mv.ci95 is not None:
                    values += [(f"{name}.ci95_lo", mv.ci95[0]), (f"{name}.ci95_hi", mv.ci95[1])]
            else:
                tags[f"harness.metric.{name}.status"] = mv.status
                if mv.reason:
                    tags[f"harness.metric.{name}.reason"] = mv.reason
        out = []
        for name, value in values:
            if value is None:
                continue
            value = float(value)
            if math.isfinite(value):
                out.append((name, value))
            else:
                notes.append(f"{name} = {value} not logged (not finite)")
        return out

    def _job_artifacts(self, r: Record, rid: str, notes: list[str]) -> None:
        for rel in r.samples:
            parts = PurePosixPath(rel).parts
            sub = parts[2:-1] if parts[:2] == ("samples", r.job_id) else ()
            self._artifact(rid, rel, "/".join(("samples", *sub)), "sample", notes)
        if r.loadgen is not None:
            for i, lg_run in enumerate(r.loadgen.runs):
                for rel in lg_run.logs:
                    self._artifact(
                        rid, rel, f"loadgen/{i:02d}_{_safe(lg_run.scenario)}", "LoadGen log", notes
                    )
        if r.error is not None:
            if r.error.log:
                self._artifact(rid, r.error.log, "error", "error log", notes)
            if r.error.traceback:
                self.client.log_text(rid, r.error.traceback, "error/traceback.txt")

    # -- MLflow calls

    def _artifact(
        self,
        run_id: str,
        rel: str,
        artifact_path: str,
        what: str,
        notes: list[str] | None = None,
        *,
        quiet: bool = False,
    ) -> None:
        """Log one file of the run folder (never one outside it: records may name hostile paths)."""
        notes = self.out.notes if notes is None else notes
        path = (self.run.path / rel).resolve()
        try:
            path.relative_to(self.root)
        except ValueError:
            notes.append(f"{what} {rel} not logged (outside the run folder)")
            return
        if not path.is_file():
            if not quiet:
                notes.append(f"{what} {rel} not logged (no such file)")
            return
        self.client.log_artifact(run_id, str(path), artifact_path)

    def _batch(self, run_id: str, *, metrics=(), params=(), tags=()) -> None:
        """Metrics ``(key, value, timestamp)``, params and tags ``(key, value)`` in as few calls as MLflow's
        limits per call allow."""
        from mlflow.entities import Metric, Param, RunTag

        m = [Metric(k, v, ts, 0) for k, v, ts in metrics]
        p = [Param(k, _clip(_text(v), MAX_PARAM_VALUE_LENGTH)) for k, v in params]
        t = [RunTag(k, _clip(_text(v), MAX_TAG_VALUE_LENGTH)) for k, v in tags]
        while m or p or t:
            self.client.log_batch(
                run_id,
                metrics=m[:MAX_METRICS_PER_BATCH],
                params=p[:MAX_PARAMS_OR_TAGS_PER_BATCH],
                tags=t[:MAX_PARAMS_OR_TAGS_PER_BATCH],
                synchronous=True,
            )
            m, p, t = (
                m[MAX_METRICS_PER_BATCH:],
                p[MAX_PARAMS_OR_TAGS_PER_BATCH:],
                t[MAX_PARAMS_OR_TAGS_PER_BATCH:],
            )

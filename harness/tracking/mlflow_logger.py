"""One harness run's logging into an MLflow experiment: the parent run, then each job as a nested run, then
the parent's artifacts and its end (what lands where: :mod:`harness.tracking.mlflow_log`)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from harness.results.columns import SPEED_COLUMNS
from harness.results.record import Record
from harness.results.runs import Run
from harness.results.store import RECORDS, RUN_META
from harness.results.table import flatten
from harness.tracking.mlflow_names import (
    COMPLETE_TAG,
    KIND_TAG,
    MAX_PARAM_VALUE_LENGTH,
    MAX_TAG_VALUE_LENGTH,
    NOTE_TAG,
    PARENT_RUN_ID_TAG,
    RUN_ID_TAG,
    Keys,
    clip,
    epoch_ms,
    flat,
    path_part,
    value_text,
)

# The files of `harness report` that go on the parent run (beside the PNG plots), when present.
REPORT_FILES = ("report.md", "report.html", "frontier.csv", "records.parquet")
RUN_STATUS = {"ok": "FINISHED", "failed": "FAILED", "skipped": "FINISHED", "interrupted": "KILLED"}
MAX_PARAMS_OR_TAGS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 800  # and at most 1000 entities in all per batch


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


class RunLogger:
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
        """The parent run (started when the first job started), every job, the parent's artifacts; the parent
        is FAILED and lacks the ``harness.complete`` tag when anything raises."""
        known = [s for s in (epoch_ms(r.started_at) for r in self.records) if s is not None]
        start = min(known) if known else int(time.time() * 1000)
        parent = self.client.create_run(
            self.out.experiment_id,
            start_time=start,
            tags={
                k: clip(value_text(v), MAX_TAG_VALUE_LENGTH)
                for k, v in self._parent_tags().items()
                if v is not None
            },
            run_name=self.out.harness_run_id,
        )
        pid = self.out.parent_run_id = parent.info.run_id
        try:
            keys = Keys(self.out.notes, "param")
            self._batch(pid, params=[(keys(k), v) for k, v in self._parent_params().items() if v is not None])
            end = start
            for rec in self.records:
                end = max(end, self._log_job(rec, pid))
            self._parent_artifacts(pid)
        except BaseException:
            self.client.set_terminated(pid, "FAILED")
            raise
        self.client.set_tag(pid, COMPLETE_TAG, "true")
        self.client.set_terminated(pid, "FINISHED", end_time=max(end, start))

    def _parent_tags(self) -> dict[str, Any]:
        statuses = [r.status for r in self.records]
        return {
            KIND_TAG: "run",
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

    def _parent_params(self) -> dict[str, Any]:
        return {
            "suite": self.suite or None,
            "suite.version": self.meta.suite.get("version"),
            "device": self.meta.device,
            "isolation": self.meta.isolation,
            "executor": self.meta.executor,
            **flat("measurement", self.meta.measurement, {}),
        }

    def _parent_artifacts(self, pid: str) -> None:
        """The report's files and plots (when a report was built) and the run's own files."""
        for fname in REPORT_FILES:
            self._artifact(pid, fname, "report", "report file", quiet=True)
        for png in sorted(self.run.path.glob("*.png")):
            self._artifact(pid, png.name, "report", "plot")
        for fname in (RUN_META, RECORDS):
            self._artifact(pid, fname, "run", "run file")

    # -- one job

    def _log_job(self, r: Record, parent_id: str) -> int:
        """One job as a run nested under the parent; returns when it ended (ms since the epoch)."""
        start = epoch_ms(r.started_at) or int(time.time() * 1000)
        end = start + int(1000 * r.duration_s) if r.duration_s and math.isfinite(r.duration_s) else start
        identity = {
            KIND_TAG: "job",
            PARENT_RUN_ID_TAG: parent_id,
            "harness.parent": parent_id,
            RUN_ID_TAG: self.out.harness_run_id,
            "harness.job_id": r.job_id,
        }
        run = self.client.create_run(
            self.out.experiment_id, start_time=start, tags=identity, run_name=clip(r.label, 250)
        )
        rid = run.info.run_id
        self.out.runs[r.job_id] = rid
        notes: list[str] = []
        try:
            tags = self._job_tags(r)
            metrics = self._metrics(r, tags, notes) if r.ok else []
            self._job_artifacts(r, rid, notes)
            notes += self._log_job_values(rid, metrics, self._job_params(r), tags, notes, end)
        except BaseException:
            self.client.set_terminated(rid, "FAILED")
            raise
        finally:
            self.out.notes.extend(f"{r.job_id}: {n}" for n in notes)
        self.client.set_terminated(rid, RUN_STATUS.get(r.status, "FINISHED"), end_time=end)
        return end

    def _job_tags(self, r: Record) -> dict[str, Any]:
        env = r.environment
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
        return tags

    def _job_params(self, r: Record) -> dict[str, Any]:
        return {
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
            **flat("call", r.call, {}),
            **flat("measurement", self.meta.measurement, {}),
        }

    def _log_job_values(
        self, rid: str, metrics, params: dict[str, Any], tags: dict[str, Any], notes: list[str], end: int
    ) -> list[str]:
        """The job's metrics, params and tags under keys MLflow takes (what was not logged named in
        ``harness.not_logged``); returns the renamings (also in ``harness.renamed``)."""
        renamed: list[str] = []
        pkeys, mkeys, tkeys = (Keys(renamed, w) for w in ("param", "metric", "tag"))
        metric_items = [(mkeys(k), v, end) for k, v in metrics]
        param_items = [(pkeys(k), v) for k, v in params.items() if v is not None]
        tag_items = [(tkeys(k), v) for k, v in tags.items() if v is not None]
        if notes:
            tag_items.append(("harness.not_logged", "; ".join(notes)))
        if renamed:
            tag_items.append(("harness.renamed", "; ".join(renamed)))
        self._batch(rid, metrics=metric_items, params=param_items, tags=tag_items)
        return renamed

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
                        rid, rel, f"loadgen/{i:02d}_{path_part(lg_run.scenario)}", "LoadGen log", notes
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
        p = [Param(k, clip(value_text(v), MAX_PARAM_VALUE_LENGTH)) for k, v in params]
        t = [RunTag(k, clip(value_text(v), MAX_TAG_VALUE_LENGTH)) for k, v in tags]
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

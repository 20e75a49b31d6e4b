"""A run folder: ``run.json`` (the suite, the plan, the environment) and ``records.jsonl`` (one record per job,
appended and fsynced as each job ends), beside ``samples/``, ``outputs/`` and ``logs/``."""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.errors import UserInputError
from harness.results.record import Record, parse_record
from harness.results.run_meta import RunMeta, parse_meta

RECORDS = "records.jsonl"
RUN_META = "run.json"


def jsonable(value: Any) -> Any:
    """JSON without NaN/Infinity literals: non-finite floats become the strings "inf", "-inf", "nan"."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "model_dump"):
        return jsonable(value.model_dump(mode="json"))
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return jsonable(value.item())
    return value


def dumps(data: Any, **kw: Any) -> str:
    """Strict JSON of plain data or of models (non-finite floats as strings)."""
    return json.dumps(jsonable(data), allow_nan=False, **kw)


@dataclass
class RecordsRead:
    """What ``records.jsonl`` held: the records (the latest per job by default) and what was passed over."""

    records: list[Record]
    warnings: list[str] = field(default_factory=list)
    torn_job_ids: list[str] = field(default_factory=list)


class RunStore:
    """``results/<run_id>/``: run.json, records.jsonl, samples/, outputs/, logs/."""

    def __init__(self, path: Path):
        self.path = Path(path)

    @classmethod
    def create(cls, out_dir: Path, suite_name: str) -> RunStore:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = Path(out_dir) / f"{suite_name}-{stamp}-{secrets.token_hex(2)}"
        try:
            path.mkdir(parents=True)
            for sub in ("samples", "outputs", "logs"):
                (path / sub).mkdir()
        except OSError as exc:
            raise UserInputError(
                f"cannot create the run folder ({exc.strerror or exc})", source=str(path)
            ) from None
        return cls(path)

    @classmethod
    def open(cls, path: str | Path) -> RunStore:
        path = Path(path)
        if not path.exists():
            raise UserInputError("run folder not found (expected results/<run_id>/)", source=str(path))
        if not path.is_dir():
            raise UserInputError("not a run folder: a file, expected results/<run_id>/", source=str(path))
        if not (path / RUN_META).is_file():
            raise UserInputError(f"not a run folder: no {RUN_META}", source=str(path))
        return cls(path)

    @property
    def run_id(self) -> str:
        return self.path.name

    def write_meta(self, meta: RunMeta | dict[str, Any]) -> None:
        data = meta.model_dump(mode="json") if isinstance(meta, RunMeta) else meta
        tmp = self.path / (RUN_META + ".tmp")
        tmp.write_text(dumps(data, indent=2))
        os.replace(tmp, self.path / RUN_META)

    def meta(self) -> RunMeta:
        where = str(self.path / RUN_META)
        try:
            text = (self.path / RUN_META).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UserInputError(f"unreadable ({exc.__class__.__name__}: {exc})", source=where) from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserInputError(f"not JSON: {exc.msg} at line {exc.lineno}", source=where) from None
        return parse_meta(data, where=where)

    def append(self, record: Record | dict[str, Any]) -> Record:
        """Append one record and make it durable before returning (flush + fsync). A dict is validated
        against the schema first, so nothing malformed reaches the file."""
        rec = record if isinstance(record, Record) else parse_record(record, where="record")
        line = rec.to_json() + "\n"
        with open(self.path / RECORDS, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        return rec

    def read(self, *, latest: bool = True) -> RecordsRead:
        """Every complete record, checked against the schema.

        A last line cut short by a crash mid-write is passed over with a warning naming the line (its job
        counts as missing); any other line that is not a record is bad input: ``records.jsonl:LINE: field:
        what is wrong``. With ``latest`` (the default) a job that ran more than once (``--resume`` after an
        interruption) contributes only its last record, in the order the jobs first appeared.
        """
        path = self.path / RECORDS
        if not path.exists():
            return RecordsRead([])
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UserInputError(f"unreadable ({exc.__class__.__name__}: {exc})", source=str(path)) from None
        lines = text.split("\n")
        complete_last = text.endswith("\n")
        out: list[Record] = []
        warnings: list[str] = []
        torn: list[str] = []
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            where = f"{path}:{i + 1}"
            last = i == len(lines) - 1 or all(not rest.strip() for rest in lines[i + 1 :])
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                if last and not complete_last:
                    job = _job_id_prefix(line)
                    torn.extend([job] if job else [])
                    warnings.append(
                        f"{where}: the last line is cut short (the run stopped while writing it); "
                        f"{'job ' + job if job else 'that job'} counts as missing"
                    )
                    continue
                raise UserInputError(f"not JSON ({exc.msg})", source=where) from None
            out.append(parse_record(data, where=where))
        if latest:
            last_of: dict[str, Record] = {}
            for rec in out:
                last_of.pop(rec.job_id, None)
                last_of[rec.job_id] = rec
            order = list(dict.fromkeys(r.job_id for r in out))
            out = [last_of[j] for j in order]
        return RecordsRead(out, warnings, [j for j in torn if j not in {r.job_id for r in out}])

    def records(self, *, latest: bool = True) -> list[Record]:
        return self.read(latest=latest).records


def _job_id_prefix(line: str) -> str | None:
    """The job id of a torn line, when it got that far (``{"schema": 2, "job_id": "x", ...``)."""
    m = re.search(r'"job_id"\s*:\s*"([^"\\]*)"', line)
    return m.group(1) if m else None

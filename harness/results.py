"""Records (one per job) in an append-only JSONL file, the run's metadata, and a flat table of both."""

from __future__ import annotations

import json
import math
import os
import secrets
import time
from pathlib import Path
from typing import Any

from harness.errors import UserInputError

RECORDS = "records.jsonl"
RUN_META = "run.json"
SCHEMA_VERSION = 1


def _jsonable(value: Any) -> Any:
    """JSON without NaN/Infinity literals: non-finite floats become the strings "inf", "-inf", "nan"."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return _jsonable(value.item())
    return value


def number(value: Any) -> float | None:
    """A record's numeric field back as a float (the strings written for non-finite values included)."""
    if value is None:
        return None
    if isinstance(value, str):
        return {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}.get(value)
    return float(value)


def dumps(record: dict[str, Any]) -> str:
    return json.dumps(_jsonable(record), allow_nan=False, sort_keys=False)


class RunStore:
    """``results/<run_id>/``: run.json, records.jsonl, samples/, outputs/, logs/."""

    def __init__(self, path: Path):
        self.path = Path(path)

    @classmethod
    def create(cls, out_dir: Path, suite_name: str) -> RunStore:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = Path(out_dir) / f"{suite_name}-{stamp}-{secrets.token_hex(2)}"
        path.mkdir(parents=True)
        for sub in ("samples", "outputs", "logs"):
            (path / sub).mkdir()
        return cls(path)

    @classmethod
    def open(cls, path: str | Path) -> RunStore:
        path = Path(path)
        if not path.is_dir():
            raise UserInputError("run folder not found (expected results/<run_id>/)", source=str(path))
        if not (path / RUN_META).is_file():
            raise UserInputError(f"not a run folder: no {RUN_META}", source=str(path))
        return cls(path)

    @property
    def run_id(self) -> str:
        return self.path.name

    def write_meta(self, meta: dict[str, Any]) -> None:
        tmp = self.path / (RUN_META + ".tmp")
        tmp.write_text(json.dumps(_jsonable(meta), indent=2, allow_nan=False))
        os.replace(tmp, self.path / RUN_META)

    def meta(self) -> dict[str, Any]:
        try:
            return json.loads((self.path / RUN_META).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise UserInputError(f"unreadable {RUN_META}: {exc}", source=str(self.path)) from None

    def append(self, record: dict[str, Any]) -> None:
        """Append one record and make it durable before returning (flush + fsync)."""
        line = dumps(record) + "\n"
        with open(self.path / RECORDS, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def records(self, *, latest: bool = True) -> list[dict[str, Any]]:
        """Complete records; a last line cut short by a crash is ignored.

        With ``latest`` (the default) a job that ran more than once (``--resume`` after an interruption)
        contributes only its last record, in the order the jobs first appeared.
        """
        path = self.path / RECORDS
        if not path.exists():
            return []
        lines = path.read_text(encoding="utf-8").splitlines()
        out = []
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                if i == len(lines) - 1:
                    continue
                raise UserInputError(f"{RECORDS}: line {i + 1} is not JSON", source=str(self.path)) from None
        if not latest:
            return out
        last: dict[str, dict[str, Any]] = {}
        for rec in out:
            last.pop(rec.get("job_id"), None)  # re-insert: keeps first-seen order below
            last[rec.get("job_id")] = rec
        order = list(dict.fromkeys(r.get("job_id") for r in out))
        return [last[j] for j in order]


def flatten(record: dict[str, Any]) -> dict[str, Any]:
    """One row per record: identity columns, speed columns and one column per metric value."""
    lat = record.get("latency_ms") or {}
    per_item = record.get("latency_per_item_ms") or {}
    mem = record.get("memory") or {}
    thr = record.get("throughput") or {}
    row: dict[str, Any] = {
        "job_id": record.get("job_id"),
        "model": record.get("model"),
        "variant": record.get("variant"),
        "backend": record.get("backend"),
        "precision": record.get("precision"),
        "modality": record.get("modality"),
        "device": record.get("device"),
        "status": record.get("status"),
        "batch_size": record.get("batch_size"),
        "latency_ms.p50": number(lat.get("p50")),
        "latency_ms.p90": number(lat.get("p90")),
        "latency_ms.p99": number(lat.get("p99")),
        "latency_ms.mean": number(lat.get("mean")),
        "latency_ms.p50_lo": number((lat.get("p50_ci95") or [None, None])[0]),
        "latency_ms.p50_hi": number((lat.get("p50_ci95") or [None, None])[1]),
        "latency_per_item_ms.p50": number(per_item.get("p50")),
        "throughput": number(thr.get("value")),
        "throughput_unit": thr.get("unit"),
        "first_call_ms": number(record.get("first_call_ms")),
        "load_s": number(record.get("load_s")),
        "compile_s": number(record.get("compile_s")),
    }
    for key in ("peak_rss_mib", "peak_vram_allocated_mib", "peak_vram_reserved_mib", "peak_vram_nvml_mib"):
        row[key] = number(mem.get(key))
    for name, mv in (record.get("metrics") or {}).items():
        row[name] = number(mv.get("value")) if mv.get("status") == "ok" else None
        ci = mv.get("ci95")
        if ci:
            row[f"{name}_lo"], row[f"{name}_hi"] = number(ci[0]), number(ci[1])
    return row


def to_frame(records: list[dict[str, Any]]):
    import pandas as pd

    return pd.DataFrame([flatten(r) for r in records])


# What makes two runs' timings comparable: (label, where in run.json). "device_environment" is what the
# worker saw (the first record's environment when run.json lacks it); the rest is run.json's own.
ENV_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("device", ("device",)),
    ("device name", ("device_environment", "device_name")),
    ("cpu", ("environment", "cpu")),
    ("torch threads", ("device_environment", "torch_threads")),
    ("cuda", ("device_environment", "cuda")),
    ("driver", ("device_environment", "driver")),
    ("python", ("environment", "python")),
    ("torch", ("environment", "packages", "torch")),
    ("diffusers", ("environment", "packages", "diffusers")),
    ("onnxruntime", ("environment", "packages", "onnxruntime")),
    ("onnxruntime-gpu", ("environment", "packages", "onnxruntime-gpu")),
    ("tensorrt", ("environment", "packages", "tensorrt")),
)


# Package fields of ENV_FIELDS that matter only to the jobs of one backend.
BACKEND_PACKAGES = {"onnxruntime": "onnxruntime", "onnxruntime-gpu": "onnxruntime", "tensorrt": "tensorrt"}


def _dig(data: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def comparable_environment(meta: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    """The parts of a run's environment that make its timings comparable with another run's, label →
    value. The one definition both ``harness compare`` (which says how runs differ) and ``harness report``
    (which refuses to merge runs that differ) use. Python counts as major.minor: patch releases do not
    change timings."""
    device_env = meta.get("device_environment") or next(
        (r["environment"] for r in records if r.get("environment")), {}
    )
    backends = {r.get("backend") for r in records}
    out: dict[str, Any] = {}
    for label, path in ENV_FIELDS:
        value = _dig(device_env, path[1:]) if path[0] == "device_environment" else _dig(meta, path)
        if label == "python" and value:
            value = ".".join(str(value).split(".")[:2])
        if label in BACKEND_PACKAGES and BACKEND_PACKAGES[label] not in backends:
            value = None  # a backend's runtime counts only for runs that use it (an eager suite ignores ORT)
        out[label] = value
    return out


def not_applicable(mv: dict[str, Any] | None) -> bool:
    """Whether a record's metric was skipped because it does not apply to the job's modality (an audio
    metric on a video job): reports leave such cells blank rather than list them as skipped. Records written
    before the ``applicable`` flag existed are recognised by their reason."""
    if not mv or mv.get("status") != "skipped":
        return False
    return mv.get("applicable") is False or str(mv.get("reason") or "").startswith("applies to ")

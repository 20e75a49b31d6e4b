"""Hand-written run folders for the gate's tests: run.json and records.jsonl, no suite is run."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from harness.results import dumps

ENV = {
    "harness_version": "0.1.0",
    "harness_commit": "0123456789abcdef0123456789abcdef01234567",
    "python": "3.11.7",
    "platform": "Linux-6.1-x86_64-with-glibc2.36",
    "cpu": "AMD EPYC",
    "cpu_count": 2,
    "packages": {
        "torch": "2.14.1",
        "diffusers": "0.42.1",
        "onnxruntime": "1.31.1",
        "onnxruntime-gpu": None,
        "tensorrt": None,
        "transformers": "5.23.0",
        "numpy": "2.4.6",
    },
}
DEVICE_ENV = {
    "device": "cpu",
    "torch_threads": 2,
    "device_name": "AMD EPYC",
    "cuda": None,
    "driver": None,
    "cudnn": None,
}
JOBS = (("tiny-sd", "steps-5"), ("tiny-sd", "steps-2"), ("tiny-wan", "steps-2"))
GATES = {"latency_ms.p50": "+5%", "peak_rss_mib": "+15%", "psnr": -1e-6, "ssim": "-1e-6"}


def started_at(seconds: int) -> str:
    """A record's start time, ``seconds`` after 2026-11-22 03:00: records of different runs never share one
    (a record found in two runs is a copy: :mod:`harness.results.identity`)."""
    from datetime import datetime, timedelta, timezone

    start = datetime(2026, 11, 22, 3, 0, tzinfo=timezone.utc) + timedelta(seconds=seconds)
    return start.strftime("%Y-%m-%dT%H:%M:%S%z")


def _a_day_later(stamp: str) -> str:
    from datetime import timedelta

    from harness.results.values import STARTED_AT_FORMATS, parse_started_at

    return (parse_started_at(stamp) + timedelta(days=1)).strftime(STARTED_AT_FORMATS[0])


def latencies(seed: int, n: int = 30, median_ms: float = 100.0, cv: float = 0.03) -> list[float]:
    rng = np.random.default_rng(seed)
    return [float(v) for v in median_ms * rng.lognormal(0.0, cv, n)]


def metric(
    value: float | str,
    *,
    higher_is_better: bool = True,
    fingerprint: str = "fp-psnr",
    ci95: list[float] | None = None,
    unit: str = "dB",
) -> dict[str, Any]:
    return {
        "value": value,
        "unit": unit,
        "higher_is_better": higher_is_better,
        "status": "ok",
        "reason": None,
        "n": 4,
        "ci95": ci95,
        "std": None,
        "fingerprint": fingerprint,
        "details": {},
    }


def record(
    model: str,
    variant: str,
    *,
    seed: int,
    median_ms: float = 100.0,
    rss: float = 700.0,
    psnr: float | str = 30.0,
    ssim: float = 0.95,
    status: str = "ok",
    n: int = 30,
) -> dict[str, Any]:
    from harness.config.plan import job_id
    from harness.measure.stats import summarize

    rec: dict[str, Any] = {
        "schema": 1,
        "job_id": job_id(model, variant, "eager"),
        "suite": "t",
        "model": model,
        "variant": variant,
        "backend": "eager",
        "precision": "fp32",
        "modality": "image",
        "device": "cpu",
        "batch_size": 1,
        "status": status,
        "error": None,
        "started_at": started_at(seed),
        "environment": dict(DEVICE_ENV),
    }
    if status != "ok":
        rec["error"] = {"type": "RuntimeError", "message": "boom"}
        rec["memory"] = {"peak_rss_mib": rss}
        return rec
    lat = summarize(latencies(seed, n, median_ms))
    rec.update(
        latency_ms=lat,
        latency_per_item_ms={"p50": lat["p50"]},
        throughput={"value": 1000.0 / lat["p50"], "unit": "images/s", "per_call": 1.0},
        first_call_ms=500.0,
        load_s=1.0,
        compile_s=0.0,
        memory={
            "peak_rss_mib": rss,
            "peak_vram_allocated_mib": None,
            "peak_vram_reserved_mib": None,
            "peak_vram_nvml_mib": None,
        },
        metrics={"psnr": metric(psnr), "ssim": metric(ssim, fingerprint="fp-ssim", unit="")},
    )
    return rec


def make_run(
    path: Path,
    records: list[dict[str, Any]] | None = None,
    *,
    gates: dict[str, Any] | None = None,
    seed: int = 0,
    **meta_over: Any,
) -> Path:
    """A run folder with the three JOBS (or ``records``); ``gates`` go into run.json's suite."""
    path.mkdir(parents=True)
    if records is None:
        records = [
            record(m, v, seed=seed * 100 + i, psnr="inf" if i == 0 else 30.0 + i)
            for i, (m, v) in enumerate(JOBS)
        ]
    meta = {
        "run_id": path.name,
        "suite": {
            "name": "t",
            "metrics": ["psnr", "ssim"],
            "gates": gates if gates is not None else GATES,
            "measurement": {"warmup": 1, "min_iterations": 30, "min_duration_s": 0.0},
        },
        "device": "cpu",
        "environment": copy.deepcopy(ENV),
        "device_environment": dict(DEVICE_ENV),
        **meta_over,
    }
    (path / "run.json").write_text(json.dumps(meta, indent=1))
    (path / "records.jsonl").write_text("".join(dumps(r) + "\n" for r in records))
    return path


def read(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    meta = json.loads((path / "run.json").read_text())
    recs = [json.loads(line) for line in (path / "records.jsonl").read_text().splitlines() if line.strip()]
    return meta, recs


def write(path: Path, meta: dict[str, Any], recs: list[dict[str, Any]]) -> None:
    (path / "run.json").write_text(json.dumps(meta, indent=1))
    (path / "records.jsonl").write_text("".join(dumps(r) + "\n" for r in recs))


def copy_run(src: Path, dst: Path, edit=None, *, same_records: bool = False) -> Path:
    """Another run made from a run folder: its run id is the new folder's name and every record started a
    day later (so it is another run of the same jobs, not a copy of the first); ``edit(meta, records)`` may
    change it in place. ``same_records``: a plain copy of the folder (``cp -r``), records unchanged."""
    shutil.copytree(src, dst)
    if same_records:
        return dst
    meta, recs = read(dst)
    meta["run_id"] = dst.name
    for r in recs:
        if r.get("started_at"):
            r["started_at"] = _a_day_later(r["started_at"])
    if edit is not None:
        edit(meta, recs)
    write(dst, meta, recs)
    return dst


def scale_latency(recs: list[dict[str, Any]], factor: float, job: int | None = None) -> None:
    """Multiply the raw samples (and re-summarise) of one job or of all."""
    from harness.measure.stats import summarize

    for i, r in enumerate(recs):
        if job is None or i == job:
            r["latency_ms"] = summarize([v * factor for v in r["latency_ms"]["samples"]])

"""A fabricated run folder with known numbers: for the tests, the notebook and trying the report out.

The image jobs are built so that every frontier status occurs: a front with a knee, a job tied with the
front within its intervals, a dominated one, and one that breaks the suite's quality floor.
"""

from __future__ import annotations

import math
import wave
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from harness.results import SCHEMA_VERSION, RunStore

DEMO_OBJECTIVES = {"latency_ms.p50": "min", "psnr": "max", "peak_rss_mib": "min"}
DEMO_CONSTRAINTS = [
    {"metric": "psnr", "min": 18.0, "max": None},
    {"metric": "peak_rss_mib", "min": None, "max": 2000.0},
]

# (model, variant, modality, p50 ms, (lo, hi), psnr, psnr CI or None, peak RSS MiB)
DEMO_JOBS: list[
    tuple[str, str, str, float, tuple[float, float], float, tuple[float, float] | None, float]
] = [
    ("tiny-sd", "steps-8", "image", 100.0, (96.0, 104.0), math.inf, None, 900.0),
    ("tiny-sd", "steps-4", "image", 55.0, (52.0, 58.0), 32.0, (30.0, 34.0), 900.0),
    ("tiny-sd", "steps-3", "image", 45.0, (43.0, 47.0), 29.0, (27.0, 31.0), 900.0),
    ("tiny-sd", "steps-3-ddim", "image", 47.0, (40.0, 54.0), 28.0, (26.0, 30.0), 900.0),
    ("tiny-sd", "steps-4-slow", "image", 80.0, (78.0, 82.0), 20.0, (19.5, 20.5), 950.0),
    ("tiny-sd", "steps-2", "image", 30.0, (28.0, 32.0), 22.0, (20.0, 24.0), 900.0),
    ("tiny-sd", "steps-1", "image", 18.0, (17.0, 19.0), 14.0, (12.0, 16.0), 900.0),
    ("tiny-wan", "steps-5", "video", 400.0, (380.0, 420.0), math.inf, None, 1200.0),
    ("tiny-wan", "steps-2", "video", 170.0, (160.0, 180.0), 24.0, (22.0, 26.0), 1200.0),
    ("tiny-stable-audio", "steps-10", "audio", 250.0, (240.0, 260.0), math.inf, None, 1100.0),
    ("tiny-stable-audio", "steps-4", "audio", 110.0, (104.0, 116.0), 19.0, (17.0, 21.0), 1100.0),
]

UNITS = {"image": "images/s", "video": "frames/s", "audio": "audio_s/s"}

# Like suites/demo.yaml: a distance per modality (each applies to one), speed as latency per item.
DEMO_SUITE_DISTANCES = {"image": "fd_digits", "video": "fvd_digits", "audio": "fad_notes"}
DEMO_SUITE_OBJECTIVES = {
    "latency_per_item_ms.p50": "min",
    **{m: "min" for m in DEMO_SUITE_DISTANCES.values()},
}


def _environment() -> dict[str, Any]:
    return {
        "harness_version": "0.1.0",
        "harness_commit": "demo",
        "python": "3.11.7",
        "platform": "Linux-demo",
        "cpu": "Demo CPU",
        "cpu_count": 2,
        "packages": {"torch": "2.4.0", "diffusers": "0.35.0", "torchmetrics": "1.4.0"},
    }


def _device_environment() -> dict[str, Any]:
    return {"device": "cpu", "torch_threads": 2, "device_name": "Demo CPU", "cuda": None, "driver": None}


def _write_samples(run: Path, job_id: str, modality: str, variant_seed: int, n: int) -> list[str]:
    from PIL import Image

    folder = run / "samples" / job_id
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    yy, xx = np.mgrid[0:32, 0:32] / 31.0
    for i in range(n):
        rng = np.random.default_rng(1000 * variant_seed + i)
        if modality == "image":
            r = (xx * 255 * (i + 1) / n).astype(np.uint8)
            g = (yy * 255).astype(np.uint8)
            b = (rng.random((32, 32)) * 255 * (1 - variant_seed / 10)).astype(np.uint8)
            Image.fromarray(np.stack([r, g, b], axis=-1)).save(folder / f"seed{i}.png")
            out.append(f"samples/{job_id}/seed{i}.png")
        elif modality == "video":
            frames = []
            for t in range(4):
                cx = 6 + 6 * t
                disk = ((xx * 31 - cx) ** 2 + (yy * 31 - 16) ** 2 < 30).astype(np.uint8) * 220
                frames.append(
                    Image.fromarray(np.stack([disk, np.full_like(disk, 60 + 40 * i), 255 - disk], axis=-1))
                )
            frames[0].save(
                folder / f"seed{i}.gif", save_all=True, append_images=frames[1:], duration=125, loop=0
            )
            out.append(f"samples/{job_id}/seed{i}.gif")
        else:
            rate = 8000
            t = np.arange(int(0.25 * rate)) / rate
            wav = 0.3 * np.sin(2 * np.pi * (220 + 110 * i) * t) + 0.01 * rng.standard_normal(t.size)
            with wave.open(str(folder / f"seed{i}.wav"), "wb") as fh:
                fh.setnchannels(1)
                fh.setsampwidth(2)
                fh.setframerate(rate)
                fh.writeframes((np.clip(wav, -1, 1) * 32767).astype("<i2").tobytes())
            out.append(f"samples/{job_id}/seed{i}.wav")
    return out


def _metric(
    value: float, ci: tuple[float, float] | None, unit: str, fingerprint: str, note: str | None
) -> dict:
    return {
        "value": value,
        "unit": unit,
        "higher_is_better": True,
        "status": "ok",
        "reason": None,
        "n": 4,
        "ci95": list(ci) if ci else None,
        "std": None,
        "fingerprint": fingerprint,
        "details": {
            "metric": "psnr",
            "torchmetrics": "1.4.0",
            "dtype": "float64",
            **({"note": note} if note else {}),
        },
    }


def distance_metrics(modality: str, psnr: float, distances: dict[str, str]) -> dict[str, dict]:
    """Per-modality distances in place of PSNR (lower is better; the baseline, PSNR ∞, scores 3): the
    job's own modality's distance with a 95% interval of ±6%, the others not applicable."""
    out = {}
    for mod, name in distances.items():
        if mod != modality:
            out[name] = {
                "value": None,
                "higher_is_better": False,
                "status": "not_applicable",
                "reason": f"applies to {mod}, not {modality}",
            }
            continue
        value = 3.0 if math.isinf(psnr) else round(600.0 / psnr, 3)
        out[name] = {
            "value": value,
            "unit": "",
            "higher_is_better": False,
            "status": "ok",
            "n": 100,
            "ci95": [round(0.94 * value, 3), round(1.06 * value, 3)],
            "fingerprint": f"demo-{name}-1",
            "details": {"metric": name},
        }
    return out


def demo_record(
    i: int,
    model: str,
    variant: str,
    modality: str,
    p50: float,
    p50_ci: tuple[float, float],
    psnr: float,
    psnr_ci: tuple[float, float] | None,
    rss: float,
    samples: list[str],
    suite: str = "demo",
) -> dict[str, Any]:
    """One ok record shaped like the worker's (a dict valid against :class:`harness.results.Record`, which
    ``RunStore.append`` checks), with a reproducible latency sample around ``p50``."""
    rng = np.random.default_rng(i)
    lat = np.sort(p50 + (p50_ci[1] - p50_ci[0]) * rng.standard_normal(25) / 2)
    lat[12] = p50
    job_id = f"{model}__{variant}__eager__{i:08x}"
    per_call = 1.0 if modality != "video" else 8.0
    digits = "".join(ch for ch in variant.split("-", 2)[1] if ch.isdigit()) if "-" in variant else ""
    steps = int(digits) if digits else 4
    return {
        "schema": SCHEMA_VERSION,
        "job_id": job_id,
        "suite": suite,
        "model": model,
        "variant": variant,
        "backend": "eager",
        "precision": "fp32",
        "modality": modality,
        "task": f"text-to-{modality}",
        "device": "cpu",
        "batch_size": 1,
        "call": {"steps": steps, "guidance_scale": 7.5},
        "random_weights": True,
        "status": "ok",
        "error": None,
        "load_s": 1.5,
        "compile_s": 0.0,
        "cache_hit": None,
        "first_call_ms": 3 * p50,
        "latency_ms": {
            "n": 25,
            "p50": p50,
            "p90": float(np.percentile(lat, 90)),
            "p99": float(np.percentile(lat, 99)),
            "mean": float(lat.mean()),
            "std": float(lat.std(ddof=1)),
            "cv": float(lat.std(ddof=1) / lat.mean()),
            "min": float(lat.min()),
            "max": float(lat.max()),
            "p50_ci95": list(p50_ci),
            "samples": lat.tolist(),
        },
        "latency_per_item_ms": {"p50": p50},
        "throughput": {"value": 1000.0 * per_call / p50, "unit": UNITS[modality], "per_call": per_call},
        "stages_ms": {
            "text_encode": {"total_ms": 0.05 * p50, "calls": 2, "p50_ms": 0.025 * p50},
            "denoise_step": {"total_ms": 0.8 * p50, "calls": steps, "p50_ms": 0.8 * p50 / steps},
            "decode": {"total_ms": 0.12 * p50, "calls": 1, "p50_ms": 0.12 * p50},
            "other": {"total_ms": 0.03 * p50, "calls": 1, "p50_ms": 0.03 * p50},
            "total_ms": p50,
        },
        "samples": samples,
        "num_samples": len(samples),
        "metrics": {
            "psnr": _metric(
                psnr,
                psnr_ci,
                "dB",
                "demo-psnr-1",
                "baseline variant: compared with itself" if math.isinf(psnr) else None,
            )
        },
        "fidelity": None,
        "memory": {
            "peak_rss_mib": rss,
            "peak_vram_allocated_mib": None,
            "peak_vram_reserved_mib": None,
            "peak_vram_nvml_mib": None,
        },
        "environment": _device_environment(),
    }


def _started_at(run_name: str, i: int) -> str:
    """A reproducible start time per run and job: two fabricated runs never share a record, as two real runs
    never do (a record in two folders is a copy: :mod:`harness.results.identity`)."""
    start = datetime(2026, 11, 22, tzinfo=timezone.utc) + timedelta(
        seconds=zlib.crc32(run_name.encode()) % 86400
    )
    return (start + timedelta(seconds=10 * i)).strftime("%Y-%m-%dT%H:%M:%S%z")


def fabricate_run(
    parent: str | Path,
    name: str = "demo-run",
    *,
    samples: int = 2,
    failed: bool = True,
    jobs=None,
    constraints=None,
    objectives=None,
    extra_records=(),
    environment=None,
    distances: dict[str, str] | None = None,
) -> Path:
    """Write a run folder ``parent/name`` (run.json, records.jsonl, samples/) and return its path.

    Args:
        samples: sample files per job (PNG for images, GIF for video, WAV for audio).
        failed: add one failed job.
        jobs: rows like :data:`DEMO_JOBS` (default).
        constraints, objectives: the suite's (default: :data:`DEMO_CONSTRAINTS`, :data:`DEMO_OBJECTIVES`).
        extra_records: more records appended as given (e.g. one with a hostile model name).
        environment: replaces ``run.json``'s ``environment`` (to fabricate mismatched runs).
        distances: modality → metric name (e.g. :data:`DEMO_SUITE_DISTANCES`, with
            ``objectives=DEMO_SUITE_OBJECTIVES`` a run shaped like ``suites/demo.yaml``'s): each job gets
            its modality's distance in place of PSNR (:func:`distance_metrics`), the others not applicable.
    """
    path = Path(parent) / name
    (path / "samples").mkdir(parents=True, exist_ok=True)
    store = RunStore(path)
    objectives = dict(objectives or DEMO_OBJECTIVES)
    constraints = list(DEMO_CONSTRAINTS if constraints is None else constraints)
    store.write_meta(
        {
            "run_id": name,
            "suite": {
                "name": "demo",
                "version": 1,
                "description": "Fabricated numbers for trying the report out.",
                "metrics": list(distances.values()) if distances else ["psnr"],
                "objectives": objectives,
                "constraints": constraints,
                "fidelity_bounds": [],
            },
            "device": "cpu",
            "isolation": "none",
            "only": None,
            "environment": environment or _environment(),
            "device_environment": _device_environment(),
        }
    )
    (path / "records.jsonl").unlink(missing_ok=True)
    for i, (model, variant, modality, p50, ci, psnr, psnr_ci, rss) in enumerate(
        DEMO_JOBS if jobs is None else jobs
    ):
        job_id = f"{model}__{variant}__eager__{i:08x}"
        files = _write_samples(path, job_id, modality, i, samples) if samples else []
        rec = demo_record(i, model, variant, modality, p50, ci, psnr, psnr_ci, rss, files)
        rec["started_at"] = _started_at(name, i)
        if distances:
            rec["metrics"] = distance_metrics(modality, psnr, distances)
        store.append(rec)
    if failed:
        store.append(
            {
                "schema": SCHEMA_VERSION,
                "job_id": "tiny-sd__broken__eager__ffffffff",
                "suite": "demo",
                "model": "tiny-sd",
                "variant": "broken",
                "backend": "eager",
                "precision": "fp32",
                "modality": "image",
                "device": "cpu",
                "batch_size": 1,
                "status": "failed",
                "error": {
                    "type": "TypeError",
                    "message": "StableDiffusionPipeline.__call__ takes no 'no_such_argument'",
                    "advice": "remove it from the variant's extra",
                },
                "metrics": {},
                "memory": {},
                "samples": [],
            }
        )
    for rec in extra_records:
        store.append(rec)
    return path

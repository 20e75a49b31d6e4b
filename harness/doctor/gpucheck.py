"""``make gpu-check`` (``python -m harness.doctor.gpucheck``): one Markdown table of what the harness measures on a
GPU, from a machine with nothing downloaded, in at most 8 minutes on one H100/H200.

1. ``harness doctor --device cuda``: timer, overhead, memory, noise, contention, energy counters;
2. the smoke suite on cuda (every tiny card, two variants each);
3. ``sd15-arch`` (SD 1.5's architecture, random weights) at 512², fp16, 20 steps under eager, torch.compile
   and ONNX Runtime's CUDA provider (``suites/gpu-check.yaml``; TensorRT too where it imports);
4. for the eager job, the harness's p50 against a raw CUDA-event loop of the same call (the ratio);
5. the allocator's peak against NVML's per-process peak, and the energy per image, from those records.

Every step runs whatever happens to the others and says what it could not do. ``--device cpu --quick`` runs
the same code on the tiny card at 32 px (the tests use it); nothing in CI needs a GPU.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import math
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.core.paths import REPO_ROOT
from harness.results.columns import MAY_BE_ABSENT_COLUMNS


@dataclass
class Row:
    step: str
    what: str
    result: str
    note: str = ""


def _cli(argv: list[str]) -> tuple[int, str, str]:
    from harness.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def _run_dir(stdout: str) -> Path | None:
    lines = [ln for ln in stdout.strip().splitlines() if ln.strip()]
    return Path(lines[-1]) if lines and Path(lines[-1]).is_dir() else None


def _fmt(v: float | None, unit: str = "", digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{v:.{digits}g}{(' ' + unit) if unit else ''}"


# ---------------------------------------------------------------------------------------------- steps


def doctor_rows(device: str, quick: bool) -> list[Row]:
    from harness.doctor.checks import run_doctor

    report = run_doctor(device, quick=quick)
    rows = [
        Row(
            "doctor",
            f"{f.section}: {f.name}",
            f.value,
            {True: "ok", False: "NOT FIT", None: ""}[f.ok] + (f" — {f.detail}" if f.detail else ""),
        )
        for f in report.findings
    ]
    rows.append(
        Row("doctor", "verdict", "fit to measure" if report.fit else "NOT fit", "; ".join(report.reasons))
    )
    return rows


def smoke_rows(device: str, out: Path) -> list[Row]:
    code, stdout, stderr = _cli(
        ["run", str(REPO_ROOT / "suites" / "smoke.yaml"), "--device", device, "--out", str(out)]
    )
    run = _run_dir(stdout)
    if run is None:
        return [
            Row(
                "smoke",
                "suites/smoke.yaml",
                f"did not run (exit {code})",
                stderr.strip().splitlines()[-1:][0] if stderr.strip() else "",
            )
        ]
    from harness.results.store import RunStore

    recs = RunStore.open(run).records()
    ok = sum(r.ok for r in recs)
    rows = [Row("smoke", "suites/smoke.yaml", f"{ok} of {len(recs)} jobs ok (exit {code})")]
    for r in recs:
        p50 = r.latency_ms.p50 if r.latency_ms else None
        rows.append(
            Row(
                "smoke",
                r.label,
                f"p50 {_fmt(p50, 'ms')}" if r.ok else r.status,
                r.error.message if r.error else "",
            )
        )
    return rows


def backend_suite(device: str, quick: bool, workdir: Path) -> Path:
    """suites/gpu-check.yaml, plus TensorRT where it imports; on the CPU (``quick``) the tiny card at 32 px."""
    import yaml

    from harness.core.yamlio import read_yaml

    suite = copy.deepcopy(read_yaml(REPO_ROOT / "suites" / "gpu-check.yaml"))
    suite["device"] = device
    if device == "cpu":  # the CPU rehearsal has no VRAM and here no energy counter: its rows say so
        suite["may_be_absent"] = list(MAY_BE_ABSENT_COLUMNS)
    if quick:
        suite["models"][0]["card"] = str(REPO_ROOT / "model_cards" / "tiny-sd.yaml")
        suite["models"][0]["variants"] = [
            {"name": "fp32-32-4", "dtype": "fp32", "overrides": {"steps": 4, "resolution": 32}}
        ]
        suite["backends"] = ["eager", "onnxruntime"]
        suite["measurement"] = {
            "warmup": 1,
            "min_iterations": 5,
            "max_iterations": 5,
            "min_duration_s": 0,
            "timeout_s": 600,
        }
        suite["threads"] = 2
    else:
        try:
            import tensorrt  # noqa: F401

            suite["backends"].append("tensorrt")
        except Exception:
            pass
    path = workdir / "gpu-check-suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


def backend_rows(device: str, quick: bool, out: Path, workdir: Path) -> tuple[list[Row], Path | None]:
    suite = backend_suite(device, quick, workdir)
    code, stdout, stderr = _cli(["run", str(suite), "--out", str(out)])
    run = _run_dir(stdout)
    if run is None:
        last = stderr.strip().splitlines()[-1] if stderr.strip() else ""
        return [Row("backends", suite.name, f"did not run (exit {code})", last)], None
    from harness.results.store import RunStore

    rows = []
    recs = RunStore.open(run).records()
    eager = next((r for r in recs if r.backend == "eager" and r.ok), None)
    for r in recs:
        if not r.ok:
            rows.append(
                Row("backends", r.label, r.status, f"{r.error.type}: {r.error.message}" if r.error else "")
            )
            continue
        p50 = r.latency_ms.p50
        speedup = (
            f", ×{eager.latency_ms.p50 / p50:.2f} vs eager" if eager is not None and r is not eager else ""
        )
        mad = r.metric_value("max_abs_diff")
        rows.append(
            Row(
                "backends",
                r.label,
                f"p50 {_fmt(p50, 'ms')}{speedup}; compile {_fmt(r.compile_s, 's', 3)}",
                f"max |diff| vs eager {_fmt(mad, digits=3)}" if mad is not None else "",
            )
        )
        mem = r.memory
        rows.append(
            Row(
                "memory",
                r.label,
                f"allocator peak {_fmt(mem.peak_vram_allocated_mib, 'MiB')}, reserved {_fmt(mem.peak_vram_reserved_mib, 'MiB')}, "
                f"NVML per-process peak {_fmt(mem.peak_vram_nvml_mib, 'MiB')}",
                f"RSS {_fmt(mem.peak_rss_mib, 'MiB')}",
            )
        )
        e = r.energy
        rows.append(
            Row(
                "energy",
                r.label,
                f"{_fmt(e.energy_per_item_j, 'J')} per image"
                if e is not None and e.energy_per_item_j is not None
                else "not measured",
                ", ".join(e.sources) if e is not None and e.sources else (e.reason if e is not None else ""),
            )
        )
        if r.cost is not None:
            rows.append(
                Row("cost", r.label, f"{_fmt(r.cost.per_1k_items_usd, 'USD', 3)} per 1k images", r.cost.basis)
            )
        if r.conditions is not None and (r.conditions.contention or r.conditions.throttled):
            rows.append(Row("conditions", r.label, "⚠ " + "; ".join(r.conditions.notes)))
    return rows, run


def raw_loop_row(device: str, quick: bool, iterations: int = 10) -> Row:
    """The eager job's call timed by the harness's ``timed_loop`` and by a raw loop of CUDA events (CPU:
    ``perf_counter``) in the same process, alternating blocks: the ratio of the medians."""
    import numpy as np

    from harness.config import CallArgs, load_card
    from harness.loaders import load_generator
    from harness.loaders.base import Request
    from harness.measure.timing import timed_loop

    card = load_card(REPO_ROOT / "model_cards" / ("tiny-sd.yaml" if quick else "sd15-arch.yaml"))
    dtype = "fp32" if quick else "fp16"
    gen = load_generator(card, device, dtype)
    call = (
        CallArgs(steps=4, resolution=32) if quick else CallArgs(steps=20, resolution=512, guidance_scale=7.5)
    )
    req = Request(seeds=[0], call=call, prompts=["a photograph of an astronaut riding a horse"])

    def fn() -> Any:
        return gen.generate(req)

    fn()
    fn()
    harness_ms: list[float] = []
    raw_ms: list[float] = []
    block = 5
    while len(harness_ms) < iterations:
        ms, _ = timed_loop(fn, device, min_iterations=block, max_iterations=block, min_duration_s=0.0)
        harness_ms += ms
        for _ in range(block):
            if device.startswith("cuda"):
                import torch

                torch.cuda.synchronize()
                a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                a.record()
                fn()
                b.record()
                torch.cuda.synchronize()
                raw_ms.append(float(a.elapsed_time(b)))
            else:
                t0 = time.perf_counter()
                fn()
                raw_ms.append((time.perf_counter() - t0) * 1000.0)
    h, r = float(np.median(harness_ms)), float(np.median(raw_ms))
    clock = "CUDA events" if device.startswith("cuda") else "perf_counter"
    return Row(
        "timing",
        f"{card.name}: harness p50 / raw {clock} loop p50",
        f"×{h / r:.4f}",
        f"{_fmt(h, 'ms')} vs {_fmt(r, 'ms')} over {len(harness_ms)} + {len(raw_ms)} calls",
    )


# ----------------------------------------------------------------------------------------------- main


def to_markdown(rows: list[Row], device: str, seconds: float, header: str = "") -> str:
    def cell(text: str) -> str:
        return str(text).replace("|", "/").replace("\n", " ")

    lines = [
        f"# harness gpu-check — {device}",
        "",
        header or "",
        "",
        "| step | what | result | notes |",
        "|---|---|---|---|",
        *[f"| {cell(r.step)} | {cell(r.what)} | {cell(r.result)} | {cell(r.note)} |" for r in rows],
        "",
        f"Wall time {seconds / 60:.1f} min.",
        "",
    ]
    return "\n".join(lines)


def run_check(
    device: str, *, quick: bool = False, out_dir: Path | None = None, steps: list[str] | None = None
) -> tuple[list[Row], float]:
    steps = steps or ["doctor", "smoke", "backends", "timing"]
    t0 = time.perf_counter()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="harness-gpucheck-") as tmp:
        workdir = Path(tmp)
        out = out_dir or workdir / "runs"
        for step in steps:
            try:
                if step == "doctor":
                    rows += doctor_rows(device, quick)
                elif step == "smoke":
                    rows += smoke_rows(device, out)
                elif step == "backends":
                    rows += backend_rows(device, quick, out, workdir)[0]
                elif step == "timing":
                    rows.append(raw_loop_row(device, quick))
            except Exception as exc:  # one step's failure is its own row; the others still run
                rows.append(
                    Row(
                        step,
                        "failed",
                        f"{type(exc).__name__}",
                        str(exc).splitlines()[0][:300] if str(exc) else "",
                    )
                )
    return rows, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.doctor.gpucheck", description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    p.add_argument(
        "--out",
        default="results/gpu-check.md",
        metavar="FILE",
        help="the Markdown table (default: results/gpu-check.md)",
    )
    p.add_argument(
        "--runs", default=None, metavar="DIR", help="keep the run folders here (default: a temporary folder)"
    )
    p.add_argument(
        "--quick", action="store_true", help="the tiny card at 32 px and fewer repeats (the CPU test)"
    )
    p.add_argument("--steps", default=None, help="comma-separated subset of doctor,smoke,backends,timing")
    args = p.parse_args(argv)
    from harness.cli.core import output_file
    from harness.core.errors import UserInputError
    from harness.measure.env import host_environment, resolve_device

    try:
        out = output_file(args.out, "--out")
        device = resolve_device(args.device)
        steps = [s.strip() for s in args.steps.split(",")] if args.steps else None
        unknown = [s for s in steps or [] if s not in ("doctor", "smoke", "backends", "timing")]
        if unknown:
            raise UserInputError(
                f"--steps: unknown step '{unknown[0]}' (allowed: doctor, smoke, backends, timing)"
            )
    except UserInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows, seconds = run_check(
        device, quick=args.quick, out_dir=Path(args.runs) if args.runs else None, steps=steps
    )
    env = host_environment()
    header = f"harness {env.get('harness_commit') or env.get('harness_version')}, torch {env['packages'].get('torch')}, diffusers {env['packages'].get('diffusers')}"
    text = to_markdown(rows, device, seconds, header)
    if out is not None:
        out.write_text(text, encoding="utf-8")
    print(text)
    failed = any(r.what == "failed" or "did not run" in r.result for r in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``make gpu-check``: one Markdown table of what the harness measures on a GPU, from a machine with nothing
downloaded, in at most 8 minutes on one H100/H200.

1. the doctor (:func:`~harness.doctor.checks.run_doctor`): timer, overhead, memory, noise, contention, energy;
2. the smoke suite on cuda (every tiny card, two variants each);
3. ``sd15-arch`` (SD 1.5's architecture, random weights) at 512², fp16, 20 steps under eager, torch.compile
   and ONNX Runtime's CUDA provider (``suites/gpu-check.yaml``; TensorRT too where it imports);
4. for the eager job, the harness's p50 against a raw CUDA-event loop of the same call (the ratio);
5. the allocator's peak against NVML's per-process peak, and the energy per image, from those records.

The suites run through the library (:func:`~harness.doctor.suite_run.run_suite`) and the table is built from
their typed records. Every step runs whatever happens to the others and says what it could not do.
``--device cpu --quick`` runs the same code on the tiny card at 32 px (the tests use it); nothing in CI
needs a GPU. The command line is :mod:`harness.cli.gpucheck`.
"""

from __future__ import annotations

import copy
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from harness.config import CallArgs, load_card
from harness.core.errors import EXIT_BAD_INPUT, UserInputError
from harness.core.numfmt import fmt
from harness.core.paths import REPO_ROOT
from harness.core.yamlio import read_yaml
from harness.doctor.checks import run_doctor
from harness.doctor.loops import card_call, cuda_event_ms, harness_and_bare, perf_counter_ms
from harness.doctor.suite_run import SuiteRun, run_suite
from harness.loaders.base import Request
from harness.results.columns import MAY_BE_ABSENT_COLUMNS
from harness.results.record import Record

STEPS = ("doctor", "smoke", "backends", "timing")


@dataclass
class Row:
    """One line of the table."""

    step: str
    what: str
    result: str
    note: str = ""


def _num(value: float | None, unit: str = "", digits: int = 4) -> str:
    """A figure and its unit; a missing one is ``–`` alone."""
    text = fmt(value, digits)
    return f"{text} {unit}" if unit and text != "–" else text


# ---------------------------------------------------------------------------------------------- steps


def doctor_rows(device: str, quick: bool) -> list[Row]:
    """Every finding of the doctor, and its verdict."""
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


def _suite(step: str, name: str, path: Path, out: Path, device: str | None) -> SuiteRun | Row:
    """The suite's run, or the row that says why it did not run (bad input, exit 2 as ``harness run``)."""
    try:
        return run_suite(path, out, device)
    except UserInputError as exc:
        return Row(step, name, f"did not run (exit {EXIT_BAD_INPUT})", f"error: {exc}")


def smoke_rows(device: str, out: Path) -> list[Row]:
    """suites/smoke.yaml on ``device``: a row for the run, then each job's p50 (or why it failed)."""
    run = _suite("smoke", "suites/smoke.yaml", REPO_ROOT / "suites" / "smoke.yaml", out, device)
    if isinstance(run, Row):
        return [run]
    rows = [
        Row("smoke", "suites/smoke.yaml", f"{run.ok} of {len(run.records)} jobs ok (exit {run.exit_code})")
    ]
    for r in run.records:
        p50 = r.latency_ms.p50 if r.latency_ms else None
        result = f"p50 {_num(p50, 'ms')}" if r.ok else r.status
        rows.append(Row("smoke", r.label, result, r.error.message if r.error else ""))
    return rows


def backend_suite(device: str, quick: bool, workdir: Path) -> Path:
    """suites/gpu-check.yaml, plus TensorRT where it imports; on the CPU (``quick``) the tiny card at 32 px."""
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
    elif _tensorrt_imports():
        suite["backends"].append("tensorrt")
    path = workdir / "gpu-check-suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


def _tensorrt_imports() -> bool:
    try:
        import tensorrt  # noqa: F401
    except Exception:
        return False
    return True


def backend_rows(device: str, quick: bool, out: Path, workdir: Path) -> list[Row]:
    """The backend suite: per job its speed against eager, memory, energy, cost and conditions."""
    suite = backend_suite(device, quick, workdir)
    run = _suite("backends", suite.name, suite, out, None)
    if isinstance(run, Row):
        return [run]
    eager = next((r for r in run.records if r.backend == "eager" and r.ok), None)
    rows: list[Row] = []
    for r in run.records:
        if not r.ok:
            rows.append(
                Row("backends", r.label, r.status, f"{r.error.type}: {r.error.message}" if r.error else "")
            )
            continue
        rows += [_speed_row(r, eager), _memory_row(r), _energy_row(r)]
        if r.cost is not None:
            cost = f"{_num(r.cost.per_1k_items_usd, 'USD', 3)} per 1k images"
            rows.append(Row("cost", r.label, cost, r.cost.basis))
        if r.conditions is not None and (r.conditions.contention or r.conditions.throttled):
            rows.append(Row("conditions", r.label, "⚠ " + "; ".join(r.conditions.notes)))
    return rows


def _speed_row(r: Record, eager: Record | None) -> Row:
    p50 = r.latency_ms.p50
    speedup = f", ×{eager.latency_ms.p50 / p50:.2f} vs eager" if eager is not None and r is not eager else ""
    mad = r.metric_value("max_abs_diff")
    return Row(
        "backends",
        r.label,
        f"p50 {_num(p50, 'ms')}{speedup}; compile {_num(r.compile_s, 's', 3)}",
        f"max |diff| vs eager {_num(mad, digits=3)}" if mad is not None else "",
    )


def _memory_row(r: Record) -> Row:
    mem = r.memory
    return Row(
        "memory",
        r.label,
        f"allocator peak {_num(mem.peak_vram_allocated_mib, 'MiB')}, reserved {_num(mem.peak_vram_reserved_mib, 'MiB')}, "
        f"NVML per-process peak {_num(mem.peak_vram_nvml_mib, 'MiB')}",
        f"RSS {_num(mem.peak_rss_mib, 'MiB')}",
    )


def _energy_row(r: Record) -> Row:
    e = r.energy
    if e is None:
        return Row("energy", r.label, "not measured", "")
    per_item = (
        f"{_num(e.energy_per_item_j, 'J')} per image" if e.energy_per_item_j is not None else "not measured"
    )
    return Row("energy", r.label, per_item, ", ".join(e.sources) if e.sources else (e.reason or ""))


def raw_loop_row(device: str, quick: bool, iterations: int = 10) -> Row:
    """The eager job's call timed by the harness's ``timed_loop`` and by a raw loop of CUDA events (CPU:
    ``perf_counter``) in the same process, alternating blocks: the ratio of the medians."""
    card = load_card(REPO_ROOT / "model_cards" / ("tiny-sd.yaml" if quick else "sd15-arch.yaml"))
    dtype = "fp32" if quick else "fp16"
    call = (
        CallArgs(steps=4, resolution=32) if quick else CallArgs(steps=20, resolution=512, guidance_scale=7.5)
    )
    req = Request(seeds=[0], call=call, prompts=["a photograph of an astronaut riding a horse"])
    cuda = device.startswith("cuda")
    harness_ms, raw_ms = harness_and_bare(
        card_call(card, device, dtype, req),
        device,
        iterations=iterations,
        bare=cuda_event_ms if cuda else perf_counter_ms,
    )
    h, r = float(np.median(harness_ms)), float(np.median(raw_ms))
    clock = "CUDA events" if cuda else "perf_counter"
    return Row(
        "timing",
        f"{card.name}: harness p50 / raw {clock} loop p50",
        f"×{h / r:.4f}",
        f"{_num(h, 'ms')} vs {_num(r, 'ms')} over {len(harness_ms)} + {len(raw_ms)} calls",
    )


# ----------------------------------------------------------------------------------------------- all


def to_markdown(rows: list[Row], device: str, seconds: float, header: str = "") -> str:
    """The table, with a title, a header line and the wall time."""

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


def _step_rows(step: str, device: str, quick: bool, out: Path, workdir: Path) -> list[Row]:
    if step == "doctor":
        return doctor_rows(device, quick)
    if step == "smoke":
        return smoke_rows(device, out)
    if step == "backends":
        return backend_rows(device, quick, out, workdir)
    return [raw_loop_row(device, quick)]


def run_check(
    device: str, *, quick: bool = False, out_dir: Path | None = None, steps: list[str] | None = None
) -> tuple[list[Row], float]:
    """The rows of ``steps`` (default: all) and the wall time; run folders go to ``out_dir`` (default: a
    temporary folder)."""
    t0 = time.perf_counter()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="harness-gpucheck-") as tmp:
        workdir = Path(tmp)
        out = out_dir or workdir / "runs"
        for step in steps or STEPS:
            try:
                rows += _step_rows(step, device, quick, out, workdir)
            except Exception as exc:  # one step's failure is its own row; the others still run
                first = str(exc).splitlines()[0][:300] if str(exc) else ""
                rows.append(Row(step, "failed", type(exc).__name__, first))
    return rows, time.perf_counter() - t0


def failed(rows: list[Row]) -> bool:
    """Whether a step failed or a suite did not run."""
    return any(r.what == "failed" or "did not run" in r.result for r in rows)

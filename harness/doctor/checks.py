"""``harness doctor``: the machine measured as an instrument, before anyone trusts a number taken on it.

Each check times or allocates something whose answer is known and compares, through the harness's own
paths (``time_call``/``timed_loop``, the memory trackers, the gate's detectability rule):

* **timer**: a busy-wait of known length (CPU: spinning on ``CLOCK_MONOTONIC_RAW``, a clock other than the
  one ``perf_counter`` reads) or a CUDA kernel of known length (``torch.cuda._sleep``, its cycles per
  millisecond calibrated against the host clock), timed by ``time_call``: the error in %;
* **overhead**: the zoo's digits-small call timed by ``timed_loop`` against a bare loop of the same call in
  the same process, in alternating blocks: the ratio (the goal is ≤ 1 %);
* **memory**: a known allocation against what RSS, the CUDA allocator and NVML report;
* **noise**: the spread of a fixed workload over repeats, the smallest slowdown the regression gate can catch
  at the suite's iteration count, and the iterations a 5 % gate needs;
* **contention**: other processes' load against the cores, torch/OpenMP threads against idle cores, the
  frequency governor; on a GPU its clocks, persistence mode, throttle reasons, ECC, MIG and other processes;
* **energy**: which counters exist here (NVML total energy, RAPL) and how often they change.

A finding with ``ok=False`` makes the machine unfit to measure (exit 1); ``ok=None`` is information.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

TIMER_TOLERANCE = 0.01  # a timer off by more than 1 % is not fit
OVERHEAD_GOAL = 0.01  # the harness's own timing path within 1 % of a bare loop
MEMORY_TOLERANCE = 0.05
NOISE_CV_LIMIT = 0.05  # above this a 5 % gate needs far more iterations than suites run
ALLOC_MIB = 256


@dataclass
class Finding:
    section: str
    name: str
    value: str
    ok: bool | None  # None: information only
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class DoctorReport:
    device: str
    findings: list[Finding]
    seconds: float = 0.0

    @property
    def reasons(self) -> list[str]:
        return [f"{f.section}: {f.name}: {f.detail or f.value}" for f in self.findings if f.ok is False]

    @property
    def fit(self) -> bool:
        return not self.reasons

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "fit": self.fit,
            "reasons": self.reasons,
            "seconds": self.seconds,
            "findings": [asdict(f) for f in self.findings],
        }


# --------------------------------------------------------------------------------------------- timer


_RAW = time.CLOCK_MONOTONIC_RAW if hasattr(time, "CLOCK_MONOTONIC_RAW") else time.CLOCK_MONOTONIC


def _busy_wait(ms: float) -> float:
    """Spin for ``ms`` on CLOCK_MONOTONIC_RAW (not the clock perf_counter reads); return the raw clock's
    own measure of the spin, in ms: the known duration the timing path is compared with, even when the
    scheduler stretches it on a busy machine."""
    start = time.clock_gettime_ns(_RAW)
    deadline = start + int(ms * 1e6)
    now = start
    while now < deadline:
        now = time.clock_gettime_ns(_RAW)
    return (now - start) / 1e6


def timer_findings(device: str, repeats: int = 15) -> list[Finding]:
    from harness.measure.timing import time_call

    out = []
    if device.startswith("cuda"):
        import torch

        # Cycles per millisecond of torch.cuda._sleep, against the host clock over a long sleep.
        torch.cuda._sleep(1_000_000)
        torch.cuda.synchronize()
        cycles = 200_000_000
        t0 = time.perf_counter()
        torch.cuda._sleep(cycles)
        torch.cuda.synchronize()
        per_ms = cycles / ((time.perf_counter() - t0) * 1000.0)
        for target in (10.0, 1.0):
            n = int(per_ms * target)
            ms = [time_call(lambda n=n: torch.cuda._sleep(n), device)[0] for _ in range(repeats)]
            out.append(
                _timer_finding(
                    f"CUDA kernel of {target:g} ms (torch.cuda._sleep, CUDA events)",
                    target,
                    ms,
                    [target] * repeats,
                )
            )
        return out
    for target in (10.0, 1.0):
        measured, truth = [], []
        for _ in range(repeats):
            ms, raw = time_call(lambda target=target: _busy_wait(target), device)
            measured.append(ms)
            truth.append(raw)
        out.append(
            _timer_finding(
                f"busy-wait of {target:g} ms (CLOCK_MONOTONIC_RAW, timed by perf_counter)",
                target,
                measured,
                truth,
            )
        )
    return out


def _timer_finding(name: str, target: float, ms: list[float], truth: list[float]) -> Finding:
    errors = [m / t - 1.0 for m, t in zip(ms, truth)]
    err = float(np.median(errors))
    med = float(np.median(ms))
    ok = abs(err) <= TIMER_TOLERANCE
    return Finding(
        "timer",
        name,
        f"{med:.4g} ms ({err:+.2%})",
        ok,
        ""
        if ok
        else f"the timing path reads {err:+.2%} off a known {target:g} ms (tolerance {TIMER_TOLERANCE:.0%})",
        {"target_ms": target, "median_ms": med, "error": err, "samples_ms": ms, "truth_ms": truth},
    )


# ------------------------------------------------------------------------------------------ overhead


class _quiet:
    """diffusers' loading bars and deprecation notes off while the doctor loads its model."""

    def __enter__(self) -> None:
        import warnings

        from diffusers.utils import logging as dlog

        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.simplefilter("ignore")
        dlog.disable_progress_bar()

    def __exit__(self, *exc: object) -> None:
        from diffusers.utils import logging as dlog

        dlog.enable_progress_bar()
        self._warnings.__exit__(*exc)


def overhead_finding(device: str, iterations: int = 30, block: int = 5) -> Finding:
    """digits-small (DDIM 3, batch 8) timed by the harness's ``timed_loop`` and by a bare loop, alternating
    blocks so that drift of a shared machine falls on both alike."""
    from harness.config import CallArgs, SchedulerSpec, load_card
    from harness.core.paths import REPO_ROOT
    from harness.gate.stats import shift_test
    from harness.loaders import load_generator
    from harness.loaders.base import Request
    from harness.measure.timing import synchronize, timed_loop

    card = load_card(REPO_ROOT / "model_cards" / "digits-small.yaml")
    with _quiet():
        gen = load_generator(card, device, "fp32")
    sched = SchedulerSpec(name="DDIMScheduler", config={"timestep_spacing": "trailing", "clip_sample": False})
    req = Request(seeds=list(range(8)), call=CallArgs(steps=3, scheduler=sched), class_labels=list(range(8)))

    def call() -> Any:
        return gen.generate(req)

    for _ in range(3):
        call()
    harness_ms: list[float] = []
    bare_ms: list[float] = []
    while len(harness_ms) < iterations:
        ms, _ = timed_loop(call, device, min_iterations=block, max_iterations=block, min_duration_s=0.0)
        harness_ms += ms
        for _ in range(block):
            synchronize(device)
            t0 = time.perf_counter()
            call()
            synchronize(device)
            bare_ms.append((time.perf_counter() - t0) * 1000.0)
    test = shift_test(bare_ms, harness_ms)
    ratio = math.exp(float(test.estimate[0]))
    lo, hi = math.exp(float(test.lower[0])), math.exp(float(test.upper[0]))
    within = ratio - 1.0 <= OVERHEAD_GOAL or lo <= 1.0 <= hi
    return Finding(
        "overhead",
        "harness timed_loop / bare loop, digits-small DDIM 3 × 8",
        f"×{ratio:.4f} [{lo:.4f}, {hi:.4f}]",
        within,
        ""
        if within
        else f"the harness's timing path adds {ratio - 1:.1%} over a bare loop (goal ≤ {OVERHEAD_GOAL:.0%})",
        {
            "ratio": ratio,
            "ci98": [lo, hi],
            "harness_p50_ms": float(np.median(harness_ms)),
            "bare_p50_ms": float(np.median(bare_ms)),
            "iterations": len(harness_ms),
        },
    )


# --------------------------------------------------------------------------------------------- memory


def memory_findings(device: str) -> list[Finding]:
    import psutil

    from harness.measure.memory import MIB

    out = []
    proc = psutil.Process()
    before = proc.memory_info().rss
    block = np.ones(ALLOC_MIB * MIB, dtype=np.uint8)  # np.ones writes every page: resident, not just mapped
    grown = (proc.memory_info().rss - before) / MIB
    del block
    err = grown / ALLOC_MIB - 1.0
    ok = abs(err) <= MEMORY_TOLERANCE
    out.append(
        Finding(
            "memory",
            f"RSS growth for a {ALLOC_MIB} MiB host allocation",
            f"{grown:.1f} MiB ({err:+.1%})",
            ok,
            "" if ok else f"RSS reports {err:+.1%} off a known allocation",
            {"expected_mib": ALLOC_MIB, "measured_mib": grown},
        )
    )
    if device.startswith("cuda"):
        import torch

        from harness.measure.memory import NvmlPeak

        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        a0 = torch.cuda.memory_allocated()
        nv = NvmlPeak()
        nv._sample()
        n0 = nv.peak_mib
        t = torch.empty(ALLOC_MIB * MIB, dtype=torch.uint8, device=device)
        torch.cuda.synchronize()
        alloc = (torch.cuda.memory_allocated() - a0) / MIB
        nv.peak_mib = 0.0
        nv._sample()
        n1 = nv.peak_mib
        del t
        torch.cuda.empty_cache()
        ok = abs(alloc - ALLOC_MIB) < 1.0
        out.append(
            Finding(
                "memory",
                f"CUDA allocator for a {ALLOC_MIB} MiB tensor",
                f"{alloc:.1f} MiB",
                ok,
                "" if ok else "the allocator's count is off a known allocation",
                {"expected_mib": ALLOC_MIB, "allocator_mib": alloc},
            )
        )
        if n0 is not None and n1 is not None:
            grown_nv = n1 - n0
            out.append(
                Finding(
                    "memory",
                    f"NVML per-process memory for the same {ALLOC_MIB} MiB",
                    f"+{grown_nv:.1f} MiB",
                    grown_nv >= ALLOC_MIB - 2.0,
                    ""
                    if grown_nv >= ALLOC_MIB - 2.0
                    else "NVML's per-process figure did not see the allocation",
                    {"expected_mib": ALLOC_MIB, "nvml_mib": grown_nv},
                )
            )
        else:
            out.append(
                Finding(
                    "memory", "NVML per-process memory", "not readable", None, "nvidia-ml-py/NVML unavailable"
                )
            )
    return out


# ---------------------------------------------------------------------------------------------- noise


def noise_finding(device: str, iterations: int, repeats: int = 40) -> Finding:
    """A fixed workload (a 256² matmul chain) repeated: its spread, what the gate can catch at
    ``iterations`` per side, and what a 5 % gate needs."""
    import torch

    from harness.gate.stats import ALPHA, POWER, iterations_needed, robust_sigma, shift_se
    from harness.measure.timing import time_call

    x = torch.randn(256, 256, device=device)

    def work() -> Any:
        y = x
        for _ in range(8):
            y = y @ x
            y = y / y.norm()
        return y

    for _ in range(5):
        time_call(work, device)
    ms = np.array([time_call(work, device)[0] for _ in range(repeats)])
    cv = float(ms.std(ddof=1) / ms.mean())
    # The gate decides on ranks, so what limits it is the robust spread (MAD of the log-times), not a CV
    # that one descheduled repeat can inflate; both are reported.
    sigma = robust_sigma(np.log(ms))
    robust_cv = math.expm1(sigma)
    slow = float(np.mean(ms > 1.5 * np.median(ms)))
    z = statistics.NormalDist()
    # The smallest threshold t the rule catches 80 % of the time at n per side: log(1 + t) = (z₁₋α + z_p)·SE.
    catch = math.expm1((z.inv_cdf(1 - ALPHA) + z.inv_cdf(POWER)) * shift_se(sigma, iterations, iterations))
    need = iterations_needed(sigma, math.log(1.05), math.log(1.05) / 2)
    ok = robust_cv <= NOISE_CV_LIMIT
    per_side = need if need is not None else "> 100000"
    return Finding(
        "noise",
        f"spread of a fixed workload over {repeats} repeats",
        f"robust CV {robust_cv:.1%} (CV {cv:.1%}, {slow:.0%} of repeats > 1.5× the median); at {iterations} "
        f"iterations the gate catches ≥ +{catch:.1%}; a +5% gate needs {per_side} per side",
        ok,
        ""
        if ok
        else f"robust CV {robust_cv:.1%} exceeds {NOISE_CV_LIMIT:.0%}: this machine's timings are noisy",
        {
            "cv": cv,
            "robust_cv": robust_cv,
            "slow_fraction": slow,
            "sigma_log": sigma,
            "iterations": iterations,
            "smallest_catchable": catch,
            "iterations_for_5pct": need,
            "samples_ms": ms.tolist(),
        },
    )


# ------------------------------------------------------------------------------------------ contention


def contention_findings(device: str, threads: int | None = None) -> list[Finding]:
    from harness.measure.conditions import (
        CONTENTION_CORES,
        GpuSampler,
        busy_cores,
        cpu_governor,
        load_average,
        thread_settings,
        usable_cores,
    )

    out = []
    cores = usable_cores()
    load = load_average()
    others = busy_cores(1.0)
    idle = max(cores - others, 0.0)
    settings = thread_settings()
    wanted = threads or settings["torch_threads"] or cores
    out.append(
        Finding(
            "contention",
            "other processes' load",
            f"{others:.2f} of {cores} core(s) busy (load average {', '.join(f'{v:.2f}' for v in load) if load else '?'})",
            None if others < CONTENTION_CORES else (wanted <= idle + 0.25),
            ""
            if others < CONTENTION_CORES or wanted <= idle + 0.25
            else f"other processes keep {others:.1f} core(s) busy: jobs would compete for the cores",
            {"other_cores": others, "cores": cores, "load_average": list(load) if load else None},
        )
    )
    fits = wanted <= idle + 0.25
    out.append(
        Finding(
            "contention",
            "torch threads against idle cores",
            f"{wanted} thread(s), {idle:.1f} idle core(s) (OMP_NUM_THREADS={settings['OMP_NUM_THREADS'] or 'unset'})",
            fits,
            ""
            if fits
            else (
                f"{wanted} threads on {idle:.1f} idle core(s): oversubscribed (OpenMP spins; a shared 2-core "
                "machine made a UNet step 140× slower this way); set the suite's threads to the idle cores"
            ),
            {"threads": wanted, "idle_cores": idle},
        )
    )
    gov = cpu_governor()
    out.append(
        Finding(
            "contention",
            "CPU frequency governor",
            gov or "not readable here",
            None,
            "powersave lets clocks drift: prefer performance" if gov and "powersave" in gov else "",
        )
    )
    if device.startswith("cuda"):
        import torch

        with GpuSampler(torch.cuda.current_device()) as s:
            time.sleep(0.2)
        g = s.reading
        if g is None:
            out.append(
                Finding("gpu", "NVML", "not readable", None, "install nvidia-ml-py for clocks and throttling")
            )
        else:
            clock = f"SM {g.sm_clock_mhz[-1] if g.sm_clock_mhz else '?'} / {g.sm_clock_max_mhz or '?'} MHz"
            mem = (
                f"memory {g.mem_clock_mhz[-1] if g.mem_clock_mhz else '?'} / {g.mem_clock_max_mhz or '?'} MHz"
            )
            out.append(
                Finding(
                    "gpu",
                    f"clocks ({g.name})",
                    f"{clock}, {mem}",
                    None,
                    "idle clocks are low; a job's record shows them under load",
                )
            )
            off = g.persistence_mode is False
            out.append(
                Finding(
                    "gpu",
                    "persistence mode",
                    str(g.persistence_mode),
                    None,
                    "off: the driver may unload between jobs (slower first calls); nvidia-smi -pm 1"
                    if off
                    else "",
                )
            )
            out.append(
                Finding(
                    "gpu",
                    "throttle reasons now",
                    ", ".join(g.throttle_reasons) or "none",
                    not g.throttled,
                    "" if not g.throttled else "the GPU is throttling (power or thermal) before any load",
                )
            )
            out.append(
                Finding(
                    "gpu",
                    "ECC / MIG",
                    f"ECC {g.ecc}, MIG {g.mig}",
                    None,
                    "MIG slices share the GPU: numbers are per slice" if g.mig else "",
                )
            )
            busy = bool(g.other_processes)
            out.append(
                Finding(
                    "gpu",
                    "other processes on the device",
                    str(g.other_processes or 0),
                    not busy,
                    ""
                    if not busy
                    else "other processes share the GPU: timings and memory are not this job's alone",
                )
            )
    return out


# --------------------------------------------------------------------------------------------- energy


def energy_findings(device: str) -> list[Finding]:
    from harness.measure.energy import counters

    available, absent = counters(device)
    out = [
        Finding(
            "energy",
            "energy counters",
            ", ".join(available) if available else "none",
            None,
            "; ".join(absent) if absent else "",
            {"available": available, "absent": absent},
        )
    ]
    from harness.measure.energy import nvml_counter, rapl_zones

    zones, _ = rapl_zones()
    for z in zones[:1]:
        out.append(_update_interval(f"RAPL {z.name} counter", z.read_uj, "µJ"))
    if device.startswith("cuda"):
        import torch

        read, why = nvml_counter(int(torch.cuda.current_device()))
        if read is not None:
            out.append(_update_interval("NVML total-energy counter", read, "mJ"))
        else:
            out.append(Finding("energy", "NVML total-energy counter", "not readable", None, why or ""))
    return out


def _update_interval(name: str, read: Any, unit: str, seconds: float = 0.5) -> Finding:
    """How often a cumulative counter changes: its effective time resolution."""
    changes, last = [], read()
    t_end = time.perf_counter() + seconds
    t_last = time.perf_counter()
    while time.perf_counter() < t_end:
        v = read()
        if v != last:
            now = time.perf_counter()
            changes.append(now - t_last)
            t_last, last = now, v
    interval = float(np.median(changes)) * 1000.0 if changes else None
    return Finding(
        "energy",
        f"{name} resolution",
        f"1 {unit} steps, updated every {interval:.1f} ms"
        if interval
        else f"did not change in {seconds:g} s",
        None,
        "",
        {"unit": unit, "update_ms": interval},
    )


# ----------------------------------------------------------------------------------------------- all


def run_doctor(
    device: str, *, iterations: int = 30, threads: int | None = None, quick: bool = False
) -> DoctorReport:
    """Every check on ``device`` (``cpu`` or ``cuda``); ``quick`` shortens the repeats (tests)."""
    t0 = time.perf_counter()
    if threads:
        import torch

        torch.set_num_threads(threads)
    findings: list[Finding] = []
    findings += timer_findings(device, repeats=5 if quick else 15)
    findings.append(overhead_finding(device, iterations=10 if quick else 30))
    findings += memory_findings(device)
    findings.append(noise_finding(device, iterations, repeats=15 if quick else 40))
    findings += contention_findings(device, threads)
    findings += energy_findings(device)
    return DoctorReport(device, findings, time.perf_counter() - t0)

"""``harness doctor``: the machine measured as an instrument, before anyone trusts a number taken on it.

Each check times or allocates something whose answer is known and compares, through the harness's own
paths (``time_call``/``timed_loop``, the memory trackers, the gate's detectability rule), one module each:

* **timer** (:mod:`~harness.doctor.timer`): a busy-wait or a CUDA kernel of known length, timed by
  ``time_call``: the error in %;
* **overhead** (:mod:`~harness.doctor.overhead`): the zoo's digits-small call timed by ``timed_loop`` against
  a bare loop of the same call in the same process, in alternating blocks (:mod:`~harness.doctor.loops`):
  the ratio (the goal is ≤ 1 %);
* **memory** (:mod:`~harness.doctor.memory`): a known allocation against what RSS, the CUDA allocator and
  NVML report;
* **noise** (:mod:`~harness.doctor.noise`): the spread of a fixed workload over repeats, the smallest
  slowdown the regression gate can catch at the suite's iteration count, and the iterations a 5 % gate needs;
* **contention** (:mod:`~harness.doctor.contention`): other processes' load against the cores, torch/OpenMP
  threads against idle cores, the frequency governor; **gpu** (:mod:`~harness.doctor.gpu`): on a GPU its
  clocks, persistence mode, throttle reasons, ECC, MIG and other processes;
* **energy** (:mod:`~harness.doctor.energy`): which counters exist here (NVML total energy, RAPL) and how
  often they change.

A finding with ``ok=False`` makes the machine unfit to measure (exit 1); ``ok=None`` is information.
"""

from __future__ import annotations

import time

from harness.doctor.contention import contention_findings
from harness.doctor.energy import energy_findings
from harness.doctor.findings import DoctorReport, Finding
from harness.doctor.gpu import gpu_findings
from harness.doctor.memory import memory_findings
from harness.doctor.noise import noise_finding
from harness.doctor.overhead import overhead_finding
from harness.doctor.timer import timer_findings


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
    findings += gpu_findings(device)
    findings += energy_findings(device)
    return DoctorReport(device, findings, time.perf_counter() - t0)

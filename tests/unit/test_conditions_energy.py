"""Conditions, energy and cost of a job: measured against known answers where this machine has them (a busy
process of our own, a known price), and against stand-ins only for what it lacks — NVML (no NVIDIA GPU
here) and RAPL's powercap files (absent here) — which the tests say where they use them."""

from __future__ import annotations

import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from harness.config import CostSpec
from harness.measure.conditions import (
    THROTTLE_BITS,
    CpuLoad,
    GpuSampler,
    busy_cores,
    describe,
    throttle_names,
    usable_cores,
)
from harness.measure.energy import EnergyMeter, counters, rapl_zones


def _busy(n: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.kill()
        p.wait()


# -------------------------------------------------------------------------------------------- the CPU


def _cpu_seconds_by_process(psutil) -> dict[int, float]:
    """user + system CPU seconds of every process but this one, by pid."""
    out = {}
    for p in psutil.process_iter():
        try:
            if p.pid != psutil.Process().pid:
                t = p.cpu_times()
                out[p.pid] = t.user + t.system
        except psutil.Error:  # gone, or not ours to read
            continue
    return out


def test_cpu_load_sees_a_busy_process_of_ours_and_not_itself():
    """Relative to what the processes were given (#25 item 5: the machine is shared, so the busy child may get
    a fraction of a core): CpuLoad's own share is this process's CPU time, and "other" is what every other
    process used over the same interval, read process by process (the spinning child among them)."""
    psutil = pytest.importorskip("psutil")
    procs = _busy(1)
    try:
        time.sleep(0.3)  # let it start spinning
        before, p0, w0 = _cpu_seconds_by_process(psutil), time.process_time(), time.perf_counter()
        with CpuLoad() as load:
            t_end = time.perf_counter() + 1.0
            while time.perf_counter() < t_end:  # this process is busy too: it must not count as "other"
                pass
        after, wall = _cpu_seconds_by_process(psutil), time.perf_counter() - w0
        own_cores = (time.process_time() - p0) / wall
    finally:
        _stop(procs)
    others = sum(t - before.get(pid, 0.0) for pid, t in after.items()) / wall
    child = (after.get(procs[0].pid, 0.0) - before.get(procs[0].pid, 0.0)) / wall
    assert child > 0.05  # it ran
    assert load.own_cores == pytest.approx(own_cores, abs=0.15)
    # interrupts and processes that ended in the interval are in the machine's busy time, not in any process
    assert load.other_cores == pytest.approx(others, abs=0.3), (load.other_cores, others, child)


def test_a_quiet_interval_has_little_other_load():
    assert busy_cores(0.5) < 0.5 or pytest.skip("another process is busy on this machine right now")


def test_describe_flags_contention_oversubscription_and_throttling():
    load = SimpleNamespace(other_cores=1.8, steal_cores=0.0)
    contention, over, throttled, notes = describe(cores=2, threads=2, load=load, gpu=None)
    assert contention and not over and not throttled
    assert "other processes kept 1.8 of 2 core(s) busy" in notes[0]
    quiet = SimpleNamespace(other_cores=0.1, steal_cores=0.0)
    assert describe(cores=2, threads=2, load=quiet, gpu=None)[:3] == (False, False, False)
    # one thread beside one busy core on two cores: they fit, no contention
    assert (
        describe(cores=2, threads=1, load=SimpleNamespace(other_cores=1.0, steal_cores=0.0), gpu=None)[0]
        is False
    )
    contention, over, _, notes = describe(cores=2, threads=8, load=quiet, gpu=None)
    assert over and "8 torch threads on 2 usable core(s)" in notes[0]


def test_usable_cores_follow_the_affinity():
    import os

    assert usable_cores() == len(os.sched_getaffinity(0))


def test_run_warns_at_start_when_threads_exceed_idle_cores(capsys):
    from harness.cli.run import warn_if_oversubscribed

    warn_if_oversubscribed(usable_cores() + 6)
    err = capsys.readouterr().err
    assert err.startswith(f"warning: each job runs {usable_cores() + 6} torch thread(s) but only")
    procs = _busy(usable_cores())
    try:
        time.sleep(0.3)
        warn_if_oversubscribed(1)  # every core busy: even one thread competes
    finally:
        _stop(procs)
    assert "other processes keep" in capsys.readouterr().err


# --------------------------------------------------------------------------- the GPU (NVML stand-in)


class FakeNvml:
    """A stand-in for pynvml with the calls GpuSampler makes: these CPU machines have no NVML."""

    NVML_CLOCK_SM, NVML_CLOCK_MEM, NVML_TEMPERATURE_GPU = 1, 2, 0

    def __init__(self, mask: int = 0x1 | 0x4, others: int = 1):
        self.mask, self.others, self.calls = mask, others, 0

    def nvmlInit(self):
        pass

    def nvmlDeviceGetHandleByIndex(self, i):
        return "h"

    def nvmlDeviceGetName(self, h):
        return b"NVIDIA H200"

    def nvmlDeviceGetMaxClockInfo(self, h, kind):
        return 1980 if kind == self.NVML_CLOCK_SM else 3201

    def nvmlDeviceGetClockInfo(self, h, kind):
        if kind != self.NVML_CLOCK_SM:
            return 3201
        self.calls += 1
        return 1755 if self.calls % 2 else 1980

    def nvmlDeviceGetEnforcedPowerLimit(self, h):
        return 700_000

    def nvmlDeviceGetPersistenceMode(self, h):
        return 1

    def nvmlDeviceGetCurrentEccMode(self, h):
        return 1

    def nvmlDeviceGetMigMode(self, h):
        return (0, 0)

    def nvmlDeviceGetTemperature(self, h, kind):
        return 61

    def nvmlDeviceGetPowerUsage(self, h):
        return 655_000

    def nvmlDeviceGetCurrentClocksEventReasons(self, h):
        return self.mask

    def nvmlDeviceGetComputeRunningProcesses(self, h):
        import os

        return [SimpleNamespace(pid=os.getpid())] + [
            SimpleNamespace(pid=10**6 + i) for i in range(self.others)
        ]


def test_gpu_sampler_reads_clocks_power_and_throttle_reasons():
    with GpuSampler(0, interval_s=0.01, nvml=FakeNvml()) as s:
        time.sleep(0.1)
    g = s.reading
    assert g.name == "NVIDIA H200" and g.samples >= 3
    assert g.sm_clock_mhz == [1755, 1980] and g.sm_clock_max_mhz == 1980 and g.mem_clock_mhz == [3201, 3201]
    assert (g.temperature_c_max, g.power_w_max, g.power_limit_w) == (61, 655.0, 700.0)
    assert g.throttle_reasons == ["gpu_idle", "sw_power_cap"] and g.throttled
    assert g.other_processes == 1 and g.persistence_mode is True and g.ecc is True and g.mig is False
    contention, _, throttled, notes = describe(cores=16, threads=4, load=None, gpu=g)
    assert throttled and contention and "GPU throttled during the timed loop (sw_power_cap)" in notes


def test_idle_is_not_throttling_and_without_nvml_nothing_is_read():
    with GpuSampler(0, interval_s=0.01, nvml=FakeNvml(mask=0x1, others=0)) as s:
        time.sleep(0.03)
    assert not s.reading.throttled and s.reading.other_processes == 0
    with GpuSampler(-1) as none:  # this machine: no NVIDIA driver, so NVML does not initialise
        pass
    assert none.reading is None


def test_throttle_bits_are_nvmls():
    assert throttle_names(0x4 | 0x40) == ["sw_power_cap", "hw_thermal_slowdown"]
    assert len(THROTTLE_BITS) == 9 and throttle_names(0) == []


# ------------------------------------------------------------------------------------------- energy


def test_no_counter_here_is_none_with_the_reason_never_zero():
    available, absent = counters("cpu")
    if available:
        pytest.skip("this machine has RAPL")
    assert any("rapl: powercap files absent" in a for a in absent)
    meter = EnergyMeter("cpu")
    with meter.window() as out:
        time.sleep(0.01)
    reading = out[0]
    assert reading.total_j is None and "no energy counter here" in reading.reason

    from harness.execute.worker import energy_of

    e = energy_of(reading, iterations=5, items=2)
    assert e.energy_j is None and e.energy_per_item_j is None and e.reason == reading.reason


@pytest.fixture
def fake_rapl(tmp_path):
    """A powercap tree with one package and its DRAM zone (RAPL is absent here), read by the real reader."""
    root = tmp_path / "powercap"
    pkg, dram = root / "intel-rapl:0", root / "intel-rapl:0" / "intel-rapl:0:0"
    dram.mkdir(parents=True)
    for folder, name, uj in ((pkg, "package-0", 1_000_000), (dram, "dram", 500_000)):
        (folder / "name").write_text(name + "\n")
        (folder / "energy_uj").write_text(f"{uj}\n")
        (folder / "max_energy_range_uj").write_text("262143328850\n")
    return root, pkg, dram


def test_energy_of_a_window_is_the_counters_difference(fake_rapl):
    root, pkg, dram = fake_rapl
    available, _ = counters("cpu", root=root)
    assert available == ["rapl (package-0, dram; µJ)"]
    meter = EnergyMeter("cpu", root=root)
    assert meter.available, meter.reason
    with meter.window() as out:
        (pkg / "energy_uj").write_text("3500000\n")  # +2.5 J on the package
        (dram / "energy_uj").write_text("750000\n")  # +0.25 J on DRAM
    r = out[0]
    assert r.cpu_j == pytest.approx(2.5) and r.dram_j == pytest.approx(0.25)
    assert r.total_j == pytest.approx(2.75) and r.sources == ["rapl", "rapl-dram"]

    from harness.execute.worker import energy_of

    e = energy_of(r, iterations=5, items=2)
    assert e.energy_j == pytest.approx(0.55) and e.energy_per_item_j == pytest.approx(0.275)


def test_a_counter_that_wraps_during_the_window_is_counted_once_per_wrap(fake_rapl):
    root, pkg, _ = fake_rapl
    (pkg / "max_energy_range_uj").write_text("10000000\n")  # wraps at 10 J
    meter = EnergyMeter("cpu", root=root, poll_s=0.02)
    with meter.window() as out:
        (pkg / "energy_uj").write_text("9000000\n")  # 1 J → 9 J
        time.sleep(0.1)
        (pkg / "energy_uj").write_text("2000000\n")  # wrapped: 9 J → 10 J → 2 J
        time.sleep(0.1)
    assert out[0].cpu_j == pytest.approx(11.0)  # (2 − 1 + 10) J


def test_unreadable_powercap_says_so(fake_rapl):
    import os

    root, pkg, _ = fake_rapl
    if os.geteuid() == 0:
        pytest.skip("root reads a file whatever its mode")
    (pkg / "energy_uj").chmod(0)
    zones, why = rapl_zones(root)
    assert zones == [] and "not readable" in why


class FakeNvmlEnergy(FakeNvml):
    """NVML's total-energy counter in mJ (a stand-in: no NVML here), advancing 1.5 J per read."""

    def __init__(self):
        super().__init__()
        self.mj = 10_000

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        self.mj += 1500
        return self.mj


def test_gpu_energy_is_nvmls_counter_difference(fake_rapl):
    root, _, _ = fake_rapl
    nvml = FakeNvmlEnergy()
    available, _ = counters("cuda:0", root=root, nvml=nvml)
    assert available[0].startswith("nvml")
    meter = EnergyMeter("cuda:0", root=root, nvml=nvml)
    with meter.window() as out:
        pass
    assert out[0].gpu_j == pytest.approx(1.5) and out[0].sources[0] == "nvml"


# --------------------------------------------------------------------------------------------- cost


def test_a_price_per_device_picks_the_longest_matching_name():
    spec = CostSpec(usd_per_hour=1.0, by_device={"H100": 2.49, "H100 NVL": 3.0, "cpu": 0.2})
    assert spec.price("cuda", "NVIDIA H100 NVL") == (3.0, "by_device.H100 NVL")
    assert spec.price("cuda", "NVIDIA H100 80GB HBM3") == (2.49, "by_device.H100")
    assert spec.price("cpu", "AMD EPYC") == (0.2, "by_device.cpu")
    assert spec.price("cuda", "NVIDIA A10G") == (1.0, "usd_per_hour")
    assert CostSpec(by_device={"H200": 3.5}).price("cpu", "AMD EPYC") is None


def test_cost_per_1k_items_from_the_latency_per_item():
    from harness.execute.worker import cost_of

    job = SimpleNamespace(cost=CostSpec(usd_per_hour=3.6))
    c = cost_of(job, "cpu", ms_per_item=250.0)
    assert c.per_1k_items_usd == pytest.approx(0.25)  # 3.6 USD/h × 0.25 s per item × 1000 items / 3600 s/h
    assert "3.6 USD/h (cost.usd_per_hour)" in c.basis
    assert cost_of(SimpleNamespace(cost=None), "cpu", 250.0) is None


def test_a_cost_without_any_price_is_bad_input(write_yaml):
    from harness.config import load_suite
    from harness.core.errors import UserInputError
    from tests.helpers import tiny_suite

    with pytest.raises(UserInputError, match=r"cost: give usd_per_hour, by_device, or both"):
        load_suite(write_yaml("s.yaml", tiny_suite(cost={})))
    with pytest.raises(
        UserInputError, match=r"cost\.usd_per_hour: Input should be greater than or equal to 0"
    ):
        load_suite(write_yaml("s.yaml", tiny_suite(cost={"usd_per_hour": -1})))


# ------------------------------------------------------------------------------- typed measure parts


def test_measuring_returns_typed_parts(fake_rapl):
    """#25 item 1: memory, stages, threads, the conditions' verdict and the energy counters come back as typed
    parts (attributes, not dict keys) that the worker maps into the record."""
    import dataclasses

    from harness.measure.conditions import ThreadSettings, Verdict, thread_settings
    from harness.measure.memory import MemoryPeaks, memory_summary
    from harness.measure.stages import StageSummary, StageTiming, stage_summary

    peaks = memory_summary("cpu")
    assert isinstance(peaks, MemoryPeaks) and peaks.peak_rss_mib > 0 and peaks.peak_vram_allocated_mib is None
    s = stage_summary({"denoise_step": [2.0, 4.0, 6.0], "decode": [1.0]}, total_ms=15.0)
    assert isinstance(s, StageSummary) and s.total_ms == 15.0
    assert s.stages["denoise_step"] == StageTiming(total_ms=12.0, calls=3, p50_ms=4.0)
    assert s.stages["other"] == StageTiming(total_ms=2.0, calls=1, p50_ms=2.0)  # 15 − 12 − 1
    threads = thread_settings()
    assert isinstance(threads, ThreadSettings) and dataclasses.is_dataclass(threads)
    verdict = describe(cores=2, threads=8, load=None, gpu=None)
    assert isinstance(verdict, Verdict) and verdict.oversubscribed and not verdict.contention
    root, _, _ = fake_rapl
    found = counters("cpu", root=root)
    assert found.available == ["rapl (package-0, dram; µJ)"] and found.absent == ["nvml: not a CUDA job"]


def test_the_nvml_pollers_share_one_loop_that_samples_once_more_at_the_end():
    """#25 (duplicate D13): NvmlPeak and GpuSampler poll on one Poller: a sample every interval while the block
    runs, one more as it ends; nothing at all where there is nothing to poll."""
    import threading

    from harness.measure.memory import NvmlPeak
    from harness.measure.polling import Poller

    class Counting(Poller):
        def __init__(self, interval_s: float, poll: bool = True) -> None:
            super().__init__(interval_s)
            self.poll, self.samples, self.three = poll, 0, threading.Event()

        def _begin(self) -> bool:
            return self.poll

        def _sample(self) -> None:
            self.samples += 1
            if self.samples == 3:
                self.three.set()

    with Counting(0.01) as busy:
        assert busy.three.wait(30)  # it polls while the block runs
    assert busy.samples >= 4  # three or more during the block, then one as it ends
    with Counting(3600.0) as slow:
        pass
    assert slow.samples == 1  # no interval went by: only the closing sample
    with Counting(0.01, poll=False) as idle:
        time.sleep(0.03)
    assert idle.samples == 0
    assert issubclass(NvmlPeak, Poller) and issubclass(GpuSampler, Poller)

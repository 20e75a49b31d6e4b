"""#26: one job's quality pass in shards, merged exactly, resumable per shard.

Shards make whole batches of the single pass (so every item is generated as in one pass); their metric states
merge to the single pass's values; a killed shard worker is run again, and ``--resume`` runs only the shards
missing; bad settings are refused before any job; the timed pass is checked against the quality pass.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from harness.cli import main
from harness.config import load_suite
from harness.config.plan import plan
from harness.core.samples import Samples
from harness.execute.quality import OutputMismatch, audit
from harness.results import RunStore
from harness.results.record import Record
from tests.helpers import ROOT

DDIM = {"name": "DDIMScheduler", "config": {"timestep_spacing": "trailing", "clip_sample": False}}
DIGITS_FEATURES = {"extractor": "digits-extractor"}


def digits_suite(num_samples: int = 400, shards: int = 1, batch: int = 50, steps: int = 3, **over):
    """digits-small (the trained zoo model) with distribution, per-sample and pairwise metrics."""
    suite = {
        "name": "shards",
        "device": "cpu",
        "threads": 1,
        "models": [
            {
                "card": str(ROOT / "model_cards" / "digits-small.yaml"),
                "baseline": "a",
                "variants": [
                    {"name": "a", "overrides": {"steps": steps, "scheduler": DDIM}},
                    {"name": "b", "overrides": {"steps": steps + 1, "scheduler": DDIM}},
                ],
            }
        ],
        "workload": {
            "class_labels": list(range(10)),
            "seed": 0,
            "batch_size": batch,
            "num_samples": num_samples,
            "shards": shards,
        },
        "measurement": {"warmup": 1, "min_iterations": 2, "max_iterations": 2, "timeout_s": 600},
        "metrics": [
            "fd_digits",
            "class_accuracy",
            {"name": "prdc_precision", "options": DIGITS_FEATURES},
            {"name": "prdc_coverage", "options": DIGITS_FEATURES},
            "psnr",
            "ssim",
        ],
    }
    suite.update(over)
    return suite


def _values(records: list[Record]) -> dict[tuple[str, str], tuple]:
    return {
        (r.variant, name): (m.status, m.value, m.n, m.std) for r in records for name, m in r.metrics.items()
    }


def _same(a: dict, b: dict, rel: float = 1e-12) -> None:
    assert a.keys() == b.keys()
    for key in a:
        (sa, va, na, da), (sb, vb, nb, db) = a[key], b[key]
        assert (sa, na) == (sb, nb), key
        for x, y in ((va, vb), (da, db)):
            if x is None or y is None or not np.isfinite(x):
                assert x == y, key
            else:
                assert abs(x - y) <= rel * max(abs(x), abs(y), 1e-300), (key, x, y)


def _run(tmp_path: Path, name: str, suite: Path, *extra: str, capsys) -> RunStore:
    assert main(["run", str(suite), "--out", str(tmp_path / name), *extra]) == 0, capsys.readouterr().err
    return RunStore.open(capsys.readouterr().out.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------- the split


@pytest.mark.parametrize(
    ("num_samples", "batch", "shards"), [(10, 3, 1), (10, 3, 4), (400, 50, 3), (7, 7, 1), (100, 1, 7)]
)
def test_shards_are_whole_batches_of_the_single_pass(write_yaml, num_samples, batch, shards):
    """#26 item 1: item i is generated from the same seed and class, in the same batch, whatever the sharding."""
    job = plan(load_suite(write_yaml("s.yaml", digits_suite(num_samples, shards, batch))))[0]
    single = [(r.seeds, r.class_labels) for r in job.quality_requests()]
    sharded = [(r.seeds, r.class_labels) for k in range(shards) for r in job.quality_requests(k)]
    assert sharded == single
    edges = [job.shard_items(k) for k in range(shards)]
    assert edges[0][0] == 0 and edges[-1][1] == num_samples
    assert all(a[1] == b[0] for a, b in itertools.pairwise(edges))
    assert all(stop > start for start, stop in edges)  # no empty shard: at most one per batch
    with pytest.raises(ValueError, match=rf"shard {shards} of a job with {shards} shards"):
        job.shard_items(shards)


# ------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"workload": {"shards": 0}}, "workload.shards", "greater than or equal to 1"),
        (
            {"workload": {"shards": 9}},
            "workload.shards",
            r"9 shards but the quality pass is 8 batches \(400 samples, batch_size 50\)",
        ),
        (
            {"workload": {"num_samples": 3, "batch_size": 1, "shards": 4}},
            "workload.shards",
            "4 shards but the quality pass is 3 batches",
        ),
    ],
)
def test_bad_shards_are_refused_before_any_job(write_yaml, tmp_path, capsys, change, field, message):
    """#26 bad input: shards < 1, more shards than the pass has batches (so than samples): exit 2, file:field."""
    data = digits_suite()
    for key, value in change.items():
        data[key] = {**data[key], **value}
    suite = write_yaml("s.yaml", data)
    assert main(["run", str(suite), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert re.search(rf"s\.yaml: {re.escape(field)}: .*{message}", err), err
    assert "Traceback" not in err and not (tmp_path / "r").exists()


def test_the_shards_flag_is_checked_like_the_field(write_yaml, tmp_path, capsys):
    suite = write_yaml("s.yaml", digits_suite())
    assert main(["run", str(suite), "--out", str(tmp_path / "r"), "--shards", "0"]) == 2
    assert "workload.shards" in capsys.readouterr().err
    assert main(["run", "--resume", str(tmp_path), "--shards", "2"]) == 2
    assert "--shards applies to a suite, not to --resume" in capsys.readouterr().err


def test_a_metric_whose_state_cannot_merge_is_refused_with_shards(write_yaml, monkeypatch, capsys, tmp_path):
    """#26 bad input: shards with a metric that cannot merge (none remains registered: made so here)."""
    from harness.metrics import METRICS

    monkeypatch.setattr(METRICS.get("class_accuracy"), "state_fields", {})
    suite = write_yaml("s.yaml", digits_suite(shards=2))
    assert main(["validate", str(suite)]) == 2
    err = capsys.readouterr().err
    assert re.search(
        r"s\.yaml: metrics\[1\]: class_accuracy declares no state .*allowed with shards: 1", err
    ), err
    assert main(["validate", str(write_yaml("one.yaml", digits_suite(shards=1)))]) == 0


# ------------------------------------------------------------------------------------------- same values


@pytest.mark.slow
def test_four_shards_give_the_single_pass_values(write_yaml, tmp_path, capsys):
    """#26 done-when (small): the same metric values with 1 and 4 shards (local worker processes), the same
    samples saved, and the record lists each shard's items, host, device and time."""
    one = _run(tmp_path, "one", write_yaml("one.yaml", digits_suite(400, 1)), capsys=capsys)
    suite = write_yaml("four.yaml", digits_suite(400, 4))
    assert main(["run", str(suite), "--out", str(tmp_path / "four")]) == 0
    out = capsys.readouterr().out
    four = RunStore.open(out.strip().splitlines()[-1])
    # #26 item 5: the live progress counts shards done / total and items/s across the worker processes.
    assert re.search(r"quality shards \d/4 done, \d running \d+/400 items", out), out
    a, b = one.records(), four.records()
    _same(_values(a), _values(b))
    assert {v[0] for v in _values(b).values()} == {"ok"}
    for r1, r4 in zip(a, b):
        assert r4.num_samples == r1.num_samples == 400
        q = r4.quality
        assert (
            q is not None
            and q.shards == 4
            and [p.items for p in q.parts] == [[0, 100], [100, 200], [200, 300], [300, 400]]
        )
        assert all(p.host and p.device == "cpu" and p.wall_s > 0 and p.attempts == 1 for p in q.parts)
        assert q.device_s == pytest.approx(sum(p.wall_s for p in q.parts))
        assert r1.quality is not None and r1.quality.shards == 1
        assert r4.audit is not None and r4.audit.ok and r4.audit.max_abs_diff == 0.0
        assert [Path(p).name for p in r4.samples] == [Path(p).name for p in r1.samples]
        for p1, p4 in zip(r1.samples, r4.samples):
            assert (one.path / p1).read_bytes() == (four.path / p4).read_bytes()


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "harness", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(cwd / "stderr.txt", "w"),
        start_new_session=True,
    )


def _wait(cond, proc: subprocess.Popen, what: str, timeout: float = 240.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        got = cond()
        if got:
            return got
        if proc.poll() is not None:
            pytest.fail(f"the run ended before {what}: {Path(proc.args[0]).name} exited {proc.returncode}")
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def _run_dir(out: Path) -> Path | None:
    runs = [p for p in out.glob("*") if (p / "run.json").exists()]
    return runs[0] if runs else None


@pytest.mark.slow
def test_a_killed_shard_worker_is_run_again_and_the_values_hold(write_yaml, tmp_path, capsys):
    """#26 done-when: SIGKILL of one shard's worker mid-run; the executor runs that shard again and the job
    ends with the uninterrupted run's values (the record counts the attempts)."""
    suite = write_yaml(
        "s.yaml", digits_suite(2400, 4, 100, steps=10, metrics=["fd_digits", "class_accuracy"])
    )
    reference = _run(tmp_path, "ref", suite, capsys=capsys)
    proc = _start(["run", str(suite), "--out", str(tmp_path / "killed")], tmp_path)
    run = _wait(lambda: _run_dir(tmp_path / "killed"), proc, "the run folder")
    job = json.loads((run / "run.json").read_text())["jobs"][0]["job_id"]

    def mid_shard() -> int | None:  # shard 0's worker, once it has made a batch and before it has finished
        progress, log = run / "logs" / f"{job}.shard0.progress", run / "logs" / f"{job}.shard0.log"
        try:
            state = json.loads(progress.read_text())
            pid = re.search(r"\(pid (\d+),", log.read_text())
        except (OSError, ValueError):
            return None
        if (
            pid
            and state.get("unit") == "items"
            and state.get("done")
            and not list((run / "shards" / job).glob("0-of-4.npz"))
        ):
            return int(pid.group(1))
        return None

    os.kill(_wait(mid_shard, proc, "shard 0 under way"), signal.SIGKILL)
    assert proc.wait(timeout=600) == 0, (tmp_path / "stderr.txt").read_text()
    killed = RunStore.open(run).records()
    _same(_values(reference.records()), _values(killed))
    first = killed[0].quality
    assert first is not None and [p.attempts for p in first.parts] == [2, 1, 1, 1]


@pytest.mark.slow
def test_sigkill_of_the_run_then_resume_runs_only_the_missing_shards(write_yaml, tmp_path, capsys):
    """#26 item 4: the run killed once a shard's state is written; ``--resume`` keeps that file (not run again:
    the record says reused) and ends with the uninterrupted values."""
    suite = write_yaml(
        "s.yaml", digits_suite(2400, 4, 100, steps=10, metrics=["fd_digits", "class_accuracy"], threads=1)
    )
    reference = _run(tmp_path, "ref", suite, capsys=capsys)
    proc = _start(["run", str(suite), "--out", str(tmp_path / "killed")], tmp_path)
    run = _wait(lambda: _run_dir(tmp_path / "killed"), proc, "the run folder")
    job = json.loads((run / "run.json").read_text())["jobs"][0]["job_id"]
    first = _wait(lambda: sorted((run / "shards" / job).glob("*-of-4.npz")), proc, "a shard's state")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = {p.name: p.stat().st_mtime_ns for p in (run / "shards" / job).glob("*-of-4.npz")}
    assert kept and len(kept) < 4 and first[0].name in kept
    assert RunStore.open(run).records() == []
    assert main(["run", "--resume", str(run)]) == 0
    resumed = RunStore.open(run).records()
    _same(_values(reference.records()), _values(resumed))
    for name, mtime in kept.items():  # the finished shards were not run again
        assert (run / "shards" / job / name).stat().st_mtime_ns == mtime
    parts = resumed[0].quality.parts
    assert sorted(p.index for p in parts if p.reused) == sorted(int(n.split("-")[0]) for n in kept)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs the 'ray' extra")
def test_ray_shards_give_the_single_pass_values(write_yaml, tmp_path, capsys):
    """#26 item 1 on Ray: shards as Ray tasks (the baseline's items travel to the shard that makes them)."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        one = _run(tmp_path, "one", write_yaml("one.yaml", digits_suite(200, 1)), capsys=capsys)
        suite = write_yaml("four.yaml", digits_suite(200, 4))
        assert main(["run", str(suite), "--out", str(tmp_path / "four"), "--executor", "ray"]) == 0
        out = capsys.readouterr().out
        four = RunStore.open(out.strip().splitlines()[-1])
    finally:
        ray.shutdown()
    # #26 item 5: the live progress counts shards and items across the cluster as each shard's task ends.
    assert re.search(r"quality shards 4/4 done on Ray 200/200 items, [\d.]+ items/s", out), out
    _same(_values(one.records()), _values(four.records()))
    assert [len(r.quality.parts) for r in four.records()] == [4, 4]
    # Ray retries a shard itself: the record says the attempts were not counted, rather than a 1.
    assert {p.attempts for r in four.records() for p in r.quality.parts} == {None}


# ------------------------------------------------------------------------------------------- the audit


def _samples(data: np.ndarray, seeds: list[int]) -> Samples:
    return Samples(modality="image", data=data, seeds=seeds)


def test_the_timed_pass_is_checked_against_the_quality_pass(write_yaml):
    """#26 item 3 (MLPerf TEST01): outputs of the timed pass equal the quality pass's for the same seeds
    within the tolerance; beyond it the job fails with the largest difference."""
    job = plan(load_suite(write_yaml("s.yaml", digits_suite())))[0]
    rng = np.random.default_rng(0)
    quality = _samples(rng.random((4, 8, 8, 1)), [0, 1, 2, 3])
    timed = _samples(np.concatenate([quality.data[2:], rng.random((2, 8, 8, 1))]), [2, 3, 4, 5])
    record = Record(job_id="j", model="m", variant="v", backend="eager", status="ok")
    got = audit(job, timed, quality, record)
    assert (
        got is record.audit
        and got.ok
        and got.seeds == [2, 3]
        and got.max_abs_diff == 0.0
        and got.atol == 1e-3
    )
    shifted = _samples(timed.data + np.where(np.arange(4)[:, None, None, None] == 1, 0.25, 0.0), timed.seeds)
    with pytest.raises(
        OutputMismatch, match=r"same seeds \[2, 3\]: max \|Δ\| 0\.25 > 0\.001 \(workload\.audit_atol\)"
    ):
        audit(job, shifted, quality, record)
    assert (
        record.audit is not None and not record.audit.ok and record.audit.max_abs_diff == pytest.approx(0.25)
    )
    assert audit(job, _samples(timed.data, [9, 10, 11, 12]), quality, record) is None  # no seed in common


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs the 'ray' extra")
def test_ray_runs_a_killed_shard_again_and_the_values_hold(write_yaml, tmp_path, capsys):
    """#26 item 4 on Ray: SIGKILL of a shard task's worker process mid-shard; Ray runs the shard again
    (max_retries) and the job ends with the values of a run without the kill."""
    import threading

    import psutil
    import ray

    suite = write_yaml(
        "s.yaml", digits_suite(1200, 2, 100, steps=10, metrics=["fd_digits", "class_accuracy"])
    )
    killed: list[int] = []

    def kill_one_shard() -> None:  # the first process titled as a shard task, a few seconds into its work
        t0 = time.monotonic()
        while time.monotonic() - t0 < 300 and not killed:
            for p in psutil.process_iter(["pid", "cmdline"]):
                if any("ray::_run_shard_task" in part for part in p.info["cmdline"] or []):
                    time.sleep(3)
                    with contextlib.suppress(psutil.Error):
                        p.kill()
                        killed.append(p.pid)
                    return
            time.sleep(0.1)

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        reference = _run(tmp_path, "ref", suite, "--executor", "ray", capsys=capsys)
        killer = threading.Thread(target=kill_one_shard, daemon=True)
        killer.start()
        again = _run(tmp_path, "killed", suite, "--executor", "ray", capsys=capsys)
        killer.join(timeout=5)
    finally:
        ray.shutdown()
    assert killed, "no shard task was found to kill"
    _same(_values(reference.records()), _values(again.records()))

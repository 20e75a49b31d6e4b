"""Isolation ``card``: the variants of a card that agree on everything decided at load time run in one process on
one load. It changes the fixed cost, not the numbers: outputs and metrics are bitwise those of isolation
``process``; each record's memory is its own; a crash fails the card's unfinished jobs one record each."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import re
import signal

import numpy as np
import pytest

from harness.cli import main
from harness.config import load_suite
from harness.config.plan import plan
from harness.execute.local import LocalExecutor, card_groups
from harness.results import RunStore
from tests.helpers import ROOT

DDIM = {"name": "DDIMScheduler", "config": {"timestep_spacing": "trailing", "clip_sample": False}}


def _digits_suite(**over):
    """digits-small (the trained zoo model) under three step counts, and a second backend for two of them."""
    suite = {
        "name": "iso",
        "threads": 1,
        "models": [
            {
                "card": str(ROOT / "model_cards" / "digits-small.yaml"),
                "baseline": "ddim-5",
                "variants": [
                    {"name": "ddim-5", "overrides": {"steps": 5, "scheduler": DDIM}},
                    {"name": "ddim-2", "overrides": {"steps": 2, "scheduler": DDIM}},
                    {"name": "ddim-3", "overrides": {"steps": 3, "scheduler": DDIM}},
                    {"name": "ort-2", "backend": "onnxruntime", "overrides": {"steps": 2, "scheduler": DDIM}},
                    {"name": "ort-3", "backend": "onnxruntime", "overrides": {"steps": 3, "scheduler": DDIM}},
                ],
            }
        ],
        "workload": {"class_labels": list(range(10)), "seed": 0, "batch_size": 20, "num_samples": 60},
        "measurement": {"warmup": 1, "min_iterations": 2, "max_iterations": 2, "timeout_s": 300},
        "metrics": ["fd_digits", "class_accuracy", "psnr", "max_abs_diff"],
        "objectives": {"latency_ms.p50": "min", "fd_digits": "min"},
    }
    suite.update(over)
    return suite


def _run(argv, capsys) -> RunStore:
    code = main(argv)
    out = capsys.readouterr().out
    assert code == 0, out
    return RunStore.open(out.strip().splitlines()[-1])


def test_card_groups_share_card_dtype_and_backend_and_keep_the_baseline_first(write_yaml):
    jobs = plan(load_suite(write_yaml("s.yaml", _digits_suite())))
    groups = card_groups(jobs)
    assert [[j.variant for j in g] for g in groups] == [["ddim-5", "ddim-2", "ddim-3"], ["ort-2", "ort-3"]]
    assert (
        groups[0][0].baseline_job_id is None
    )  # the baseline runs first: the others compare with its outputs


@pytest.mark.slow
def test_card_and_process_isolation_give_bitwise_identical_outputs_and_metrics(write_yaml, tmp_path, capsys):
    suite = write_yaml("s.yaml", _digits_suite())
    base = ["run", str(suite), "--device", "cpu"]
    proc = _run([*base, "--out", str(tmp_path / "p"), "--isolation", "process"], capsys)
    card = _run([*base, "--out", str(tmp_path / "c"), "--isolation", "card"], capsys)
    p, c = proc.records(), card.records()
    assert [r.job_id for r in p] == [r.job_id for r in c] and all(r.ok for r in p + c)
    for a, b in zip(p, c):
        with (
            np.load(proc.path / "outputs" / f"{a.job_id}.npz") as x,
            np.load(card.path / "outputs" / f"{b.job_id}.npz") as y,
        ):
            assert x["data"].tobytes() == y["data"].tobytes(), a.label
        assert {n: m.value for n, m in a.metrics.items()} == {n: m.value for n, m in b.metrics.items()}
        assert {n: m.fingerprint for n, m in a.metrics.items()} == {
            n: m.fingerprint for n, m in b.metrics.items()
        }
    assert {r.isolation for r in p} == {"process"} and {r.isolation for r in c} == {"card"}
    # one load per group: the eager group's and the onnxruntime group's first jobs load, the others reuse
    assert [r.load_shared for r in c] == [False, True, True, False, True]
    assert [r.load_shared for r in p] == [None] * 5
    # the second onnxruntime variant was prepared from the pipeline as loaded (the stand-in was given back):
    # its export is the same artifact, a cache hit, as in its own process
    assert c[4].cache_hit is True and p[4].cache_hit is True
    assert c[4].backend_details["denoiser"]["cache_key"] == p[4].backend_details["denoiser"]["cache_key"]
    # each record's memory is its own (reset before each job), within a few percent of its own process's where
    # both did the same work (the first onnxruntime job exports in whichever run comes first: a cache miss)
    same_work = [(a, b) for a, b in zip(p, c) if a.cache_hit == b.cache_hit]
    assert len(same_work) >= 4
    for a, b in same_work:
        assert (
            b.memory.peak_rss_mib == pytest.approx(a.memory.peak_rss_mib, rel=0.1) and b.memory.note is None
        )
    assert json.loads((card.path / "run.json").read_text())["isolation"] == "card"


def _kill_card_worker_at(variant: str, stage: str):
    """An on_progress hook that SIGKILLs the card's process when ``variant`` reaches ``stage``."""
    killed = []

    def hook(job, progress):
        if job.variant == variant and progress.stage.startswith(stage) and not killed:
            for child in mp.active_children():
                os.kill(child.pid, signal.SIGKILL)
            killed.append(job.variant)

    return hook, killed


@pytest.mark.slow
def test_a_crash_fails_the_cards_unfinished_jobs_one_record_each_and_the_run_goes_on(write_yaml, tmp_path):
    data = _digits_suite(metrics=["class_accuracy"], objectives={"latency_ms.p50": "min"})
    data["measurement"] = {"warmup": 1, "min_iterations": 30, "max_iterations": 30, "timeout_s": 300}
    jobs = plan(load_suite(write_yaml("s.yaml", data)))
    store = RunStore.create(tmp_path, "iso")
    hook, killed = _kill_card_worker_at("ddim-2", "")  # as soon as the parent sees it running
    records = LocalExecutor("card").run(jobs, store, "cpu", on_progress=hook)
    assert killed == ["ddim-2"]
    table = [(r.variant, r.status, r.error.type if r.error else None) for r in records]
    assert table == [
        ("ddim-5", "ok", None),
        ("ddim-2", "failed", "WorkerKilled"),
        ("ddim-3", "failed", "CardWorkerLost"),
        ("ort-2", "ok", None),  # the next group has its own process
        ("ort-3", "ok", None),
    ]
    lost = records[2]
    assert re.search(
        r"not run: the card's shared process \(isolation card\) ended during .*ddim-2", lost.error.message
    )
    assert "--isolation process" in lost.error.advice and lost.isolation == "card"
    assert [r.job_id for r in store.records()] == [j.job_id for j in jobs]  # all appended, in order


def test_a_timeout_in_card_mode_fails_that_job_and_the_rest_of_its_group(write_yaml, tmp_path, capsys):
    data = _digits_suite(metrics=["class_accuracy"], objectives={"latency_ms.p50": "min"})
    data["models"][0]["variants"] = data["models"][0]["variants"][:3]
    data["measurement"] = {"warmup": 1, "min_iterations": 1, "max_iterations": 1, "timeout_s": 0.05}
    suite = write_yaml("s.yaml", data)
    assert main(["run", str(suite), "--out", str(tmp_path), "--device", "cpu", "--isolation", "card"]) == 1
    out = capsys.readouterr().out
    recs = RunStore.open(out.strip().splitlines()[-1]).records()
    assert [(r.status, r.error.type) for r in recs] == [
        ("failed", "TimeoutError"),
        ("failed", "CardWorkerLost"),
        ("failed", "CardWorkerLost"),
    ]
    assert "measurement.timeout_s" in recs[0].error.message


@pytest.mark.parametrize(
    ("change", "argv_extra", "message"),
    [
        ({"isolation": "cards"}, [], r"s\.yaml: isolation: .*'process' or 'card'"),
        ({"isolation": True}, [], r"s\.yaml: isolation: "),
        (
            {},
            ["--executor", "ray", "--isolation", "card"],
            r"isolation card \(one load per card\) runs on the local",
        ),
    ],
)
def test_bad_isolation_is_exit_2_with_one_line(write_yaml, tmp_path, capsys, change, argv_extra, message):
    suite = write_yaml("s.yaml", _digits_suite(**change))
    code = main(["run", str(suite), "--out", str(tmp_path), "--device", "cpu", *argv_extra])
    err = capsys.readouterr().err
    assert (
        code == 2
        and re.search(message, err)
        and "Traceback" not in err
        and len(err.strip().splitlines()) == 1
    )
    if change:
        assert main(["validate", str(suite)]) == 2
        assert re.search(message, capsys.readouterr().err)


def test_bad_isolation_flag_is_refused_by_the_parser(write_yaml, capsys):
    suite = write_yaml("s.yaml", _digits_suite())
    with pytest.raises(SystemExit) as info:
        main(["run", str(suite), "--isolation", "cards"])
    assert info.value.code == 2 and "invalid choice: 'cards'" in capsys.readouterr().err


@pytest.mark.slow
def test_torch_compile_is_undone_between_a_cards_variants(write_yaml, tmp_path, capsys):
    """Under torch.compile (Dynamo's tracing with its eager backend, to keep the test fast) each variant of a
    card is traced anew after the one before is given back, as in its own process, and nothing recompiles in a
    timed loop; outputs are bitwise those of isolation process."""
    data = _digits_suite(metrics=["max_abs_diff"], objectives={"latency_ms.p50": "min"})
    options = {"backend": "eager", "components": ["denoiser"]}
    data["models"][0]["baseline"] = "c2"
    data["workload"]["num_samples"] = 20
    data["models"][0]["variants"] = [
        {
            "name": f"c{s}",
            "backend": "compile",
            "backend_options": options,
            "overrides": {"steps": s, "scheduler": DDIM},
        }
        for s in (2, 3)
    ]
    suite = write_yaml("s.yaml", data)
    base = ["run", str(suite), "--device", "cpu"]
    proc = _run([*base, "--out", str(tmp_path / "p"), "--isolation", "process"], capsys)
    card = _run([*base, "--out", str(tmp_path / "c"), "--isolation", "card"], capsys)
    p, c = proc.records(), card.records()
    assert [r.load_shared for r in c] == [False, True]
    for a, b in zip(p, c):
        assert b.backend_details["compiled"] == ["denoiser"] and b.backend_details["graphs"] >= 1
        assert (
            b.backend_details["graphs"] == a.backend_details["graphs"]
        )  # traced anew, as in its own process
        assert a.recompiled_in_timed_loop == b.recompiled_in_timed_loop == 0
        with (
            np.load(proc.path / "outputs" / f"{a.job_id}.npz") as x,
            np.load(card.path / "outputs" / f"{b.job_id}.npz") as y,
        ):
            assert x["data"].tobytes() == y["data"].tobytes(), a.label

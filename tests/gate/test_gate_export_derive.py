"""`harness export --format pytest-benchmark` and `harness gate derive`."""

from __future__ import annotations

import json

import pytest

from harness.cli import main
from harness.gate.derive import derive_gates
from harness.gate.export import benchmark_stats
from harness.gate.thresholds import load_gate_file
from tests.gate.gate_helpers import JOBS, copy_run, make_run, record, scale_latency

# The keys `pytest --benchmark-json` writes (pytest-benchmark 4 and 5), checked against a file it wrote.
TOP_KEYS = {"machine_info", "commit_info", "benchmarks", "datetime", "version"}
MACHINE_KEYS = {
    "node",
    "processor",
    "machine",
    "python_compiler",
    "python_implementation",
    "python_implementation_version",
    "python_version",
    "python_build",
    "release",
    "system",
    "cpu",
}
COMMIT_KEYS = {"id", "time", "author_time", "dirty", "project", "branch"}
BENCH_KEYS = {"group", "name", "fullname", "params", "param", "extra_info", "options", "stats"}
OPTION_KEYS = {
    "disable_gc",
    "timer",
    "min_rounds",
    "max_time",
    "min_time",
    "precision",
    "confidence",
    "warmup",
}
STATS_KEYS = {
    "min",
    "max",
    "mean",
    "stddev",
    "rounds",
    "median",
    "iqr",
    "q1",
    "q3",
    "iqr_outliers",
    "stddev_outliers",
    "outliers",
    "ld15iqr",
    "hd15iqr",
    "ops",
    "total",
    "data",
    "iterations",
}


def test_export_has_pytest_benchmarks_keys_and_seconds(tmp_path, capsys):
    run = make_run(tmp_path / "r")
    out = tmp_path / "bench.json"
    assert main(["export", str(run), "--format", "pytest-benchmark", "-o", str(out)]) == 0
    assert f"wrote {out} ({len(JOBS)} benchmarks, pytest-benchmark format)" in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert set(data) == TOP_KEYS | {"not_measured"}  # ours, as pytest_benchmark_update_json adds keys
    assert data["not_measured"] == []
    assert set(data["machine_info"]) >= MACHINE_KEYS and set(data["commit_info"]) == COMMIT_KEYS
    assert data["commit_info"]["id"] == "0123456789abcdef0123456789abcdef01234567"
    assert len(data["benchmarks"]) == len(JOBS)
    rec = json.loads((run / "records.jsonl").read_text().splitlines()[0])
    b = data["benchmarks"][0]
    assert set(b) == BENCH_KEYS and set(b["options"]) == OPTION_KEYS and set(b["stats"]) == STATS_KEYS
    assert b["name"] == "tiny-sd/steps-5/eager" and b["fullname"] == "t::tiny-sd/steps-5/eager"
    assert b["group"] == "t/tiny-sd"
    s = b["stats"]
    assert s["data"] == pytest.approx([v / 1000 for v in rec["latency_ms"]["samples"]])
    assert s["median"] == pytest.approx(rec["latency_ms"]["p50"] / 1000)
    assert s["ops"] == pytest.approx(1 / s["mean"]) and s["rounds"] == 30 and s["iterations"] == 1


def test_export_skips_failed_jobs_and_writes_to_stdout(tmp_path, capsys):
    run = make_run(tmp_path / "r", [record("a", "v", seed=1), record("b", "v", seed=2, status="failed")])
    assert main(["export", str(run), "-o", "-"]) == 0
    cap = capsys.readouterr()
    data = json.loads(cap.out)
    assert [b["name"] for b in data["benchmarks"]] == ["a/v/eager"]
    assert [e["fullname"] for e in data["not_measured"]] == ["t::b/v/eager"]
    assert 'warning: not exported, listed under "not_measured": b / v / eager: failed: ' in cap.err


@pytest.mark.parametrize("n", [1, 2, 5, 6, 7, 8, 30])
def test_stats_match_pytest_benchmark(n):
    pb_stats = pytest.importorskip("pytest_benchmark.stats")
    data = [0.1 + 0.013 * ((i * 7919) % 11) + (0.5 if i == 3 else 0) for i in range(n)]
    ref = pb_stats.Stats()
    for v in data:
        ref.update(v)
    ours = benchmark_stats(data)
    assert set(pb_stats.Stats.fields) <= set(ours)
    for key in pb_stats.Stats.fields:
        assert ours[key] == pytest.approx(getattr(ref, key)), key


def test_export_of_a_missing_run_is_bad_input(tmp_path, capsys):
    assert main(["export", str(tmp_path / "nope"), "-o", str(tmp_path / "x.json")]) == 2
    assert "run folder not found" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ derive


def test_derive_from_repeated_runs(tmp_path, capsys):
    a = make_run(tmp_path / "a", seed=0)
    b = copy_run(
        a,
        tmp_path / "b",
        lambda m, r: (scale_latency(r, 1.10, job=1), r[2]["memory"].update(peak_rss_mib=714.0)),
    )
    gates, spreads = derive_gates([a, b], k=3)
    by_key = {s.key: s for s in spreads}
    assert by_key["latency_ms.p50"].spread == pytest.approx(0.0953, abs=2e-3)  # log 1.10, the HL estimate
    assert gates["latency_ms.p50"] == "+34%"  # e^(3 × 0.0953) − 1 = 33.1 %, rounded up
    assert gates["peak_rss_mib"] == "+6.2%"  # 714 / 700: e^(3 × 0.0198) − 1 = 6.12 %, 2 digits rounded up
    assert gates["psnr"] == "-1e-06" and gates["ssim"] == "-1e-06"  # deterministic: the floor

    out = tmp_path / "gates.yaml"
    assert main(["gate", "derive", str(a), str(b), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "latency_ms.p50: largest change ×1.10" in printed and f"wrote {out}" in printed
    assert load_gate_file(out) == gates
    # the derived gates pass the runs they were derived from
    assert main(["compare", str(a), str(b), "--gate", str(out)]) == 0


def test_derive_needs_two_runs_of_one_suite(tmp_path, capsys):
    a = make_run(tmp_path / "a")
    assert main(["gate", "derive", str(a), "-o", str(tmp_path / "g.yaml")]) == 2
    assert "at least two runs" in capsys.readouterr().err
    b = copy_run(a, tmp_path / "b", lambda m, r: m["suite"].update(name="other"))
    assert main(["gate", "derive", str(a), str(b), "-o", "-"]) == 2
    assert "runs of different suites" in capsys.readouterr().err
    assert main(["gate", "derive", str(a), str(a), "-o", "-", "--keys", "latncy_ms.p50"]) == 2
    assert "did you mean 'latency_ms.p50'" in capsys.readouterr().err

"""#23 item 4: exports tell the whole truth. Failed and invalid jobs are listed in pytest-benchmark's JSON
(a top-level ``not_measured`` list, which its readers ignore) and named on stderr for Bencher's BMF (which
has no place for them); a run with no measured job exits 1."""

from __future__ import annotations

import json
import math

import pytest

from harness.cli import main
from harness.gate.export import export_run, to_bencher
from tests.gate.gate_helpers import make_run, record


def _invalid_server(seed: int) -> dict:
    """An ok LoadGen Server job whose max QPS comes from a run LoadGen calls INVALID."""
    rec = record("tiny-sd", "steps-3", seed=seed)
    rec.update(
        job_id="tiny-sd__steps-3__eager__server",
        scenario="server",
        loadgen={
            "name": "server",
            "kind": "server",
            "runs": [
                {
                    "scenario": "server",
                    "scheduled_qps": 9.5,
                    "p99_ms": 80.0,
                    "valid": False,
                    "meets_bound": True,
                    "reasons": ["early stopping not met"],
                }
            ],
            "max_qps": 9.5,
            "p99_ms": 80.0,
            "latency_bound_ms": 100.0,
            "percentile": 99.0,
            "search": {"runs": 1},
        },
    )
    return rec


@pytest.fixture
def mixed(tmp_path):
    """One measured job, one failed, one from an invalid LoadGen run, one whose ssim failed."""
    metric_failed = record("tiny-wan", "steps-2", seed=4)
    metric_failed["metrics"]["ssim"].update(value=None, status="failed", reason="weights gone")
    return make_run(
        tmp_path / "r",
        [
            record("tiny-sd", "steps-5", seed=1),
            record("tiny-sd", "steps-2", seed=2, status="failed"),
            _invalid_server(3),
            metric_failed,
        ],
    )


def test_pytest_benchmark_lists_failed_and_invalid_jobs(mixed, tmp_path, capsys):
    """#23 item 4: pytest-benchmark's JSON holds the measured jobs as benchmarks and every job or metric
    left out under ``not_measured``, with why; stderr names each; exit 0 (something was measured)."""
    out = tmp_path / "bench.json"
    assert main(["export", str(mixed), "-o", str(out)]) == 0
    cap = capsys.readouterr()
    data = json.loads(out.read_text())
    assert [b["name"] for b in data["benchmarks"]] == ["tiny-sd/steps-5/eager", "tiny-wan/steps-2/eager"]
    wan = data["benchmarks"][1]["extra_info"]["metrics"]
    assert "ssim" not in wan and wan["psnr"] == 30.0  # the failed metric is left out, the rest kept
    left = {(e["fullname"], e["what"]): e for e in data["not_measured"]}
    assert set(left) == {
        ("t::tiny-sd/steps-2/eager", "job"),
        ("t::tiny-sd/steps-3/eager/server", "job"),
        ("t::tiny-wan/steps-2/eager", "metric ssim"),
    }
    assert left[("t::tiny-sd/steps-2/eager", "job")]["kind"] == "failed"
    assert left[("t::tiny-sd/steps-2/eager", "job")]["reason"] == "failed: RuntimeError: boom"
    server = left[("t::tiny-sd/steps-3/eager/server", "job")]
    assert server["kind"] == "invalid" and "INVALID LoadGen run (early stopping not met)" in server["reason"]
    assert left[("t::tiny-wan/steps-2/eager", "metric ssim")]["reason"] == "weights gone"
    warn = 'warning: not exported, listed under "not_measured": '
    assert f"{warn}tiny-sd / steps-2 / eager: failed: failed: RuntimeError: boom" in cap.err
    assert f"{warn}tiny-wan / steps-2 / eager: metric ssim: failed: weights gone" in cap.err
    assert f"wrote {out} (2 benchmarks, pytest-benchmark format)" in cap.out


def test_the_pytest_benchmark_file_stays_readable_by_its_consumers(mixed, tmp_path):
    """The extra key leaves the file valid for pytest-benchmark (its own file storage loads it, as
    ``pytest-benchmark compare`` does, without a warning) and for github-action-benchmark's pytest reader
    (``fullname`` and ``stats.ops/stddev/mean/rounds`` of each benchmark; other top-level keys unread)."""
    pb_file = pytest.importorskip("pytest_benchmark.storage.file")
    out = tmp_path / "0001_bench.json"
    assert main(["export", str(mixed), "-o", str(out)]) == 0

    class Logger:
        def __init__(self):
            self.warnings: list[str] = []

        def warning(self, text, **kw):
            self.warnings.append(text)

        def info(self, text, **kw):
            pass

    logger = Logger()
    loaded = list(pb_file.FileStorage(tmp_path, logger).load_benchmarks(str(out)))
    assert logger.warnings == []
    assert [b["fullname"] for b in loaded] == ["t::tiny-sd/steps-5/eager", "t::tiny-wan/steps-2/eager"]
    for b in json.loads(out.read_text(), parse_constant=float)["benchmarks"]:
        s = b["stats"]
        assert s["ops"] > 0 and s["rounds"] == len(s["data"])
        assert all(math.isfinite(s[k]) for k in ("ops", "stddev", "mean"))


def test_bencher_names_what_it_cannot_hold_on_stderr(mixed, tmp_path, capsys):
    """#23 item 4: BMF has no place for a job without measures: its file holds the measured jobs only (every
    key a benchmark, every value a measure with a number) and stderr names the rest."""
    out = tmp_path / "bmf.json"
    assert main(["export", str(mixed), "--format", "bencher", "-o", str(out)]) == 0
    cap = capsys.readouterr()
    bmf = json.loads(out.read_text())
    assert set(bmf) == {"t::tiny-sd/steps-5/eager", "t::tiny-wan/steps-2/eager"}
    assert "quality-ssim" not in bmf["t::tiny-wan/steps-2/eager"]
    assert all("value" in m for measures in bmf.values() for m in measures.values())
    warn = "warning: not exported (Bencher's format has no place for it): "
    assert f"{warn}tiny-sd / steps-2 / eager: failed: failed: RuntimeError: boom" in cap.err
    assert f"{warn}tiny-sd / steps-3 / eager / server: invalid: max_qps comes from an INVALID" in cap.err
    assert f"{warn}tiny-wan / steps-2 / eager: metric ssim: failed: weights gone" in cap.err


@pytest.mark.parametrize("fmt", ["pytest-benchmark", "bencher"])
def test_an_export_of_a_run_with_no_measured_job_exits_1(tmp_path, capsys, fmt):
    """#23 item 4: every job failed or invalid: exit 1, nothing written, and stderr says why."""
    run = make_run(tmp_path / "r", [record("a", "v", seed=1, status="failed"), _invalid_server(2)])
    out = tmp_path / "x.json"
    assert main(["export", str(run), "--format", fmt, "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "a / v / eager: failed: failed: RuntimeError: boom" in err
    assert "tiny-sd / steps-3 / eager / server: invalid: " in err
    assert (
        err.strip().splitlines()[-1]
        == f"error: {run}: no job was measured: nothing to export, nothing written (above: why)"
    )
    assert not out.exists()
    result = export_run(run, fmt)
    assert result.benchmarks == 0 and result.tally.measured == 0 and result.tally.reader_exit_code() == 1


def test_exported_values_are_measured_ones_only(mixed):
    """Every benchmark of both formats comes from a measured job: the failed and invalid ones are absent."""
    bmf = to_bencher(mixed)
    assert "t::tiny-sd/steps-3/eager/server" not in bmf and "t::tiny-sd/steps-2/eager" not in bmf

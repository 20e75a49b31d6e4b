"""`harness.gate.export.to_bencher`: a run as Bencher Metric Format JSON, checked value by value against
the records of a fabricated run folder."""

from __future__ import annotations

import json
import math
import re

import pytest

from harness.core.errors import UserInputError
from harness.gate.export import measure_slug, to_bencher, to_pytest_benchmark
from harness.report.demo import demo_record, fabricate_run
from harness.results import RunStore

SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
METRIC_KEYS = {"value", "lower_value", "upper_value"}


def server_record() -> dict:
    """An ok LoadGen Server job with energy (per item NaN), cost, VRAM and odd metric names."""
    rec = demo_record(20, "tiny-sd", "steps-4", "image", 50.0, (48.0, 52.0), 30.0, (29.0, 31.0), 950.0, [])
    psnr = rec["metrics"]["psnr"]
    rec.update(
        job_id="tiny-sd__steps-4__eager__server__00000014",
        scenario="server",
        energy={"energy_j": 2.5, "energy_per_item_j": "nan"},
        cost={"usd_per_hour": 3.0, "per_1k_items_usd": 0.0417},
        loadgen={"name": "server", "kind": "server", "runs": [], "max_qps": 9.5, "p99_ms": 80.0},
        metrics={
            "psnr": psnr,
            "clip_score": {**psnr, "value": 0.31, "ci95": [0.30, 0.32]},
            "clip-score": {**psnr, "value": 0.29, "ci95": None},
            "lpips": {**psnr, "value": "nan", "ci95": None},
            "fvd": {**psnr, "value": None, "status": "not_applicable", "reason": "applies to video"},
        },
    )
    rec["memory"]["peak_vram_allocated_mib"] = 512.0
    return rec


@pytest.fixture
def run(tmp_path):
    return fabricate_run(tmp_path, samples=0, extra_records=[server_record()])


def records(run) -> dict:
    return {r.job_id: r for r in RunStore(run).records()}


def test_one_benchmark_per_ok_job_named_like_pytest_benchmark(run):
    bmf = to_bencher(run)
    recs = records(run)
    ok = [r for r in recs.values() if r.ok]
    assert len(bmf) == len(ok) == len(recs) - 1  # the failed job is left out
    assert set(bmf) == {
        f"demo::{r.model}/{r.variant}/{r.backend}" + (f"/{r.scenario}" if r.scenario else "") for r in ok
    }
    assert "demo::tiny-sd/steps-4/eager/server" in bmf and "demo::tiny-sd/steps-4/eager" in bmf
    assert {b["fullname"] for b in to_pytest_benchmark(run)["benchmarks"]} == set(bmf)
    assert "demo::tiny-sd/broken/eager" not in bmf


def test_the_json_has_bmfs_shape(run):
    bmf = to_bencher(run)
    text = json.dumps(bmf, allow_nan=False)  # strict JSON: no NaN, no Infinity
    assert json.loads(text) == bmf
    for name, measures in bmf.items():
        assert isinstance(name, str) and 0 < len(name) <= 1024 and measures
        for slug, metric in measures.items():
            assert SLUG.match(slug) and len(slug) <= 64, slug
            assert "value" in metric and set(metric) <= METRIC_KEYS
            assert ("lower_value" in metric) == ("upper_value" in metric)
            assert all(isinstance(v, float) and math.isfinite(v) for v in metric.values())


def test_values_are_the_records(run):
    bmf = to_bencher(run)
    for r in records(run).values():
        if not r.ok:
            continue
        name = "demo::" + r.label.replace(" / ", "/")
        m = bmf[name]
        lo, hi = r.latency_ms.p50_ci95
        assert m["latency"] == {
            "value": r.latency_ms.p50 * 1e6,
            "lower_value": lo * 1e6,
            "upper_value": hi * 1e6,
        }
        assert m["throughput"] == {"value": r.throughput.value}
        assert m["peak-rss-mib"] == {"value": r.memory.peak_rss_mib}
        psnr = r.metrics["psnr"]
        if math.isinf(psnr.value):  # the baseline against itself: no finite value to track
            assert "quality-psnr" not in m
        else:
            assert m["quality-psnr"] == {
                "value": psnr.value,
                "lower_value": psnr.ci95[0],
                "upper_value": psnr.ci95[1],
            }
        if r.scenario is None:
            assert set(m) == {"latency", "throughput", "peak-rss-mib"} | (
                {"quality-psnr"} if "quality-psnr" in m else set()
            )


def test_the_server_jobs_energy_cost_qps_and_quality(run):
    m = to_bencher(run)["demo::tiny-sd/steps-4/eager/server"]
    assert m["max-qps"] == {"value": 9.5}
    assert m["cost-per-1k-items-usd"] == {"value": 0.0417}
    assert m["peak-vram-allocated-mib"] == {"value": 512.0}
    assert "energy-per-item-j" not in m  # NaN: left out, never 0
    assert m["quality-clip-score"] == {"value": 0.31, "lower_value": 0.30, "upper_value": 0.32}
    assert m["quality-clip-score-2"] == {"value": 0.29}  # "clip-score" has the same slug as "clip_score"
    assert "quality-lpips" not in m and "quality-fvd" not in m


def test_jobs_with_one_name_are_kept_apart(tmp_path):
    twin = demo_record(30, "tiny-sd", "steps-2", "image", 31.0, (29.0, 33.0), 22.0, (20.0, 24.0), 900.0, [])
    twin["job_id"] = "tiny-sd__steps-2__eager__twin"
    run = fabricate_run(tmp_path, samples=0, failed=False, extra_records=[twin])
    bmf = to_bencher(run)
    assert "demo::tiny-sd/steps-2/eager" not in bmf
    assert bmf["demo::tiny-sd/steps-2/eager#tiny-sd__steps-2__eager__twin"]["latency"]["value"] == 31.0 * 1e6
    assert (
        bmf["demo::tiny-sd/steps-2/eager#tiny-sd__steps-2__eager__00000005"]["latency"]["value"] == 30.0 * 1e6
    )


@pytest.mark.parametrize(
    ("name", "slug"),
    [("psnr", "quality-psnr"), ("CLIP score (ViT-B/32)", "quality-clip-score-vit-b-32"), ("__", "quality-x")],
)
def test_measure_slugs(name, slug):
    assert measure_slug(name, "quality-") == slug
    assert len(measure_slug("m" * 100, "quality-")) == 64


def test_a_run_without_records_is_refused(tmp_path):
    with pytest.raises(UserInputError, match="run folder not found"):
        to_bencher(tmp_path / "nope")
    run = fabricate_run(tmp_path, jobs=[], failed=False)
    with pytest.raises(UserInputError, match="run has no records"):
        to_bencher(run)


def test_a_max_qps_accepted_from_an_invalid_loadgen_run_is_marked_in_both_exports(tmp_path):
    """#23 item 2: a suite that opted out of MLPerf's rule (scenario.require_valid: false) gets its figure,
    marked: BMF writes it as its own measure (max-qps-invalid-run, never one series with VALID figures) and
    pytest-benchmark's extra_info carries LoadGen's verdict and reasons."""
    rec = server_record()
    why = "early stopping not met: 400 queries, 0 over the bound; LoadGen needs at least 459 to bound the p99"
    rec["loadgen"].update(
        runs=[
            {
                "scenario": "server",
                "scheduled_qps": 9.5,
                "valid": False,
                "meets_bound": True,
                "reasons": [why],
            }
        ],
        search={"runs": 1},
        require_valid=False,
    )
    valid = server_record()
    valid.update(job_id="tiny-sd__steps-2__eager__server__00000015", variant="steps-2")
    valid["loadgen"].update(
        runs=[{"scenario": "server", "scheduled_qps": 9.5, "valid": True, "meets_bound": True}],
        search={"runs": 1},
    )
    run = fabricate_run(tmp_path, samples=0, extra_records=[rec, valid])
    bmf = to_bencher(run)
    marked, clean = bmf["demo::tiny-sd/steps-4/eager/server"], bmf["demo::tiny-sd/steps-2/eager/server"]
    assert marked["max-qps-invalid-run"] == {"value": 9.5} and "max-qps" not in marked
    assert clean["max-qps"] == {"value": 9.5} and "max-qps-invalid-run" not in clean
    extra = {b["name"]: b["extra_info"] for b in to_pytest_benchmark(run)["benchmarks"]}
    info = extra["tiny-sd/steps-4/eager/server"]
    assert {k: info[k] for k in ("max_qps", "loadgen_valid", "loadgen_require_valid")} == {
        "max_qps": 9.5,
        "loadgen_valid": False,
        "loadgen_require_valid": False,
    }
    assert info["loadgen_invalid_reasons"] == [why]
    assert extra["tiny-sd/steps-2/eager/server"]["loadgen_valid"] is True

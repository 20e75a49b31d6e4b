"""The gate never passes what it did not compare: empty or torn runs, jobs and metrics lost in head, and
latency comparisons too small or too noisy to decide (⚠ inconclusive, a failure under --strict)."""

from __future__ import annotations

import json
import math
from xml.etree import ElementTree as ET

import numpy as np
import pytest

from harness.cli import main
from harness.core.errors import UserInputError
from harness.gate.compare import compare_runs
from harness.gate.stats import (
    ALPHA,
    detectable_shift,
    iterations_needed,
    latency_rule,
    shift_test,
    smallest_p,
)
from tests.gate.gate_helpers import JOBS, copy_run, make_run, record, scale_latency


@pytest.fixture
def base(tmp_path):
    return make_run(tmp_path / "base", seed=0)


def _checks(data):
    return {(j["label"], c["key"]): c for j in data["jobs"] for c in j["checks"]}


# ------------------------------------------------------------------------------------ runs that hold nothing


@pytest.mark.parametrize("content", ["", "\n\n", '{"schema": 2, "job_id": "x", "mod'])
def test_an_empty_or_torn_head_is_bad_input_never_a_pass(base, tmp_path, capsys, content):
    head = copy_run(base, tmp_path / "h")
    (head / "records.jsonl").write_text(content)
    assert main(["compare", str(base), str(head)]) == 2
    err = capsys.readouterr().err
    assert "head run has no records" in err and len(err.strip().splitlines()) == 1


def test_a_head_without_records_file_and_an_empty_base_are_bad_input(base, tmp_path, capsys):
    head = copy_run(base, tmp_path / "h")
    (head / "records.jsonl").unlink()
    assert main(["compare", str(base), str(head)]) == 2
    assert "head run has no records" in capsys.readouterr().err
    empty_base = copy_run(base, tmp_path / "b")
    (empty_base / "records.jsonl").write_text("")
    assert main(["compare", str(empty_base), str(base)]) == 2
    assert "base run has no records" in capsys.readouterr().err


def test_a_torn_last_line_is_a_warning_and_its_job_is_missing(base, tmp_path, capsys):
    head = copy_run(base, tmp_path / "h")
    lines = (head / "records.jsonl").read_text().splitlines()
    (head / "records.jsonl").write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:80])  # killed mid-write
    assert main(["compare", str(base), str(head)]) == 1
    cap = capsys.readouterr()
    assert f"records.jsonl:{len(lines)}: the last line is cut short" in cap.err
    assert "tiny-wan / steps-2 / eager | ❌ missing in head — its record was cut short" in cap.out


def test_a_record_breaking_the_schema_names_line_and_field(base, tmp_path, capsys):
    head = copy_run(base, tmp_path / "h", lambda m, r: r[1].update(batch_size="many"))
    assert main(["compare", str(base), str(head)]) == 2
    err = capsys.readouterr().err.strip()
    assert "records.jsonl:2: batch_size:" in err and len(err.splitlines()) == 1


def test_a_garbled_run_json_is_bad_input(base, tmp_path, capsys):
    head = copy_run(base, tmp_path / "h")
    (head / "run.json").write_text('{"suite": [1, 2')
    assert main(["compare", str(base), str(head)]) == 2
    assert "run.json: not JSON" in capsys.readouterr().err
    (head / "run.json").write_text('{"suite": "smoke"}')
    assert main(["compare", str(base), str(head)]) == 2
    assert "run.json: suite: " in capsys.readouterr().err


# ----------------------------------------------------------------------------------- jobs and metrics


@pytest.mark.parametrize("status", ["failed", "interrupted"])
def test_a_job_failed_or_interrupted_in_head_regresses(base, tmp_path, capsys, status):
    def edit(meta, recs):
        recs[2] = record(recs[2]["model"], recs[2]["variant"], seed=5, status="failed")
        recs[2]["status"] = status

    head = copy_run(base, tmp_path / "h", edit)
    assert main(["compare", str(base), str(head)]) == 1
    assert f"❌ failed in head: {status} in head: RuntimeError: boom" in capsys.readouterr().out


@pytest.mark.parametrize("status", ["failed", "skipped", "invalid"])
def test_a_gated_metric_ok_in_base_and_not_in_head_regresses(base, tmp_path, capsys, status):
    def edit(meta, recs):
        recs[1]["metrics"]["psnr"].update(value=None, status=status, reason="weights gone")

    head = copy_run(base, tmp_path / "h", edit)
    assert main(["compare", str(base), str(head), "--json"]) == 1
    c = _checks(json.loads(capsys.readouterr().out))[("tiny-sd / steps-2 / eager", "psnr")]
    assert c["verdict"] == "regressed" and c["detail"] == f"ok in base, {status} in head: weights gone"


def test_a_gated_metric_absent_from_head_regresses_and_one_not_ok_in_base_is_not_compared(base, tmp_path):
    head = copy_run(base, tmp_path / "h", lambda m, r: r[1]["metrics"].pop("ssim"))
    cmp = compare_runs(base, head)
    by = {(j.label, c.key): c for j in cmp.jobs for c in j.checks}
    assert by[("tiny-sd / steps-2 / eager", "ssim")].verdict == "regressed"
    assert "not computed in head" in by[("tiny-sd / steps-2 / eager", "ssim")].detail
    cmp_back = compare_runs(head, base)
    by = {(j.label, c.key): c for j in cmp_back.jobs for c in j.checks}
    assert by[("tiny-sd / steps-2 / eager", "ssim")].verdict == "not compared"
    assert cmp_back.verdict == "pass"


def test_memory_measured_in_base_and_absent_in_head_regresses(base, tmp_path):
    head = copy_run(base, tmp_path / "h", lambda m, r: r[0]["memory"].update(peak_rss_mib=None))
    cmp = compare_runs(base, head)
    check = next(c for c in cmp.jobs[0].checks if c.key == "peak_rss_mib")
    assert (check.verdict, check.detail) == ("regressed", "measured in base, no value in head")


# -------------------------------------------------------------------------------------- inconclusive


def test_three_iterations_per_side_cannot_decide_a_slowdown(tmp_path, capsys):
    """The demo's case: 3 samples per side and a ×1.2 slowdown. Never ✅: ⚠ with what it would need."""
    recs = [record(m, v, seed=i, n=3) for i, (m, v) in enumerate(JOBS)]
    base = make_run(tmp_path / "b", recs)
    head = copy_run(base, tmp_path / "h", lambda m, r: scale_latency(r, 1.2))
    junit = tmp_path / "j.xml"
    assert main(["compare", str(base), str(head), "--junit", str(junit)]) == 0
    out = capsys.readouterr().out
    assert "**INCONCLUSIVE: no regression found, but 3 checks could not have caught one**" in out
    assert "✅ 100" not in out.split("| job |")[1].split("\n\n")[0].replace("peak", "")  # no latency ✅
    assert "3 vs 3 samples cannot reach p ≤ 0.01 whatever the change" in out
    assert "needs ≥ 5 iterations per side" in out
    skipped = [c for c in ET.parse(junit).getroot().iter("testcase") if c.find("skipped") is not None]
    assert {c.get("name") for c in skipped} == {"latency_ms.p50"}
    assert all(c.find("skipped").get("message").startswith("inconclusive: ") for c in skipped)

    assert main(["compare", str(base), str(head), "--strict", "--junit", str(junit), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert (data["verdict"], data["inconclusive"], data["regressions"], data["passed"]) == (
        "fail",
        3,
        0,
        False,
    )
    c = _checks(data)[("tiny-sd / steps-5 / eager", "latency_ms.p50")]
    assert c["verdict"] == "inconclusive" and c["detectable"] == "none" and c["iterations_needed"] >= 5
    failures = [c for c in ET.parse(junit).getroot().iter("testcase") if c.find("failure") is not None]
    assert {c.find("failure").get("type") for c in failures} == {"Inconclusive"}


def test_noise_too_large_for_the_threshold_is_inconclusive_with_what_it_could_catch(tmp_path, capsys):
    """30 samples per side at CV 30 %: a +5 % gate could only catch changes ~×1.3 or more."""
    from tests.gate.gate_helpers import latencies

    def noisy(seed):
        recs = [record(m, v, seed=seed * 10 + i) for i, (m, v) in enumerate(JOBS)]
        from harness.measure.stats import summarize

        for i, r in enumerate(recs):
            r["latency_ms"] = summarize(latencies(seed * 10 + i, 30, 100.0, cv=0.3))
        return recs

    base = make_run(tmp_path / "b", noisy(1))
    head = make_run(tmp_path / "h", noisy(2))
    assert main(["compare", str(base), str(head), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["verdict"] == "inconclusive"
    c = _checks(data)[("tiny-sd / steps-5 / eager", "latency_ms.p50")]
    assert c["verdict"] == "inconclusive"
    ratio = float(c["detectable"].lstrip("×"))
    assert 1.15 < ratio < 1.6, c["detectable"]
    assert 100 < c["iterations_needed"] < 2000
    assert "catch only changes of ×" in c["detail"]


def test_a_quiet_comparison_within_the_gate_is_conclusive(base, tmp_path, capsys):
    head = copy_run(base, tmp_path / "h", lambda m, r: scale_latency(r, 1.01))
    assert main(["compare", str(base), str(head), "--strict"]) == 0
    assert "**PASS: no regression**" in capsys.readouterr().out


# ----------------------------------------------------------------------------------------- the numbers


def test_smallest_p_is_one_over_the_orderings():
    assert smallest_p(3, 3) == pytest.approx(1 / 20)
    assert smallest_p(4, 4) == pytest.approx(1 / 70) and smallest_p(4, 4) > ALPHA
    assert smallest_p(5, 5) == pytest.approx(1 / 252) and smallest_p(5, 5) < ALPHA
    assert detectable_shift(0.01, 4, 4, 0.02) == math.inf


def test_the_detectable_shift_predicts_the_gates_measured_power():
    """At the shift the formula calls detectable, the rule (exact U test + half-threshold) fires ≈80 % of
    the time on lognormal samples: simulated here with the gate's own functions."""
    rng = np.random.default_rng(0)
    n, sigma, threshold = 30, 0.05, 0.05
    half = math.log(1 + threshold) / 2
    d = detectable_shift(sigma, n, n, half)
    trials = 1500
    base = rng.normal(0.0, sigma, (trials, n))
    head = rng.normal(d, sigma, (trials, n))
    fired = latency_rule(shift_test(np.exp(base), np.exp(head)), threshold) == 1
    assert 0.74 < fired.mean() < 0.86, fired.mean()
    # and the iterations the advice gives reach that power at the threshold itself
    need = iterations_needed(sigma, math.log(1 + threshold), half)
    assert detectable_shift(sigma, need, need, half) <= math.log(1 + threshold)
    assert detectable_shift(sigma, need - 1, need - 1, half) > math.log(1 + threshold)


def test_compare_refuses_unwritable_outputs_before_any_work(base, tmp_path, capsys):
    assert main(["compare", str(base), str(base), "--junit", str(tmp_path / "no" / "j.xml")]) == 2
    assert "--junit: the folder" in capsys.readouterr().err
    assert main(["compare", str(base), str(base), "--markdown", str(tmp_path)]) == 2
    assert "--markdown: is a folder" in capsys.readouterr().err


def test_recording_a_baseline_refuses_failed_jobs_and_files(base, tmp_path, capsys):
    def edit(meta, recs):
        recs[0] = record(recs[0]["model"], recs[0]["variant"], seed=0, status="failed")

    bad = copy_run(base, tmp_path / "bad", edit)
    assert main(["gate", "record", str(bad), "--into", str(tmp_path / "bl")]) == 2
    assert "not every job is ok: tiny-sd / steps-5 / eager (failed)" in capsys.readouterr().err
    target = tmp_path / "file"
    target.write_text("x")
    assert main(["gate", "record", str(base), "--into", str(target)]) == 2
    assert "--into: exists and is not a folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserInputError, match="neither a run folder"):
        compare_runs(tmp_path / "empty", base)


def test_energy_and_cost_are_gate_keys(tmp_path, capsys):
    def with_energy(scale):
        def edit(meta, recs):
            for r in recs:
                r["energy"] = {
                    "energy_j": 10.0 * scale,
                    "energy_per_item_j": 10.0 * scale,
                    "sources": ["nvml"],
                }
                r["cost"] = {"usd_per_hour": 3.6, "per_1k_items_usd": 0.1 * scale}

        return edit

    gates = {"energy_per_item_j": "+10%", "cost_per_1k_items_usd": "+10%"}
    base = copy_run(make_run(tmp_path / "b0", gates=gates), tmp_path / "b", with_energy(1.0))
    same = copy_run(base, tmp_path / "s", with_energy(1.05))
    worse = copy_run(base, tmp_path / "w", with_energy(1.25))
    assert main(["compare", str(base), str(same)]) == 0
    capsys.readouterr()
    assert main(["compare", str(base), str(worse), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["regressions"] == 2 * len(JOBS)
    # a base measured on a machine without counters cannot judge energy: not compared, not a regression,
    # and with nothing else gated nothing was compared at all (#23 item 1): exit 2, never a pass
    no_energy = make_run(tmp_path / "n", gates=gates)
    assert main(["compare", str(no_energy), str(worse)]) == 2
    out = capsys.readouterr().out
    assert "**NOT COMPARED: no gate compared a value**" in out
    assert "- `energy_per_item_j`: no value in base: nothing to compare with (all 3 jobs)" in out

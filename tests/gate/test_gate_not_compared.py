"""#23 item 1: a gate that compared no value is "not compared", never PASS or ok; a comparison in which no
gate compared anything exits 2 and says so in the table, on stderr, in the JSON and in the JUnit XML; under
--strict any not-compared gate fails; `gate derive` refuses runs that are not independent repeats of one
setup."""

from __future__ import annotations

import json
from xml.etree import ElementTree as ET

import pytest

from harness.cli import main
from harness.core.errors import UserInputError
from harness.gate.compare import compare_runs
from harness.gate.derive import derive_gates
from tests.gate.gate_helpers import JOBS, copy_run, make_run, read, record, scale_latency, write

# Columns none of these jobs has: a timed-loop latency, a memory column, a metric of the suite.
NULL_GATES = {"latency_ms.p50": "+5%", "peak_vram_allocated_mib": "+5%", "fid": "+1"}


def _null_run(path, seed):
    """Ok jobs whose gated columns are all null (no timed loop, no VRAM) or absent (fid never computed)."""
    recs = []
    for i, (m, v) in enumerate(JOBS):
        rec = record(m, v, seed=seed * 100 + i)
        for key in ("latency_ms", "latency_per_item_ms", "throughput"):
            rec.pop(key)
        recs.append(rec)
    run = make_run(path, recs, gates=NULL_GATES)
    meta, recs = read(run)
    meta["suite"]["metrics"] = ["psnr", "ssim", "fid"]
    write(run, meta, recs)
    return run


@pytest.fixture
def null_pair(tmp_path):
    return _null_run(tmp_path / "base", 0), _null_run(tmp_path / "head", 1)


def test_runs_whose_gated_columns_are_all_null_are_not_compared_exit_2(null_pair, tmp_path, capsys):
    """#23 item 1 (Done when): a fabricated pair whose gated columns are all null: exit 2, "not compared",
    each gate with its reason and jobs; the JSON verdict is the table's word; JUnit skips each check and
    fails the comparison with an error case."""
    base, head = null_pair
    junit = tmp_path / "j.xml"
    assert main(["compare", str(base), str(head), "--junit", str(junit)]) == 2
    cap = capsys.readouterr()
    assert "**NOT COMPARED: no gate compared a value** (all 3 gates below; nothing passed)" in cap.out
    assert "PASS" not in cap.out
    rows = [ln for ln in cap.out.splitlines() if ln.startswith("| tiny")]
    assert len(rows) == len(JOBS)
    assert all(row.endswith("| ok | not compared | not compared | not compared |") for row in rows)
    assert "- `latency_ms.p50`: null in both runs (all 3 jobs)" in cap.out
    assert "- `peak_vram_allocated_mib`: null in both runs (all 3 jobs)" in cap.out
    assert "- `fid`: absent from both runs (not computed for this job) (all 3 jobs)" in cap.out
    assert "error: NOT COMPARED: no gate compared a value; each gate and why:" in cap.err
    assert "error: latency_ms.p50: null in both runs (all 3 jobs)" in cap.err

    root = ET.parse(junit).getroot()
    assert root.find("testsuite/properties/property[@name='verdict']").get("value") == "not compared"
    assert (root.get("failures"), root.get("errors")) == ("0", "1")
    error = next(c for c in root.iter("testcase") if c.get("name") == "comparison").find("error")
    assert error.get("type") == "NotCompared" and error.get("message").startswith("no gate compared a value")
    checks = [c for c in root.iter("testcase") if c.get("name") in NULL_GATES]
    assert len(checks) == len(JOBS) * len(NULL_GATES)
    assert all(c.find("skipped").get("message").startswith("not compared: ") for c in checks)

    assert main(["compare", str(base), str(head), "--json"]) == 2
    data = json.loads(capsys.readouterr().out)
    assert (data["verdict"], data["passed"], data["exit_code"]) == ("not compared", False, 2)
    assert data["verdict"].upper() in cap.out  # the table's word
    assert set(data["not_compared"]) == set(NULL_GATES)
    verdicts = {c["verdict"] for j in data["jobs"] for c in j["checks"]}
    assert verdicts == {"not compared"}


def test_nothing_compared_under_strict_fails(null_pair, capsys):
    """#23 item 1: under --strict a not-compared gate is a failure (exit 1)."""
    base, head = null_pair
    assert main(["compare", str(base), str(head), "--strict"]) == 1
    assert "**FAIL (--strict): 3 gates not compared**" in capsys.readouterr().out


def test_a_latency_gate_without_samples_in_either_run_is_not_compared_not_inconclusive(null_pair):
    """#23 item 1: a sampled column null in both runs compared nothing (it was "inconclusive" before)."""
    cmp = compare_runs(*null_pair)
    check = next(c for c in cmp.jobs[0].checks if c.key == "latency_ms.p50")
    assert (check.verdict, check.detail) == ("not compared", "null in both runs")
    assert cmp.verdict == "not compared" and cmp.exit_code == 2 and not cmp.passed
    tally = cmp.tally()
    assert tally.measured == 0 and tally.count("not_compared") == len(NULL_GATES)


def test_latency_lost_in_head_regresses(tmp_path):
    """#23 item 1: a latency measured in base and null in head is a regression, not "inconclusive"."""
    base = make_run(tmp_path / "b")
    head = copy_run(base, tmp_path / "h", lambda m, r: r[0].pop("latency_ms"))
    cmp = compare_runs(base, head)
    check = next(c for c in cmp.jobs[0].checks if c.key == "latency_ms.p50")
    assert (check.verdict, check.detail) == ("regressed", "measured in base, no value in head")
    assert cmp.exit_code == 1


def test_a_gate_compared_in_some_jobs_only_is_said_per_cell_not_failed(tmp_path, capsys):
    """A gate with a value in one job and none in the others compared something: not a not-compared gate;
    the other jobs' cells say "not compared"."""
    base = make_run(tmp_path / "b", gates={"peak_vram_allocated_mib": "+5%"})

    def vram(meta, recs):
        recs[0]["memory"]["peak_vram_allocated_mib"] = 100.0

    write(base, *_edited(base, vram))
    head = copy_run(base, tmp_path / "h")
    assert main(["compare", str(base), str(head)]) == 0
    out = capsys.readouterr().out
    assert "**PASS: no regression**" in out
    rows = [ln for ln in out.splitlines() if ln.startswith("| tiny")]
    assert rows[0].endswith("| ✅ 100 → 100 (=) |") and rows[1].endswith("| not compared |")


def _edited(run, edit):
    meta, recs = read(run)
    edit(meta, recs)
    return meta, recs


def test_skip_on_mismatch_says_nothing_compared_in_every_output(tmp_path, capsys, monkeypatch):
    """#23 item 1: --skip-on-mismatch (an explicit opt-out) exits 0, and every output says that nothing was
    compared and nothing passed: stdout, --json, --markdown, --junit, the step summary."""
    base = make_run(tmp_path / "b")
    head = copy_run(base, tmp_path / "h", lambda m, r: m["environment"]["packages"].update(torch="2.15.0"))
    md, junit, summary = tmp_path / "g.md", tmp_path / "j.xml", tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    args = [
        "compare",
        str(base),
        str(head),
        "--skip-on-mismatch",
        "--markdown",
        str(md),
        "--junit",
        str(junit),
    ]
    assert main(args) == 0
    line = "NOT COMPARED (--skip-on-mismatch): nothing was compared and nothing passed: "
    assert capsys.readouterr().out.startswith(line + "the baseline cannot judge this machine (torch 2.14.1")
    for text in (md.read_text(), summary.read_text()):
        assert "**NOT COMPARED (--skip-on-mismatch): nothing was compared and nothing passed**" in text
    root = ET.parse(junit).getroot()
    assert root.find("testsuite/properties/property[@name='verdict']").get("value") == "not compared"
    assert (root.get("tests"), root.get("skipped"), root.get("failures")) == ("1", "1", "0")
    assert main([*args, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["verdict"], data["passed"], data["skipped"]) == ("not compared", False, "--skip-on-mismatch")


def test_a_partly_copied_head_does_not_compare_the_copied_jobs(tmp_path, capsys):
    """#23 item 1/4: a job whose record is the same in base and head (a copy) compares nothing."""
    base = make_run(tmp_path / "b")
    head = copy_run(base, tmp_path / "h")
    meta, recs = read(head)
    recs[0]["started_at"] = read(base)[1][0]["started_at"]  # job 0's record copied from base
    write(head, meta, recs)
    cmp = compare_runs(base, head)
    assert [j.status for j in cmp.jobs] == ["same", "compared", "compared"]
    assert cmp.verdict == "pass"  # every gate compared values in the other jobs
    assert main(["compare", str(base), str(head)]) == 0
    assert "warning: 1 job(s) have the same record in base and head (copied): not compared" in (
        capsys.readouterr().err
    )


# ------------------------------------------------------------------------------------------ derive


@pytest.fixture
def a(tmp_path):
    return make_run(tmp_path / "a", seed=0)


def _repeat(a, path, edit=None):
    """Another run of the same code: new start times, samples a little different, ``edit`` applied."""

    def change(meta, recs):
        scale_latency(recs, 1.01)
        if edit is not None:
            edit(meta, recs)

    return copy_run(a, path, change)


def test_derive_accepts_independent_repeats(a, tmp_path):
    gates, _ = derive_gates([a, _repeat(a, tmp_path / "b")])
    assert set(gates) == {"latency_ms.p50", "peak_rss_mib", "psnr", "ssim"}


def test_derive_refuses_two_copies_of_one_run(a, tmp_path):
    """#23 item 1: the same folder, a byte-identical copy, or records found in both runs."""
    hint = r"derive from separate runs of one suite on one machine and setup"
    with pytest.raises(UserInputError, match=rf"are two copies of one run \(the same folder\); {hint}"):
        derive_gates([a, a])
    with pytest.raises(UserInputError, match=r"are two copies of one run \(byte-identical records\.jsonl\)"):
        derive_gates([a, copy_run(a, tmp_path / "cp", same_records=True)])
    edited = copy_run(a, tmp_path / "edited", same_records=True)
    write(edited, *_edited(edited, lambda m, r: scale_latency(r, 1.01)))
    with pytest.raises(
        UserInputError,
        match=r"two copies of one run \(3 record\(s\) in both \(the same job_id and started_at, e\.g\. "
        r"tiny-sd / steps-5 / eager started 2026-11-22T03:00:00\+0000\)\)",
    ):
        derive_gates([a, edited])


def test_derive_refuses_identical_samples(a, tmp_path, capsys):
    """#23 item 1: identical per-iteration latency samples in every job are not independent measurements."""
    b = copy_run(a, tmp_path / "b", lambda m, r: r[0]["memory"].update(peak_rss_mib=710.0))
    with pytest.raises(UserInputError, match=r"have identical latency samples in every job \(3\)"):
        derive_gates([a, b])
    assert main(["gate", "derive", str(a), str(b), "-o", "-"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "identical latency samples" in err


@pytest.mark.parametrize(
    ("edit", "difference"),
    [
        (lambda m, r: m["environment"]["packages"].update(torch="2.15.0"), r"torch 2\.14\.1 → 2\.15\.0"),
        (lambda m, r: m.update(device="cuda"), r"device cpu → cuda"),
        (lambda m, r: m.update(isolation="card"), r"isolation process → card"),
        (lambda m, r: m["device_environment"].update(torch_threads=1), r"torch threads 2 → 1"),
        (
            lambda m, r: r[1]["metrics"]["psnr"].update(fingerprint="fp-psnr-2"),
            r"metric psnr fingerprint fp-psnr → fp-psnr-2",
        ),
    ],
    ids=["environment", "device", "isolation", "threads", "fingerprint"],
)
def test_derive_refuses_runs_of_another_setup(a, tmp_path, edit, difference):
    """#23 item 1: runs that differ in environment fingerprint, device, isolation or metric fingerprint."""
    b = _repeat(a, tmp_path / "b", edit)
    with pytest.raises(UserInputError, match=rf"are not repeats of one setup: {difference}"):
        derive_gates([a, b])


def test_derive_refuses_other_backend_options(tmp_path):
    """#23 item 1: the same job planned with other backend options is another setup."""

    def plan(options):
        def edit(meta, recs):
            meta["jobs"] = [{"job_id": r["job_id"], "backend_options": options} for r in recs]

        return edit

    a = make_run(tmp_path / "a")
    write(a, *_edited(a, plan({})))
    b = _repeat(a, tmp_path / "b", plan({"channels_last": True}))
    with pytest.raises(
        UserInputError,
        match=r"not repeats of one setup: backend options of tiny-sd__steps-5__eager__\w+ \{\} → "
        r"\{'channels_last': True\}",
    ):
        derive_gates([a, b])

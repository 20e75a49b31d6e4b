"""`harness compare`: exit codes, mismatches, and the Markdown / JUnit / step-summary / JSON outputs."""

from __future__ import annotations

import json
import subprocess
import sys
from xml.etree import ElementTree as ET

import pytest

from harness.cli import main
from harness.gate.compare import compare_runs
from tests.gate.gate_helpers import JOBS, copy_run, make_run, metric, read, scale_latency, write
from tests.helpers import ROOT


@pytest.fixture
def base(tmp_path):
    return make_run(tmp_path / "base", seed=0)


@pytest.fixture
def same_code(tmp_path):
    """Another run of the same code: new noise, same quality."""
    return make_run(tmp_path / "head", seed=1)


def _table_rows(md: str) -> list[str]:
    lines = [ln for ln in md.splitlines() if ln.startswith("| ")]
    return lines[1:]  # the header


# ------------------------------------------------------------------------------------------ exit 0


def test_a_run_against_itself_is_not_compared(base, tmp_path, capsys):
    """#23 item 4: a run compared with itself (the same folder, or a plain copy of it) is no regression test:
    nothing compared, exit 2, never PASS."""
    for head in (base, copy_run(base, tmp_path / "copy", same_records=True)):
        assert main(["compare", str(base), str(head)]) == 2
        cap = capsys.readouterr()
        assert "**NOT COMPARED: no gate compared a value**" in cap.out and "PASS" not in cap.out
        assert len(_table_rows(cap.out)) == len(JOBS)
        assert all("| not compared: the same record in both runs |" in row for row in _table_rows(cap.out))
        one = "the same folder" if head == base else "byte-identical records.jsonl"
        assert (
            f"warning: base and head are one run ({one}): comparing a run with itself tests nothing"
            in cap.err
        )


def test_a_rerun_of_the_same_code_passes(base, same_code, capsys):
    assert main(["compare", str(base), str(same_code)]) == 0
    assert "❌" not in capsys.readouterr().out.split("\n\n❌")[0]


def test_a_small_slowdown_below_half_the_gate_passes(base, tmp_path):
    head = copy_run(base, tmp_path / "h", lambda m, r: scale_latency(r, 1.02))
    assert main(["compare", str(base), str(head)]) == 0


def test_a_speedup_is_reported_as_an_improvement(base, tmp_path, capsys):
    head = copy_run(base, tmp_path / "h", lambda m, r: scale_latency(r, 0.7, job=1))
    assert main(["compare", str(base), str(head), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["passed"] and data["improvements"] == 1
    checks = {(j["label"], c["key"]): c for j in data["jobs"] for c in j["checks"]}
    c = checks[("tiny-sd / steps-2 / eager", "latency_ms.p50")]
    assert c["verdict"] == "improved" and c["change"].startswith("×0.70")


# ------------------------------------------------------------------------------------------ exit 1


def test_a_30_percent_slowdown_fails(base, tmp_path, capsys):
    head = copy_run(base, tmp_path / "h", lambda m, r: scale_latency(r, 1.3, job=0))
    junit = tmp_path / "out" / "junit.xml"
    junit.parent.mkdir()
    assert main(["compare", str(base), str(head), "--junit", str(junit)]) == 1
    out = capsys.readouterr().out
    assert "FAIL: 1 regression" in out
    row = next(r for r in _table_rows(out) if r.startswith("| tiny-sd / steps-5 / eager"))
    assert "❌" in row and "×1.30" in row
    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites" and root.get("failures") == "1"
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == len(JOBS) * (1 + 4)  # a status case and one per gate, per job
    failed = [c for c in cases if c.find("failure") is not None]
    assert [(c.get("classname"), c.get("name")) for c in failed] == [
        ("t.tiny-sd.steps-5.eager", "latency_ms.p50")
    ]


def test_a_lower_psnr_fails(base, tmp_path, capsys):
    def edit(meta, recs):
        recs[1]["metrics"]["psnr"]["value"] -= 0.01

    head = copy_run(base, tmp_path / "h", edit)
    assert main(["compare", str(base), str(head), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    regressed = [
        (j["label"], c["key"]) for j in data["jobs"] for c in j["checks"] if c["verdict"] == "regressed"
    ]
    assert regressed == [("tiny-sd / steps-2 / eager", "psnr")]


def test_psnr_that_was_infinite_and_is_not_any_more_fails(base, tmp_path):
    head = copy_run(base, tmp_path / "h", lambda m, r: r[0]["metrics"]["psnr"].update(value=80.0))
    assert main(["compare", str(base), str(head)]) == 1


def test_more_memory_than_the_gate_allows_fails(base, tmp_path):
    head = copy_run(base, tmp_path / "h", lambda m, r: r[2]["memory"].update(peak_rss_mib=700 * 1.2))
    assert main(["compare", str(base), str(head)]) == 1
    head2 = copy_run(base, tmp_path / "h2", lambda m, r: r[2]["memory"].update(peak_rss_mib=700 * 1.1))
    assert main(["compare", str(base), str(head2)]) == 0


def test_a_job_that_fails_in_head_is_a_regression(base, tmp_path, capsys):
    def edit(meta, recs):
        recs[2].update(status="failed", error={"type": "OutOfMemoryError", "message": "CUDA out of memory"})

    head = copy_run(base, tmp_path / "h", edit)
    junit = tmp_path / "j.xml"
    assert main(["compare", str(base), str(head), "--junit", str(junit)]) == 1
    out = capsys.readouterr().out
    assert "failed in head" in out and "OutOfMemoryError" in out
    failures = [c for c in ET.parse(junit).getroot().iter("testcase") if c.find("failure") is not None]
    assert [(c.get("name"), c.find("failure").get("type")) for c in failures] == [("status", "JobFailed")]


def test_a_job_missing_in_head_is_a_regression_unless_allowed(base, tmp_path, capsys):
    from tests.gate.gate_helpers import record

    def edit(meta, recs):
        recs.pop(0)
        recs.append(record("tiny-audio", "steps-4", seed=9))

    head = copy_run(base, tmp_path / "h", edit)
    junit = tmp_path / "j.xml"
    assert main(["compare", str(base), str(head), "--junit", str(junit)]) == 1
    out = capsys.readouterr().out
    rows = _table_rows(out)
    assert len(rows) == len(JOBS) + 1
    assert any("tiny-sd / steps-5 / eager | ❌ missing in head" in r for r in rows)
    assert any("tiny-audio / steps-4 / eager | added" in r for r in rows)
    assert "**FAIL: 1 regression**" in out and "1 job(s) added · 0 removed · 1 missing" in out
    failures = [c for c in ET.parse(junit).getroot().iter("testcase") if c.find("failure") is not None]
    assert [(c.get("name"), c.find("failure").get("type")) for c in failures] == [("status", "JobMissing")]

    assert main(["compare", str(base), str(head), "--allow-missing"]) == 0
    captured = capsys.readouterr()
    assert "missing in head (allowed by --allow-missing)" in captured.out
    assert "1 job(s) ok in base are missing in head (allowed by --allow-missing)" in captured.err


def test_a_job_failed_in_base_and_absent_in_head_is_removed_not_missing(base, tmp_path, capsys):
    from tests.gate.gate_helpers import record

    def edit_base(meta, recs):
        recs[0] = record(recs[0]["model"], recs[0]["variant"], seed=0, status="failed")

    b = copy_run(base, tmp_path / "b", edit_base)
    head = copy_run(b, tmp_path / "h", lambda meta, recs: recs.pop(0))
    assert main(["compare", str(b), str(head)]) == 0
    rows = _table_rows(capsys.readouterr().out)
    assert any("tiny-sd / steps-5 / eager | removed" in r for r in rows)


def test_sampled_metrics_need_their_intervals_apart_beyond_the_threshold(tmp_path):
    def with_fd(value, ci):
        def edit(meta, recs):
            for r in recs:
                r["metrics"]["fd_x"] = metric(
                    value, higher_is_better=False, fingerprint="fp-fd", ci95=ci, unit=""
                )

        return edit

    base = make_run(tmp_path / "b", gates={"fd_x": "+0.5"})
    write(base, *_edited(base, with_fd(10.0, [9.0, 11.0])))
    overlap = copy_run(base, tmp_path / "o", with_fd(11.2, [10.2, 12.2]))
    apart = copy_run(base, tmp_path / "a", with_fd(13.0, [12.0, 14.0]))  # gap 1.0 > 0.5
    near = copy_run(base, tmp_path / "n", with_fd(12.4, [11.4, 13.4]))  # gap 0.4 ≤ 0.5
    assert compare_runs(base, overlap).regressions == 0
    assert compare_runs(base, near).regressions == 0
    assert compare_runs(base, apart).regressions == len(JOBS)


def _edited(path, edit):
    meta, recs = read(path)
    edit(meta, recs)
    return meta, recs


# ------------------------------------------------------------------------------------------ exit 2


def test_a_missing_run_folder_is_bad_input(base, tmp_path, capsys):
    assert main(["compare", str(base), str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "run folder not found" in err


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("gates:\n  latency_ms.p50: fast\n", "'fast' is not a threshold (allowed: +N%, -N%, +N, -N or N)"),
        ("gates:\n  latncy_ms.p50: +5%\n", "unknown column 'latncy_ms.p50' (did you mean 'latency_ms.p50'?"),
        (
            "gates:\n  psnr: '+0.5'\n",
            "says an increase is worse, but for psnr higher is better (write '-0.5')",
        ),
        ("latency_ms.p50: +5%\n", "expected a mapping with 'gates:'"),
        ("gates: {}\nextra: 1\n", "unknown key 'extra'"),
        ("gates: [\n", "invalid YAML"),
    ],
)
def test_a_bad_gate_file_is_bad_input(base, tmp_path, capsys, text, match):
    gate = tmp_path / "gate.yaml"
    gate.write_text(text)
    assert main(["compare", str(base), str(base), "--gate", str(gate)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err and str(gate) in err


def test_no_gates_anywhere_is_bad_input(tmp_path, capsys):
    run = make_run(tmp_path / "r", gates={})
    assert main(["compare", str(run), str(run)]) == 2
    assert (
        "no gates: pass --gate FILE (a gate file or a suite with gates:) or add 'gates:' to the suite"
        in capsys.readouterr().err
    )


def test_a_gate_file_overrides_the_suite_gates(base, tmp_path):
    head = copy_run(base, tmp_path / "h", lambda m, r: scale_latency(r, 1.3, job=0))
    gate = tmp_path / "gate.yaml"
    gate.write_text("gates:\n  latency_ms.p50: +100%\n")
    assert main(["compare", str(base), str(head), "--gate", str(gate)]) == 0


def test_a_suite_file_serves_as_gate_file(base, tmp_path, write_yaml):
    suite = write_yaml(
        "s.yaml",
        {
            "name": "t",
            "models": [{"card": "tiny-sd"}],
            "metrics": ["psnr"],
            "gates": {"latency_ms.p50": "+100%"},
        },
    )
    head = copy_run(base, tmp_path / "h", lambda m, r: scale_latency(r, 1.3, job=0))
    assert main(["compare", str(base), str(head), "--gate", str(suite)]) == 0


def test_a_different_torch_is_refused_then_allowed(base, tmp_path, capsys):
    head = copy_run(base, tmp_path / "h", lambda m, r: m["environment"]["packages"].update(torch="2.15.0"))
    assert main(["compare", str(base), str(head)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "torch 2.14.1 → 2.15.0" in err and "--allow-mismatch" in err

    assert main(["compare", str(base), str(head), "--allow-mismatch"]) == 0
    cap = capsys.readouterr()
    assert "torch 2.14.1 → 2.15.0" in cap.err and "torch 2.14.1 → 2.15.0" in cap.out  # warning and table note

    # CI on a machine unlike the baseline's: a note, exit 0, nothing compared.
    assert main(["compare", str(base), str(head), "--skip-on-mismatch"]) == 0
    out = capsys.readouterr().out
    assert (
        out.startswith(
            "NOT COMPARED (--skip-on-mismatch): nothing was compared and nothing passed: "
            "the baseline cannot judge this machine ("
        )
        and "torch 2.14.1 → 2.15.0" in out
    )


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (lambda m, r: m["device_environment"].update(torch_threads=8), "torch threads 2 → 8"),
        (lambda m, r: m["environment"].update(cpu="Intel Xeon"), "cpu AMD EPYC → Intel Xeon"),
        (lambda m, r: m.update(device="cuda"), "device cpu → cuda"),
        (
            lambda m, r: (
                m["environment"].update(cpu="Intel Xeon"),
                m["device_environment"].update(device_name="Intel Xeon"),
            ),
            "device name AMD EPYC → Intel Xeon (pass",
        ),  # said once, not again as the cpu
        (
            lambda m, r: [x["metrics"]["psnr"].update(fingerprint="fp-new") for x in r],
            "metric psnr fingerprint fp-psnr → fp-new",
        ),
    ],
)
def test_other_mismatches_are_named(base, tmp_path, capsys, edit, named):
    head = copy_run(base, tmp_path / "h", edit)
    assert main(["compare", str(base), str(head)]) == 2
    assert named in capsys.readouterr().err


def test_fids_of_different_resizes_are_not_compared(tmp_path, capsys):
    """The FID resize (legacy_pytorch | clean | legacy_tensorflow) is in the metric's fingerprint."""
    from harness.metrics.frechet_metric import FID

    prints = {r: FID(resize=r).fingerprint() for r in ("legacy_pytorch", "clean")}

    def with_fid(resize):
        def edit(meta, recs):
            for r in recs:
                r["metrics"]["fid"] = metric(
                    12.0, higher_is_better=False, fingerprint=prints[resize], unit=""
                )

        return edit

    base = make_run(tmp_path / "b", gates={"fid": "+1"})
    write(base, *_edited(base, with_fid("legacy_pytorch")))
    assert main(["compare", str(base), str(copy_run(base, tmp_path / "same"))]) == 0
    head = copy_run(base, tmp_path / "h", with_fid("clean"))
    assert main(["compare", str(base), str(head)]) == 2
    assert f"metric fid fingerprint {prints['legacy_pytorch']} → {prints['clean']}" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ outputs


def test_markdown_file_and_step_summary(base, same_code, tmp_path, monkeypatch, capsys):
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    md = tmp_path / "compare.md"
    assert main(["compare", str(base), str(same_code), "--markdown", str(md)]) == 0
    text = md.read_text()
    assert len(_table_rows(text)) == len(JOBS)
    assert (
        "| job | status | latency_ms.p50 (+5%) | peak_rss_mib (+15%) | psnr (-1e-06) | ssim (-1e-6) |" in text
    )
    appended = summary.read_text()
    assert appended.startswith("# earlier step\n") and text in appended
    assert main(["compare", str(base), str(same_code)]) == 0
    assert summary.read_text().count("### harness compare") == 2  # appended, never overwritten


def test_no_step_summary_without_the_variable(base, same_code, tmp_path, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["compare", str(base), str(same_code)]) == 0
    assert sorted(tmp_path.iterdir()) == [base, same_code]


def test_junit_skips_a_gate_that_compared_nothing_and_strict_fails_it(base, same_code, tmp_path, capsys):
    """#23 item 1: a gate with no value in either run (no VRAM on a CPU) is "not compared": a skipped
    testcase, never a pass; the verdict is INCONCLUSIVE (exit 0), and a failure under --strict (exit 1)."""
    junit = tmp_path / "j.xml"
    gate = tmp_path / "g.yaml"
    gate.write_text("gates:\n  latency_ms.p50: +5%\n  peak_vram_nvml_mib: +5%\n")
    assert main(["compare", str(base), str(same_code), "--gate", str(gate), "--junit", str(junit)]) == 0
    out = capsys.readouterr().out
    assert "**INCONCLUSIVE: no regression found, but 1 gate compared no value**" in out
    assert "- `peak_vram_nvml_mib`: null in both runs (all 3 jobs)" in out
    assert all(row.endswith("| not compared |") for row in _table_rows(out))
    root = ET.parse(junit).getroot()
    assert root.get("failures") == "0" and root.get("skipped") == str(len(JOBS))
    assert root.find("testsuite/properties/property[@name='verdict']").get("value") == "inconclusive"
    skipped = [c for c in root.iter("testcase") if c.find("skipped") is not None]
    assert {c.get("name") for c in skipped} == {"peak_vram_nvml_mib"}
    assert {c.find("skipped").get("message") for c in skipped} == {"not compared: null in both runs"}
    assert {c.get("name") for c in root.iter("testcase")} == {
        "status",
        "latency_ms.p50",
        "peak_vram_nvml_mib",
    }
    args = ["compare", str(base), str(same_code), "--gate", str(gate), "--junit", str(junit), "--strict"]
    assert main([*args, "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert (data["verdict"], data["passed"], data["exit_code"]) == ("fail", False, 1)
    assert data["not_compared"] == {"peak_vram_nvml_mib": "null in both runs (all 3 jobs)"}
    failures = [c.find("failure") for c in ET.parse(junit).getroot().iter("testcase")]
    assert {f.get("type") for f in failures if f is not None} == {"NotCompared"}
    assert main(args) == 1
    assert "**FAIL (--strict): 1 gate not compared**" in capsys.readouterr().out


def test_compare_imports_no_torch_nor_pandas(base, same_code):
    code = (
        "import sys\nfrom harness.cli import main\n"
        f"rc = main(['compare', {str(base)!r}, {str(same_code)!r}, '--json'])\n"
        "print(rc, sorted(m for m in ('torch', 'diffusers', 'pandas', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip().splitlines()[-1] == "0 []"


def _on_intel(m, r):
    m["device_environment"]["device_name"] = "Intel Xeon"
    m["environment"]["cpu"] = "Intel Xeon"


def test_a_folder_of_baselines_judges_each_machine_with_its_own(base, tmp_path, capsys):
    """`harness gate record` keeps one baseline per kind of machine; compare picks the one matching HEAD."""
    folder = tmp_path / "baselines"
    intel = copy_run(base, tmp_path / "intel", _on_intel)
    for run in (base, intel):
        assert main(["gate", "record", str(run), "--into", str(folder)]) == 0
    assert sorted(p.name for p in folder.iterdir()) == [
        "cpu-amd-epyc-torch2.14.1-2t",
        "cpu-intel-xeon-torch2.14.1-2t",
    ]
    assert "baseline: " in capsys.readouterr().out

    # an Intel head that regressed is judged by the Intel baseline (not refused as "another CPU")
    head = copy_run(intel, tmp_path / "head", lambda m, r: r[1]["metrics"]["psnr"].update(value=20.0))
    assert main(["compare", str(folder), str(head)]) == 1
    assert "— `intel` (baseline `cpu-intel-xeon-torch2.14.1-2t`) → " in capsys.readouterr().out
    assert main(["compare", str(folder), str(copy_run(base, tmp_path / "amd-head"))]) == 0

    # re-recording on the same kind of machine replaces that machine's baseline only
    assert main(["gate", "record", str(head), "--into", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "replaced " in out and "cpu-intel-xeon-torch2.14.1-2t" in out
    assert len(list(folder.iterdir())) == 2
    assert main(["compare", str(folder), str(copy_run(head, tmp_path / "head2"))]) == 0
    # the baseline recorded from a run cannot judge that run: the same records, nothing compared
    assert main(["compare", str(folder), str(head)]) == 2
    assert "base and head are one run (byte-identical records.jsonl)" in capsys.readouterr().err

    # a machine no baseline matches: exit 2 naming the nearest one's differences, or a note under CI's flag
    arm = copy_run(
        base, tmp_path / "arm", lambda m, r: m["device_environment"].update(device_name="Neoverse")
    )
    assert main(["compare", str(folder), str(arm)]) == 2
    err = capsys.readouterr().err
    assert "none of the 2 baselines matches this machine; nearest cpu-amd-epyc-torch2.14.1-2t" in err
    assert "device name AMD EPYC → Neoverse" in err
    assert main(["compare", str(folder), str(arm), "--skip-on-mismatch"]) == 0
    assert capsys.readouterr().out.startswith(
        "NOT COMPARED (--skip-on-mismatch): nothing was compared and nothing passed: "
        "the baseline cannot judge this machine (nearest baseline"
    )


def test_gate_record_refuses_a_folder_that_is_one_run(base, tmp_path, capsys):
    assert main(["gate", "record", str(base), "--into", str(base)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "holds a single run; move it into a subfolder" in err
    assert main(["gate", "record", str(tmp_path / "nope"), "--into", str(tmp_path / "b")]) == 2
    assert "run folder not found" in capsys.readouterr().err


def test_an_eager_suite_ignores_the_onnxruntime_version(base, tmp_path):
    head = copy_run(
        base, tmp_path / "h", lambda m, r: m["environment"]["packages"].update(onnxruntime="1.32.0")
    )
    assert compare_runs(base, head).differences == []
    ort = copy_run(base, tmp_path / "o", lambda m, r: [x.update(backend="onnxruntime") for x in r])
    ort_head = copy_run(
        ort, tmp_path / "oh", lambda m, r: m["environment"]["packages"].update(onnxruntime="1.32.0")
    )
    with pytest.raises(Exception, match=r"onnxruntime 1\.31\.1 → 1\.32\.0"):
        compare_runs(ort, ort_head)

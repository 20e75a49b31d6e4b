"""report.html, report.md, frontier.csv and records.parquet of fabricated runs; the report command."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from harness.cli import main
from harness.core.errors import UserInputError
from harness.report import build_report, load_runs
from harness.report.demo import DEMO_JOBS
from tests.report.conftest import small_run

EXTERNAL = re.compile(r"""(?:src|href|action|poster|data)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


def test_outputs_of_one_run(demo_report):
    demo_run, out = demo_report
    assert out["dest"] == demo_run and not out["skipped"]
    names = sorted(p.name for p in out["plots"])
    assert names == [
        "pareto_latency_ms.p50__peak_rss_mib.png",
        "pareto_latency_ms.p50__psnr.png",
        "pareto_psnr__peak_rss_mib.png",
    ]
    assert all(p.stat().st_size > 10_000 for p in out["plots"])

    front = pd.read_csv(demo_run / "frontier.csv")
    for col in ("on_front", "tied", "feasible", "knee", "frontier_status", "latency_ms.p50_lo", "psnr_hi"):
        assert col in front.columns
    image = front[front["modality"] == "image"].set_index("variant")
    assert image["frontier_status"].to_dict() == {
        "steps-8": "front",
        "steps-4": "front",
        "steps-3": "front",
        "steps-3-ddim": "tied",
        "steps-4-slow": "dominated",
        "steps-2": "front",
        "steps-1": "infeasible",
        '"><img src=x onerror=alert(2)>': "dominated",
    }
    assert image.index[image["knee"]].tolist() == ["steps-4"]

    table = pd.read_parquet(demo_run / "records.parquet")
    assert len(table) == 13 and table["run_id"].unique().tolist() == ["demo-run"]
    assert table.set_index("variant").loc["broken", "frontier_status"] == "failed"
    assert table["on_front"].dtype == bool and table["latency_ms.p50"].dtype == float

    md = (demo_run / "report.md").read_text()
    assert "Knee of the front (all objectives): tiny-sd / steps-4 / eager / fp32" in md
    assert "Tied with the front within the 95% intervals" in md and "steps-3-ddim" in md
    assert "Infeasible: tiny-sd / steps-1 / eager / fp32 (psnr 14 &lt; 18)" in md
    assert "Fastest image job meeting psnr ≥ 18 and peak\\_rss\\_mib ≤ 2000: tiny-sd / steps-2" in md
    assert "<script>" not in md and "&lt;script&gt;" in md
    assert "](samples/tiny-sd__steps-8__eager__00000000/seed0.png)" in md


def test_html_is_self_contained_and_escaped(demo_report):
    html = demo_report[1]["html"].read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "onerror=alert(2)>" not in html
    assert html.count("<script>") == 1  # only the page's own sorting script
    assert not EXTERNAL.search(html), EXTERNAL.search(html)
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    # Plots, sample thumbnails (PNG and a GIF's first frame) and audio are embedded.
    assert html.count('<figure class="plot"><img src="data:image/png;base64,') == 3
    assert 'src="data:audio/wav;base64,' in html and "seed0.gif (first frame)" in html
    assert 'src="samples/' not in html
    # The sortable table has a row per job, the details a histogram and stage bars per ok job.
    body = html.split('<table class="sortable" id="jobs-table">')[1].split("</table>")[0]
    assert body.count("<tr class=") == 13
    assert html.count("<title>latency histogram") == 12 and html.count("<title>time per stage") == 12
    assert "Fastest image job meeting psnr ≥ 18 and peak_rss_mib ≤ 2000" in html
    assert "demo-psnr-1" in html  # fingerprints
    assert "TypeError" in html  # failures


def test_no_samples_no_constraints(tmp_path):
    run = small_run(tmp_path, "bare", samples=0, constraints=[])
    out = build_report(run, html=True)
    html = out["html"].read_text()
    assert "No samples were saved." in html and "No constraints." in html
    md = out["markdown"].read_text()
    assert "Fastest image job: tiny-sd / steps-3 / eager / fp32" in md


def test_cli_report_one_run_writes_into_it(tmp_path, capsys):
    plain_run = small_run(tmp_path, "plain")
    assert main(["report", str(plain_run)]) == 0
    printed = capsys.readouterr().out
    for name in ("report.md", "report.html", "frontier.csv", "records.parquet"):
        assert (plain_run / name).is_file() and f"wrote {plain_run / name}" in printed
    (plain_run / "report.html").unlink()
    assert main(["report", str(plain_run), "--no-html"]) == 0
    assert not (plain_run / "report.html").exists()


def test_cli_merges_agreeing_runs(tmp_path, capsys):
    a, b = small_run(tmp_path, "run-a"), small_run(tmp_path, "run-b")
    assert main(["report", str(a), str(b)]) == 2
    assert "several runs make one report: give --out DIR" in capsys.readouterr().err
    dest = tmp_path / "merged"
    assert main(["report", str(a), str(b), "--out", str(dest)]) == 0
    front = pd.read_csv(dest / "frontier.csv")
    assert sorted(front["run_id"].unique()) == ["run-a", "run-b"] and len(front) == 8
    md = (dest / "report.md").read_text()
    assert "runs run-a, run-b" in md
    assert "](../run-a/samples/" in md and "](../run-b/samples/" in md  # links relative to --out
    html = (dest / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 1 + 8 and "<th>run</th>" in html


def _fid_print(resize: str) -> str:
    from harness.metrics.distribution import FID

    return FID(resize=resize).fingerprint()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"device_name": "NVIDIA H100"}, "device name 'NVIDIA H100' differs from run-a's 'Demo CPU'"),
        ({"torch": "2.5.0"}, "torch '2.5.0' differs from run-a's '2.4.0'"),
        ({"fingerprint": "other"}, "metric psnr fingerprint other differs from run-a's demo-psnr-1"),
        (
            {"fid": ("legacy_pytorch", "clean")},  # the FID resize is in the fingerprint
            f"metric fid fingerprint {_fid_print('clean')} differs from run-a's {_fid_print('legacy_pytorch')}",
        ),
    ],
)
def test_cli_refuses_to_merge_mismatched_runs(tmp_path, capsys, change, message):
    a, b = small_run(tmp_path, "run-a", samples=0), small_run(tmp_path, "run-b", samples=0)
    meta = json.loads((b / "run.json").read_text())
    if "device_name" in change:
        meta["device_environment"]["device_name"] = change["device_name"]
    if "torch" in change:
        meta["environment"]["packages"]["torch"] = change["torch"]
    (b / "run.json").write_text(json.dumps(meta))
    if "fingerprint" in change:
        text = (b / "records.jsonl").read_text().replace('"demo-psnr-1"', '"other"')
        (b / "records.jsonl").write_text(text)
    for run, resize in zip((a, b), change.get("fid", ())):
        recs = [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]
        for r in recs:
            r["metrics"]["fid"] = {**r["metrics"]["psnr"], "unit": "", "fingerprint": _fid_print(resize)}
        (run / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    dest = tmp_path / "merged"
    assert main(["report", str(a), str(b), "--out", str(dest)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "use --allow-mismatch" in err
    assert not (dest / "report.md").exists()
    if "fingerprint" not in change:
        return  # one merge despite a mismatch is enough (reports take seconds on a busy machine)
    assert main(["report", str(a), str(b), "--out", str(dest), "--allow-mismatch"]) == 0
    assert f"merged despite: run-b: {message}" in (dest / "report.md").read_text()
    assert "merged despite" in (dest / "report.html").read_text()


def test_cli_report_bad_input(tmp_path, capsys):
    run = small_run(tmp_path, "r", samples=0)
    (tmp_path / "file").write_text("x")
    assert main(["report", str(run), "--out", str(tmp_path / "file")]) == 2
    assert "--out: exists and is not a folder" in capsys.readouterr().err


def test_run_where_every_job_failed(tmp_path):
    run = small_run(tmp_path, "failed", jobs=[], failed=True)
    out = build_report(run)
    assert out["plots"] == []
    assert pd.read_parquet(out["parquet"])["frontier_status"].tolist() == ["failed"]
    assert "No job finished, so there is no front." in out["markdown"].read_text()
    html = out["html"].read_text()
    assert "No job finished, so there is no front." in html and "TypeError" in html


def test_report_and_gate_agree_on_comparable_environments(tmp_path):
    """One definition of "comparable": every field the gate reports as different blocks a report merge."""
    from harness.report.merge import merge_problems
    from harness.results import BACKEND_PACKAGES, ENV_FIELDS
    from harness.results.runs import Run, environment_differences

    def use_backend(run, backend):
        records = [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]
        (run / "records.jsonl").write_text(
            "".join(json.dumps({**r, "backend": backend}) + "\n" for r in records)
        )

    for label, path in ENV_FIELDS:
        a = small_run(tmp_path, f"run-a-{len(path)}-{path[-1]}", samples=0)
        b = small_run(tmp_path, f"run-b-{len(path)}-{path[-1]}", samples=0)
        meta = json.loads((b / "run.json").read_text())
        node = meta
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = 99 if path[-1] == "torch_threads" else "9.9-changed"  # an int field
        (b / "run.json").write_text(json.dumps(meta))
        if label in BACKEND_PACKAGES:
            # a runtime's version is no difference for runs that do not use it...
            assert not environment_differences(Run.open(a), Run.open(b)), label
            assert not merge_problems([Run.open(a), Run.open(b)]), label
            for run in (a, b):  # ...and is one for runs that do
                use_backend(run, BACKEND_PACKAGES[label])
        gate_says = environment_differences(Run.open(a), Run.open(b))
        report_says = merge_problems([Run.open(a), Run.open(b)])
        assert any(d.startswith(f"{label} ") for d in gate_says) or label == "cpu", (label, gate_says)
        assert any(f": {label} " in p for p in report_says), (label, report_says)


def test_metrics_of_another_modality_are_blank_and_floors_are_listed(tmp_path):
    """A suite over several modalities: an image metric on a video job is a blank cell (not a "skipped"
    line per job), no plot pairs two metrics no job has together, and the noise floors get a table."""
    from harness.report.demo import DEMO_JOBS, fabricate_run

    jobs = [DEMO_JOBS[1], DEMO_JOBS[2], DEMO_JOBS[8], DEMO_JOBS[10]]  # 2 image, 1 video, 1 audio
    run = fabricate_run(
        tmp_path,
        "mixed",
        samples=0,
        failed=False,
        jobs=jobs,
        objectives={"latency_ms.p50": "min", "fd_x": "min", "fvd_x": "min"},
    )
    meta = json.loads((run / "run.json").read_text())
    meta["suite"]["metrics"] = ["psnr", "fd_x", "fvd_x"]
    (run / "run.json").write_text(json.dumps(meta))
    lines = []
    for line in (run / "records.jsonl").read_text().splitlines():
        rec = json.loads(line)
        for name, modality, value in (
            ("fd_x", "image", 50.0 + rec["latency_ms"]["p50"]),
            ("fvd_x", "video", 300.0),
        ):
            if rec["modality"] == modality:
                rec["metrics"][name] = {
                    "value": value,
                    "status": "ok",
                    "higher_is_better": False,
                    "n": 100,
                    "details": {"noise_floor": 9.5, "noise_floor_at_n": {"n": 100, "value": 12.5}},
                }
            else:
                rec["metrics"][name] = {
                    "value": None,
                    "status": "not_applicable",
                    "higher_is_better": False,
                    "reason": f"applies to {modality}, not {rec['modality']}",
                }
        lines.append(json.dumps(rec))
    (run / "records.jsonl").write_text("\n".join(lines) + "\n")
    out = build_report(run)
    md = (run / "report.md").read_text()
    assert "applies to" not in md and "skipped" not in md
    assert "does not apply to that job's modality" in md
    assert "| `fd_x` | 12.5 | 100 | tiny-sd / steps-3 / eager | 95 |" in md  # no backslash in code
    assert "| `fvd_x` | 12.5 | 100 | tiny-wan / steps-2 / eager | 300 |" in md
    assert "Objectives: `latency_ms.p50` (min), `fd_x` (min), `fvd_x` (min)." in md
    names = sorted(p.name for p in out["plots"])
    assert "pareto_fd_x__fvd_x.png" not in names and not (run / "pareto_fd_x__fvd_x.png").exists()
    assert names == ["pareto_latency_ms.p50__fd_x.png", "pareto_latency_ms.p50__fvd_x.png"]
    # a panel only for the modality with both values: no "no jobs with both values" panel
    assert out["panels"] == {
        "pareto_latency_ms.p50__fd_x.png": ["image"],
        "pareto_latency_ms.p50__fvd_x.png": ["video"],
    }
    html = (run / "report.html").read_text()
    assert "applies to" not in html and "<h3>Noise floors</h3>" in html and "<code>fvd_x</code>" in html


def test_run_without_records_is_bad_input(tmp_path, capsys):
    run = small_run(tmp_path, "empty", samples=0)
    (run / "records.jsonl").write_text("")
    with pytest.raises(
        UserInputError,
        match=r"empty: run has no records: records\.jsonl is missing or empty; the run wrote no job \(did it crash",
    ):
        build_report(run)
    (run / "records.jsonl").unlink()  # no records.jsonl at all: the same
    assert main(["report", str(run)]) == 2
    assert "run has no records: records.jsonl is missing or empty" in capsys.readouterr().err
    assert not (run / "report.md").exists()


def test_a_run_without_records_is_bad_input_beside_one_with_records(tmp_path):
    full, empty = small_run(tmp_path, "full", samples=0), small_run(tmp_path, "empty", samples=0)
    (empty / "records.jsonl").write_text("")
    with pytest.raises(
        UserInputError, match=r"empty: run has no records: records\.jsonl is missing or empty"
    ):
        load_runs([full, empty])


def test_torn_last_line_is_a_warning_and_the_rest_is_reported(tmp_path, capsys):
    run = small_run(tmp_path, "torn", samples=0)
    with open(run / "records.jsonl", "a", encoding="utf-8") as fh:
        fh.write('{"schema": 2, "job_id": "tiny-sd__steps-9__eager__0000abcd", "model": "tiny')
    out = build_report(run, html=False)
    assert len(out["warnings"]) == 1
    warning = out["warnings"][0]
    assert warning.startswith("torn: ") and "records.jsonl:5: the last line is cut short" in warning
    assert "job tiny-sd__steps-9__eager__0000abcd counts as missing" in warning
    assert len(pd.read_csv(out["frontier_csv"])) == 4
    assert "4 of 4 jobs ok" in out["markdown"].read_text()
    # the command prints it
    assert main(["report", str(run), "--no-html"]) == 0
    assert "warning: torn: " in capsys.readouterr().err


def test_only_a_torn_line_is_no_records(tmp_path):
    run = small_run(tmp_path, "torn-only", samples=0, jobs=[])
    (run / "records.jsonl").write_text('{"schema": 2, "job_id": "x')
    with pytest.raises(
        UserInputError, match=r"run has no records: records\.jsonl is missing or empty \(.*cut short"
    ):
        load_runs(run)


def test_version_1_record_of_another_modality_is_a_blank_cell(tmp_path):
    """Older harnesses wrote a metric of another modality as skipped with ``applicable: false``: it is
    read as not applicable, so a blank cell and no "Metrics not computed" line."""
    run = small_run(tmp_path, "v1", samples=0, jobs=DEMO_JOBS[1:3])
    meta = json.loads((run / "run.json").read_text())
    meta["suite"]["metrics"] = ["psnr", "fad_x"]
    (run / "run.json").write_text(json.dumps(meta))
    lines = []
    for line in (run / "records.jsonl").read_text().splitlines():
        rec = json.loads(line)
        rec["schema"] = 1
        rec["metrics"]["fad_x"] = {
            "value": None,
            "unit": "",
            "higher_is_better": False,
            "status": "skipped",
            "reason": "weights absent",
            "applicable": False,
        }
        lines.append(json.dumps(rec))
    # a version-1 skip that does apply (the reason says why) stays in "Metrics not computed"
    rec = json.loads(lines[1])
    rec["metrics"]["fad_x"] = {
        "value": None,
        "higher_is_better": False,
        "status": "skipped",
        "reason": "no refs",
    }
    lines[1] = json.dumps(rec)
    (run / "records.jsonl").write_text("\n".join(lines) + "\n")

    runs = load_runs(run)
    assert [r.metrics["fad_x"].status for r in runs.records] == ["not_applicable", "skipped"]
    out = build_report(run)
    md = out["markdown"].read_text()
    jobs = md.split("## Jobs")[1].split("## Pareto front")[0]
    header, _, first, second = jobs.strip().splitlines()[:4]
    assert header.split(" | ")[-2] == "fad\\_x"  # escaped like every name (renders as fad_x)
    assert first.split(" | ")[-2] == "–" and second.split(" | ")[-2] == "skipped"
    assert "does not apply to that job's modality" in md
    assert "weights absent" not in md
    assert "- tiny-sd / steps-3 / eager: `fad_x` skipped: no refs" in md
    html = out["html"].read_text()
    assert "weights absent" not in html and "no refs" in html


def test_contention_throttling_energy_and_cost_are_shown(tmp_path):
    """A job measured under contention is marked in both reports with the reason; energy and cost columns
    appear when a job has them, and a run with no energy counter says why instead of a blank column."""
    from harness.report.demo import DEMO_JOBS, fabricate_run

    run = fabricate_run(tmp_path, "cond", samples=0, failed=False, jobs=DEMO_JOBS[:3])
    lines = []
    for i, line in enumerate((run / "records.jsonl").read_text().splitlines()):
        rec = json.loads(line)
        if i == 1:
            rec["conditions"] = {
                "cores": 2,
                "torch_threads": 2,
                "other_cores": 1.8,
                "contention": True,
                "notes": ["other processes kept 1.8 of 2 core(s) busy while this job used 2 thread(s)"],
            }
        rec["energy"] = {"energy_j": 2.0 * (i + 1), "energy_per_item_j": 1.0 * (i + 1), "sources": ["nvml"]}
        rec["cost"] = {"usd_per_hour": 3.6, "per_1k_items_usd": 0.1 * (i + 1), "basis": "3.6 USD/h"}
        lines.append(json.dumps(rec))
    (run / "records.jsonl").write_text("\n".join(lines) + "\n")
    build_report(run)
    md = (run / "report.md").read_text()
    assert "| ok ⚠ contention |" in md and "## Measurement conditions" in md
    assert "other processes kept 1.8 of 2 core(s) busy" in md
    assert "energy J/item" in md and "USD/1k items" in md
    html = (run / "report.html").read_text()
    assert "ok ⚠ contention" in html and "Measurement conditions" in html and "USD/1k items" in html

    quiet = fabricate_run(tmp_path, "quiet", samples=0, failed=False, jobs=DEMO_JOBS[:2])
    lines = []
    for line in (quiet / "records.jsonl").read_text().splitlines():
        rec = json.loads(line)
        rec["energy"] = {
            "reason": "no energy counter here: nvml: not a CUDA job; rapl: powercap files absent"
        }
        lines.append(json.dumps(rec))
    (quiet / "records.jsonl").write_text("\n".join(lines) + "\n")
    build_report(quiet)
    md = (quiet / "report.md").read_text()
    assert "energy J/item" not in md and "Energy not measured: no energy counter here" in md
    assert "Measurement conditions" not in md


def test_figures_of_an_earlier_report_that_this_one_does_not_draw_are_removed(tmp_path):
    from harness.report import build_report

    run = small_run(tmp_path, "r")
    stale = [run / "pareto_old__metric.png", run / "load_curves.png"]
    for p in stale:
        p.write_bytes(b"\x89PNG old")
    out = build_report(run)
    assert not any(p.exists() for p in stale)
    assert [p.name for p in out["plots"]] == ["pareto_latency_ms.p50__psnr.png"]
    assert all(p.exists() for p in out["plots"])

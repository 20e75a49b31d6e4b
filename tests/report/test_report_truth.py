"""#23 item 4: reports tell the whole truth. A run given twice is read once (with a note); a job whose
headline is missing or comes from a run LoadGen calls INVALID is shown as such, not as ok, and stays off the
front; a report of a run with no measured job exits 1 after saying why."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from harness.cli import main
from harness.core.errors import UserInputError
from harness.report import load_runs
from harness.report.demo import demo_record
from tests.report.conftest import small_run


def _rows(md: str) -> list[str]:
    jobs = md.split("## Jobs")[1].split("\n\n")[1]
    return [ln for ln in jobs.splitlines()[2:] if ln.startswith("| ")]


def test_the_same_folder_twice_is_read_once(tmp_path, capsys):
    """#23 item 4: `report RUN RUN` read every job twice; now once, with a note on stderr."""
    run = small_run(tmp_path, "r", samples=0)
    assert main(["report", str(run), str(run), "--no-html"]) == 0
    cap = capsys.readouterr()
    assert f"note: {run}: the same folder as {run}: the run is read once" in cap.err
    assert len(_rows((run / "report.md").read_text())) == 4


def test_the_same_run_by_another_path_is_read_once(tmp_path, capsys):
    """#23 item 4: a copy of the run folder (byte-identical records), or the same run id holding the same
    records (job_id and started_at), is the same run: read once."""
    run = small_run(tmp_path, "r", samples=0)
    copy = tmp_path / "elsewhere" / "r"
    shutil.copytree(run, copy)
    out = tmp_path / "o"
    assert main(["report", str(run), str(copy), "--out", str(out), "--no-html"]) == 0
    assert f"note: {copy}: byte-identical records.jsonl as {run}: the run is read once" in (
        capsys.readouterr().err
    )
    assert len(_rows((out / "report.md").read_text())) == 4
    with (copy / "records.jsonl").open("a") as fh:  # the same records, other bytes
        fh.write("\n")
    runs = load_runs([run, copy])
    assert len(runs.runs) == 1 and len(runs.records) == 4
    assert runs.read_once == [f"{copy}: the same run r as {run}: the run is read once"]


def test_the_same_run_id_with_other_records_is_refused(tmp_path, capsys):
    """#23 item 4: two folders of one run id whose records differ (one resumed or edited): bad input."""
    run = small_run(tmp_path, "r", samples=0)
    other = small_run(tmp_path / "elsewhere", "r", samples=0, jobs=[], failed=True)
    with pytest.raises(
        UserInputError, match=r"run r is also .* with other records \(one of them was resumed"
    ):
        load_runs([run, other])
    assert main(["report", str(run), str(other), "--out", str(tmp_path / "o")]) == 2
    assert "give one of them" in capsys.readouterr().err


def _not_measured_record() -> dict:
    """An ok job whose timed loop left no latency: its headline is missing."""
    rec = demo_record(7, "tiny-sd", "no-loop", "image", 40.0, (39.0, 41.0), 27.0, (26.5, 27.5), 900.0, [])
    rec.update(latency_ms=None, latency_per_item_ms=None, throughput=None)
    return rec


def _invalid_server_record() -> dict:
    """An ok LoadGen Server job whose max QPS comes from a run LoadGen calls INVALID."""
    rec = demo_record(8, "tiny-sd", "served", "image", 20.0, (19.0, 21.0), 29.0, (28.5, 29.5), 950.0, [])
    rec.update(
        job_id="tiny-sd__served__eager__server__00000008",
        scenario="server",
        loadgen={
            "name": "server",
            "kind": "server",
            "runs": [
                {
                    "scenario": "server",
                    "scheduled_qps": 12.0,
                    "p99_ms": 90.0,
                    "valid": False,
                    "meets_bound": True,
                    "reasons": ["early stopping not met"],
                }
            ],
            "max_qps": 12.0,
            "p99_ms": 90.0,
            "latency_bound_ms": 100.0,
            "percentile": 99.0,
            "search": {"runs": 1},
        },
    )
    return rec


@pytest.fixture(scope="module")
def shortfall_report(tmp_path_factory):
    from harness.report import build_report

    parent = tmp_path_factory.mktemp("runs")
    run = small_run(
        parent, "short", samples=0, extra_records=[_not_measured_record(), _invalid_server_record()]
    )
    return run, build_report(run)


def test_a_missing_or_invalid_headline_is_not_shown_as_ok(shortfall_report):
    """#23 item 4: report.md and report.html show the job without a headline as "not measured" and the one
    whose max QPS comes from an INVALID LoadGen run as "invalid", with why; the summary counts neither."""
    _, out = shortfall_report
    md = out["markdown"].read_text()
    rows = _rows(md)
    assert "| no-loop | eager | fp32 | **not measured** |" in rows[4]
    assert "| served | eager | fp32 | **invalid** |" in rows[5]
    assert "4 of 6 jobs ok" in md
    section = md.split("## Not measured or invalid")[1]
    assert "- tiny-sd / no-loop / eager: not measured: latency\\_ms.p50 has no value" in section
    assert (
        "served / eager / server: invalid: max\\_qps comes from an INVALID LoadGen run (early stopping"
        in section
    )
    assert "| INVALID (early stopping not met) |" in md  # the serving table, from outcome.headline()

    html = out["html"].read_text()
    assert "4 of 6 jobs ok" in html
    assert '<span class="badge not-measured">not measured</span>' in html
    assert '<span class="badge invalid">invalid</span>' in html
    assert (
        "tiny-sd / no-loop / eager / fp32: <b>not measured</b>: tiny-sd / no-loop / eager: not measured"
        in html
    )


def test_a_job_without_a_measured_valid_headline_is_off_the_front(shortfall_report):
    """#23 item 4: neither job is ranked: records.parquet gives their state as frontier status."""
    _, out = shortfall_report
    table = pd.read_parquet(out["parquet"]).set_index("variant")
    assert table.loc["no-loop", "frontier_status"] == "not measured"
    assert table.loc["served", "frontier_status"] == "invalid"
    assert table.loc["served", "state"] == "invalid" and not table.loc["served", "on_front"]
    assert "served" not in pd.read_csv(out["frontier_csv"])["variant"].tolist()


def test_a_report_of_a_run_with_no_measured_job_exits_1(tmp_path, capsys):
    """#23 item 4: every job failed or not measured: the report is written (it shows why) and exits 1."""
    run = small_run(tmp_path, "none", samples=0, jobs=[], failed=True, extra_records=[_not_measured_record()])
    assert main(["report", str(run), "--no-html"]) == 1
    cap = capsys.readouterr()
    assert (run / "report.md").is_file() and f"wrote {run / 'report.md'}" in cap.out
    assert "note: 2 of 2 jobs are not a measured success; the report says why" in cap.err
    assert "error: tiny-sd / broken / eager: failed: failed: TypeError: " in cap.err
    assert "error: tiny-sd / no-loop / eager: not measured: latency_ms.p50 has no value" in cap.err
    assert cap.err.strip().splitlines()[-1] == (
        "error: no job was measured: the report shows only failures and shortfalls (above)"
    )
    # one measured job is enough for exit 0; the others are named
    run2 = small_run(tmp_path, "some", samples=0, jobs=None, failed=True)
    assert main(["report", str(run2), "--no-html"]) == 0
    assert "note: 1 of " in capsys.readouterr().err

"""#25 item 3 (one home per concept): one reader of finished run folders, :class:`harness.results.runs.Run`,
used by the report, the gate, the exports and MLflow logging; each said "no records" in its own words."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from harness.core.errors import UserInputError
from harness.gate.compare import compare_runs
from harness.gate.export import export_run
from harness.report import build_report, load_runs
from harness.report.demo import DEMO_JOBS, fabricate_run
from harness.results.runs import Run, same_run

ROOT = Path(__file__).resolve().parents[2]
NO_RECORDS = r"run has no records: records\.jsonl is missing or empty; the run wrote no job \(did it crash"


def test_every_reader_refuses_a_run_without_records_in_one_sentence(tmp_path):
    """#25 item 3: the report said "no records: the run wrote none", the gate "run run has no records", MLflow
    logging "no records to log"; one reader now says one thing, naming the run's role where there is one."""
    full = fabricate_run(tmp_path, "full", samples=0, failed=False, jobs=DEMO_JOBS[:2])
    empty = fabricate_run(tmp_path, "empty", samples=0, failed=False, jobs=[])
    with pytest.raises(UserInputError, match="empty: " + NO_RECORDS):
        build_report(empty)
    with pytest.raises(UserInputError, match="empty: " + NO_RECORDS):
        export_run(empty, "bencher")
    with pytest.raises(UserInputError, match="empty: head " + NO_RECORDS):
        compare_runs(full, empty, gate_file=None)
    pytest.importorskip("mlflow")
    from harness.tracking.mlflow_log import log_run

    with pytest.raises(UserInputError, match="empty: " + NO_RECORDS):
        log_run(empty, f"sqlite:///{tmp_path / 'm.db'}")


def test_the_readers_define_no_run_of_their_own():
    """#25 item 3: `Run` is defined once, in harness.results.runs; report, gate and tracking import it."""
    homes = []
    for path in sorted((ROOT / "harness").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        homes += [path.relative_to(ROOT).as_posix() for n in tree.body if getattr(n, "name", None) == "Run"]
    assert homes == ["harness/results/runs.py"]


def test_a_run_read_once_is_the_same_run_for_every_reader(tmp_path):
    """The same-run-twice check is the reader's: a copy of a folder is the same run (report reads it once)."""
    run = fabricate_run(tmp_path, "r", samples=0, failed=False, jobs=DEMO_JOBS[:2])
    copy = tmp_path / "elsewhere" / "r"
    shutil.copytree(run, copy)
    assert same_run(Run.open(run), Run.open(copy)) == "byte-identical records.jsonl"
    with (copy / "records.jsonl").open("a") as fh:  # other bytes, the same records
        fh.write("\n")
    assert same_run(Run.open(run), Run.open(copy)) == "the same run r"
    assert same_run(Run.open(run), Run.open(run)) == "the same folder"
    assert load_runs([run, copy]).read_once == [f"{copy}: the same run r as {run}: the run is read once"]
    other = fabricate_run(tmp_path / "o", "other", samples=0, failed=False, jobs=DEMO_JOBS[:2])
    assert same_run(Run.open(run), Run.open(other)) is None

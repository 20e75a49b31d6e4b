"""`harness run` as people use it every day: --set overrides, --only by variant, live progress, --quiet."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.cli import main
from harness.cli.display import RunDisplay
from harness.config import apply_overrides, load_suite, parse_override
from harness.core.errors import UserInputError
from harness.execute.progress import Progress, ProgressFile, Stage, read_progress
from harness.results import RunStore
from tests.helpers import ROOT, tiny_suite

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _run_dir(capsys) -> Path:
    return Path(capsys.readouterr().out.strip().splitlines()[-1])


def test_set_overrides_are_applied_checked_and_recorded(write_yaml, tmp_path, capsys):
    suite = write_yaml("s.yaml", tiny_suite())
    sets = ["measurement.min_iterations=1", "measurement.max_iterations=1", "workload.num_samples=1"]
    argv = ["run", str(suite), "--out", str(tmp_path / "r"), "--isolation", "none", "--device", "cpu"]
    argv += [x for s in sets for x in ("--set", s)] + ["--only", "tiny-sd/s1"]
    assert main(argv) == 0
    run = _run_dir(capsys)
    store = RunStore.open(run)
    meta = json.loads((run / "run.json").read_text())
    assert meta["overrides"] == sets and meta["only"] == ["tiny-sd/s1"]
    assert meta["suite"]["measurement"]["max_iterations"] == 1  # the suite as run, not as in the file
    (rec,) = store.records()
    assert rec.variant == "s1" and rec.latency_ms.n == 1 and len(rec.samples) == 1
    # its baseline (s2) was not selected: the pairwise metrics say so instead of failing
    assert rec.metrics["psnr"].status == "skipped" and "baseline" in rec.metrics["psnr"].reason


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            "measurement.min_iteration=5",
            r"--set: measurement\.min_iteration: unknown key 'min_iteration' \(did you mean 'min_iterations'",
        ),
        ("mesurement.warmup=1", r"--set: mesurement: unknown key 'mesurement' \(did you mean 'measurement'"),
        (
            "measurement.min_iterations=abc",
            r"s\.yaml with --set measurement\.min_iterations=abc: measurement\.min_iterations: Input should be a valid integer",
        ),
        (
            "measurement.min_iterations=0",
            r"with --set measurement\.min_iterations=0: .*greater than or equal to 1",
        ),
        (
            "measurement.max_iterations=1",
            r"with --set measurement\.max_iterations=1: measurement: max_iterations \(1\) is below min_iterations \(2\)",
        ),
        (
            "models[0].variants[1].overrides.steps=-1",
            r"models\[0\]\.variants\[1\]\.overrides\.steps: Input should be greater than or equal to 1",
        ),
        ("models.3.baseline=x", r"--set: models\.3: no item 3 \(the list has 1\)"),
        ("name.first=x", r"--set: name\.first: the value there is not a mapping"),
        ("workload.prompts=[unclosed", r"--set workload\.prompts: line 1: invalid YAML"),
        ("noequals", r"--set: expected PATH=VALUE .*got 'noequals'"),
        ("a..b=1", r"--set: 'a\.\.b' is not a dotted path"),
        ("metrics=[psnrr]", r"metrics\[0\]: unknown metric 'psnrr' \(did you mean 'psnr'"),
        ("objectives.psnr=up", r"objectives\.psnr: 'up' is not allowed \(allowed: 'min' or 'max'\)"),
    ],
)
def test_bad_set_is_exit_2_with_one_line(setting, message, write_yaml, tmp_path, capsys):
    suite = write_yaml("s.yaml", tiny_suite())
    assert main(["run", str(suite), "--out", str(tmp_path), "--set", setting]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.search(message, err[0]), err
    assert not any(tmp_path.glob("t-*"))  # nothing ran, no run folder


def test_overrides_reach_free_keyed_mappings_and_lists():
    data = {"name": "s", "models": [{"card": "c", "variants": [{"name": "a"}]}], "gates": {}}
    out = apply_overrides(
        data, ["gates.latency_ms.p50=+20%", "models.0.variants.0.overrides.steps=3", "workload.seed=7"]
    )
    assert out["gates"] == {"latency_ms.p50": "+20%"}  # a free key keeps its dots
    assert out["models"][0]["variants"][0]["overrides"] == {"steps": 3}
    assert out["workload"] == {"seed": 7} and data["gates"] == {}  # the input is not modified
    assert parse_override("workload.prompts=[a, 'b: c']") == (["workload", "prompts"], ["a", "b: c"])
    assert parse_override("models[1].baseline=x")[0] == ["models", 1, "baseline"]


def test_set_and_only_refuse_resume(tmp_path, capsys):
    for flag in (["--set", "workload.seed=1"], ["--only", "x"]):
        assert main(["run", "--resume", str(tmp_path), *flag]) == 2
        assert f"{flag[0]} applies to a suite, not to --resume" in capsys.readouterr().err


def test_only_by_variant(write_yaml):
    suite = load_suite(write_yaml("s.yaml", tiny_suite()))
    from harness.config.plan import plan

    (job,) = plan(suite, only=["tiny-sd/s1"])
    assert job.variant == "s1" and job.baseline_job_id is not None  # still compared against s2's outputs
    assert [j.variant for j in plan(suite, only=["tiny-sd/s2", "tiny-sd/s1"])] == ["s2", "s1"]
    assert [j.variant for j in plan(suite, only=["tiny-sd"])] == ["s2", "s1"]
    with pytest.raises(UserInputError, match=r"--only: tiny-sd has no variant 's9' \(available: s1, s2\)"):
        plan(suite, only=["tiny-sd/s9"])


def test_quiet_prints_only_the_run_folder(write_yaml, tmp_path, capsys):
    suite = write_yaml("s.yaml", tiny_suite(measurement={"min_iterations": 1, "max_iterations": 1}))
    argv = [
        "run",
        str(suite),
        "--out",
        str(tmp_path),
        "--isolation",
        "none",
        "--quiet",
        "--only",
        "tiny-sd/s2",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and Path(out[0]).is_dir() and (Path(out[0]) / "records.jsonl").is_file()


# ----------------------------------------------------------------------------------------------- progress


def test_stage_reports_and_progress_file_round_trip(tmp_path):
    seen: list[Progress] = []
    stage = Stage(seen.append)
    stage.start("timed loop", total=4, unit="calls")
    for i in range(1, 5):
        stage.step(i)
    stage.start("quality pass", total=10, unit="items")
    stage.step(5)
    assert [p.text().split(",")[0] for p in seen[:2]] == ["timed loop 0/4 calls", "timed loop 1/4 calls"]
    assert seen[-1].rate is not None and seen[-1].rate > 0 and "items/s" in seen[-1].text()
    assert seen[4].rate is None  # calls are not items: no rate

    f = ProgressFile(tmp_path / "j.progress", min_interval_s=60.0)
    f(Progress("load"))
    f(Progress("timed loop", 1, 4, "calls"))
    f(Progress("timed loop", 2, 4, "calls"))  # throttled: same stage, within the interval
    assert read_progress(tmp_path / "j.progress").done == 1
    f(Progress("timed loop", 4, 4, "calls"))  # the last step always lands
    assert read_progress(tmp_path / "j.progress").done == 4
    assert read_progress(tmp_path / "missing.progress") is None
    (tmp_path / "bad.progress").write_text("{not json")
    assert read_progress(tmp_path / "bad.progress") is None


def test_a_failing_display_never_fails_a_job():
    def boom(_p):
        raise RuntimeError("terminal gone")

    stage = Stage(boom)
    stage.start("warmup", total=1)
    stage.step(1)
    assert stage.name == "warmup"


def test_plain_display_writes_a_line_per_stage_and_one_per_job(capsys):
    """In plain mode a stage's first state is a line (#24 item 6: a pipe is never silent), its steps are not."""
    job = SimpleNamespace(job_id="a1", model="m", variant="a", backend="eager")
    with RunDisplay(2, live=False) as d:
        d.line("run x: 2 jobs")
        d.progress(job, Progress("timed loop", 1, 3, "calls"))
        d.progress(job, Progress("timed loop", 2, 3, "calls"))
        d.job_done("a: ok")
        d.job_done("b: ok")
    assert capsys.readouterr().out.splitlines() == [
        "run x: 2 jobs",
        "  m / a / eager: timed loop 1/3 calls",
        "[1/2] a: ok",
        "[2/2] b: ok",
    ]
    with RunDisplay(2, quiet=True) as d:
        d.line("hidden")
        d.job_done("hidden")
    assert capsys.readouterr().out == ""


@pytest.mark.slow
def test_in_process_jobs_report_their_stages(write_yaml, tmp_path):
    from harness.config.plan import plan
    from harness.execute.local import LocalExecutor

    suite = load_suite(
        write_yaml("s.yaml", tiny_suite(measurement={"min_iterations": 2, "max_iterations": 2}))
    )
    (job,) = plan(suite, only=["tiny-sd/s2"])
    store = RunStore.create(tmp_path, "t")
    states: list[Progress] = []
    LocalExecutor("none").run([job], store, "cpu", on_progress=lambda j, p: states.append(p))
    stages = list(dict.fromkeys(p.stage for p in states))
    assert stages[0] == "load" and "warmup" in stages and "timed loop" in stages and "metrics" in stages
    timed = [p for p in states if p.stage == "timed loop"]
    assert timed[-1].done == timed[-1].total == 2
    quality = [p for p in states if p.stage == "quality pass"]
    assert quality and quality[-1].done == quality[-1].total == 2 and quality[-1].unit == "items"


def _pty_run(argv: list[str], cwd: Path) -> tuple[int, str]:
    """Run the CLI under a pseudo-terminal (as in a user's terminal) and return its exit code and output."""
    import pty

    out = bytearray()

    def read(fd: int) -> bytes:
        data = os.read(fd, 65536)
        out.extend(data)
        return data

    env = {**os.environ, "COLUMNS": "160", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    old = os.getcwd()
    os.chdir(cwd)
    try:
        saved = os.environ.copy()
        os.environ.update(env)
        status = pty.spawn([sys.executable, "-m", "harness", *argv], read)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        os.chdir(old)
    return os.waitstatus_to_exitcode(status), out.decode("utf-8", "replace")


@pytest.mark.slow
def test_live_progress_in_a_terminal_plain_lines_in_a_pipe(write_yaml, tmp_path):
    suite = write_yaml(
        "s.yaml", tiny_suite(measurement={"min_iterations": 3, "max_iterations": 3, "min_duration_s": 0.0})
    )
    argv = ["run", str(suite), "--out", str(tmp_path / "r"), "--device", "cpu", "--only", "tiny-sd/s2"]
    code, tty = _pty_run(argv, ROOT)
    assert code == 0, tty
    assert ANSI.search(tty)  # a live display: cursor movement and colour
    text = ANSI.sub("", tty)
    assert "run" in text and "eta" in text and "1/1" in text
    assert re.search(r"tiny-sd / s2 / eager: (load|warmup|timed loop|quality pass|metrics)", text), text
    assert "[1/1] tiny-sd / s2 / eager: ok" in text

    piped = subprocess.run(
        [sys.executable, "-m", "harness", *argv], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert piped.returncode == 0, piped.stderr
    lines = piped.stdout.strip().splitlines()
    assert not ANSI.search(piped.stdout) and "eta" not in piped.stdout
    assert lines[0].startswith("run t-")
    # #24 item 6: in a pipe, the job's budgets and a line as it enters each stage, then its result line.
    (end,) = [i for i, x in enumerate(lines) if x.startswith("[1/1] tiny-sd / s2 / eager: ok  p50 ")]
    progress = lines[1:end]
    assert progress and all(x.startswith("  tiny-sd / s2 / eager: ") for x in progress), progress
    assert sum("budgets: load 600 s, compile " in x for x in progress) == 1, progress
    assert Path(lines[-1]).is_dir()

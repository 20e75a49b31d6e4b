"""Budgets that fit the work (#24 item 3), the compile cost as an excess over the steady median (#24 item 2),
and progress lines when the output is not a terminal (#24 item 6): the pure parts, with a fake clock."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from harness.cli.display import HEARTBEAT_S, RunDisplay
from harness.config import Measurement, load_card
from harness.execute.budgets import (
    COMPILE_S,
    LOAD_S,
    MEASURE_S,
    Budgets,
    Watchdog,
    budgets_for,
    estimated_parameters,
)
from harness.execute.progress import Progress, ProgressFile, Stage, read_progress
from harness.measure.stats import first_call_excess

BUDGETS = Budgets(load_s=10.0, compile_s=100.0, measure_s=5.0)
JOB = SimpleNamespace(job_id="j1", model="m", variant="v", backend="compile", measurement=Measurement())


def _state(stage, phase, done=None, budgets=BUDGETS):
    return Progress(stage, done, None, "", None, 0.0, phase, budgets.to_dict() if budgets else None)


def test_defaults_scale_with_the_parameter_count_and_the_suite_overrides_them():
    """#24 item 3: a 1.07B-parameter SD 1.5 gets a compile budget past the 957 s a busy compile took; a tiny
    model gets the floors; a value the suite sets wins; timeout_s is a cap, off by default."""
    sd15 = budgets_for(Measurement(), 1_066_000_000)
    assert sd15.compile_s == pytest.approx(COMPILE_S[0] + COMPILE_S[1] * 1.066) and sd15.compile_s > 957
    assert sd15.load_s == pytest.approx(LOAD_S[0] + LOAD_S[1] * 1.066)
    assert sd15.measure_s == pytest.approx(MEASURE_S[0] + MEASURE_S[1] * 1.066)
    assert sd15.total_s is None
    tiny = budgets_for(Measurement(), 1_436_379)
    assert tiny.load_s == pytest.approx(LOAD_S[0], rel=1e-3) and tiny.compile_s < sd15.compile_s
    mine = budgets_for(Measurement(compile_timeout_s=42.0, timeout_s=7.0), 1_066_000_000)
    assert mine.compile_s == 42.0 and mine.total_s == 7.0 and mine.load_s == sd15.load_s
    assert sd15.text() == ("budgets: load 920 s, compile 2819 s, measure 1879 s per step (1.07B parameters)")
    assert mine.text().endswith("whole job 7 s (1.07B parameters)")


def test_the_load_budget_is_estimated_from_the_weight_files(write_yaml, tmp_path):
    """#24 item 3: before the load the count comes from the card's weight files (2 bytes a parameter)."""
    folder = tmp_path / "pipe"
    (folder / "unet").mkdir(parents=True)
    (folder / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"\0" * 4000)
    (folder / "unet" / "config.json").write_text("{}")  # not weights
    (folder / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    card = {
        "name": "x",
        "modality": "image",
        "task": "text-to-image",
        "pipeline": "StableDiffusionPipeline",
        "source": {"kind": "local", "path": str(folder)},
        "license": "mit",
    }
    assert estimated_parameters(load_card(write_yaml("c.yaml", card))) == 2000
    config_card = {**card, "source": {"kind": "config", "path": str(folder)}}
    assert estimated_parameters(load_card(write_yaml("k.yaml", config_card))) is None


def test_load_and_compile_are_budgeted_from_their_start_the_measurement_from_its_last_progress():
    """#24 item 3: a compile that runs long within its own budget is not cut; a measurement that stops
    progressing is, one measure budget after its last step; each overrun names its phase and setting."""
    watch = Watchdog(JOB, 0.0, BUDGETS)
    watch.observe(_state("load", "load"), 0.0)
    assert watch.overrun(9.9) is None
    over = watch.overrun(10.0)
    assert (over.phase, over.budget_s, over.key) == ("load", 10.0, "load_timeout_s")
    assert over.message(_state("load", "load")) == (
        "the load ran past its budget of 10 s (measurement.load_timeout_s) in its load stage"
    )

    watch.observe(_state("prepare (compile)", "compile"), 3.0)
    assert watch.overrun(90.0) is None  # 87 s of compile: far past the 5 s measure budget, within its own
    watch.observe(_state("warmup", "compile", done=0), 95.0)
    assert watch.overrun(102.9) is None
    assert watch.overrun(103.0).phase == "compile"

    watch.observe(_state("warmup", "measure", done=1), 100.0)
    for t in range(101, 140, 4):  # a long measurement that keeps progressing
        watch.observe(_state("timed loop", "measure", done=t), float(t))
        assert watch.overrun(t + 4.9) is None
    hung = _state("timed loop", "measure", done=137)
    assert watch.overrun(141.9) is None and watch.overrun(142.0).phase == "measure"
    assert watch.overrun(142.0).message(hung) == (
        "the measurement made no progress for 5 s, its budget per step (measurement.measure_timeout_s) in its "
        "timed loop stage"
    )


def test_the_whole_job_cap_still_ends_a_job():
    """#24 item 3: measurement.timeout_s keeps its meaning, a cap on the whole job."""
    capped = Budgets(load_s=10.0, compile_s=100.0, measure_s=5.0, total_s=20.0)
    watch = Watchdog(JOB, 0.0, capped)
    watch.observe(_state("prepare (compile)", "compile", budgets=capped), 1.0)
    at, which = watch.deadline()
    assert at == 20.0 and which.phase == "job"
    assert which.message(None) == "the job ran past its timeout of 20 s (measurement.timeout_s)"


def test_the_budgets_the_worker_reports_replace_the_estimate():
    """#24 item 3: once loaded, the worker's budgets (scaled to the real count) are the ones applied."""
    watch = Watchdog(JOB, 0.0, Budgets(load_s=1.0, compile_s=1.0, measure_s=1.0))
    watch.observe(_state("prepare (compile)", "compile"), 0.5)
    assert watch.budgets == BUDGETS and watch.overrun(50.0) is None


def test_progress_file_always_writes_a_new_phase_and_the_budgets(tmp_path):
    """#24 item 3: the step that ends the compile phase, even within the throttle interval, reaches the file."""
    path = tmp_path / "j.progress"
    stage = Stage(ProgressFile(path, min_interval_s=3600.0))
    stage.start("load", phase="load")
    stage.set_budgets(BUDGETS.to_dict())
    stage.start("warmup", total=3, unit="calls", phase="compile")
    stage.step(1, phase="measure")
    got = read_progress(path)
    assert (got.stage, got.done, got.phase, got.budgets) == ("warmup", 1, "measure", BUDGETS.to_dict())
    stage.step(2)  # throttled: same stage and phase
    assert json.loads(path.read_text())["done"] == 1


def test_compile_cost_is_the_first_call_beyond_the_median_steady_call():
    """#24 item 2: the issue's case, a 455 s first call, one 101 s steady call among ~28.6 s ones: the excess
    is over the median (426.4 s), not over the slow call (354 s); never negative."""
    excess, steady = first_call_excess(455.0, [28_600.0, 101_000.0, 28_500.0, 28_700.0, 28_600.0])
    assert steady == pytest.approx(28.6) and excess == pytest.approx(426.4)
    assert first_call_excess(0.01, [50.0, 60.0]) == (0.0, pytest.approx(0.055))


class _Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_in_a_pipe_a_line_per_stage_and_one_a_minute(capsys):
    """#24 item 6: output that is not a terminal gets the job's budgets, a line when a stage starts and at
    least one a minute while it runs (one CI job ran 16 minutes silently)."""
    clock = _Clock()
    display = RunDisplay(1, live=False, clock=clock)
    job = SimpleNamespace(job_id="j1", model="tiny-sd", variant="s2", backend="compile")
    compile_state = _state("prepare (compile)", "compile")
    display.progress(job, _state("load", "load", budgets=None))
    for t in (0.2, 0.4, 30.0, 59.9):  # the executor polls a few times a second
        clock.t = t
        display.progress(job, compile_state)
    clock.t = 60.2
    display.progress(job, compile_state)
    clock.t = 61.0
    display.progress(job, compile_state)
    clock.t = 121.0
    display.progress(job, compile_state)
    clock.t = 121.5
    display.progress(job, _state("warmup", "measure", done=1))
    assert capsys.readouterr().out.splitlines() == [
        "  tiny-sd / s2 / compile: load",
        f"  tiny-sd / s2 / compile: {BUDGETS.text()}",
        "  tiny-sd / s2 / compile: prepare (compile)",
        "  tiny-sd / s2 / compile: prepare (compile) (60 s in this stage)",
        "  tiny-sd / s2 / compile: prepare (compile) (121 s in this stage)",
        "  tiny-sd / s2 / compile: warmup",
    ]
    assert HEARTBEAT_S == 60.0


def test_quiet_prints_no_progress(capsys):
    """#24 item 6: --quiet stays quiet in a pipe."""
    display = RunDisplay(1, live=False, quiet=True)
    job = SimpleNamespace(job_id="j1", model="m", variant="v", backend="eager")
    display.progress(job, _state("load", "load"))
    assert capsys.readouterr().out == ""

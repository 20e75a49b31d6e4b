from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.config import load_suite
from harness.config.plan import job_id, plan, safe_name
from harness.core.errors import UserInputError
from tests.helpers import tiny_suite


def test_plan_expands_baseline_first(write_yaml):
    suite = tiny_suite()
    suite["models"][0]["variants"].reverse()  # baseline listed second
    jobs = plan(load_suite(write_yaml("s.yaml", suite)))
    assert [j.variant for j in jobs] == ["s2", "s1"]
    assert jobs[0].baseline_job_id is None and jobs[1].baseline_job_id == jobs[0].job_id
    assert jobs[1].call.steps == 1 and jobs[1].call.height == 32  # card default kept
    assert jobs[0].random_weights and jobs[0].prompts == ("a red circle",)


def test_job_ids_stable_and_safe():
    assert job_id("m", "v", "eager") == job_id("m", "v", "eager")
    assert job_id("m", "v", "eager") != job_id("m", "v2", "eager")
    assert safe_name("<script>/../x y") == "script_.._x_y"
    assert "/" not in job_id("../../etc", "a/b", "eager")


def test_plan_errors(write_yaml):
    with pytest.raises(UserInputError, match=r"unknown card 'tiny-sdd' \(did you mean 'tiny-sd'"):
        plan(load_suite(write_yaml("s.yaml", tiny_suite(models=[{"card": "tiny-sdd"}]))))
    with pytest.raises(
        UserInputError, match=r"backends\[0\]: unknown backend 'eagre' \(did you mean 'eager'"
    ):
        plan(load_suite(write_yaml("s.yaml", tiny_suite(backends=["eagre"]))))
    with pytest.raises(UserInputError, match=r"metrics\[0\]: unknown metric 'psrn' \(did you mean 'psnr'"):
        plan(load_suite(write_yaml("s.yaml", tiny_suite(metrics=["psrn"]))))
    with pytest.raises(UserInputError, match=r"objectives: unknown objective 'latency_ms\.p5'"):
        plan(load_suite(write_yaml("s.yaml", tiny_suite(objectives={"latency_ms.p5": "min"}))))
    with pytest.raises(UserInputError, match=r"is text-to-image: the workload needs prompts"):
        plan(load_suite(write_yaml("s.yaml", tiny_suite(workload={}))))
    with pytest.raises(UserInputError, match=r"prompts file not found"):
        plan(load_suite(write_yaml("s.yaml", tiny_suite(workload={"prompts_file": "missing.txt"}))))
    with pytest.raises(UserInputError, match=r"--only: unknown model 'nope'"):
        plan(load_suite(write_yaml("s.yaml", tiny_suite())), only=["nope"])


def test_prompts_file(write_yaml, tmp_path):
    (tmp_path / "p.txt").write_text("# comment\nfirst\n\nsecond\n")
    jobs = plan(load_suite(write_yaml("s.yaml", tiny_suite(workload={"prompts_file": "p.txt"}))))
    assert jobs[0].prompts == ("first", "second")


def test_per_model_workload_overrides_the_suite(write_yaml):
    suite = tiny_suite(workload={"prompts": ["a"], "num_samples": 4, "batch_size": 2})
    suite["models"][0]["workload"] = {"num_samples": 2, "prompts": ["b", "c"]}
    suite["models"].append({"card": "tiny-stable-audio", "variants": [{"name": "x"}]})
    jobs = plan(load_suite(write_yaml("s.yaml", suite)))
    sd, audio = jobs[0], jobs[-1]
    assert (sd.num_samples, sd.batch_size, sd.prompts) == (2, 2, ("b", "c"))  # batch_size kept from the suite
    assert (audio.num_samples, audio.prompts) == (4, ("a",))
    bad = tiny_suite()
    bad["models"][0]["workload"] = {"num_sampels": 2}
    with pytest.raises(UserInputError, match=r"models\[0\]\.workload\.num_sampels: unknown key"):
        load_suite(write_yaml("bad.yaml", bad))


def test_run_json_paths_are_portable(write_yaml, tmp_path, monkeypatch):
    """run.json names cards relative to the cwd (a committed baseline names no machine path); resume
    resolves them back, and a card outside the cwd keeps its absolute path."""
    from harness.config.plan import Job, portable_path

    jobs = plan(load_suite(write_yaml("s.yaml", tiny_suite())))
    card = Path(jobs[0].card_path)
    monkeypatch.chdir(card.parent.parent)
    saved = jobs[0].to_portable_dict()
    assert saved["card_path"] == f"{card.parent.name}/{card.name}"
    assert not saved["card_path"].startswith("/")
    assert Job.from_dict(saved).card_path == str(card)
    monkeypatch.chdir(tmp_path)
    assert portable_path("/definitely/elsewhere/c.yaml") == "/definitely/elsewhere/c.yaml"


def test_committed_json_names_no_machine_path():
    """Zoo summaries and committed baselines are read on other machines: no absolute path in them."""
    root = Path(__file__).resolve().parents[2]
    found = []

    def walk(value, where):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{where}.{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{where}[{i}]")
        elif isinstance(value, str) and value.startswith(("/", "~")) and "/" in value[1:]:
            found.append(f"{where}: {value}")

    files = [*root.glob("model_cards/**/*.json"), *root.glob("results/baselines/**/*.json")]
    assert files
    for f in files:
        walk(json.loads(f.read_text()), f.relative_to(root).as_posix())
    for f in root.glob("results/baselines/**/records.jsonl"):
        for i, line in enumerate(f.read_text().splitlines()):
            walk(json.loads(line), f"{f.relative_to(root).as_posix()}:{i + 1}")
    assert not found, found


def test_only_leaves_out_an_unselected_card_that_does_not_load(write_yaml, tmp_path):
    """A local folder missing on this machine blocks the whole suite, but not ``--only`` another model."""
    ghost = tmp_path / "ghost.yaml"
    ghost.write_text(
        "name: ghost\nmodality: image\ntask: text-to-image\n"
        "pipeline: diffusers:StableDiffusionPipeline\nsource: {kind: local, path: not-here}\nlicense: mit\n"
    )
    suite = tiny_suite()
    suite["models"].append({"card": str(ghost), "baseline": "a", "variants": [{"name": "a"}]})
    path = write_yaml("s.yaml", suite)
    with pytest.raises(UserInputError, match=r"folder not found: not-here"):
        plan(load_suite(path))
    jobs = plan(load_suite(path), only=["tiny-sd"])
    assert {j.model for j in jobs} == {"tiny-sd"}
    with pytest.raises(UserInputError, match=r"--only: unknown model 'ghost' .*not loaded: .*ghost\.yaml"):
        plan(load_suite(path), only=["ghost"])


def _untyped(tp: object) -> list[str]:
    """The loose parts of a type: ``dict``/``Mapping`` containers and ``Any``, wherever they appear in it."""
    import collections.abc
    import typing

    if tp is typing.Any:
        return ["Any"]
    origin = typing.get_origin(tp)
    if tp in (dict, collections.abc.Mapping) or origin in (dict, collections.abc.Mapping):
        return [str(tp)]
    return [bad for arg in typing.get_args(tp) for bad in _untyped(arg)]


def test_a_job_is_frozen_and_every_field_is_typed(write_yaml):
    """#25 item 1: Job is frozen and none of its fields (nor a metric spec's) is a dict or Any: the card, the
    call, the backend's options, metrics, measurement, bounds, cost and scenario travel as their own models."""
    import dataclasses
    import typing

    from harness.config import CallArgs, Measurement, ModelCard, ScenarioSpec
    from harness.config.backends import EagerOptions
    from harness.config.job import Job, JobMetric
    from harness.metrics.options import MetricOptions

    for cls in (Job, JobMetric):
        hints = typing.get_type_hints(cls)
        loose = {name: bad for name, tp in hints.items() if (bad := _untyped(tp))}
        assert not loose, f"{cls.__name__} has untyped fields: {loose}"
    suite = tiny_suite(scenario={"kind": "offline"}, fidelity_bounds=[{"metric": "psnr", "min": 10}])
    job = plan(load_suite(write_yaml("s.yaml", suite)))[0]
    assert isinstance(job.card, ModelCard) and isinstance(job.call, CallArgs)
    assert isinstance(job.backend_options, EagerOptions) and isinstance(job.measurement, Measurement)
    assert isinstance(job.scenario, ScenarioSpec) and job.fidelity_bounds[0].min == 10
    assert all(isinstance(m.options, MetricOptions) for m in job.metrics)
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.batch_size = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.metrics[0].name = "ssim"  # type: ignore[misc]
    with pytest.raises(Exception, match="frozen"):
        job.backend_options.channels_last = True  # type: ignore[misc]


def test_a_job_reads_back_its_own_json_and_the_committed_baselines(write_yaml, tmp_path):
    """#25 item 1: ``from_dict(to_dict())`` gives the same job JSON (a worker's job file), typed again; the
    jobs of a committed run.json (written before jobs carried their card) still load, their card read from
    ``card_path``; a bad part is a ValueError or TypeError that ``harness run --resume`` reports."""
    from harness.config.job import Job
    from tests.helpers import ROOT

    suite = tiny_suite(
        backends=["eager", "onnxruntime"],
        metrics=["psnr", {"name": "max_abs_diff"}],
        scenario={"kind": "server", "target_qps": 2.0},
        cost={"usd_per_hour": 1.5},
    )
    suite["models"][0]["variants"][1]["backend_options"] = {"exporter": "legacy"}
    suite["models"][0]["variants"][1]["backend"] = "onnxruntime"
    for job in plan(load_suite(write_yaml("s.yaml", suite))):
        data = json.loads(json.dumps(job.to_dict()))
        back = Job.from_dict(data)
        assert back.to_dict() == data
        assert back.scenario.explicit == job.scenario.explicit == ["kind", "target_qps"]
    assert data["backend_options"] == {"exporter": "legacy"} and back.backend_options.exporter == "legacy"
    runs = sorted((ROOT / "results" / "baselines").rglob("run.json"))
    assert runs
    for run in runs:
        jobs = json.loads(run.read_text())["jobs"]
        assert all("card" not in j for j in jobs)  # written before jobs carried their card
        for data in jobs:
            job = Job.from_dict({**data, "card_path": str(ROOT / data["card_path"])})
            assert job.card.name == job.model and job.call.model_dump(exclude_none=True) == data["call"]
            again = job.to_dict()  # as written then, plus what newer harnesses added (with its defaults)
            assert {k: again[k] for k in data if k not in ("card_path", "measurement")} == {
                k: v for k, v in data.items() if k not in ("card_path", "measurement")
            }
            assert data["measurement"].items() <= again["measurement"].items()
    with pytest.raises(TypeError, match="unexpected key 'colour'"):
        Job.from_dict({**data, "colour": "red"})
    with pytest.raises(ValueError, match="steps"):
        Job.from_dict({**data, "card_path": str(ROOT / data["card_path"]), "call": {"steps": "many"}})
    with pytest.raises(UserInputError, match="eager backend options: mode: unknown key"):
        Job.from_dict({**data, "card_path": str(ROOT / data["card_path"]), "backend_options": {"mode": 1}})


def test_the_plan_knows_the_backends_option_models_by_name():
    """#25 item 1: ``harness.config.backends`` names the same backends as the registry, and each backend class
    takes its options model from there (the plan validates options without importing a backend)."""
    from harness.backends import BACKENDS
    from harness.config.backends import BACKEND_OPTIONS, check_backend

    assert sorted(BACKEND_OPTIONS) == BACKENDS.names()
    for name in BACKENDS.names():
        assert BACKENDS.get(name).options_model is BACKEND_OPTIONS[name]
    with pytest.raises(UserInputError, match=r"unknown backend 'eagre' \(did you mean 'eager'\?"):
        check_backend("eagre")

"""A battery of hand-written malformed inputs, one of each kind a user or a crashed CI job produces: bad
suites and cards, corrupt and truncated run folders under every command that reads them, and bad flags and
paths for every subcommand. Each gets exit 2, one line on stderr that starts with ``error:`` and names the
file, field or argument, and never a traceback. (``test_fuzz_inputs.py`` adds property-based mutations.)
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import re
from pathlib import Path

import pytest
import yaml

from harness.cli import main
from tests.gate.gate_helpers import make_run
from tests.helpers import ROOT

TINY_SD = str(ROOT / "model_cards" / "tiny-sd.yaml")
SUITE = {
    "name": "bad",
    "models": [
        {
            "card": TINY_SD,
            "variants": [{"name": "a"}, {"name": "b", "overrides": {"steps": 2}}],
        }
    ],
    "workload": {"prompts": ["p"], "num_samples": 2},
    "measurement": {"warmup": 1, "min_iterations": 2, "max_iterations": 3},
    "metrics": ["psnr"],
    "objectives": {"latency_ms.p50": "min", "psnr": "max"},
}
DIGITS = {
    **SUITE,
    "models": [{"card": "digits-small", "variants": [{"name": "a"}]}],
    "workload": {"class_labels": [0, 1], "num_samples": 2},
}
CARD = {
    "name": "c",
    "modality": "image",
    "task": "text-to-image",
    "pipeline": "StableDiffusionPipeline",
    "source": {"kind": "hub", "repo_id": "org/model"},
    "defaults": {"steps": 5},
    "license": "mit",
}
COUNT = {"cases": 0}


def _call(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    COUNT["cases"] += 1
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's usage errors
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def _expect_one_line(argv: list[str], pattern: str, code: int = 2) -> None:
    got, _out, err = _call(argv)
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("warning: ")]
    assert "Traceback" not in err, err
    assert got == code, (got, err)
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), lines[0]
    assert re.search(pattern, lines[0]), f"{pattern!r} not in {lines[0]!r}"


def _set(doc: dict, path: str, value) -> dict:
    """``doc`` with the dotted ``path`` (list indices as numbers) set to ``value``; DELETE removes it."""
    doc = copy.deepcopy(doc)
    parts = [int(p) if p.isdigit() else p for p in path.split(".")]
    target = doc
    for p in parts[:-1]:
        target = target[p]
    if value is DELETE:
        del target[parts[-1]]
    else:
        target[parts[-1]] = value
    return doc


DELETE = object()

# ------------------------------------------------------------------------------------------------ suites

SUITE_CASES = [
    ("models", [], r"models: List should have at least 1 item"),
    ("models", DELETE, r"models: missing"),
    ("models.0.variants", [], r"models\[0\]\.variants: List should have at least 1 item"),
    ("models.0.variants.0", {"overrides": {}}, r"models\[0\]\.variants\[0\]\.name: missing"),
    ("models.0.variants.0.name", "a/b", r"variants\[0\]\.name: String should match pattern"),
    ("models.0.variants.1.name", "a", r"variant names repeat: a"),
    ("models.0.baseline", "c", r"baseline 'c' is not a variant"),
    ("models.0.sweep", {"stepz": [1]}, r"sweep: unknown key 'stepz'"),
    ("models.0.sweep", {"steps": []}, r"sweep: 'steps' has no values"),
    ("models.0.sweep", {"batch_size": [True]}, r"batch_size"),
    ("models.0.card", "tiny-sdd", r"models\[0\]\.card: unknown card 'tiny-sdd' \(did you mean 'tiny-sd'"),
    ("models.0.card", "cards/nope.yaml", r"models\[0\]\.card: card file not found: cards/nope\.yaml"),
    ("models.0.workload", {"promts": ["x"]}, r"models\[0\]\.workload\.promts: unknown key"),
    (
        "models.0.variants.1.overrides",
        {"steps": 0},
        r"overrides\.steps: Input should be greater than or equal to 1",
    ),
    (
        "models.0.variants.1.overrides",
        {"guidance_scale": -1},
        r"overrides\.guidance_scale: Input should be greater",
    ),
    (
        "models.0.variants.1.overrides",
        {"resolution": 32, "height": 32},
        r"give either resolution or height/width",
    ),
    (
        "models.0.variants.1.overrides",
        {"num_frames": 4},
        r"overrides\.num_frames: StableDiffusionPipeline takes no num_frames",
    ),
    (
        "models.0.variants.1.overrides",
        {"extra": {"nope": 1}},
        r"overrides\.extra\.nope: StableDiffusionPipeline takes no 'nope'",
    ),
    (
        "models.0.variants.1.overrides",
        {"scheduler": {"name": "Nope"}},
        r"overrides\.scheduler\.name: unknown diffusers scheduler",
    ),
    ("models.0.variants.1.dtype", "fp8", r"variants\[1\]\.dtype: 'fp8' is not allowed"),
    (
        "models.0.variants.1.batch_size",
        0,
        r"variants\[1\]\.batch_size: Input should be greater than or equal to 1",
    ),
    (
        "models.0.variants.1.backend",
        "tensorrtt",
        r"variants\[1\]\.backend: unknown backend 'tensorrtt' \(did you mean 'tensorrt'",
    ),
    (
        "models.0.variants.1.backend_options",
        {"mode": "x"},
        r"variants\[1\]\.backend_options: eager backend options: mode: unknown key",
    ),
    ("workload.prompts", [], r"workload: prompts is empty"),
    ("workload.prompts", DELETE, r"workload: card 'tiny-sd' is text-to-image: the workload needs prompts"),
    ("workload.prompts_file", "p.txt", r"give either prompts or prompts_file, not both"),
    (
        "workload.class_labels",
        [-1],
        r"workload\.class_labels\[0\]: Input should be greater than or equal to 0",
    ),
    ("workload.seed", -1, r"workload\.seed: Input should be greater than or equal to 0"),
    ("workload.seed", 2**40, r"workload\.seed: Input should be less than or equal to 4294967295"),
    ("workload.seed", True, r"workload\.seed: Input should be a valid integer, got True"),
    ("workload.batch_size", 0, r"workload\.batch_size: Input should be greater than or equal to 1"),
    ("workload.batch_size", "4", r"workload\.batch_size: Input should be a valid integer, got '4'"),
    ("workload.num_samples", 0, r"workload\.num_samples: Input should be greater than or equal to 1"),
    ("workload.num_samples", 1.5, r"workload\.num_samples: Input should be a valid integer"),
    ("workload.num_samples", 10**8, r"workload\.num_samples: Input should be less than or equal to 1000000"),
    ("measurement.warmup", -1, r"measurement\.warmup: Input should be greater than or equal to 0"),
    (
        "measurement.min_iterations",
        True,
        r"measurement\.min_iterations: Input should be a valid integer, got True",
    ),
    ("measurement.max_iterations", 1, r"max_iterations \(1\) is below min_iterations \(2\)"),
    (
        "measurement.min_duration_s",
        -1,
        r"measurement\.min_duration_s: Input should be greater than or equal to 0",
    ),
    ("measurement.timeout_s", 0, r"measurement\.timeout_s: Input should be greater than 0"),
    ("measurement.timeout_s", "10", r"measurement\.timeout_s: Input should be a valid number, got '10'"),
    ("measurement.profile_stages", "yes", r"measurement\.profile_stages: Input should be a valid boolean"),
    ("measurement.iterations", 3, r"measurement\.iterations: unknown key \(did you mean 'min_iterations'"),
    ("metrics", ["psnrr"], r"metrics\[0\]: unknown metric 'psnrr' \(did you mean 'psnr'"),
    (
        "metrics",
        [{"name": "lpips", "options": {"net": "x"}}],
        r"metrics\[0\]\.options: lpips: net: 'x' is not allowed",
    ),
    (
        "metrics",
        [{"name": "lpips", "options": {"batchsize": 2}}],
        r"lpips: batchsize: unknown key \(did you mean 'batch_size'",
    ),
    (
        "metrics",
        [{"name": "lpips", "options": {"batch_size": True}}],
        r"lpips: batch_size: Input should be a valid integer, got True",
    ),
    ("metrics", [{"name": "lpips", "options": [1]}], r"metrics\[0\]"),
    (
        "metrics",
        [{"name": "fid", "options": {"reference_path": "missing.npz"}}],
        r"metrics\[0\]\.options\.reference_path: .*missing\.npz does not exist",
    ),
    (
        "metrics",
        [{"name": "fid", "options": {"reference_path": "/etc/hosts"}}],
        r"metrics\[0\]\.options\.reference_path: .*resolves outside the allowed folders",
    ),
    ("metrics", [{"options": {}}], r"metrics\[0\]"),
    ("objectives", {}, r"objectives: .*objectives is empty"),
    (
        "objectives",
        {"latency_ms.p5": "min"},
        r"objectives: unknown objective 'latency_ms\.p5' \(did you mean 'latency_ms\.p50'",
    ),
    ("objectives", {"psnr": "up"}, r"objectives\.psnr: 'up' is not allowed \(allowed: 'min' or 'max'\)"),
    ("constraints", [{"metric": "psnr"}], r"constraints\[0\]: bound on 'psnr' needs min or max"),
    ("constraints", [{"metric": "nope", "min": 1}], r"constraints\[0\]\.metric: unknown metric 'nope'"),
    (
        "fidelity_bounds",
        [{"metric": "latency_ms.p50", "max": 1}],
        r"fidelity_bounds\[0\]\.metric: unknown metric 'latency_ms\.p50'",
    ),
    ("gates", {"latency_ms.p50": "+x%"}, r"gates: latency_ms\.p50: '\+x%' is not a threshold"),
    (
        "gates",
        {"psnr": "+0.5"},
        r"gates: psnr: '\+0\.5' says an increase is worse, but for psnr higher is better",
    ),
    ("gates", {"nope": "+5%"}, r"gates: unknown column 'nope'"),
    ("gates", {"latency_ms.p50": True}, r"gates: latency_ms\.p50: True is not a threshold"),
    ("gates", {"throughput": "+5%"}, r"gates: throughput: '\+5%' says an increase is worse"),
    ("backends", ["tensorrtt"], r"backends\[0\]: unknown backend 'tensorrtt'"),
    ("backends", [], r"backends: List should have at least 1 item"),
    ("version", 2, r"version: suite version 2 is not known"),
    ("version", "one", r"version: Input should be a valid integer, got 'one'"),
    ("device", "tpu", r"device: 'tpu' is not allowed"),
    ("threads", 0, r"threads: Input should be greater than or equal to 1"),
    ("threads", True, r"threads: Input should be a valid integer, got True"),
    ("name", "bad name!", r"name: String should match pattern"),
    ("metric", ["psnr"], r"metric: unknown key \(did you mean 'metrics'"),
    # #23 item 3: what no job of the suite can measure
    (
        "objectives",
        {"max_qps": "max"},
        r"objectives\.max_qps: cannot be measured: max_qps comes from the Server max-QPS search",
    ),
    (
        "gates",
        {"offline.throughput": "-5%"},
        r"gates\.offline\.throughput: cannot be measured: no job runs an offline scenario",
    ),
    (
        "objectives",
        {"cost_per_1k_items_usd": "min"},
        r"objectives\.cost_per_1k_items_usd: cannot be measured: cost_per_1k_items_usd needs a price",
    ),
    ("metrics", ["psnr", "si_sdr"], r"metrics\[1\]: measures nothing: si_sdr applies to audio"),
    (
        "metrics",
        ["psnr", {"name": "fid", "options": {"extractor": "clip-vit-b-32", "resize": "clean"}}],
        r"metrics\[1\]\.options: fid: resize: extractor 'clip-vit-b-32' takes no resize",
    ),
    (
        "metrics",
        ["psnr", {"name": "prdc_recall", "options": {"extractor": "vggish", "resize": "clean"}}],
        r"metrics\[1\]\.options: prdc_recall: resize: extractor 'vggish' takes no resize",
    ),
    ("may_be_absent", ["psnr"], r"may_be_absent: 'psnr' does not depend on the machine"),
]


@pytest.mark.parametrize(
    ("path", "value", "pattern"), SUITE_CASES, ids=[f"{c[0]}={str(c[1])[:20]}" for c in SUITE_CASES]
)
def test_bad_suite(tmp_path, path, value, pattern):
    doc = _set(SUITE, path, value)
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(doc))
    (tmp_path / "p.txt").write_text("a prompt\n")
    _expect_one_line(["validate", str(f)], r"s\.yaml: .*" + pattern)
    # `harness run` refuses the same file the same way, before any job starts
    _expect_one_line(["run", str(f), "--out", str(tmp_path / "out"), "--device", "cpu"], pattern)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


DIGITS_CASES = [
    (
        "models.0.variants.0",
        {"name": "a", "overrides": {"num_frames": 4}},
        r"overrides\.num_frames: ClassConditionalPipeline takes no num_frames",
    ),
    (
        "models.0.variants.0",
        {"name": "a", "overrides": {"resolution": 32}},
        r"overrides\.resolution: ClassConditionalPipeline takes no height/width",
    ),
    (
        "workload.class_labels",
        DELETE,
        r"workload\.class_labels: card 'digits-small' is class-conditional: the workload needs class_labels",
    ),
    (
        "metrics",
        [{"name": "fd_digits", "options": {"batch_sizee": 3}}],
        r"metrics\[0\]\.options: fd_digits: batch_sizee: unknown key",
    ),
    (
        "metrics",
        [{"name": "fd_digits", "options": {"bootstrap": 1}}],
        r"metrics\[0\]\.options: fd_digits: bootstrap",
    ),
]


@pytest.mark.parametrize(
    ("path", "value", "pattern"), DIGITS_CASES, ids=[c[0] + str(i) for i, c in enumerate(DIGITS_CASES)]
)
def test_bad_zoo_suite(tmp_path, path, value, pattern):
    doc = _set({**DIGITS, "objectives": {"latency_ms.p50": "min"}}, path, value)
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(doc))
    _expect_one_line(["validate", str(f)], r"s\.yaml: .*" + pattern)


TEXT_CASES = [
    ("name: t\nmodels: [{card: tiny-sd}]\nmodels: []\n", r"line 3: invalid YAML: duplicate key 'models'"),
    ("name: t\nmodels: [{card: tiny-sd\n", r"invalid YAML"),
    ("name: t\nmodles: [{card: tiny-sd}]\n", r"modles: unknown key 'modles': did you mean 'models'"),
    ("", r"expected a mapping \(a model card or a suite\), got an empty file"),
    ("[1, 2]\n", r"expected a mapping \(a model card or a suite\), got a list"),
    ("just text\n", r"expected a mapping \(a model card or a suite\), got a str"),
    ("name: t\n", r"neither a model card .* nor a suite"),
    ("\tname: t\n", r"invalid YAML"),
    ("name: &a t\nmodels: *b\n", r"invalid YAML"),
    ("? [a, b]\n: 1\nmodels: []\n", r"invalid YAML: a mapping key must be a plain value"),
]


@pytest.mark.parametrize(("text", "pattern"), TEXT_CASES, ids=[str(i) for i in range(len(TEXT_CASES))])
def test_bad_yaml_text(tmp_path, text, pattern):
    f = tmp_path / "d.yaml"
    f.write_text(text)
    _expect_one_line(["validate", str(f)], r"d\.yaml: .*" + pattern)


def test_bad_prompts_files(tmp_path, monkeypatch):
    for name, content, pattern in [
        ("missing", None, r"workload\.prompts_file: prompts file not found"),
        ("empty", "# only a comment\n\n", r"workload\.prompts_file: prompts file is empty"),
        ("outside", "/etc/hostname", r"workload\.prompts_file: .*resolves outside the allowed folders"),
    ]:
        doc = _set(SUITE, "workload.prompts", DELETE)
        doc["workload"]["prompts_file"] = content if name == "outside" else f"{name}.txt"
        if content is not None and name != "outside":
            (tmp_path / f"{name}.txt").write_text(content)
        f = tmp_path / f"{name}.yaml"
        f.write_text(yaml.safe_dump(doc))
        _expect_one_line(["validate", str(f)], pattern)


# ------------------------------------------------------------------------------------------------- cards

CARD_CASES = [
    ("name", DELETE, r"name: missing"),
    ("name", "a card", r"name: String should match pattern"),
    ("modality", "3d", r"modality: '3d' is not allowed"),
    ("task", "text-to-3d", r"task: 'text-to-3d' is not allowed"),
    ("pipeline", "bad name!", r"pipeline: String should match pattern"),
    (
        "pipeline",
        "StableDifusionPipeline",
        r"pipeline: 'StableDifusionPipeline' is not a diffusers pipeline class \(did you mean",
    ),
    ("pipeline", "nopkg.mod:Pipe", r"pipeline: cannot find the module 'nopkg\.mod'"),
    (
        "pipeline",
        "harness.zoo.pipeline:Nope",
        r"pipeline: module 'harness\.zoo\.pipeline' defines no class 'Nope'",
    ),
    ("source", DELETE, r"source: missing"),
    ("source", {"kind": "ftp", "path": "x"}, r"source: .*'hub', 'local', 'config'"),
    ("source", {"kind": "hub", "repo_id": "not a repo"}, r"source\.repo_id: String should match pattern"),
    ("source", {"kind": "local", "path": "nowhere"}, r"source\.path: folder not found: nowhere"),
    ("source", {"kind": "local", "path": "/etc"}, r"source\.path: /etc resolves outside the allowed folders"),
    ("source", {"kind": "local", "path": "empty"}, r"source\.path: empty has no model_index\.json"),
    (
        "source",
        {"kind": "config", "path": "empty", "seed": -1},
        r"source\.seed: Input should be greater than or equal to 0",
    ),
    (
        "source",
        {"kind": "hub", "repo_id": "a/b", "revison": "main"},
        r"source\.revison: unknown key \(did you mean 'revision'",
    ),
    ("dtype", "fp8", r"dtype: 'fp8' is not allowed"),
    ("defaults", {"steps": 0}, r"defaults\.steps: Input should be greater than or equal to 1"),
    ("defaults", {"stpes": 3}, r"defaults\.stpes: unknown key \(did you mean 'steps'"),
    ("defaults", {"num_frames": 8}, r"defaults\.num_frames: StableDiffusionPipeline takes no num_frames"),
    ("defaults", {"audio_seconds": 0}, r"defaults\.audio_seconds: Input should be greater than 0"),
    (
        "defaults",
        {"extra": {"guidance_rescal": 0.1}},
        r"defaults\.extra\.guidance_rescal: StableDiffusionPipeline takes no 'guidance_rescal'",
    ),
    (
        "defaults",
        {"scheduler": {"name": "DDIMSchedular"}},
        r"defaults\.scheduler\.name: unknown diffusers scheduler 'DDIMSchedular'",
    ),
    ("defaults", {"resolution": 64, "width": 64}, r"defaults: give either resolution or height/width"),
    ("defaults", [5], r"defaults: Input should be"),
    ("license", DELETE, r"license: missing"),
    ("trust_remote_code", "yes", r"trust_remote_code: Input should be a valid boolean"),
    ("homepage", 3, r"homepage: Input should be a valid string"),
    ("modalty", "image", r"modalty: unknown key \(did you mean 'modality'"),
]


@pytest.mark.parametrize(
    ("path", "value", "pattern"), CARD_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CARD_CASES)]
)
def test_bad_card(tmp_path, path, value, pattern):
    (tmp_path / "model_cards" / "empty").mkdir(parents=True)
    f = tmp_path / "model_cards" / "c.yaml"
    f.write_text(yaml.safe_dump(_set(CARD, path, value)))
    _expect_one_line(["validate", str(f)], r"c\.yaml: .*" + pattern)


def test_resolution_on_a_pipeline_without_height(tmp_path):
    card = {**CARD, "pipeline": "DDPMPipeline", "task": "unconditional", "defaults": {"resolution": 64}}
    f = tmp_path / "c.yaml"
    f.write_text(yaml.safe_dump(card))
    _expect_one_line(
        ["validate", str(f)], r"c\.yaml: defaults\.resolution: DDPMPipeline takes no height/width"
    )


# -------------------------------------------------------------------------------------------- run folders


def _torn(p: Path) -> None:
    text = (p / "records.jsonl").read_text()
    (p / "records.jsonl").write_text(text.splitlines()[0][:50])


def _middle_garbled(p: Path) -> None:
    lines = (p / "records.jsonl").read_text().splitlines()
    lines[1] = "{not json"
    (p / "records.jsonl").write_text("\n".join(lines) + "\n")


def _edit_record(edit):
    def apply(p: Path) -> None:
        lines = (p / "records.jsonl").read_text().splitlines()
        rec = json.loads(lines[0])
        edit(rec)
        lines[0] = json.dumps(rec)
        (p / "records.jsonl").write_text("\n".join(lines) + "\n")

    return apply


def _replace_with_dir(name: str):
    def apply(p: Path) -> None:
        (p / name).unlink()
        (p / name).mkdir()

    return apply


CORRUPTIONS = {
    "no run.json": (lambda p: (p / "run.json").unlink(), r"not a run folder: no run\.json"),
    "run.json garbled": (lambda p: (p / "run.json").write_text('{"suite": {'), r"run\.json: not JSON"),
    "run.json a list": (
        lambda p: (p / "run.json").write_text("[1]"),
        r"run\.json: expected a JSON object, got list",
    ),
    "run.json suite a string": (
        lambda p: (p / "run.json").write_text('{"suite": "x"}'),
        r"run\.json: suite: Input should be a valid dictionary",
    ),
    "run.json bad environment": (
        lambda p: (p / "run.json").write_text('{"environment": 3}'),
        r"run\.json: environment: ",
    ),
    "run.json a folder": (_replace_with_dir("run.json"), r"not a run folder: no run\.json"),
    "records empty": (lambda p: (p / "records.jsonl").write_text(""), r"no records"),
    "records missing": (lambda p: (p / "records.jsonl").unlink(), r"no records"),
    "records only a torn line": (_torn, r"no records"),
    "records a folder": (_replace_with_dir("records.jsonl"), r"records\.jsonl: unreadable"),
    "records binary": (
        lambda p: (p / "records.jsonl").write_bytes(b"\xff\xfe\x00garbage\n"),
        r"records\.jsonl: unreadable",
    ),
    "a middle line garbled": (_middle_garbled, r"records\.jsonl:2: not JSON"),
    "a field of the wrong type": (
        _edit_record(lambda r: r.update(batch_size="x")),
        r"records\.jsonl:1: batch_size: Input should be a valid integer",
    ),
    "no job_id": (_edit_record(lambda r: r.pop("job_id")), r"records\.jsonl:1: job_id: missing"),
    "a newer schema": (
        _edit_record(lambda r: r.update(schema=99)),
        r"records\.jsonl:1: schema: version 99 was written by a newer harness",
    ),
    "a metric without direction": (
        _edit_record(lambda r: r["metrics"]["psnr"].pop("higher_is_better")),
        r"records\.jsonl:1: metrics\.psnr\.higher_is_better: missing",
    ),
    "latency samples as text": (
        _edit_record(lambda r: r["latency_ms"].update(samples=["fast"])),
        r"records\.jsonl:1: latency_ms\.samples\[0\]: Input should be a valid number",
    ),
    "an unknown status": (
        _edit_record(lambda r: r.update(status="great")),
        r"records\.jsonl:1: status: 'great' is not allowed",
    ),
    "a record that is a list": (
        lambda p: (p / "records.jsonl").write_text("[1, 2]\n"),
        r"records\.jsonl:1: expected a JSON object, got list",
    ),
}
COMMANDS = {
    "report": lambda run, good, tmp: ["report", str(run)],
    "compare head": lambda run, good, tmp: ["compare", str(good), str(run)],
    "compare base": lambda run, good, tmp: ["compare", str(run), str(good)],
    "export": lambda run, good, tmp: ["export", str(run), "-o", str(tmp / "b.json")],
    "gate derive": lambda run, good, tmp: ["gate", "derive", str(good), str(run), "-o", "-"],
    "gate record": lambda run, good, tmp: ["gate", "record", str(run), "--into", str(tmp / "bl")],
    "run --resume": lambda run, good, tmp: ["run", "--resume", str(run)],
}
RESUME_NEEDS_JOBS = r"run\.json has no job list"


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_corrupt_run_folders(tmp_path, corruption, command):
    good = make_run(tmp_path / "good", seed=0)
    run = make_run(tmp_path / "run", seed=1)
    edit, pattern = CORRUPTIONS[corruption]
    edit(run)
    if command == "run --resume" and "run.json" not in corruption:
        pattern = RESUME_NEEDS_JOBS  # the fabricated runs have no job list: refused before records are read
    if command == "compare base" and pattern.startswith("not a run folder"):
        pattern = r"neither a run folder \(no run\.json\) nor a folder of baselines"  # BASE may be a folder of baselines
    _expect_one_line(COMMANDS[command](run, good, tmp_path), pattern)


def test_a_run_folder_that_is_a_file_or_missing(tmp_path):
    good = make_run(tmp_path / "good", seed=0)
    (tmp_path / "file").write_text("x")
    for target, pattern in (
        (tmp_path / "file", r"not a run folder: a file"),
        (tmp_path / "nope", r"run folder not found"),
    ):
        for argv in (
            ["report", str(target)],
            ["compare", str(good), str(target)],
            ["export", str(target), "-o", "-"],
            ["gate", "record", str(target), "--into", str(tmp_path / "bl")],
            ["run", "--resume", str(target)],
        ):
            _expect_one_line(argv, pattern)


# ---------------------------------------------------------------------------------- flags and paths


def _flag_cases(tmp: Path, good: Path, suite: Path) -> list[tuple[list[str], str]]:
    (tmp / "file.txt").write_text("x")
    (tmp / "gates_only.yaml").write_text("gates: {latency_ms.p50: +5%}\nextra: 1\n")
    (tmp / "no_gates.yaml").write_text("name: x\n")
    (tmp / "bad_gate.yaml").write_text("gates: {latency_ms.p50: fast}\n")
    (tmp / "empty").mkdir(exist_ok=True)
    (tmp / "img").mkdir(exist_ok=True)
    bad_img = tmp / "bad_img"  # #23 item 5: a user's unreadable image is named before any missing weights
    bad_img.mkdir(exist_ok=True)
    (bad_img / "a.png").write_bytes(b"not an image")
    sizes = tmp / "sizes"
    sizes.mkdir(exist_ok=True)
    from PIL import Image

    Image.new("RGB", (16, 16)).save(sizes / "a.png")
    Image.new("RGB", (8, 8)).save(sizes / "b.png")
    missing = str(tmp / "missing")
    return [
        # run
        (["run"], r"give a suite to run, or --resume RUN_DIR"),
        (["run", str(suite), "--resume", str(good)], r"give a suite or --resume RUN_DIR, not both"),
        (["run", str(suite), "--repeat", "0"], r"--repeat: must be at least 1"),
        (["run", str(suite), "--repeat", "x"], r"argument --repeat: invalid int value"),
        (["run", str(suite), "--gpus-per-job", "-1", "--executor", "ray"], r"--gpus-per-job: must be ≥ 0"),
        (["run", str(suite), "--address", "auto"], r"--address and --gpus-per-job apply to --executor ray"),
        (["run", str(suite), "--device", "tpu"], r"argument --device: invalid choice"),
        (["run", str(suite), "--isolation", "thread"], r"argument --isolation: invalid choice"),
        (["run", str(suite), "--executor", "slurm"], r"argument --executor: invalid choice"),
        (
            ["run", str(suite), "--out", str(tmp / "file.txt")],
            r"file\.txt: --out: exists and is not a folder",
        ),
        (["run", str(suite), "--only", ","], r"argument --only: expected a comma-separated list"),
        (["run", str(suite), "--only", "nope"], r"--only: unknown model 'nope'"),
        (["run", missing + ".yaml"], r"missing\.yaml: file not found"),
        (["run", str(tmp)], r"is a folder, expected a YAML file"),
        (["run", "--resume", missing], r"run folder not found"),
        # #23 item 5 and smaller: conflicting flags
        (["run", "--resume", str(good), "--repeat", "2"], r"--repeat applies to a suite, not to --resume"),
        (["run", "--resume", str(good), "--device", "cpu"], r"--device applies to a suite, not to --resume"),
        (["run", "--resume", str(good), "--set", "seed=1"], r"--set applies to a suite, not to --resume"),
        (
            ["run", str(suite), "--set", "measurement.warmup=1", "--set", "measurement.warmup=2"],
            r"--set: 'measurement\.warmup' is given twice: measurement\.warmup=1 and measurement\.warmup=2 "
            r"\(allowed: each path once\)",
        ),
        (
            ["run", str(suite), "--set", "models[0].baseline=a", "--set", "models.0.baseline=b"],
            r"--set: 'models\.0\.baseline' is given twice",
        ),
        (
            ["run", str(suite), "--set", "measurement={warmup: 2}", "--set", "measurement.warmup=1"],
            r"--set: 'measurement' is set twice \(one path lies inside the other\)",
        ),
        (["run", "--bogus"], r"unrecognized arguments: --bogus"),
        # report
        (["report"], r"the following arguments are required: RUN_DIR"),
        (["report", missing], r"run folder not found"),
        (["report", str(good), "--out", str(tmp / "file.txt")], r"--out: exists and is not a folder"),
        # validate, ls, cache
        (["validate"], r"the following arguments are required: PATH"),
        (["validate", missing + ".yaml"], r"missing\.yaml: file not found"),
        (["validate", str(tmp / "empty")], r"no YAML files found"),
        (
            ["validate", str(tmp / "file.txt")],
            r"file\.txt: expected a mapping \(a model card or a suite\), got a str",
        ),
        (["ls", "things"], r"argument what: invalid choice"),
        (["ls"], r"the following arguments are required: what"),
        (["cache", "burn"], r"argument action: invalid choice"),
        (["cache", "ls", "--dir", str(tmp / "file.txt")], r"--dir: exists and is not a folder"),
        # compare
        (["compare", missing, str(good)], r"run folder not found"),
        (["compare", str(good), missing], r"run folder not found"),
        (["compare", str(good)], r"the following arguments are required: HEAD_RUN"),
        (["compare", str(good), str(good), "--gate", missing + ".yaml"], r"missing\.yaml: file not found"),
        (
            ["compare", str(good), str(good), "--gate", str(tmp / "no_gates.yaml")],
            r"no_gates\.yaml: expected a mapping with 'gates:'",
        ),
        (
            ["compare", str(good), str(good), "--gate", str(tmp / "gates_only.yaml")],
            r"gates_only\.yaml: unknown key 'extra' \(a gate file has only 'gates:'\)",
        ),
        (
            ["compare", str(good), str(good), "--gate", str(tmp / "bad_gate.yaml")],
            r"gates: latency_ms\.p50: 'fast' is not a threshold",
        ),
        (
            ["compare", str(good), str(good), "--junit", missing + "/j.xml"],
            r"--junit: the folder .* does not exist",
        ),
        (["compare", str(good), str(good), "--markdown", str(tmp)], r"--markdown: is a folder"),
        (
            ["compare", str(good), str(good), "--junit", str(tmp / "file.txt") + "/j.xml"],
            r"--junit: .*is not a folder",
        ),
        (
            ["compare", str(tmp / "empty"), str(good)],
            r"neither a run folder \(no run\.json\) nor a folder of baselines",
        ),
        # export
        (["export", str(good)], r"the following arguments are required: -o/--output"),
        (["export", str(good), "--format", "csv", "-o", "-"], r"argument --format: invalid choice"),
        (["export", str(good), "-o", missing + "/b.json"], r"--output: the folder .* does not exist"),
        (["export", str(good), "-o", str(tmp)], r"--output: is a folder"),
        # gate
        (["gate"], r"the following arguments are required: ACTION"),
        (["gate", "record", str(good)], r"the following arguments are required: --into"),
        (
            ["gate", "record", str(good), "--into", str(tmp / "file.txt")],
            r"--into: exists and is not a folder",
        ),
        (["gate", "derive", str(good), "-o", "-"], r"gate derive: give at least two runs of the same suite"),
        (["gate", "derive", str(good), str(good), "-o", "-", "--k", "0"], r"--k: must be > 0"),
        (["gate", "derive", str(good), str(good), "-o", "-", "--k", "nan"], r"--k: must be > 0"),
        (
            ["gate", "derive", str(good), str(good), "-o", "-", "--keys", "nope"],
            r"--keys: unknown column 'nope'",
        ),
        (
            ["gate", "derive", str(good), str(good), "-o", missing + "/g.yaml"],
            r"--output: the folder .* does not exist",
        ),
        # weights, refstats, fid, zoo
        (["weights", "path", "nope"], r"nope"),
        (["weights", "verify", "nope"], r"nope"),
        (["weights"], r"the following arguments are required: ACTION"),
        (["refstats", "build", "--images", missing, "-o", str(tmp / "s.npz")], r"no such folder"),
        (
            ["refstats", "build", "--images", str(tmp / "img"), "-o", str(tmp / "s.txt")],
            r"-o: the statistics file must end in \.npz",
        ),
        (
            ["refstats", "build", "--images", str(tmp / "img"), "-o", missing + "/s.npz"],
            r"-o: the folder .* does not exist",
        ),
        (
            ["refstats", "build", "--images", str(tmp / "img"), "-o", str(tmp / "s.npz")],
            r"no images in the folder",
        ),
        (
            ["refstats", "build", "--images", str(tmp / "file.txt"), "-o", str(tmp / "s.npz")],
            r"not a folder of images",
        ),
        (["fid", missing, missing + "2"], r"PATH_A: no such file or folder"),
        (["fid", str(tmp / "file.txt"), str(tmp / "file.txt")], r"PATH_A"),
        (["fid", str(tmp / "img"), str(tmp / "img")], r"no images in the folder"),
        (["fid", str(bad_img), str(bad_img)], r"bad_img/a\.png: cannot read the image"),
        (["fid", str(sizes), str(sizes)], r"sizes/b\.png: image is 8x8 px but a\.png is 16x16"),
        (
            ["refstats", "build", "--images", str(bad_img), "-o", str(tmp / "s.npz")],
            r"bad_img/a\.png: cannot read the image",
        ),
        (
            ["refstats", "build", "--images", str(bad_img), "--for", "cmmd", "-o", str(tmp / "s.npz")],
            r"bad_img/a\.png: cannot read the image",
        ),
        (["zoo", "train", "nope"], r"nope"),
        (["zoo", "train", "digits-small", "--steps", "0"], r"--steps: must be >= 1"),
        (
            ["zoo", "train", "digits-small", "--out", str(tmp / "file.txt")],
            r"--out: exists and is not a folder",
        ),
        (["zoo"], r"the following arguments are required: ACTION"),
        (["nonsense"], r"argument COMMAND: invalid choice: 'nonsense'"),
    ]


def test_bad_flags_and_paths_of_every_subcommand(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HARNESS_WEIGHTS_DIR", str(tmp_path / "weights"))
    good = make_run(tmp_path / "good", seed=0)
    suite = tmp_path / "s.yaml"
    suite.write_text(yaml.safe_dump(SUITE))
    failures = []
    for argv, pattern in _flag_cases(tmp_path, good, suite):
        try:
            _expect_one_line(argv, pattern)
        except AssertionError as exc:
            failures.append(f"{argv}: {exc}")
    assert not failures, "\n".join(failures)


def test_zz_the_battery_is_large():
    """Runs last in this file: how many malformed inputs were tried (printed with -s)."""
    print(f"\nmalformed inputs: {COUNT['cases']} commands")
    assert COUNT["cases"] >= 170

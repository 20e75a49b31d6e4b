"""`harness validate` catches what a run would reject, before any job starts: call arguments against the
pipeline's signature, pipeline classes, metric options, option paths, YAML strictness, versions, gate signs."""

from __future__ import annotations

import pytest

from harness.cli import main
from harness.config import load_card, load_suite, sniff_kind
from harness.config.plan import check_card, check_suite
from harness.core.errors import UserInputError
from harness.loaders.signature import call_signature, check_call_args, locate_pipeline
from tests.helpers import ROOT, tiny_suite

DDPM_CARD = {
    "name": "ddpm",
    "modality": "image",
    "task": "unconditional",
    "pipeline": "DDPMPipeline",
    "source": {"kind": "hub", "repo_id": "org/ddpm"},
    "license": "mit",
}


def _validate(path, capsys) -> tuple[int, str]:
    code = main(["validate", str(path)])
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    return code, err


# ------------------------------------------------------------------------------------ call signatures


def test_signatures_are_read_without_importing_diffusers():
    import subprocess
    import sys

    code = (
        "import sys\nfrom harness.loaders.signature import call_signature\n"
        "s = call_signature('StableDiffusionPipeline')\n"
        "print('height' in s.parameters, 'num_inference_steps' in s.parameters, 'diffusers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "True", "False"]


def test_resolution_on_a_pipeline_without_height_names_the_users_key(write_yaml, capsys):
    path = write_yaml("model_cards/ddpm.yaml", {**DDPM_CARD, "defaults": {"resolution": 64}})
    code, err = _validate(path, capsys)
    assert code == 2
    assert (
        "ddpm.yaml: defaults.resolution: DDPMPipeline takes no height/width, so 'resolution' cannot apply"
        in err
    )
    assert "num_inference_steps" in err and "'height'" not in err


def test_a_variant_override_the_pipeline_does_not_take_is_caught_with_its_place(write_yaml, capsys):
    suite = tiny_suite()
    suite["models"][0]["variants"][1]["overrides"] = {"audio_seconds": 2.0}
    code, err = _validate(write_yaml("s.yaml", suite), capsys)
    assert code == 2
    assert "s.yaml: models[0].variants[1].overrides.audio_seconds: StableDiffusionPipeline takes no" in err


def test_an_extra_argument_gets_did_you_mean_and_harness_owned_ones_are_refused(write_yaml, capsys):
    suite = tiny_suite()
    suite["models"][0]["variants"][1]["overrides"] = {"extra": {"guidance_rescal": 0.5}}
    code, err = _validate(write_yaml("s.yaml", suite), capsys)
    assert (
        code == 2
        and "overrides.extra.guidance_rescal: StableDiffusionPipeline takes no 'guidance_rescal'" in err
    )
    assert "did you mean 'guidance_rescale'" in err
    suite["models"][0]["variants"][1]["overrides"] = {"extra": {"generator": 1}}
    code, err = _validate(write_yaml("s2.yaml", suite), capsys)
    assert code == 2 and "'generator' is set by the harness" in err


def test_an_unknown_scheduler_is_caught(write_yaml, capsys):
    suite = tiny_suite()
    suite["models"][0]["variants"][1]["overrides"] = {"scheduler": {"name": "DDIMSchedular"}}
    code, err = _validate(write_yaml("s.yaml", suite), capsys)
    assert code == 2 and "overrides.scheduler.name: unknown diffusers scheduler 'DDIMSchedular'" in err
    assert "did you mean 'DDIMScheduler'" in err


@pytest.mark.parametrize(
    ("pipeline", "message"),
    [
        (
            "StableDifusionPipeline",
            r"'StableDifusionPipeline' is not a diffusers pipeline class \(did you mean 'StableDiffusionPipeline'",
        ),
        ("no_such_pkg.mod:Pipe", r"cannot find the module 'no_such_pkg\.mod'"),
        (
            "harness.zoo.pipeline:NoSuchPipeline",
            r"module 'harness\.zoo\.pipeline' defines no class 'NoSuchPipeline'",
        ),
    ],
)
def test_pipeline_must_name_an_existing_class(write_yaml, capsys, pipeline, message):
    import re

    path = write_yaml("model_cards/x.yaml", {**DDPM_CARD, "pipeline": pipeline})
    code, err = _validate(path, capsys)
    assert code == 2 and re.search(r"x\.yaml: pipeline: " + message, err), err


def test_the_zoos_own_pipeline_and_every_repository_card_pass():
    sig = call_signature("harness.zoo.pipeline:ClassConditionalPipeline")
    assert sig is not None and "class_labels" in sig.parameters and "num_inference_steps" in sig.parameters
    for path in sorted((ROOT / "model_cards").glob("*.yaml")):
        check_card(load_card(path))
    assert locate_pipeline("DDPMPipeline").name == "pipeline_ddpm.py"


def test_check_call_args_skips_what_it_cannot_read():
    from harness.config import CallArgs

    check_call_args("harness.zoo.pipeline:ClassConditionalPipeline", CallArgs(steps=3), field="defaults")
    with pytest.raises(
        UserInputError, match=r"defaults\.num_frames: ClassConditionalPipeline takes no num_frames"
    ):
        check_call_args(
            "harness.zoo.pipeline:ClassConditionalPipeline", CallArgs(num_frames=3), field="defaults"
        )


# --------------------------------------------------------------------------------------- card sources


@pytest.mark.parametrize("kind", ["local", "config"])
def test_a_local_or_config_folder_needs_model_index_json(write_yaml, tmp_path, kind):
    (tmp_path / "model_cards" / "empty").mkdir(parents=True)
    card = {**DDPM_CARD, "source": {"kind": kind, "path": "empty"}}
    with pytest.raises(UserInputError, match=r"source\.path: empty has no model_index\.json"):
        load_card(write_yaml("model_cards/c.yaml", card))


# ------------------------------------------------------------------------------------------ metrics


def test_a_typo_in_a_metric_option_is_caught_by_validate(write_yaml, capsys):
    suite = tiny_suite(
        models=[{"card": "digits-small", "variants": [{"name": "d", "overrides": {"steps": 3}}]}],
        workload={"class_labels": [0, 1], "num_samples": 4},
        metrics=[{"name": "fd_digits", "options": {"batch_sizee": 3}}],
        objectives={"latency_ms.p50": "min"},
    )
    code, err = _validate(write_yaml("s.yaml", suite), capsys)
    assert code == 2
    assert "s.yaml: metrics[0].options: fd_digits: batch_sizee: unknown key (available: bootstrap, ci," in err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"net": "resnet"}, r"metrics\[0\]\.options: lpips: net: 'resnet' is not allowed"),
        ({"batch_size": True}, r"lpips: batch_size: Input should be a valid integer, got True"),
        ({"batch_size": 0}, r"lpips: batch_size: Input should be greater than or equal to 1"),
    ],
)
def test_metric_options_are_typed(write_yaml, options, message):
    lpips = [{"name": "lpips", "options": options}]
    path = write_yaml("s.yaml", tiny_suite(metrics=lpips, objectives={"latency_ms.p50": "min"}))
    with pytest.raises(UserInputError, match=message):
        check_suite(load_suite(path))


def test_a_reference_path_must_exist_and_lie_inside_the_allowed_roots(write_yaml, tmp_path):
    # fid scores trained models only: a hub card (nothing is downloaded to validate it)
    fid = {"objectives": {"latency_ms.p50": "min"}, "models": [{"card": "sd15"}]}
    path = write_yaml(
        "s.yaml", tiny_suite(metrics=[{"name": "fid", "options": {"reference_path": "ref.npz"}}], **fid)
    )
    with pytest.raises(
        UserInputError, match=r"metrics\[0\]\.options\.reference_path: .*ref\.npz does not exist"
    ):
        check_suite(load_suite(path))
    (tmp_path / "ref.npz").write_bytes(b"")
    check_suite(load_suite(path))
    outside = write_yaml(
        "s2.yaml", tiny_suite(metrics=[{"name": "fid", "options": {"reference_path": "/etc/passwd"}}], **fid)
    )
    with pytest.raises(UserInputError, match=r"metrics\[0\]\.options\.reference_path: .*resolves outside"):
        check_suite(load_suite(outside))


def test_a_gate_sign_against_the_metrics_direction_is_caught_by_validate(write_yaml):
    path = write_yaml("s.yaml", tiny_suite(gates={"psnr": "+0.5"}))
    with pytest.raises(
        UserInputError,
        match=r"gates: psnr: '\+0\.5' says an increase is worse, but for psnr higher is better",
    ):
        check_suite(load_suite(path))
    path = write_yaml("s2.yaml", tiny_suite(gates={"throughput": "+5%"}))
    with pytest.raises(UserInputError, match=r"gates: throughput: '\+5%' says an increase is worse"):
        load_suite(path)


# --------------------------------------------------------------------------------------------- YAML


def test_duplicate_keys_are_an_error(write_yaml):
    text = "name: t\nmodels:\n  - card: tiny-sd\nmeasurement: {min_iterations: 5}\nmeasurement: {min_iterations: 50}\n"
    with pytest.raises(
        UserInputError, match=r"s\.yaml: line 5: invalid YAML: duplicate key 'measurement' \(first at line 4"
    ):
        load_suite(write_yaml("s.yaml", text))


@pytest.mark.parametrize(
    ("over", "message"),
    [
        (
            {"measurement": {"min_iterations": True}},
            r"measurement\.min_iterations: Input should be a valid integer, got True",
        ),
        (
            {"workload": {"prompts": ["a"], "num_samples": True}},
            r"workload\.num_samples: Input should be a valid integer",
        ),
        (
            {"workload": {"prompts": ["a"], "seed": 2**40}},
            r"workload\.seed: Input should be less than or equal to 4294967295",
        ),
        (
            {"workload": {"prompts": ["a"], "seed": 2**32 - 2, "num_samples": 10}},
            r"seed 4294967294 \+ num_samples would pass",
        ),
        (
            {"workload": {"prompts": ["a"], "num_samples": 10**9}},
            r"workload\.num_samples: Input should be less than or equal to 1000000",
        ),
        (
            {"measurement": {"timeout_s": "10"}},
            r"measurement\.timeout_s: Input should be a valid number, got '10'",
        ),
        (
            {"measurement": {"profile_stages": 1}},
            r"measurement\.profile_stages: Input should be a valid boolean, got 1",
        ),
        ({"version": 2}, r"version: suite version 2 is not known \(this harness reads version 1\)"),
        ({"version": "1"}, r"version: Input should be a valid integer, got '1'"),
        ({"threads": 0}, r"threads: Input should be greater than or equal to 1"),
    ],
)
def test_numbers_are_strict_and_bounded(write_yaml, over, message):
    with pytest.raises(UserInputError, match=message):
        load_suite(write_yaml("s.yaml", tiny_suite(**over)))


def test_an_empty_variant_list_is_one_line(write_yaml, capsys):
    suite = tiny_suite()
    suite["models"][0]["variants"] = []
    code, err = _validate(write_yaml("s.yaml", suite), capsys)
    assert code == 2 and "models[0].variants: List should have at least 1 item" in err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "name: s\nmodles:\n  - card: tiny-sd\n",
            r"modles: unknown key 'modles': did you mean 'models'\? \(a suite needs 'models'\)",
        ),
        (
            "name: c\npipelin: X\n",
            r"pipelin: unknown key 'pipelin': did you mean 'pipeline'\? \(a model card",
        ),
        ("", r"expected a mapping \(a model card or a suite\), got an empty file"),
        ("- a\n- b\n", r"expected a mapping \(a model card or a suite\), got a list"),
        ("name: x\n", r"neither a model card .* nor a suite"),
    ],
)
def test_a_document_whose_kind_cannot_be_told_says_why(write_yaml, text, message):
    with pytest.raises(UserInputError, match=message):
        sniff_kind(write_yaml("d.yaml", text))


# ------------------------------------------------------------------ what no job can measure (#23 item 3)

SERVER = {"kind": "server", "latency_bound_ms": 400.0, "min_queries": 10, "min_duration_s": 0.1}


def _suite(write_yaml, **over):
    return write_yaml("s.yaml", tiny_suite(**{"objectives": {"latency_ms.p50": "min"}, **over}))


@pytest.mark.parametrize(
    ("over", "fix", "field", "message"),
    [
        (
            {"objectives": {"max_qps": "max"}},
            {"scenario": SERVER},
            "objectives.max_qps",
            r"max_qps comes from the Server max-QPS search and no job runs a server scenario with "
            r"latency_bound_ms \(allowed: scenario: \{kind: server, latency_bound_ms: N\}\)",
        ),
        (
            {"scenario": {"kind": "server", "target_qps": 5.0}, "objectives": {"max_qps": "max"}},
            {"scenario": {"kind": "server", "target_qps": 5.0, "latency_bound_ms": 400.0}},
            "objectives.max_qps",
            r"no job runs a server scenario with latency_bound_ms",
        ),
        (
            {"gates": {"server.p99_ms": "+10%"}},
            {"scenario": {"kind": "server", "target_qps": 5.0}},
            "gates.server.p99_ms",
            r"no job runs a server scenario \(allowed: scenario: \{kind: server, \.\.\.\}; jobs run the timed loop alone\)",
        ),
        (
            {"scenario": SERVER, "constraints": [{"metric": "offline.throughput", "min": 1}]},
            {"scenario": [{"kind": "offline"}, SERVER]},
            r"constraints\[0\].metric",
            r"no job runs an offline scenario \(allowed: scenario: \{kind: offline\}; jobs run server\)",
        ),
        (
            {"objectives": {"cost_per_1k_items_usd": "min"}},
            {"cost": {"usd_per_hour": 2.0}},
            "objectives.cost_per_1k_items_usd",
            r"needs a price: the suite sets no cost \(allowed: cost: \{usd_per_hour: N\}",
        ),
        (
            {
                "device": "cpu",
                "cost": {"by_device": {"H100": 2.49}},
                "gates": {"cost_per_1k_items_usd": "+5%"},
            },
            {"cost": {"by_device": {"H100": 2.49, "cpu": 0.1}}},
            "gates.cost_per_1k_items_usd",
            r"cost\.by_device has no key for a cpu job \(H100\) and no usd_per_hour",
        ),
        (
            {"device": "cpu", "objectives": {"peak_vram_allocated_mib": "min"}},
            {"may_be_absent": ["peak_vram_allocated_mib"]},
            "objectives.peak_vram_allocated_mib",
            r"is measured on a CUDA device and the jobs run on the cpu \(allowed: device: cuda, or list "
            r"peak_vram_allocated_mib under may_be_absent:",
        ),
        (
            {"metrics": ["psnr", "si_sdr"]},
            {"models": [{"card": "sd15"}, {"card": "stable-audio-open-1.0"}]},
            r"metrics\[1\]",
            r"measures nothing: si_sdr applies to audio and the suite's jobs are image \(allowed: a metric of a "
            r"modality a job generates\)",
        ),
        (
            {"metrics": ["psnr", "clip_score"], "objectives": {"clip_score": "max"}},
            {"models": [{"card": "sd15"}]},
            r"metrics\[1\]",
            r"clip_score scores trained models only and every image card of the suite has random weights",
        ),
    ],
)
def test_a_column_no_job_can_produce_is_refused(write_yaml, capsys, over, fix, field, message):
    """#23 item 3: objectives, constraints, gates and metrics that no job of the suite can give a value are
    refused by validate and by run (before any job), naming the field and what is allowed; with what the
    message allows (a scenario, a price, may_be_absent, a card it applies to), the suite passes."""
    import re

    path = _suite(write_yaml, **over)
    code, err = _validate(path, capsys)
    assert code == 2 and re.search(rf"s\.yaml: {field}: .*{message}", err), err
    assert main(["run", str(path), "--out", str(path.parent / "r"), "--device", "cpu"]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (path.parent / "r").exists()
    check_suite(load_suite(write_yaml("fixed.yaml", yaml_of(path, **fix))))


def test_energy_needs_a_meter_or_may_be_absent(write_yaml, monkeypatch, capsys):
    """#23 item 3: an energy column on a cpu suite needs RAPL's files on this machine, unless the suite lists it
    under may_be_absent; a CUDA suite's NVML counter is assumed by validate (read where the jobs run), and
    `run` looks for the counter of the device it resolved before any job."""
    import harness.measure.energy as energy

    monkeypatch.setattr(energy, "rapl_zones", lambda root=None: ([], "powercap files absent (test)"))
    monkeypatch.setattr(
        energy, "counters", lambda device, **kw: ([], ["nvml: not a CUDA job", "rapl: absent (test)"])
    )
    cpu = _suite(write_yaml, device="cpu", objectives={"energy_per_item_j": "min"})
    code, err = _validate(cpu, capsys)
    assert (
        code == 2
        and (
            "objectives.energy_per_item_j: cannot be measured: no energy meter for the jobs on cpu: rapl: powercap "
            "files absent (test) (allowed: a CUDA device with NVML, RAPL's powercap files readable, or list "
            "energy_per_item_j under may_be_absent: to allow a null)"
        )
        in err
    )
    check_suite(load_suite(write_yaml("ok.yaml", yaml_of(cpu, may_be_absent=["energy_per_item_j"]))))
    cuda = write_yaml("cuda.yaml", yaml_of(cpu, device="cuda"))
    check_suite(load_suite(cuda))
    auto = write_yaml("auto.yaml", yaml_of(cpu, device="auto", gates={"energy_j": "+10%"}))
    assert _validate(auto, capsys)[0] == 0
    assert main(["run", str(auto), "--out", str(auto.parent / "r"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert (
        "objectives.energy_per_item_j: cannot be measured: no energy meter for the jobs on cpu: nvml: not a "
        "CUDA job; rapl: absent (test)"
    ) in err
    assert not (auto.parent / "r").exists()


def yaml_of(path, **over):
    import yaml

    return {**yaml.safe_load(path.read_text()), **over}


def test_may_be_absent_takes_only_machine_dependent_columns(write_yaml):
    """#23 item 3: may_be_absent waives what the machine decides (energy, VRAM), nothing the suite decides."""
    with pytest.raises(
        UserInputError,
        match=r"may_be_absent: 'max_qps' does not depend on the machine: it is measured wherever the suite can "
        r"produce it \(allowed: peak_vram_allocated_mib, .*energy_per_item_j\)",
    ):
        load_suite(_suite(write_yaml, may_be_absent=["max_qps"]))


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        (
            {"name": "fid", "options": {"extractor": "clip-vit-b-32", "resize": "clean"}},
            r"metrics\[0\]\.options: fid: resize: extractor 'clip-vit-b-32' takes no resize \(leave it out with "
            r"this extractor\)",
        ),
        (
            {"name": "kid", "options": {"extractor": "vggish"}},
            r"metrics\[0\]\.options: kid: extractor: 'vggish' takes audio samples and kid scores image, video: "
            r"they have none in common \(allowed: an extractor of image, video\)",
        ),
        (
            {"name": "fid", "options": {"extractor": "inceptionv3"}},
            r"fid: extractor: unknown extractor 'inceptionv3' \(did you mean 'inception-v3-fid'\?",
        ),
        (
            {"name": "fid", "options": {"extractor": "digits-extractor", "resize": "clean"}},
            r"fid: resize: extractor 'digits-extractor' has no resize 'clean' \(allowed: none: its input size is fixed\)",
        ),
        (
            {"name": "fvd", "options": {"extractor_options": {"num_frame": 8}}},
            r"fvd: extractor_options\.num_frame: extractor 'i3d-kinetics-400' takes no num_frame \(did you mean "
            r"'num_frames'\?",
        ),
        (
            {"name": "fvd", "options": {"extractor_options": {"num_frames": "8"}}},
            r"fvd: extractor_options\.num_frames: extractor 'i3d-kinetics-400' takes int, got '8'",
        ),
        (
            {"name": "fvd", "options": {"extractor": "inception-v3-fid", "resize": "center_crop"}},
            r"fvd: extractor: 'inception-v3-fid' takes image, video samples and fvd scores video|"
            r"resize: extractor 'inception-v3-fid' has no resize 'center_crop'",
        ),
    ],
)
def test_metric_options_that_contradict_their_extractor_are_refused(write_yaml, capsys, metric, message):
    """#23 item 3 and smaller: options a metric would hand its feature extractor are checked before any job
    (before, `fid` with `extractor: clip-vit-b-32, resize: clean` passed validate and failed in the job with
    "TypeError: CLIPImageFeatures.__init__() got an unexpected keyword argument 'resize'")."""
    import re

    code, err = _validate(_suite(write_yaml, metrics=[metric]), capsys)
    assert code == 2 and re.search(message, err), err
    assert err.count("\n") == 0 and "TypeError" not in err


def test_an_extractor_narrows_where_a_metric_applies(write_yaml, capsys):
    """#23 item 3: fid on the digits extractor scores images only: on a video-only suite it measures nothing."""
    video = {"card": "moving-digits", "variants": [{"name": "a"}]}
    path = _suite(
        write_yaml,
        models=[video],
        workload={"class_labels": [0, 1], "num_samples": 2},
        metrics=[{"name": "fid", "options": {"extractor": "digits-extractor"}}],
    )
    code, err = _validate(path, capsys)
    assert (
        code == 2
        and "metrics[0]: measures nothing: fid applies to image and the suite's jobs are video" in err
    )


# ------------------------------------------------------------------- pipelines outside a .py file (#23 smaller)


@pytest.mark.parametrize(
    ("pipeline", "message"),
    [
        ("os:path", r"pipeline: 'path' in module 'os' is a module, not a class \(allowed: a pipeline class"),
        ("os:Pipeline", r"pipeline: module 'os' defines no class 'Pipeline'"),
        (
            "json:JSONDecoder",
            r"pipeline: 'json:JSONDecoder' is not a pipeline class: it has no from_pretrained",
        ),
    ],
)
def test_a_module_without_its_own_source_of_the_class_is_not_blamed_as_missing(
    write_yaml, capsys, pipeline, message
):
    """#23 smaller: `os` is a frozen module (no .py file to read): validate said "cannot find the module 'os'
    (is its package installed?)"; now it imports the module, as the loader does, and says what is wrong."""
    import re

    code, err = _validate(write_yaml("model_cards/x.yaml", {**DDPM_CARD, "pipeline": pipeline}), capsys)
    assert code == 2 and re.search(message, err), err
    assert "cannot find the module" not in err


def test_a_pipeline_class_a_package_reexports_is_found(write_yaml, tmp_path, monkeypatch, capsys):
    """#23 smaller: `mypkg:MyPipeline` where mypkg/__init__.py imports it from a submodule is the class the
    loader gets; validate read only __init__.py and refused it."""
    import sys

    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from mypkg.pipe import MyPipeline\n")
    (pkg / "pipe.py").write_text(
        "class MyPipeline:\n"
        "    @classmethod\n"
        "    def from_pretrained(cls, path): ...\n"
        "    def __call__(self, prompt=None, num_inference_steps=5, generator=None): ...\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    card = {**DDPM_CARD, "pipeline": "mypkg:MyPipeline", "defaults": {"steps": 3}}
    try:
        code, err = _validate(write_yaml("model_cards/mine.yaml", card), capsys)
        assert code == 0, err
        card["defaults"] = {"steps": 3, "guidance_scale": 2.0}
        code, err = _validate(write_yaml("model_cards/mine.yaml", card), capsys)
        assert code == 2 and "defaults.guidance_scale: MyPipeline takes no guidance_scale" in err, err
    finally:
        for name in ("mypkg", "mypkg.pipe"):
            sys.modules.pop(name, None)

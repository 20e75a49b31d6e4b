"""The pieces under isolation card and the warm fork server: what gets warmed, the peak-RSS reset, and the
backends giving a shared pipeline back as they found it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.config import load_suite
from harness.config.plan import plan
from harness.execute.warm import ENV, warm, warm_targets
from tests.helpers import ROOT


def test_warm_targets_name_what_the_demo_jobs_import():
    targets = warm_targets(plan(load_suite(ROOT / "suites" / "demo.yaml")))
    for expected in (
        "diffusers.pipelines.pipeline_utils:DiffusionPipeline",
        "harness.zoo.pipeline:ClassConditionalPipeline",  # the zoo cards' pipeline class
        "scheduler:DDIMScheduler",  # from the variants' overrides
        "scheduler:DPMSolverMultistepScheduler",
        "harness.zoo.metrics:FDDigits",  # the suite's metrics
        "harness.zoo.av.metrics:FADNotes",
        "harness.backends.eager:EagerBackend",
    ):
        assert expected in targets, expected
    assert len(targets) == len(set(targets))


def test_warm_targets_read_the_model_index_of_config_cards():
    targets = warm_targets(plan(load_suite(ROOT / "suites" / "smoke.yaml")))
    assert "transformers:CLIPTextModel" in targets and "diffusers:UNet2DConditionModel" in targets


def test_warm_imports_and_reports_what_failed():
    failed = warm(["json:dumps", "no_such_module_x", "json:no_such_attr", "scheduler:NoSuchScheduler"])
    assert failed == ["no_such_module_x", "json:no_such_attr", "scheduler:NoSuchScheduler"]


@pytest.mark.slow
def test_the_fork_server_preload_warms_from_its_environment():
    """In a fresh interpreter: the preload module imports what $HARNESS_WARM_TARGETS lists (here a scheduler and
    the compatibles diffusers imports when it loads one)."""
    code = (
        "import sys, harness.execute._preload as p; "
        "print(int('diffusers.schedulers.scheduling_dpmsolver_sde' in sys.modules))"
    )
    env_with = {**__import__("os").environ, ENV: json.dumps(["scheduler:DDIMScheduler"])}
    env_without = {k: v for k, v in env_with.items() if k != ENV}
    run = [sys.executable, "-c", code]
    assert subprocess.run(run, env=env_with, capture_output=True, text=True, cwd=ROOT).stdout.strip() == "1"
    assert (
        subprocess.run(run, env=env_without, capture_output=True, text=True, cwd=ROOT).stdout.strip() == "0"
    )


def _hwm_mib() -> float:
    return int(re.search(r"VmHWM:\s+(\d+)", Path("/proc/self/status").read_text()).group(1)) / 1024


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's /proc/self/clear_refs")
def test_reset_peak_rss_starts_the_peak_again_from_the_current_rss():
    from harness.measure.memory import peak_rss_mib, reset_peaks

    big = np.ones(200 * 1024 * 1024 // 8)  # 200 MiB touched
    del big
    before = peak_rss_mib()
    assert reset_peaks("cpu") is True
    after = peak_rss_mib()
    assert after < before - 150 and _hwm_mib() == pytest.approx(after, abs=2)


def test_compile_backend_gives_the_modules_back_uncompiled():
    import torch

    from harness.backends.compile import uncompile

    class Decoder(torch.nn.Module):
        def decode(self, x):
            return x * 2

    den, dec = torch.nn.Linear(2, 2), Decoder()
    den.compile()
    dec.decode = torch.compile(dec.decode)
    assert den._compiled_call_impl is not None and "decode" in vars(dec)
    uncompile({"denoiser": den, "vae_decoder": dec}, ["denoiser", "vae_decoder"])
    assert den._compiled_call_impl is None and "decode" not in vars(dec)
    assert torch.equal(dec.decode(torch.ones(1)), torch.full((1,), 2.0))


def test_stand_ins_are_put_back():
    from harness.backends.onnx_export import put_back

    class Gen:
        def __init__(self):
            self.parts = {"denoiser": "original"}

        def replace_component(self, role, module):
            self.parts[role] = module

    gen = Gen()
    gen.replace_component("denoiser", "stand-in")
    put_back(gen, [("denoiser", "original")])
    assert gen.parts == {"denoiser": "original"}

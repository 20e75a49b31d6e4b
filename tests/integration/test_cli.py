"""The CLI end to end on the tiny cards: exit codes, records, samples, reports."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.results import RunStore
from tests.helpers import ROOT, has_cuda, tiny_suite


def _run_dir(capsys) -> Path:
    return Path(capsys.readouterr().out.strip().splitlines()[-1])


def test_help_is_light():
    """`harness --help` must not import torch or diffusers (it answers in well under a second)."""
    code = (
        "import sys, harness.cli as c\n"
        "try:\n    c.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('torch', 'diffusers', 'transformers', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_run_in_process_then_report(write_yaml, tmp_path, capsys):
    suite = write_yaml("s.yaml", tiny_suite(cost={"usd_per_hour": 3.6}))
    assert (
        main(["run", str(suite), "--out", str(tmp_path / "r"), "--isolation", "none", "--device", "cpu"]) == 0
    )
    run = _run_dir(capsys)
    recs = RunStore.open(run).records()
    assert [(r.variant, r.status) for r in recs] == [("s2", "ok"), ("s1", "ok")]
    for r in recs:
        lat = r.latency_ms
        assert lat.n == 2 and len(lat.samples) == 2 and lat.p50 > 0
        assert r.first_call_ms > 0 and r.load_s > 0
        assert r.memory.peak_rss_mib > 100 and r.memory.peak_vram_allocated_mib is None
        assert r.throughput.unit == "images/s"
        assert r.stages_ms.denoise_step.calls >= r.call["steps"]  # PNDM adds a warm-up step
        assert r.stages_ms.text_encode.calls >= 1 and r.stages_ms.decode.calls == 1
        assert r.output_shape == [1, 32, 32, 3]
        assert len(r.samples) == 2 and all((run / s).is_file() for s in r.samples)
        # the conditions of the timed loop, its energy (None with the reason here: no NVML, no RAPL) and cost
        c = r.conditions
        assert c.cores >= 1 and c.torch_threads == 1 and c.other_cores is not None and c.own_cores > 0
        assert c.load_before is not None and c.load_after is not None
        assert r.energy.iterations == 2 and (
            r.energy.energy_j is not None or "no energy counter" in r.energy.reason
        )
        assert r.cost.per_1k_items_usd == pytest.approx(3.6 * r.latency_per_item_ms.p50 / 3600.0)
    base, fast = recs
    assert base.metric_value("psnr") == math.inf and base.metric_value("ssim") == pytest.approx(1.0)
    assert 0 < fast.metric_value("psnr") < 100 and fast.metrics["psnr"].fingerprint
    assert '"inf"' in (run / "records.jsonl").read_text()
    meta = json.loads((run / "run.json").read_text())
    assert meta["environment"]["packages"]["torch"] and meta["device"] == "cpu"

    assert main(["report", str(run)]) == 0
    assert (run / "report.md").is_file() and (run / "frontier.csv").is_file()
    assert (run / "pareto_latency_ms.p50__psnr.png").stat().st_size > 10_000
    md = (run / "report.md").read_text()
    assert "## Pareto front" in md and "tiny-sd" in md and "∞" in md


@pytest.mark.slow
def test_video_and_audio_cards(write_yaml, tmp_path, capsys):
    models = [
        {
            "card": "tiny-wan",
            "variants": [{"name": "a", "overrides": {"steps": 2}}, {"name": "b", "overrides": {"steps": 1}}],
        },
        {
            "card": "tiny-stable-audio",
            "variants": [{"name": "a", "overrides": {"steps": 2}}, {"name": "b", "overrides": {"steps": 1}}],
        },
    ]
    suite = write_yaml("s.yaml", tiny_suite(models=models, metrics=["psnr", "ssim", "si_sdr"]))
    # One step of the random-weights audio model leaves its output far outside [-1, 1]: PSNR cannot score
    # it, says so, and the run's exit code says that not everything was measured.
    assert main(["run", str(suite), "--out", str(tmp_path), "--isolation", "none", "--device", "cpu"]) == 1
    out = capsys.readouterr().out
    assert (
        "metric psnr failed on tiny-stable-audio / b / eager: ValueError: psnr: expected values in [-1.0, 1.0]"
        in out
    )
    recs = {(r.model, r.variant): r for r in RunStore.open(Path(out.strip().splitlines()[-1])).records()}
    video, audio = recs[("tiny-wan", "b")], recs[("tiny-stable-audio", "b")]
    assert video.throughput.unit == "frames/s" and len(video.output_shape) == 5
    assert video.samples[0].endswith(".gif") and video.metrics["ssim"].status == "ok"
    assert video.metrics["si_sdr"].status == "not_applicable"
    assert "applies to audio" in video.metrics["si_sdr"].reason
    assert audio.throughput.unit == "audio_s/s" and audio.samples[0].endswith(".wav")
    assert audio.metrics["si_sdr"].status == "ok" and audio.metrics["ssim"].status == "not_applicable"
    assert audio.metrics["psnr"].status == "failed" and audio.ok  # the job itself stands


@pytest.mark.slow
def test_failing_job_is_recorded_and_run_continues(write_yaml, tmp_path, capsys):
    suite = tiny_suite()
    # 36 px is not a multiple of 8: only the pipeline itself knows, when it runs.
    suite["models"][0]["variants"].append({"name": "broken", "overrides": {"resolution": 36}})
    path = write_yaml("s.yaml", suite)
    assert main(["run", str(path), "--out", str(tmp_path), "--device", "cpu"]) == 1  # process isolation
    out = capsys.readouterr().out
    recs = RunStore.open(Path(out.strip().splitlines()[-1])).records()
    assert {r.variant: r.status for r in recs} == {"s2": "ok", "s1": "ok", "broken": "failed"}
    broken = next(r for r in recs if r.variant == "broken")
    assert broken.error.type == "ValueError" and "divisible by 8" in broken.error.message
    assert broken.error.stage == "warmup"
    assert "1 of 3 jobs failed" in out


@pytest.mark.slow
def test_timeout_becomes_a_failed_record(write_yaml, tmp_path, capsys):
    suite = tiny_suite(measurement={"timeout_s": 0.05, "min_iterations": 1, "max_iterations": 1})
    assert main(["run", str(write_yaml("s.yaml", suite)), "--out", str(tmp_path), "--device", "cpu"]) == 1
    recs = RunStore.open(_run_dir(capsys)).records()
    assert {r.error.type for r in recs} == {"TimeoutError"}
    assert "measurement.timeout_s" in recs[0].error.message


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "missing.yaml"], r"missing\.yaml: file not found"),
        (["run", "SUITE", "--only", "nope"], r"--only: unknown model 'nope'"),
        (["run", "SUITE", "--device", "tpu"], r"argument --device: invalid choice: 'tpu'"),
        (["report", "nowhere"], r"nowhere: run folder not found"),
        (["ls", "things"], r"argument what: invalid choice"),
        (["validate", "BAD"], r"bad\.yaml: .*variants\[0\]\.nmae: unknown key \(did you mean 'name'"),
    ],
)
def test_bad_input_exits_2_with_one_line(argv, message, write_yaml, tmp_path, capsys):
    suite = write_yaml("s.yaml", tiny_suite())
    bad = write_yaml("bad.yaml", tiny_suite(models=[{"card": "tiny-sd", "variants": [{"nmae": "x"}]}]))
    argv = [str(suite) if a == "SUITE" else str(bad) if a == "BAD" else a for a in argv]
    with pytest.raises(SystemExit) if argv[0] == "ls" or "--device" in argv else _nullcontext() as exc:
        code = main(argv)
    if exc is not None and hasattr(exc, "value"):
        code = exc.value.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
    import re

    assert re.search(message, err[0]), err[0]


class _nullcontext:
    def __enter__(self):
        return None

    def __exit__(self, *a):
        return False


@pytest.mark.skipif(has_cuda(), reason="checks the error when no GPU is present")
def test_device_cuda_without_gpu(write_yaml, capsys):
    assert main(["run", str(write_yaml("s.yaml", tiny_suite())), "--device", "cuda"]) == 2
    assert "no CUDA device is visible" in capsys.readouterr().err


def test_validate_and_ls_repository_files(capsys):
    assert main(["validate", str(ROOT / "model_cards"), str(ROOT / "suites")]) == 0
    out = capsys.readouterr().out
    assert "card 'tiny-sd'" in out and "suite 'smoke'" in out
    assert main(["ls", "metrics"]) == 0 and "psnr" in capsys.readouterr().out
    assert main(["ls", "backends"]) == 0 and "eager" in capsys.readouterr().out
    assert main(["ls", "cards"]) == 0 and "tiny-wan" in capsys.readouterr().out
    assert main(["ls", "suites"]) == 0 and "smoke" in capsys.readouterr().out

"""The metrics package after the redesign (#25): pins as data, one options parser, one result type, short units."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict

from harness.backends import BACKENDS
from harness.core.errors import UserInputError
from harness.core.samples import Samples
from harness.core.validation import parse_options
from harness.metrics import METRICS, weight_pins, weights
from harness.results.record import MetricResult
from tests.helpers import ROOT

METRICS_DIR = ROOT / "harness" / "metrics"


def test_weight_pins_are_a_data_table_and_the_registry_is_built_from_it():
    """#25 item 2: the weight pins are data apart from the code that locates, verifies and fetches them; every
    file row names a pinned entry and a known hash source, every entry has its summary, licence and files."""
    tree = ast.parse(Path(weight_pins.__file__).read_text(encoding="utf-8"))
    body = tree.body[1:]  # after the docstring
    assert all(isinstance(node, (ast.Assign, ast.AnnAssign)) for node in body), (
        "only assignments: a data table"
    )
    assert set(weight_pins.ABOUT) == set(weight_pins.ENTRIES) == set(weights.WEIGHTS)
    named = {row[0] for row in weight_pins.FILES}
    assert named == set(weight_pins.ENTRIES), "every entry has files, every file an entry"
    assert {row[5] for row in weight_pins.FILES} <= set(weight_pins.SOURCES)
    for entry, filename, sha256, size, required, _ in weight_pins.FILES:
        wf = weights.WEIGHTS[entry].file(filename)
        assert (wf.sha256, wf.size, wf.required) == (sha256, size, required)
    spec = weights.WEIGHTS["clip-vit-base-patch32"]
    assert (
        spec.url == "https://huggingface.co/openai/clip-vit-base-patch32"
        and spec.folder == spec.repo_id.split("/")[1]
    )


class _Opts(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    batch_size: int = 1


def test_one_options_parser_serves_metrics_and_backends():
    """#25 item 3: one ``parse_options(model, data, where)`` in core; a metric's and a backend's options fail with
    the same one-line form (``where: option: what is wrong``), a value that is not a mapping included."""
    assert parse_options(_Opts, None, "x").batch_size == 1
    assert parse_options(_Opts, {"batch_size": 3}, "x").batch_size == 3
    with pytest.raises(
        UserInputError,
        match=r"^thing: batch_sise: unknown key \(did you mean 'batch_size'\? available: batch_size\)$",
    ):
        parse_options(_Opts, {"batch_sise": 3}, "thing")
    with pytest.raises(UserInputError, match=r"^thing: expected a mapping of options, got list$"):
        parse_options(_Opts, [1], "thing")  # type: ignore[arg-type]
    with pytest.raises(UserInputError, match=r"^lpips: expected a mapping of options, got list$"):
        METRICS.get("lpips").parse_options([1])  # type: ignore[arg-type]
    with pytest.raises(
        UserInputError, match=r"^eager backend options: expected a mapping of options, got list$"
    ):
        BACKENDS.get("eager").parse_options([1])  # type: ignore[arg-type]
    defined = [
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "harness").rglob("*.py")
        if any(
            isinstance(n, ast.FunctionDef) and n.name == "parse_options"
            for n in ast.parse(p.read_text(encoding="utf-8")).body
        )
    ]
    assert defined == ["harness/core/validation.py"]


def test_a_metric_returns_the_records_result_type():
    """#25 item 1: metrics return the record's ``MetricResult`` (``MetricValue`` duplicated it), value and status
    alike: what the worker stores is what the metric made."""
    import harness.metrics.base as base

    assert not hasattr(base, "MetricValue")
    psnr = METRICS.get("psnr")()
    a = Samples("image", np.zeros((2, 4, 4, 3), np.float32))
    psnr.update(Samples("image", np.full((2, 4, 4, 3), 0.5, np.float32)), a)
    value = psnr.compute()
    assert type(value) is MetricResult and value.ok and value.value == pytest.approx(10 * np.log10(4.0))
    skipped = METRICS.get("ssim")().compute()
    assert type(skipped) is MetricResult and (skipped.status, skipped.reason) == ("skipped", "no samples")


def test_metric_modules_are_short_and_import_their_own_modules_at_the_top():
    """#25 items 2 and 4: no module of harness/metrics over 500 lines (the pins table is data), no function over
    100 lines, and no import of our own modules inside a function (lazy imports are for heavy packages)."""
    for path in METRICS_DIR.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        if path.name != "weight_pins.py":
            assert len(text.splitlines()) <= 500, path
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno - node.lineno + 1 <= 100, f"{path}:{node.name}"
                inner = [
                    n
                    for n in ast.walk(node)
                    if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("harness")
                ]
                assert not inner, f"{path}:{node.name} imports {[n.module for n in inner]} lazily"


def test_a_metric_class_brings_the_extractors_it_runs():
    """#25 item 2: the extractor modules are apart from the metric modules; loading ``fvd`` or ``fad`` from the
    registry registers the networks they run (in a fresh process: no other module imported first)."""
    code = (
        "from harness.metrics import METRICS\n"
        "from harness.metrics.extractors import extractor_spec\n"
        "METRICS.get('fvd'); print(extractor_spec('i3d-kinetics-400').weights)\n"
        "METRICS.get('fad'); print(extractor_spec('vggish').weights, extractor_spec('clap-htsat-unfused').weights)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["i3d-torchscript", "torchvggish-vggish", "clap-htsat-unfused"]

"""Property-based tests: malformed cards, suites and CLI arguments never produce a traceback.

Every input gets exit code 0, 1 or 2 and, when it fails, one line per file on stderr. Derandomised, so
CI sees the same inputs every time; TRIED counts them (reported by the last test).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.cli import main
from tests.helpers import ROOT

SETTINGS = settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
TRIED = {"inputs": 0, "tracebacks": 0}

CARD = yaml.safe_load((ROOT / "model_cards" / "tiny-sd.yaml").read_text())
CARD["source"]["path"] = str(ROOT / "model_cards" / "configs" / "tiny-sd")
SUITE = {
    "name": "fuzz",
    "models": [{"card": "tiny-sd", "variants": [{"name": "a"}, {"name": "b", "overrides": {"steps": 2}}]}],
    "workload": {"prompts": ["p"], "num_samples": 2},
    "measurement": {"warmup": 1, "min_iterations": 1, "max_iterations": 2},
    "metrics": ["psnr"],
    "objectives": {"latency_ms.p50": "min", "psnr": "max"},
}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(
        ["../../etc/passwd", "<script>x</script>", "$(rm -rf /)", "image", "fp16", "hub", "", "-1", "1e309"]
    ),
)
values = st.recursive(
    scalars,
    lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(st.text(max_size=10), c, max_size=4)),
    max_leaves=10,
)


def _paths(data) -> list[tuple]:
    out = []
    if isinstance(data, dict):
        for k, v in data.items():
            out.append((k,))
            out += [(k, *p) for p in _paths(v)]
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out.append((i,))
            out += [(i, *p) for p in _paths(v)]
    return out


@st.composite
def mutated(draw, base):
    """The base document with one to three random edits: a value replaced, a key added or removed."""
    import copy

    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for p in path[:-1]:
            parent = parent[p]
        action = draw(st.sampled_from(["replace", "add", "delete"]))
        if action == "replace":
            parent[path[-1]] = draw(values)
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=12))] = draw(values)
        elif action == "delete" and isinstance(parent, dict):
            parent.pop(path[-1], None)
    return doc


def _call(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    TRIED["inputs"] += 1
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
            code = int(exc.code or 0)
        except BaseException:
            TRIED["tracebacks"] += 1
            raise
    return code, err.getvalue()


def _check(code: int, stderr: str, files: int = 1) -> None:
    assert code in (0, 1, 2), code
    assert "Traceback" not in stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) <= files, stderr
    assert all(ln.startswith("error: ") for ln in lines), stderr


@pytest.mark.slow
@SETTINGS
@given(doc=mutated(CARD))
def test_mutated_cards(doc, tmp_path_factory):
    path = tmp_path_factory.mktemp("c") / "card.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    _check(*_call(["validate", str(path)]))


@pytest.mark.slow
@SETTINGS
@given(doc=mutated(SUITE))
def test_mutated_suites(doc, tmp_path_factory):
    path = tmp_path_factory.mktemp("s") / "suite.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    _check(*_call(["validate", str(path)]))


@SETTINGS
@given(text=st.text(max_size=200))
def test_arbitrary_yaml_text(text, tmp_path_factory):
    path = tmp_path_factory.mktemp("t") / "x.yaml"
    path.write_text(text)
    _check(*_call(["validate", str(path)]))


WORDS = [
    "run",
    "report",
    "validate",
    "ls",
    "cache",
    "compare",
    "fid",
    "weights",
    "refstats",
    "export",
    "cards",
    "suites",
    "backends",
    "metrics",
    "list",
    "path",
    "verify",
    "ls",
    "--device",
    "cpu",
    "cuda",
    "tpu",
    "--only",
    "--out",
    "--isolation",
    "none",
    "--resume",
    "--repeat",
    "0",
    "-3",
    "--executor",
    "ray",
    "--gpus-per-job",
    "--extractor",
    "nope",
    "--json",
    "missing.yaml",
    "missing_dir",
    "",
    "--",
    "-x",
    "<script>",
    "../../etc",
    "--allow-mismatch",
    "--gate",
    "build",
    "--images",
]


@SETTINGS
@given(argv=st.lists(st.sampled_from(WORDS), min_size=1, max_size=6))
def test_arbitrary_cli_arguments(argv, tmp_path_factory, monkeypatch):
    tmp = tmp_path_factory.mktemp("cli")
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp / "cache"))  # `cache clear` must not touch the user's
    monkeypatch.setenv("HARNESS_WEIGHTS_DIR", str(tmp / "weights"))
    monkeypatch.chdir(tmp)
    if "fetch" in argv:
        return
    code, stderr = _call(argv)
    assert code in (0, 1, 2) and "Traceback" not in stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) <= 1 or all(ln.startswith(("error: ", "warning: ")) for ln in lines), stderr


RUN_SETTINGS = settings(
    max_examples=120,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _good_run(path):
    from tests.gate.gate_helpers import make_run

    return make_run(path, seed=0)


@pytest.mark.slow
@RUN_SETTINGS
@given(data=st.data())
def test_mutated_run_folders(data, tmp_path_factory):
    """A record or run.json with random edits: compare, export and gate record answer 0, 1 or 2, never a
    traceback, and every stderr line is an error or a warning."""
    import json

    tmp = tmp_path_factory.mktemp("run")
    good, run = _good_run(tmp / "good"), _good_run(tmp / "run")
    lines = (run / "records.jsonl").read_text().splitlines()
    target = data.draw(st.sampled_from(["record", "meta", "truncate"]))
    if target == "record":
        i = data.draw(st.integers(0, len(lines) - 1))
        lines[i] = json.dumps(data.draw(mutated(json.loads(lines[i]))), default=str)
        (run / "records.jsonl").write_text("\n".join(lines) + "\n")
    elif target == "meta":
        meta = json.loads((run / "run.json").read_text())
        (run / "run.json").write_text(json.dumps(data.draw(mutated(meta)), default=str))
    else:
        text = (run / "records.jsonl").read_text()
        (run / "records.jsonl").write_text(text[: data.draw(st.integers(0, len(text)))])
    for argv in (
        ["compare", str(good), str(run)],
        ["compare", str(run), str(good)],
        ["export", str(run), "-o", "-"],
        ["gate", "record", str(run), "--into", str(tmp / "bl")],
    ):
        code, stderr = _call(argv)
        assert code in (0, 1, 2) and "Traceback" not in stderr, (argv, stderr)
        lines_err = [ln for ln in stderr.splitlines() if ln.strip()]
        assert all(ln.startswith(("error: ", "warning: ")) for ln in lines_err), stderr


def test_zz_report_counts():
    """Runs last in this file: what was tried, for the record (printed with -s)."""
    print(f"\nfuzz: {TRIED['inputs']} malformed inputs tried, {TRIED['tracebacks']} tracebacks")
    assert TRIED["tracebacks"] == 0
    assert Path(__file__).exists()

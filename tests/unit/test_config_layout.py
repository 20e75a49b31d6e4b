"""#25 items 2-4 for the config package: modules of at most 500 lines split by job, functions of at most 100
lines, no import of the gate or the report (counting imports inside functions and under TYPE_CHECKING), and
the Hugging Face snapshot that ``harness init`` and the parameter count read found by the one cache resolver
in ``core.paths``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from harness.core.paths import hub_snapshot, pipeline_snapshot

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "harness" / "config"


def _modules() -> list[Path]:
    return sorted(CONFIG.rglob("*.py"))


def test_the_config_modules_are_short():
    """#25 item 4: config/__init__.py was 883 lines, config/scaffold.py 531 (draft_card alone 128)."""
    long = {p.name: n for p in _modules() if (n := len(p.read_text(encoding="utf-8").splitlines())) > 500}
    assert long == {}
    long_functions = {}
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                size = node.end_lineno - node.lineno + 1
                if size > 100:
                    long_functions[f"{path.name}:{node.name}"] = size
    assert long_functions == {}


def _harness_imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.add(node.module)
    return {m for m in out if m.startswith("harness.")}


def test_config_imports_no_gate_nor_report():
    """#25 item 2: the suite schema and the plan imported harness.gate.thresholds for check_gate_keys; the
    threshold syntax now lives in config.gates and the gate reads it from there."""
    bad = {
        f"{path.name} -> {m}"
        for path in _modules()
        for m in _harness_imports(path)
        if m.split(".")[1] in ("gate", "report")
    }
    assert bad == set()
    assert "harness.config.gates" in _harness_imports(ROOT / "harness" / "gate" / "thresholds.py")


def _cache(root: Path, repo_id: str, commit: str, *, index: bool = True, ref: str | None = "main") -> Path:
    repo = root / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    if index:
        (snapshot / "model_index.json").write_text("{}")
    if ref:
        (repo / "refs").mkdir()
        (repo / "refs" / ref).write_text(commit)
    return snapshot


@pytest.mark.parametrize(
    ("layout", "revision"),
    [
        ({}, "main"),  # a branch, through refs/main
        ({}, "a" * 40),  # a commit
        ({"ref": None}, "main"),  # no refs: main is no snapshot
        ({"index": False}, "main"),  # a snapshot without model_index.json: no pipeline
        ({}, "v1.0"),  # a revision the cache does not have
    ],
)
def test_pipeline_snapshot_agrees_with_huggingface_hub(tmp_path, layout, revision):
    """#25 item 3: init's cached_snapshot asked huggingface_hub; core.paths answers the same from the cache's
    layout alone (nothing imported, nothing downloaded)."""
    from huggingface_hub import try_to_load_from_cache

    _cache(tmp_path, "org/model", "a" * 40, **layout)
    found = try_to_load_from_cache(
        "org/model", "model_index.json", cache_dir=str(tmp_path), revision=revision
    )
    expected = Path(found).parent if isinstance(found, str) else None
    assert pipeline_snapshot("org/model", revision, tmp_path) == expected
    assert pipeline_snapshot("org/other", revision, tmp_path) is None
    if layout.get("index") is False:
        assert expected is None and hub_snapshot("org/model", revision, tmp_path) is not None

"""#25 item 4 (short units): the readers (report, gate, tracking) and the results they read are modules of at
most 500 lines and functions of at most 100 lines, each module one job."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("report", "gate", "tracking", "results")


def _modules():
    for package in PACKAGES:
        yield from sorted((ROOT / "harness" / package).rglob("*.py"))


def test_the_readers_modules_are_short():
    """#25 item 4: report/html.py was 825 lines, tracking/mlflow_log.py 575, results/schema.py 581."""
    long = {
        p.relative_to(ROOT).as_posix(): n for p in _modules() if (n := len(p.read_text().splitlines())) > 500
    }
    assert long == {}


def test_the_readers_functions_are_short():
    """#25 item 4: frontier_svg was 203 lines, render_markdown 309, draw_pareto 127, build_report 114."""
    long = {}
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                size = node.end_lineno - node.lineno + 1
                if size > 100:
                    long[f"{path.relative_to(ROOT).as_posix()}:{node.name}"] = size
    assert long == {}

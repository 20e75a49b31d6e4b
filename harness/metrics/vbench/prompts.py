"""VBench's standard prompt suite: which dimensions each prompt is scored on, and its auxiliary information.

VBench's standard mode (what MLPerf's text-to-video accuracy run uses) reads ``VBench_full_info.json``, shipped in
the ``vbench`` package: one entry per prompt with ``prompt_en``, the ``dimension`` list it belongs to and, for
``appearance_style`` and ``scene``, ``auxiliary_info`` (the style phrase, the scene words). A video counts for a
dimension only if its prompt is listed for that dimension; the file is found without importing ``vbench``.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

INFO_FILE = "VBench_full_info.json"


class VBenchInfoError(LookupError):
    """VBench's prompt information is not available (vbench is not installed)."""


@dataclass(frozen=True)
class PromptInfo:
    """One prompt of VBench's suite: its dimensions and the auxiliary information of each (may be empty)."""

    dimensions: frozenset[str]
    auxiliary: dict[str, Any] = field(default_factory=dict)


def info_path() -> Path:
    """``VBench_full_info.json`` of the installed ``vbench`` package (not imported: its imports are heavy)."""
    spec = importlib.util.find_spec("vbench")
    if spec is None or not spec.origin:
        raise VBenchInfoError(
            "VBench's prompt suite (VBench_full_info.json) comes with the vbench package, which is not installed "
            "(pip install --no-deps vbench==0.1.5)"
        )
    path = Path(spec.origin).parent / INFO_FILE
    if not path.is_file():
        raise VBenchInfoError(f"{path} is missing from the installed vbench package")
    return path


@lru_cache(maxsize=4)
def read_info(path: str) -> dict[str, PromptInfo]:
    """Prompt → its dimensions and auxiliary information; a prompt listed twice gets the union of both."""
    entries = json.loads(Path(path).read_text(encoding="utf-8"))
    out: dict[str, PromptInfo] = {}
    for e in entries:
        prompt = e["prompt_en"]
        old = out.get(prompt, PromptInfo(frozenset()))
        aux = {**old.auxiliary, **(e.get("auxiliary_info") or {})}
        out[prompt] = PromptInfo(old.dimensions | frozenset(e["dimension"]), aux)
    return out


def vbench_prompts() -> dict[str, PromptInfo]:
    """VBench's standard prompt suite of the installed package."""
    return read_info(str(info_path()))


def dimension_prompts(dimension: str) -> dict[str, PromptInfo]:
    """The prompts VBench scores ``dimension`` on."""
    return {p: i for p, i in vbench_prompts().items() if dimension in i.dimensions}

"""Where model cards and suites are found, and name → card lookup with did-you-mean."""

from __future__ import annotations

import os
from pathlib import Path

from harness.config.card import ModelCard
from harness.config.loading import load_card
from harness.config.roots import check_inside
from harness.config.suite import Suite
from harness.core.errors import UserInputError
from harness.core.paths import REPO_ROOT
from harness.core.registry import did_you_mean
from harness.core.yamlio import read_yaml

CARDS_ENV = "HARNESS_CARDS_PATH"


def card_dirs(near: Path | None = None) -> list[Path]:
    """Folders searched for cards, first match wins.

    ``$HARNESS_CARDS_PATH`` (os.pathsep-separated), ``model_cards/`` beside the suite's folder,
    ``./model_cards``, and the repository's own ``model_cards/``.
    """
    dirs: list[Path] = [Path(p) for p in os.environ.get(CARDS_ENV, "").split(os.pathsep) if p]
    if near is not None:
        dirs.append(near.parent / "model_cards")
        dirs.append(near / "model_cards")
    dirs += [Path.cwd() / "model_cards", REPO_ROOT / "model_cards"]
    seen, out = set(), []
    for d in dirs:
        r = d.resolve()
        if r not in seen and r.is_dir():
            seen.add(r)
            out.append(r)
    return out


def card_files(near: Path | None = None) -> dict[str, Path]:
    """Card name → file, from the ``name`` field of each YAML (file stem if unreadable)."""
    found: dict[str, Path] = {}
    for folder in card_dirs(near):
        for path in sorted(folder.glob("*.y*ml")):
            try:
                data = read_yaml(path)
            except UserInputError:
                data = None
            name = (
                data.get("name")
                if isinstance(data, dict) and isinstance(data.get("name"), str)
                else path.stem
            )
            found.setdefault(name, path)
    return found


def find_card(ref: str, suite: Suite | None = None) -> ModelCard:
    """A card by name (searched in :func:`card_dirs`) or by path (relative to the suite file)."""
    source = str(suite.path) if suite and suite.path else None
    if ref.endswith((".yaml", ".yml")) or "/" in ref:
        path = suite.resolve(ref) if suite else Path(ref)
        path = check_inside(path, suite.path if suite else None, field="models.card")
        if not path.exists():
            raise UserInputError(f"card file not found: {ref}", source=source, field="models.card")
        return load_card(path)
    files = card_files(suite.path.parent if suite and suite.path else None)
    if ref not in files:
        raise UserInputError(
            f"unknown card '{ref}' ({did_you_mean(ref, files)})", source=source, field="models.card"
        )
    return load_card(files[ref])


def suite_files() -> dict[str, Path]:
    dirs = [Path.cwd() / "suites", REPO_ROOT / "suites"]
    found: dict[str, Path] = {}
    for folder in dirs:
        if folder.is_dir():
            for path in sorted(folder.glob("*.y*ml")):
                found.setdefault(path.stem, path)
    return found

"""Reading cards and suites from YAML: each validated by its schema, every error one line
``file: field: what is wrong (what is allowed)`` raised as :class:`~harness.core.errors.UserInputError`."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from harness.config.card import ModelCard
from harness.config.fields import Strict
from harness.config.overrides import apply_overrides, overrides_at
from harness.config.roots import check_inside
from harness.config.suite import Suite
from harness.core.errors import UserInputError
from harness.core.validation import validation_message
from harness.core.yamlio import read_yaml


def _parse(model: type[Strict], data: Any, source: str) -> Any:
    if not isinstance(data, dict):
        raise UserInputError(
            f"expected a mapping of keys at the top level, got {type(data).__name__}", source=source
        )
    # Top-level keys starting with "x-" hold YAML anchors to reuse (as in docker-compose files): not fields.
    data = {k: v for k, v in data.items() if not (isinstance(k, str) and k.startswith("x-"))}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise UserInputError(validation_message(model, exc), source=source) from None


def load_card(path: str | Path) -> ModelCard:
    path = Path(path)
    card = _parse(ModelCard, read_yaml(path), str(path))
    card._path = path.resolve()
    if card.source.kind in ("local", "config"):
        folder = check_inside(card.resolve(card.source.path), card._path, field="source.path")
        if not folder.is_dir():
            raise UserInputError(
                f"folder not found: {card.source.path}", source=str(path), field="source.path"
            )
        if not (folder / "model_index.json").is_file():
            written_by = (
                "save_pretrained writes it" if card.source.kind == "local" else "a diffusers repository"
            )
            raise UserInputError(
                f"{card.source.path} has no model_index.json (expected a folder laid out as {written_by})",
                source=str(path),
                field="source.path",
            )
    return card


def load_suite(path: str | Path, overrides: list[str] | None = None) -> Suite:
    """A suite file, with ``--set path=value`` overrides applied to it before it is validated (so an
    override is checked exactly like the file)."""
    path = Path(path)
    data = read_yaml(path)
    if overrides:
        data = apply_overrides(data, overrides)
    try:
        suite = _parse(Suite, data, str(path))
    except UserInputError as exc:
        culprits = overrides_at(exc.detail, overrides or [])
        if not culprits:
            raise
        raise UserInputError(exc.detail, source=f"{path} with --set {' --set '.join(culprits)}") from None
    suite._path = path.resolve()
    return suite


CARD_KEYS = ("pipeline", "source", "modality")
SUITE_KEYS = ("models",)


def sniff_kind(path: str | Path) -> Literal["card", "suite"]:
    """Whether a YAML file is a model card or a suite (suites have ``models``). A file whose defining key
    is misspelt (``modles:``) is told which key it probably meant."""
    data = read_yaml(path)
    if isinstance(data, dict) and "models" in data:
        return "suite"
    if isinstance(data, dict) and any(k in data for k in CARD_KEYS):
        return "card"
    if isinstance(data, dict):
        # No defining key, but keys only one kind has (workload, objectives… or task, defaults…): that kind,
        # so its schema says what is missing.
        keys = {str(k) for k in data} - {"name", "description", "notes", "version"}
        suite_like, card_like = keys & set(Suite.model_fields), keys & set(ModelCard.model_fields)
        if suite_like and not card_like:
            return "suite"
        if card_like and not suite_like:
            return "card"
    if not isinstance(data, dict):
        shown = "an empty file" if data is None else f"a {type(data).__name__}"
        raise UserInputError(f"expected a mapping (a model card or a suite), got {shown}", source=str(path))
    for key in map(str, data):
        close = difflib.get_close_matches(key, [*SUITE_KEYS, *CARD_KEYS], n=1, cutoff=0.6)
        if close:
            kind = "suite" if close[0] in SUITE_KEYS else "model card"
            raise UserInputError(
                f"unknown key '{key}': did you mean '{close[0]}'? (a {kind} needs '{close[0]}')",
                source=str(path),
                field=key,
            )
    raise UserInputError(
        "neither a model card (needs pipeline, source, modality) nor a suite (needs models)", source=str(path)
    )

"""How many parameters a card's pipeline will hold, counted before anything is loaded (#24 item 4).

- config sources: each model built from its config on the meta device (no memory, no weights drawn);
- local folders and hub snapshots in the local Hugging Face cache: the tensor shapes in the safetensors
  headers of each component (the variant's files where the card names one, as the loader picks them).

Where a count cannot be made this way (a hub model not in the cache, pickle weights) the answer is None with
the reason: an estimate built on it would be a guess, so nothing is refused on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.core.paths import pipeline_snapshot
from harness.core.tensorfiles import safetensors_header
from harness.loaders.from_config import read_model_index

if TYPE_CHECKING:
    from harness.config import ModelCard

# A plain weights file (no variant): "diffusion_pytorch_model.safetensors", "model-00001-of-00002.safetensors".
_PLAIN = re.compile(r"[^.]+(-\d+-of-\d+)?\.safetensors")


@dataclass(frozen=True)
class ParameterCount:
    """Parameters per component (None: not countable without loading) and how they were counted."""

    counts: dict[str, int] | None
    how: str

    @property
    def total(self) -> int | None:
        return sum(self.counts.values()) if self.counts is not None else None


def count_card_parameters(card: ModelCard) -> ParameterCount:
    """The card's parameters per component, without building or loading its weights."""
    from harness.config import HubSource, LocalSource

    src = card.source
    if isinstance(src, HubSource):
        folder = pipeline_snapshot(src.repo_id, src.revision)
        if folder is None:
            return ParameterCount(
                None, f"{src.repo_id}@{src.revision} is not in the local Hugging Face cache"
            )
        return _count_folder(folder, src.variant, f"safetensors headers of {src.repo_id}@{src.revision}")
    if isinstance(src, LocalSource):
        return _count_folder(card.resolve(src.path), None, "safetensors headers")
    from harness.loaders.from_config import count_parameters

    return ParameterCount(count_parameters(card.resolve(src.path)), "the configs, built on the meta device")


def variant_files(folder: Path, variant: str | None) -> list[Path]:
    """A component's safetensors files as diffusers picks them: the variant's (shards included) where it has
    them, else the plain ones."""
    files = sorted(folder.glob("*.safetensors"))
    if variant:
        chosen = [f for f in files if f".{variant}." in f.name or f".{variant}-" in f.name]
        if chosen:
            return chosen
    return [f for f in files if _PLAIN.fullmatch(f.name)]


def _count_folder(folder: Path, variant: str | None, how: str) -> ParameterCount:
    """Sum the tensor sizes in each model component's safetensors headers (a component with a ``config.json``
    is a model; tokenizers and schedulers have none)."""
    try:
        index = read_model_index(folder)
    except (FileNotFoundError, ValueError) as exc:
        return ParameterCount(None, str(exc))
    counts: dict[str, int] = {}
    for key in sorted(index):
        sub = folder / key
        if key.startswith("_") or not (sub / "config.json").is_file():
            continue
        files = variant_files(sub, variant)
        if not files:
            return ParameterCount(None, f"{sub} has no safetensors weights to read the shapes from")
        total = 0
        for f in files:
            header = safetensors_header(f)
            if header is None:
                return ParameterCount(None, f"{f}: unreadable safetensors header")
            for name, info in header.items():
                if name != "__metadata__" and isinstance(info, dict):
                    n = 1
                    for d in info.get("shape", []):
                        n *= int(d)
                    total += n
        counts[key] = total
    return ParameterCount(counts, how)

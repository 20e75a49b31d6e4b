"""ModelCard → Generator. Every card, whatever its source, goes through :func:`load_generator`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.config import ModelCard
    from harness.loaders.base import Generator


def load_generator(card: ModelCard, device: str, dtype: str) -> Generator:
    """Load the card's pipeline on ``device`` in ``dtype`` (fp32 | fp16 | bf16)."""
    from harness.loaders.diffusers_pipeline import load

    return load(card, device, dtype)

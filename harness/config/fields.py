"""The building blocks of the card and suite schemas: the strict base model, bounded numbers, names, and the
closed vocabularies (modality, task, dtype, direction)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Modality = Literal["image", "video", "audio"]
Task = Literal[
    "unconditional",
    "class-conditional",
    "text-to-image",
    "text-to-video",
    "text-to-audio",
    "image-to-image",
    "image-to-video",
]
DType = Literal["fp32", "fp16", "bf16"]
Direction = Literal["min", "max"]
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._+=,-]*$"

# Numbers are strict (``true`` is not a count, ``"5"`` is not a number) and bounded, so nothing a suite asks
# for overflows or runs for ever once the jobs start.
MAX_SEED = 2**32 - 1  # numpy's and most tools' seed range; item i uses seed + i
MAX_COUNT = 1_000_000


def int_in(lo: int, hi: int, description: str | None = None) -> Any:
    """A strict int in ``[lo, hi]`` (an annotation for a schema field)."""
    return Annotated[int, Field(strict=True, ge=lo, le=hi, description=description)]


def float_in(lo: float, hi: float, *, gt: bool = False) -> Any:
    """A strict float in ``[lo, hi]``, or ``(lo, hi]`` with ``gt`` (an annotation for a schema field)."""
    if gt:
        return Annotated[float, Field(strict=True, gt=lo, le=hi)]
    return Annotated[float, Field(strict=True, ge=lo, le=hi)]


Seed = int_in(0, MAX_SEED)
BatchSize = int_in(1, 65_536)
Count = int_in(1, MAX_COUNT)
Steps = int_in(1, 100_000)
Pixels = int_in(1, 65_536)


class Strict(BaseModel):
    # strict: YAML's true is not a count, "yes" is not a boolean, "5" is not a number
    model_config = ConfigDict(extra="forbid", validate_assignment=True, strict=True)

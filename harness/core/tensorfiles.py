"""Safetensors files read without loading a weight: the JSON header (tensor names → dtype, shape, offsets) that
opens every file, for the stored dtype (``harness init``) and parameter counts (the pre-flight estimate)."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

__all__ = ["safetensors_dtype", "safetensors_header"]


def safetensors_header(path: Path) -> dict[str, Any] | None:
    """A safetensors file's JSON header (tensor names → dtype, shape, offsets), read without a weight; None
    where the file is not a readable safetensors file."""
    try:
        with path.open("rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            if size > 100_000_000:
                return None
            header = json.loads(f.read(size))
    except (OSError, struct.error, ValueError):
        return None
    return header if isinstance(header, dict) else None


def safetensors_dtype(path: Path) -> str | None:
    """The most common tensor dtype in a safetensors file's header (read without loading a weight)."""
    header = safetensors_header(path)
    if header is None:
        return None
    counts: dict[str, int] = {}
    for key, info in header.items():
        if key != "__metadata__" and isinstance(info, dict) and isinstance(info.get("dtype"), str):
            counts[info["dtype"]] = counts.get(info["dtype"], 0) + 1
    return max(counts, key=lambda k: counts[k]) if counts else None

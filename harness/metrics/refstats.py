"""Reference statistics files of the distribution metrics: read them, check their feature protocol, describe ours.

A ``.npz`` of ``mu`` and ``sigma`` (and ``n``, the ``features`` with ``--keep-features``) is what ``harness
refstats build``, pytorch-fid and clean-fid write. Ours also store the extractor's fingerprint and protocol
(``stats_meta``): a file made with another feature protocol (another network, weights, resize or output) is
refused unless ``allow_mismatch`` (``check_fingerprint``); files without a fingerprint are used and the record
says so.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

from harness import __version__
from harness.core.errors import UserInputError
from harness.metrics.feature_stats import StreamingStats

__all__ = ["check_fingerprint", "read_stats", "stats_meta"]


def read_stats(path: str | os.PathLike[str], what: str = "reference_path") -> StreamingStats:
    """Statistics from a ``.npz`` (ours, pytorch-fid's or clean-fid's); any problem is one line of bad input."""
    p = Path(path)
    if not p.exists():
        raise UserInputError("no such file", source=str(p), field=what)
    if p.is_dir() or p.suffix.lower() != ".npz":
        raise UserInputError(
            "not a .npz statistics file (expected mu and sigma, as written by "
            "`harness refstats build`, pytorch-fid or clean-fid)",
            source=str(p),
            field=what,
        )
    if not zipfile.is_zipfile(p):
        raise UserInputError("not a readable .npz file (not a zip archive)", source=str(p), field=what)
    try:
        return StreamingStats.from_npz(p)
    except ValueError as exc:
        msg = str(exc).removeprefix(f"{os.fspath(p)}: ")
        raise UserInputError(msg, source=str(p), field=what) from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise UserInputError(
            f"not a readable .npz file ({type(exc).__name__}: {exc})", source=str(p), field=what
        ) from None


def check_fingerprint(stored: str | None, ours: str, *, label: str, allow_mismatch: bool) -> str | None:
    """Refuse statistics made with another feature protocol; returns a note for the record, or None."""
    if not stored:
        return f"{label} has no fingerprint (pytorch-fid / clean-fid file): its feature protocol is assumed to match"
    if stored != ours and not allow_mismatch:
        raise ValueError(
            f"{label} was made with another feature protocol (fingerprint {stored}, ours {ours}): rebuild it with "
            "`harness refstats build` and the same extractor options, or set allow_mismatch: true"
        )
    return None if stored == ours else f"{label} fingerprint {stored} differs from ours {ours} (allowed)"


def stats_meta(extractor: Any, **extra: Any) -> dict[str, Any]:
    """Metadata stored next to ``mu``/``sigma`` by refstats: fingerprint, extractor and protocol (JSON)."""
    return {
        "fingerprint": extractor.fingerprint(),
        "extractor": extractor.name,
        "protocol": json.dumps(extractor.protocol(), sort_keys=True, default=str),
        "details": json.dumps(extractor.details(), sort_keys=True, default=str),
        "harness_version": __version__,
        **extra,
    }

"""When two run folders hold one run: the same folder, a byte-identical ``records.jsonl``, or the same records.

A record is identified by its job and the moment it started (``job_id``, ``started_at``: to the
microsecond since 2026-12, to the second before): two runs never start the same job at the same moment
(``--repeat`` runs them one after another), so a record found in two folders was copied from one into the
other (``cp -r``, ``harness gate record``). ``compare``, ``gate derive`` and ``report`` use this to refuse,
skip or read once what would otherwise compare a run with itself or show it twice.
"""

from __future__ import annotations

import filecmp
from collections.abc import Iterable
from pathlib import Path

from harness.results.record import Record
from harness.results.store import RECORDS

__all__ = ["record_id", "same_folder_or_file", "shared_records"]


def record_id(record: Record) -> tuple[str, str] | None:
    """``(job_id, started_at)``; None for a record that does not say when it started (older runs)."""
    return (record.job_id, record.started_at) if record.started_at else None


def shared_records(a: Iterable[Record], b: Iterable[Record]) -> list[Record]:
    """The records of ``b`` whose id is also in ``a`` (copies of one record)."""
    ids = {i for i in map(record_id, a) if i is not None}
    return [r for r in b if record_id(r) in ids]


def same_folder_or_file(a: str | Path, b: str | Path) -> str | None:
    """Why run folders ``a`` and ``b`` hold one run as files ("the same folder", "byte-identical
    records.jsonl"), or None."""
    a, b = Path(a), Path(b)
    if a.resolve() == b.resolve():
        return "the same folder"
    fa, fb = a / RECORDS, b / RECORDS
    if fa.is_file() and fb.is_file() and filecmp.cmp(fa, fb, shallow=False):
        return f"byte-identical {RECORDS}"
    return None

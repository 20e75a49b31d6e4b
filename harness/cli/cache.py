"""``harness cache ls|gc|clear|path``: built artifacts (ONNX exports, TensorRT engines, compiler caches)."""

from __future__ import annotations

import argparse
import time
from typing import Any

from harness.backends.cache import (
    BUDGET_ENV,
    COMPILE_ENTRY,
    DEFAULT_MAX_GB,
    ArtifactCache,
    budget_bytes,
    describe_paths,
    human_bytes,
)
from harness.cli.core import EXIT_FAILED, EXIT_OK, output_folder, say
from harness.core.errors import UserInputError


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "–"


def cmd_cache(args: argparse.Namespace) -> int:
    if args.backend and args.action in ("gc", "path"):
        raise UserInputError(
            f"applies to ls and clear, not {args.action} (gc evicts by last use across backends)",
            field="--backend",
        )
    if args.max_gb is not None and args.action in ("clear", "path"):
        raise UserInputError(f"applies to gc and ls, not {args.action}", field="--max-gb")
    cache = ArtifactCache(output_folder(args.dir, "--dir")) if args.dir else ArtifactCache()
    if args.action == "path":
        say(str(cache.root))
        return EXIT_OK
    if args.action == "clear":
        removed, busy = cache.clear(args.backend)
        in_use = f"; {busy} in use by a running harness process, kept" if busy else ""
        say(f"removed {removed} entries from {cache.root}{in_use}")
        return EXIT_OK
    budget = budget_bytes(args.max_gb, field_name="--max-gb") if args.max_gb is not None else budget_bytes()
    if args.action == "gc":
        result = cache.gc(budget / 1e9)
        freed = sum(e.size_bytes for e in result.evicted)
        say(
            f"evicted {len(result.evicted)} entries ({human_bytes(freed)}); {result.kept} entries, "
            f"{human_bytes(result.total)} in {cache.root} (budget {human_bytes(result.budget)})"
        )
        _foreign_line(cache, result.foreign)
        if result.total > result.budget:
            why = [f"{result.busy} in use by a running harness process"] if result.busy else []
            why += [f"{result.pinned} holding files the harness did not write"] if result.pinned else []
            say(f"still over the budget: the entries left are {' and '.join(why) or 'none'}")
            return EXIT_FAILED
        return EXIT_OK
    entries, foreign = cache.scan(args.backend)
    if not entries:
        say(f"no cached artifacts in {cache.root}")
    else:
        say(f"{'backend':<12} {'key':<24}  {'what':<13} {'size':>10}  last used")
    for e in sorted(entries, key=lambda e: e.last_used, reverse=True):
        parts = e.meta.get("parts") or {}
        what = parts.get("component") or ("timing cache" if parts.get("timing_cache") else "")
        if parts.get("stage") == "optimized-session":  # the graph ORT optimised from that component's export
            what = f"{what} (opt)"
        if (e.backend, e.key) == COMPILE_ENTRY:
            what = "inductor+triton"
        state = "" if e.state == "complete" else f"  ({e.state}, pid {e.meta.get('pid', '?')})"
        say(
            f"{e.backend:<12} {e.key:<24}  {what!s:<13} {human_bytes(e.size_bytes):>10}  "
            f"{_when(e.last_used)}{state}"
        )
    total = sum(e.size_bytes for e in entries)
    source = "--max-gb" if args.max_gb is not None else BUDGET_ENV
    say(
        f"{len(entries)} entries, {human_bytes(total)} in {cache.root} (budget {human_bytes(budget)}, {source})"
    )
    _foreign_line(cache, foreign)
    return EXIT_OK


def _foreign_line(cache: ArtifactCache, foreign: list) -> None:
    if foreign:
        say(f"not written by the harness, left alone: {describe_paths(foreign, cache.root)}")


def register(sub: Any) -> None:
    c = sub.add_parser(
        "cache",
        help="list, evict or clear built artifacts (ONNX models, engines, compiler caches)",
        description="ls: each entry's size and last use; gc: evict least recently used entries down to the "
        "budget; clear: remove every entry (refused when the folder holds anything the harness did not write); "
        "path: the cache folder. Only folders whose manifest the harness wrote are ever removed.",
    )
    c.add_argument("action", choices=["ls", "gc", "clear", "path"])
    c.add_argument("--backend", default=None, help="only this backend's entries (ls, clear)")
    c.add_argument(
        "--dir", default=None, help="cache folder (default: $HARNESS_CACHE_DIR or ~/.cache/harness)"
    )
    c.add_argument(
        "--max-gb",
        default=None,
        help=f"size budget in GB (10^9 bytes; inf: no limit) for gc and ls (default: ${BUDGET_ENV}, else {DEFAULT_MAX_GB:g})",
    )
    c.set_defaults(fn=cmd_cache)

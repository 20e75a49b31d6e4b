"""``harness cache ls|clear|path``: built artifacts (ONNX exports, TensorRT engines, compiler caches)."""

from __future__ import annotations

import argparse
from typing import Any

from harness.cli.core import EXIT_OK, output_folder, say


def cmd_cache(args: argparse.Namespace) -> int:
    from harness.backends.cache import ArtifactCache

    cache = ArtifactCache(output_folder(args.dir, "--dir")) if args.dir else ArtifactCache()
    if args.action == "path":
        say(str(cache.root))
    elif args.action == "ls":
        entries = [e for e in cache.entries() if not args.backend or e.get("backend") == args.backend]
        if not entries:
            say(f"no cached artifacts in {cache.root}")
        for e in entries:
            parts = e.get("parts") or {}
            what = parts.get("component") or parts.get("onnx", "")
            say(f"{e['backend']:<12} {e['key']}  {what:<13} {e['size_mib']:8.1f} MiB  {e.get('created', '')}")
        total = sum(e["size_mib"] for e in entries)
        say(f"{len(entries)} entries, {total:.1f} MiB in {cache.root}")
    else:
        n = cache.clear(args.backend)
        say(f"removed {n} entries from {cache.root}")
    return EXIT_OK


def register(sub: Any) -> None:
    c = sub.add_parser("cache", help="list or clear built artifacts (ONNX models, engines, compiler caches)")
    c.add_argument("action", choices=["ls", "clear", "path"])
    c.add_argument("--backend", default=None, help="only this backend's entries")
    c.add_argument(
        "--dir", default=None, help="cache folder (default: $HARNESS_CACHE_DIR or ~/.cache/harness)"
    )
    c.set_defaults(fn=cmd_cache)

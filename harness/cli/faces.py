"""``harness faces fetch``: real labelled faces for the biometric metrics (:mod:`harness.metrics.face_data`)."""

from __future__ import annotations

import argparse
from typing import Any

from harness.cli.core import EXIT_OK, say


def cmd_faces_fetch(args: argparse.Namespace) -> int:
    """Fetch the offline labelled faces into ``--to``; a source that cannot be had is said, not fatal."""
    from harness.metrics.face_data import fetch_faces

    manifest = fetch_faces(args.to, sources=args.source, log=say)
    ids = manifest["identities"]
    say(
        f"{len(ids)} identities, {sum(len(v) for v in ids.values())} images in {args.to} (faces.json, LICENSES/)"
    )
    return EXIT_OK


def register(sub: Any) -> None:
    fc = sub.add_parser(
        "faces", help="real labelled faces for the biometric metrics, fetched from the registries"
    )
    fcs = fc.add_subparsers(dest="faces_cmd", required=True)
    ff = fcs.add_parser(
        "fetch", help="an identity folder (one subfolder per person) with each source's licence"
    )
    ff.add_argument("--to", required=True, help="an empty or new folder (or one an earlier fetch wrote)")
    ff.add_argument(
        "--source",
        action="append",
        help="face_recognition, kphotoalbum, matplotlib (default: all; repeatable)",
    )
    ff.set_defaults(fn=cmd_faces_fetch)

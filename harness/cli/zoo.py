"""``harness zoo list`` and ``harness zoo train NAME [--out DIR] [--steps N]``.

Hooked into the main parser by ``register(sub)``. Light at import: torch is imported only when a
model is trained.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.cli.core import EXIT_OK, Parser, output_folder
from harness.cli.core import say as _say
from harness.core.errors import UserInputError
from harness.zoo import HELDOUT_STATS, ZOO_DIR
from harness.zoo.recipes import RECIPES, get_recipe


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def cmd_list(args: argparse.Namespace) -> int:
    rows = []
    for name, r in RECIPES.items():
        folder = ZOO_DIR / name
        weights = f"{_size(folder) / 2**20:.2f} MiB" if folder.is_dir() else "missing"
        recipe = f"{r.steps} steps, seed {r.seed}, {r.threads} thread(s)"
        rows.append((name, r.kind, r.arch_summary(), recipe, weights))
    widths = [
        max(len(str(x)) for x in col) for col in zip(("name", "kind", "model", "recipe", "weights"), *rows)
    ]
    for row in [("name", "kind", "model", "recipe", "weights"), *rows]:
        _say("  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip())
    state = "present" if HELDOUT_STATS.is_file() else "missing"
    _say(f"reference statistics for fd_digits: {HELDOUT_STATS} ({state})")
    return EXIT_OK


def cmd_train(args: argparse.Namespace) -> int:
    get_recipe(args.name)  # an unknown name fails here, before torch is imported
    if args.steps is not None and args.steps < 1:
        raise UserInputError(f"must be >= 1, got {args.steps}", field="--steps")
    out = output_folder(args.out, "--out") if args.out else None

    from harness.zoo.train import train

    summary: dict[str, Any] = train(args.name, out=out, steps=args.steps, log=_say)
    _say(f"wrote {summary['out']}")
    return EXIT_OK


def register(sub: Any) -> None:
    """Add ``zoo`` (with ``list`` and ``train``) to the main parser's subcommands."""
    z = sub.add_parser("zoo", help="the embedded mini zoo: list its models, rebuild one from its recipe")
    zs = z.add_subparsers(dest="zoo_command", required=True, parser_class=Parser, metavar="ACTION")
    ls = zs.add_parser("list", help="the zoo's models, their recipes and committed weights")
    ls.set_defaults(fn=cmd_list)
    t = zs.add_parser("train", help="train a zoo model from its recipe (fixed seed and thread count)")
    t.add_argument("name", metavar="NAME", help="a zoo model (see `harness zoo list`)")
    t.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="output folder (default: the committed one, model_cards/zoo/NAME)",
    )
    t.add_argument(
        "--steps",
        type=int,
        default=None,
        metavar="N",
        help="optimizer steps instead of the recipe's (the schedule is stretched to N)",
    )
    t.set_defaults(fn=cmd_train)

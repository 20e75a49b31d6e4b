"""``harness init SOURCE``: write a model card (and with ``--suite`` a starter suite) that validates."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

from harness.cli.core import EXIT_OK, say
from harness.core.errors import UserInputError


def cmd_init(args: argparse.Namespace) -> int:
    from harness.config.infer import card_name_from
    from harness.config.scaffold import draft_card, write_card, write_suite

    if args.source is None and args.suite:  # `init --suite ./ckpt`: argparse gave the folder to --suite
        args.source, args.suite = args.suite, ""
    if args.source is None:
        raise UserInputError("give a SOURCE: a save_pretrained folder or a hub id (owner/name)")
    name = card_name_from(args.name) if args.name else None
    if args.name and name != args.name:
        raise UserInputError(
            f"--name: '{args.name}' is not a card name (letters, digits, . _ + = , -); try '{name}'"
        )
    guess = name or card_name_from(
        Path(args.source).name if Path(args.source).is_dir() else args.source.split("/")[-1]
    )
    card_path = Path(args.output) if args.output else Path("model_cards") / f"{guess}.yaml"
    suite_path = None
    if args.suite is not None:
        suite_path = Path(args.suite) if args.suite else Path("suites") / f"{guess}.yaml"
        if suite_path.resolve() == card_path.resolve():
            raise UserInputError("--suite and -o name the same file")
        if suite_path.exists() and not args.force:  # before the card is written: a typo costs nothing
            raise UserInputError(f"{suite_path} exists (--force overwrites it)")
    draft = draft_card(
        args.source,
        card_path=card_path,
        name=name,
        pipeline=args.pipeline,
        revision=args.revision,
        dtype=args.dtype,
        modality=args.modality,
        task=args.task,
    )
    write_card(draft, card_path, force=args.force)
    d = draft.defaults
    shown = ", ".join(f"{k} {v}" for k, v in d.items()) or "none read"
    say(
        f"wrote {card_path}: card '{draft.name}' ({draft.modality}, {draft.task}, {draft.pipeline}, {draft.dtype})"
    )
    say(f"  defaults: {shown}")
    if draft.license == "unknown":
        say("  license: not found in the folder; fill it in from the model's page")
    if suite_path is None:
        say(f"next: harness validate {shlex.quote(str(card_path))}, then add it to a suite (or init --suite)")
        return EXIT_OK
    write_suite(draft, card_path, suite_path, force=args.force)
    say(f"wrote {suite_path}: a starter suite (two variants, {draft.modality} metrics, objectives)")
    say(f"run it:  harness run {shlex.quote(str(suite_path))}")
    return EXIT_OK


def register(sub: Any) -> None:
    i = sub.add_parser(
        "init",
        help="write a model card (and --suite, a starter suite) from a save_pretrained folder or a cached hub id",
        description="Write a model card that validates, reading the pipeline class from model_index.json, "
        "modality, task and default call arguments from the class's __call__, the resolution from its config and "
        "the dtype from its weights. SOURCE is a save_pretrained folder or a hub id found in the local Hugging "
        "Face cache (with --pipeline, a hub id that is not downloaded yet).",
    )
    i.add_argument(
        "source", nargs="?", metavar="SOURCE", help="a save_pretrained folder, or a hub id (owner/name)"
    )
    i.add_argument(
        "--name", default=None, help="the card's name (default: from the folder or the repository)"
    )
    i.add_argument(
        "-o", "--output", default=None, metavar="FILE", help="the card file (default: model_cards/NAME.yaml)"
    )
    i.add_argument(
        "--suite",
        nargs="?",
        const="",
        default=None,
        metavar="FILE",
        help="also write a starter suite (default file: suites/NAME.yaml)",
    )
    i.add_argument(
        "--pipeline",
        default=None,
        metavar="CLASS",
        help="the pipeline class (a diffusers name or package.module:Class) instead of model_index.json's",
    )
    i.add_argument("--revision", default="main", help="hub revision (default: main)")
    i.add_argument(
        "--dtype", choices=["fp32", "fp16", "bf16"], default=None, help="instead of the weights' dtype"
    )
    i.add_argument(
        "--modality", choices=["image", "video", "audio"], default=None, help="instead of the inferred one"
    )
    i.add_argument(
        "--task",
        choices=["unconditional", "class-conditional", "text-to-image", "text-to-video", "text-to-audio"],
        default=None,
        help="instead of the inferred one",
    )
    i.add_argument("--force", action="store_true", help="overwrite existing files")
    i.set_defaults(fn=cmd_init)


__all__ = ["cmd_init", "register"]

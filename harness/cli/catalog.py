"""``harness validate PATH...`` and ``harness ls cards|suites|backends|metrics``."""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from typing import Any

from harness.cli.core import EXIT_BAD_INPUT, EXIT_OK, err, say
from harness.core.errors import UserInputError


def _yaml_files(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(q for q in p.rglob("*.y*ml") if "configs" not in q.relative_to(p).parts)
        else:
            files.append(p)
    return files


def cmd_validate(args: argparse.Namespace) -> int:
    from harness.config import load_card, load_suite, sniff_kind
    from harness.config.plan import check_card, check_suite

    bad = 0
    files = _yaml_files(args.paths)
    if not files:
        raise UserInputError("no YAML files found", source=" ".join(args.paths))
    for path in files:
        try:
            kind = sniff_kind(path)
            if kind == "card":
                card = load_card(path)
                check_card(card)
                say(
                    f"ok   {path}: card '{card.name}' ({card.modality}, {card.task}, source {card.source.kind})"
                )
            else:
                suite = load_suite(path)
                pf = suite.workload.prompts_file
                unset = sorted(set(re.findall(r"\$\{?(\w+)\}?", pf or "")) - set(os.environ))
                check_suite(suite, check_files=not unset)
                n_variants = sum(len(m.variants) for m in suite.models)
                note = f"; needs user data: {pf} (set {', '.join(unset)})" if unset else ""
                say(
                    f"ok   {path}: suite '{suite.name}' ({len(suite.models)} models, {n_variants} variants){note}"
                )
        except UserInputError as exc:
            bad += 1
            err(f"error: {exc}")
    return EXIT_BAD_INPUT if bad else EXIT_OK


def cmd_ls(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(100, Console().width))
    if args.what == "cards":
        from harness.config import load_card
        from harness.config.catalog import card_files

        table = Table("name", "modality", "task", "source", "pipeline", "file")
        for name, path in sorted(card_files().items()):
            try:
                c = load_card(path)
                src = c.source.repo_id if c.source.kind == "hub" else f"{c.source.kind}: {c.source.path}"
                table.add_row(c.name, c.modality, c.task, src, c.pipeline, str(_rel(path)))
            except UserInputError as exc:
                table.add_row(name, "", "", f"[red]invalid: {exc.detail}[/red]", "", str(_rel(path)))
        console.print(table)
    elif args.what == "suites":
        from harness.config import load_suite
        from harness.config.catalog import suite_files

        table = Table("name", "models", "metrics", "objectives", "file")
        for _name, path in sorted(suite_files().items()):
            try:
                s = load_suite(path)
                table.add_row(
                    s.name,
                    str(len(s.models)),
                    ", ".join(s.metric_names),
                    ", ".join(s.objectives),
                    str(_rel(path)),
                )
            except UserInputError as exc:
                table.add_row(path.stem, "", "", f"[red]invalid: {exc.detail}[/red]", str(_rel(path)))
        console.print(table)
    else:
        from harness.backends import BACKENDS
        from harness.metrics import METRICS

        reg = BACKENDS if args.what == "backends" else METRICS
        table = Table("name", "what")
        for name in reg:
            table.add_row(name, reg.summary(name))
        console.print(table)
    return EXIT_OK


def _rel(path: Path) -> Path:
    try:
        return path.resolve().relative_to(Path.cwd())
    except ValueError:
        return path


def register(sub: Any) -> None:
    v = sub.add_parser(
        "validate",
        help="check model cards and suites (files or folders) for everything a run would reject, before any job",
    )
    v.add_argument("paths", nargs="+", metavar="PATH")
    v.set_defaults(fn=cmd_validate)

    ls = sub.add_parser("ls", help="list cards, suites, backends or metrics")
    ls.add_argument("what", choices=["cards", "suites", "backends", "metrics"])
    ls.set_defaults(fn=cmd_ls)

"""What every command shares: the parser that exits 2 on bad flags, output lines, exit codes, path checks."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

from harness.core.errors import EXIT_BAD_INPUT, UserInputError
from harness.core.errors import EXIT_FAILED as EXIT_FAILED  # re-exported: the commands import them from here
from harness.core.errors import EXIT_INTERNAL as EXIT_INTERNAL
from harness.core.errors import EXIT_OK as EXIT_OK


def printable(text: str) -> str:
    """Control characters from user input escaped, so an error stays one visible line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, printable(f"error: {self.prog}: {message} (see {self.prog} --help)") + "\n")


def say(text: str = "") -> None:
    print(text, flush=True)


def err(text: str) -> None:
    print(printable(text), file=sys.stderr, flush=True)


def csv_list(value: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list of names")
    return items


def output_file(path: str | None, flag: str) -> Path | None:
    """A file the command will write, checked before any work: its folder exists and it is not a folder.
    ``-`` (stdout) and None pass through as None."""
    if path is None or path == "-":
        return None
    p = Path(path)
    if p.is_dir():
        raise UserInputError("is a folder; give a file name", source=str(p), field=flag)
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.exists():
        raise UserInputError(f"the folder {parent} does not exist", source=str(p), field=flag)
    if not parent.is_dir():
        raise UserInputError(f"{parent} is not a folder", source=str(p), field=flag)
    return p


def write_text(path: Path, text: str, flag: str) -> None:
    """Write an output file; a refusal by the OS (permissions, a full disk) is one line, not a traceback."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserInputError(f"cannot write ({exc.strerror or exc})", source=str(path), field=flag) from None


def switch(parser: argparse.ArgumentParser, flag: str, help: str) -> None:
    """An option on by default, with its ``--no-`` form (``--html`` / ``--no-html``); ``help`` says what it
    does (``(default: yes)`` is added)."""
    parser.add_argument(
        flag, action=argparse.BooleanOptionalAction, default=True, help=f"{help} (default: yes)"
    )


def output_folder(path: str | Path, flag: str) -> Path:
    """A folder the command will write into (created if missing): not an existing file."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UserInputError("exists and is not a folder", source=str(p), field=flag)
    return p

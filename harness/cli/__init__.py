"""The ``harness`` command. Thin: parses flags, calls the package, maps errors to exit codes.

One module per command group (:mod:`.run`, :mod:`.init`, :mod:`.track` for log, :mod:`.report`, :mod:`.catalog` for validate and ls,
:mod:`.cache`, :mod:`.gate` for compare/export/gate, :mod:`.doctor`, :mod:`.assets` for weights/refstats/fid, :mod:`.faces`, :mod:`.zoo`)
over a shared core (:mod:`.core`). Nothing heavy is imported here; each command imports what it needs.

Exit codes: 0 success, 1 a job or metric failed (run) or a regression (compare), 2 bad input, 3 an internal
error (a bug: the one line says so; ``HARNESS_DEBUG=1`` shows the traceback).
"""

from __future__ import annotations

import os
import sys

from harness import __version__
from harness.cli import assets, cache, catalog, doctor, faces, gate, init, report, run, track, zoo
from harness.cli.core import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERNAL, Parser, err
from harness.core.errors import HarnessError, UserInputError

__all__ = ["build_parser", "main"]


def build_parser() -> Parser:
    p = Parser(
        prog="harness",
        description="Benchmark image, video and audio generators: speed, memory, compile cost and quality.",
    )
    p.add_argument("--version", action="version", version=f"harness {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="COMMAND")
    for module in (run, init, report, track, catalog, cache, gate, doctor, assets, faces, zoo):
        module.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    from harness.backends.cache import configure_compiler_caches

    configure_compiler_caches()  # before anything imports torch
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.fn(args))
    except UserInputError as exc:
        err(f"error: {exc}")
        return EXIT_BAD_INPUT
    except HarnessError as exc:
        err(f"error: {exc}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        err("interrupted")
        return 130
    except BrokenPipeError:  # `harness compare ... | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # the OS refused a file (permissions, a full disk): the user's to fix
        where = f"{exc.filename}: " if exc.filename else ""
        err(f"error: {where}{exc.strerror or exc}")
        return EXIT_BAD_INPUT
    except Exception as exc:
        if os.environ.get("HARNESS_DEBUG"):
            raise
        first = str(exc).splitlines()[0] if str(exc).strip() else ""
        err(
            f"internal error (a bug in harness, please report it): {type(exc).__name__}: {first} (HARNESS_DEBUG=1 shows the traceback)"
        )
        return EXIT_INTERNAL

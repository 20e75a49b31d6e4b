"""``python -m harness.cli.gpucheck`` (``make gpu-check``): the GPU check's command line. The check itself is
:mod:`harness.doctor.gpucheck`; this parses the flags, runs it, writes and prints the table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.backends.cache import configure_compiler_caches
from harness.cli.core import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, output_file
from harness.core.errors import UserInputError
from harness.doctor import gpucheck
from harness.measure.env import host_environment, resolve_device


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m harness.cli.gpucheck", description=gpucheck.__doc__.splitlines()[0]
    )
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    p.add_argument(
        "--out",
        default="results/gpu-check.md",
        metavar="FILE",
        help="the Markdown table (default: results/gpu-check.md)",
    )
    p.add_argument(
        "--runs", default=None, metavar="DIR", help="keep the run folders here (default: a temporary folder)"
    )
    p.add_argument(
        "--quick", action="store_true", help="the tiny card at 32 px and fewer repeats (the CPU test)"
    )
    p.add_argument("--steps", default=None, help=f"comma-separated subset of {','.join(gpucheck.STEPS)}")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the check; exit 0 when every step ran, 1 when one failed, 2 on bad flags."""
    configure_compiler_caches()  # before anything imports torch (importing the check does not)
    args = _parser().parse_args(argv)
    try:
        out = output_file(args.out, "--out")
        device = resolve_device(args.device)
        steps = [s.strip() for s in args.steps.split(",")] if args.steps else None
        unknown = [s for s in steps or [] if s not in gpucheck.STEPS]
        if unknown:
            raise UserInputError(
                f"--steps: unknown step '{unknown[0]}' (allowed: {', '.join(gpucheck.STEPS)})"
            )
    except UserInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    rows, seconds = gpucheck.run_check(
        device, quick=args.quick, out_dir=Path(args.runs) if args.runs else None, steps=steps
    )
    env = host_environment()
    header = (
        f"harness {env.get('harness_commit') or env.get('harness_version')}, "
        f"torch {env['packages'].get('torch')}, diffusers {env['packages'].get('diffusers')}"
    )
    text = gpucheck.to_markdown(rows, device, seconds, header)
    if out is not None:
        out.write_text(text, encoding="utf-8")
    print(text)
    return EXIT_FAILED if gpucheck.failed(rows) else EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())

"""The folders that paths in cards and suites may point into, and the check that a path stays inside them."""

from __future__ import annotations

import os
from pathlib import Path

from harness.core.errors import UserInputError
from harness.core.paths import REPO_ROOT

ROOTS_ENV = "HARNESS_ALLOWED_ROOTS"


def allowed_roots(file: Path | None) -> list[Path]:
    """Folders that paths in cards and suites may point into.

    The current folder, the repository, the folder above the card or suite file (so a project's
    ``model_cards/`` may reach a sibling ``checkpoints/``), ``$HARNESS_DATA`` and ``$HARNESS_ALLOWED_ROOTS``.
    """
    roots = [Path.cwd(), REPO_ROOT]
    if file is not None:
        roots.append(file.resolve().parent.parent)
    for var in ("HARNESS_DATA",):
        if os.environ.get(var):
            roots.append(Path(os.environ[var]))
    roots += [Path(p) for p in os.environ.get(ROOTS_ENV, "").split(os.pathsep) if p]
    return [r.resolve() for r in roots]


def check_inside(path: Path, file: Path | None, *, field: str) -> Path:
    """``path`` resolved (symlinks too) if it lies inside an allowed root; else a one-line error saying why."""
    real = path.resolve()
    roots = allowed_roots(file)
    if any(real == r or r in real.parents for r in roots):
        return real
    raise UserInputError(
        f"{path} resolves outside the allowed folders ({', '.join(str(r) for r in roots)}); "
        f"add its folder to ${ROOTS_ENV} to allow it",
        source=str(file) if file else None,
        field=field,
    )

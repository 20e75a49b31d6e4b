"""MLflow tracking stores named by URI: the database file of a ``sqlite:///`` URI, whether a URI is MLflow's
file store, and the opt-in MLflow 3 needs to log into one."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

ALLOW_FILE_STORE_ENV = "MLFLOW_ALLOW_FILE_STORE"


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///path.db`` URI (``sqlite:////abs/path.db`` for an absolute one)."""
    if not uri.startswith("sqlite:///"):
        return None
    path = unquote(uri[len("sqlite:///") :].split("?", 1)[0])
    return None if not path or path == ":memory:" else Path(path)


def is_file_store(uri: str) -> bool:
    """A ``file:`` URI or a plain path (MLflow's file store), not a database or a server."""
    scheme = urlparse(uri).scheme
    return scheme in ("", "file") or len(scheme) == 1  # len 1: a Windows drive letter


@contextlib.contextmanager
def file_store_allowed(allow: bool) -> Iterator[None]:
    """MLflow 3 refuses its file store (in maintenance mode) unless ``MLFLOW_ALLOW_FILE_STORE=true``: opt in
    while logging to a ``file:`` store, asked for or MLflow's default (a value the user set is left alone)."""
    if not allow or ALLOW_FILE_STORE_ENV in os.environ:
        yield
        return
    os.environ[ALLOW_FILE_STORE_ENV] = "true"
    try:
        yield
    finally:
        os.environ.pop(ALLOW_FILE_STORE_ENV, None)

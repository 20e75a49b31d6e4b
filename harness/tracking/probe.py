"""Whether an MLflow tracking store can take a run, checked in seconds before any job runs.

``harness run --mlflow URI`` logs after the last job: a store it cannot use must be found before the first.

* ``sqlite:///PATH``: absent, empty, or a SQLite database that is empty or holds MLflow's tables at the
  schema revision this MLflow writes. A file of garbage bytes or another application's database is refused,
  naming what was found; nothing is written (MLflow creates an absent or empty store when it logs).
* ``http(s)://HOST``: the server answers MLflow's REST API within a few seconds (one request, no retries;
  MLflow's own client would retry for minutes).

Other stores (a ``file:`` folder, databricks, a SQL server) are MLflow's to open.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import urlparse

from harness.core.errors import UserInputError
from harness.tracking.stores import sqlite_path

SQLITE_HEADER = b"SQLite format 3\x00"
MLFLOW_TABLES = frozenset({"alembic_version", "experiments", "runs"})
HTTP_TIMEOUT_S = 5.0
ALLOWED_SQLITE = "allowed: an MLflow SQLite store, an empty file, or a path where MLflow creates one"


def check_tracking_store(uri: str, *, timeout_s: float = HTTP_TIMEOUT_S) -> None:
    """Bad input (``FILE or URI: --mlflow: what is wrong (what is allowed)``) when MLflow could not log into
    ``uri``.

    Args:
        uri: the tracking URI as given to ``--mlflow``.
        timeout_s: how long an http(s) server has to answer.
    """
    scheme = urlparse(uri).scheme.split("+", 1)[0]
    if scheme == "sqlite":
        db = sqlite_path(uri)
        if db is not None:
            check_sqlite_store(db, uri)
    elif scheme in ("http", "https"):
        check_server(uri, timeout_s=timeout_s)


def _bad(where: str, message: str) -> UserInputError:
    """``where: --mlflow: message``: the database file, or the server's URI."""
    return UserInputError(message, source=where, field="--mlflow")


def check_sqlite_store(db: Path, uri: str) -> None:
    """``db`` absent, empty, or a SQLite database MLflow can log into (read only: nothing is written)."""
    where = str(db)
    if not db.exists():
        return
    if not db.is_file():
        raise _bad(where, f"not a file ({ALLOWED_SQLITE})")
    try:
        with db.open("rb") as f:
            head = f.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise _bad(where, f"cannot be read ({exc.strerror or exc})") from None
    if not head:
        return  # an empty file: MLflow creates its tables in it
    if head != SQLITE_HEADER:
        raise _bad(
            where, f"not a SQLite database (its first bytes are not SQLite's header) ({ALLOWED_SQLITE})"
        )
    try:
        con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=HTTP_TIMEOUT_S)
        try:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            revision = (
                con.execute("SELECT version_num FROM alembic_version").fetchone()
                if "alembic_version" in tables
                else None
            )
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise _bad(where, f"SQLite cannot read it ({exc}) ({ALLOWED_SQLITE})") from None
    if not tables:
        return  # a database with no table yet: MLflow creates its own
    missing = sorted(MLFLOW_TABLES - tables)
    if missing:
        shown = ", ".join(sorted(tables)[:8]) + (", ..." if len(tables) > 8 else "")
        raise _bad(
            where,
            f"a SQLite database of another application: it has no MLflow table {', '.join(missing)} "
            f"(its tables: {shown}) ({ALLOWED_SQLITE})",
        )
    head_revision = _mlflow_schema_revision()
    found = revision[0] if revision else None
    if head_revision is not None and found != head_revision:
        raise _bad(
            where,
            f"MLflow schema revision {found}, this MLflow writes {head_revision} (allowed: after a backup, "
            f"`mlflow db upgrade {uri}`, or another store)",
        )


def _mlflow_schema_revision() -> str | None:
    """The schema revision this MLflow's SQL store expects (None where MLflow does not say)."""
    try:
        from mlflow.store.db.utils import _get_latest_schema_revision

        return str(_get_latest_schema_revision())
    except Exception:  # a private MLflow helper: where it moved, MLflow's own check at log time applies
        return None


def check_server(uri: str, *, timeout_s: float = HTTP_TIMEOUT_S) -> None:
    """One GET of MLflow's REST API at ``uri`` within ``timeout_s``: a connection refused, a name that does not
    resolve, a timeout or a server that is not MLflow's (404) is bad input. Any other answer (401 included:
    MLflow's client sends the credentials) counts as reachable."""
    import socket
    import urllib.error
    import urllib.request

    url = uri.rstrip("/") + "/api/2.0/mlflow/experiments/search?max_results=1"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s):  # an http(s) URL: checked by the caller
            return
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise _bad(
                uri,
                f"the server answers but not as an MLflow tracking server (GET {url}: HTTP 404) "
                "(allowed: the URL of `mlflow server`)",
            ) from None
        return
    except (urllib.error.URLError, OSError, ValueError) as exc:
        why = getattr(exc, "reason", None) or exc
        if isinstance(why, (TimeoutError, socket.timeout)):
            raise _bad(uri, f"no answer from the tracking server within {timeout_s:g} s") from None
        raise _bad(
            uri, f"cannot reach the tracking server ({why}) (allowed: a running `mlflow server`)"
        ) from None

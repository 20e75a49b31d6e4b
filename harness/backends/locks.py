"""Which cache entries are in use: advisory ``flock`` locks on entry folders, released when a process ends.

A process using an entry holds a shared lock on its folder; an evictor removes a folder only while it holds
the exclusive lock, so it never removes one in use. A process building an entry holds an exclusive lock on
the entry's build-lock file until it commits, so another process that wants the same entry waits for it (or
takes over when the builder died). Where ``fcntl`` is absent only this process's own entries are known.
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.core.errors import HarnessError

try:
    import fcntl
except ImportError:  # not POSIX
    fcntl = None  # type: ignore[assignment]

# Entry folders this process uses → the fd holding the shared lock; entries it builds → the build lock's fd.
_HELD: dict[Path, int | None] = {}
_BUILDING: dict[Path, int | None] = {}


def _open_dir(path: Path) -> int | None:
    try:
        return os.open(path, os.O_RDONLY)
    except OSError:
        return None


def close(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)


def hold(path: Path) -> None:
    """Make (if needed) and mark an entry folder as in use by this process, until :func:`release`."""
    if path in _HELD:
        return
    if fcntl is None:
        path.mkdir(parents=True, exist_ok=True)
        _HELD[path] = None
        return
    for _ in range(100):
        path.mkdir(parents=True, exist_ok=True)
        fd = _open_dir(path)
        if fd is None:
            continue  # removed between mkdir and open
        fcntl.flock(fd, fcntl.LOCK_SH)
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except OSError:
            same = False
        if same:
            _HELD[path] = fd
            return
        close(fd)  # evicted while we waited for the lock: make it again
    raise HarnessError(f"{path}: the cache entry keeps being removed while it is opened")


def release(path: Path) -> None:
    """This process no longer uses the entry at ``path``: it may be evicted."""
    close(_HELD.pop(path, None))


def claim_for_removal(path: Path) -> tuple[bool, int | None]:
    """(free, fd): when no process uses the entry, ``fd`` holds its exclusive lock; keep it until removed."""
    if path in _HELD or path in _BUILDING:
        return False, None
    fd = _open_dir(path)
    if fd is None or fcntl is None:
        return True, fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        close(fd)
        return False, None
    return True, fd


def building(path: Path) -> bool:
    """Whether this process is building the entry at ``path`` (it started and did not commit)."""
    return path in _BUILDING


def start_build(path: Path, lock_name: str) -> None:
    """Take the entry's build lock, waiting while another process builds it (or until that one has died)."""
    fd = os.open(path / lock_name, os.O_CREAT | os.O_RDWR, 0o644)
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX)
    _BUILDING[path] = fd


def end_build(path: Path) -> None:
    """Release the build lock: processes waiting for the entry go on."""
    close(_BUILDING.pop(path, None))

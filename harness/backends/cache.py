"""A cache of built artifacts (ONNX models, TensorRT engines, compiler caches), keyed by what defines them.

The key (:mod:`harness.backends.keys`) is a hash of a canonical serialisation of what defines an artifact: the
component (its class, the version of the library that defines it, its config as ``config_contribution`` keeps
it, every parameter and buffer), the call the pipeline makes, input shapes and dtypes, precision, the exporter and
the versions of torch, onnx, TensorRT, and the device. Change any of them and the artifact is rebuilt; the same
inputs give the same key in any process (no hash seed, address or path enters it).

Location: ``$HARNESS_CACHE_DIR``, else ``$XDG_CACHE_HOME/harness``, else ``~/.cache/harness``. Layout::

    harness-cache.json                 the root's manifest (written when the harness makes the folder)
    <backend>/<key>/meta.json          each entry's manifest: backend, key, parts, state, size, last use
    <backend>/<key>/...                the artifact (model.onnx, model.engine, ...)
    compile/torch/{inductor,triton}    Inductor's and Triton's caches (torch is pointed there), one entry

The cache removes only what it wrote: an entry is a folder whose ``meta.json`` names that backend and key.
Anything else in the folder is the user's: ``clear`` refuses to run over it, ``gc`` and eviction leave it
alone, and ``ls`` names it. Size budget: ``$HARNESS_CACHE_MAX_GB`` (default :data:`DEFAULT_MAX_GB`);
after each new entry the least recently used entries are evicted until the cache fits, never one in use
(:mod:`harness.backends.locks`: a process using an entry holds a lock on its folder).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.backends import locks
from harness.backends.keys import KEY_VERSION, canonical, key_of
from harness.core.errors import HarnessError, UserInputError
from harness.core.paths import CACHE_ENV, harness_cache_dir

BUDGET_ENV = "HARNESS_CACHE_MAX_GB"
# Two full-size SDXL export sets (ONNX fp32 ≈ 14 GB, TensorRT fp16 engines ≈ 5 GB) fit; set the variable
# to change it, `inf` for no limit.
DEFAULT_MAX_GB = 40.0
META = "meta.json"
ROOT_MANIFEST = "harness-cache.json"
BUILD_LOCK = ".lock"
COMPILE_ENTRY = ("compile", "torch")  # Inductor's and Triton's caches: one entry, written by torch
TORCH_DIRS = ("inductor", "triton")
COMPILE_PARTS = {"what": "Inductor and Triton caches (written by torch)"}


def compiler_cache_dirs(root: Path | None = None) -> dict[str, Path]:
    """Where the harness points Inductor's and Triton's caches: inside the cache's compile entry."""
    entry = (root if root is not None else harness_cache_dir()).joinpath(*COMPILE_ENTRY)
    return {"TORCHINDUCTOR_CACHE_DIR": entry / "inductor", "TRITON_CACHE_DIR": entry / "triton"}


def configure_compiler_caches() -> None:
    """Point Inductor's and Triton's on-disk caches into ours, so `harness cache` lists and clears them.

    Must run before torch is imported: torch sets TORCHINDUCTOR_CACHE_DIR itself when it loads. A value the
    user set beforehand is kept (and that folder is then not the harness's: it never lists or removes it).
    """
    for var, path in compiler_cache_dirs().items():
        os.environ.setdefault(var, str(path))


def budget_bytes(max_gb: float | str | None = None, *, field_name: str = BUDGET_ENV) -> float:
    """The cache's size budget in bytes: ``max_gb`` if given, else ``$HARNESS_CACHE_MAX_GB``, else the default.

    GB are 10⁹ bytes; ``inf`` means no limit. Raises ``UserInputError`` for anything but a number ≥ 0.
    """
    raw: Any = max_gb
    if raw is None:
        raw = os.environ.get(BUDGET_ENV, "").strip() or DEFAULT_MAX_GB
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = math.nan
    if math.isnan(value) or value < 0:
        raise UserInputError(
            f"{str(raw)!r} is not a size in GB (a number ≥ 0, or inf for no limit)", field=field_name
        )
    return value * 1e9


def check_cache_settings() -> None:
    """Before any job: the cache folder is not a file and the budget parses (each a one-line error)."""
    root = harness_cache_dir()
    if root.exists() and not root.is_dir():
        raise UserInputError("exists and is not a folder", source=str(root), field=CACHE_ENV)
    budget_bytes()


# ---------------------------------------------------------------------------------------------- entries
def _read_meta(path: Path) -> dict[str, Any] | None:
    """The entry manifest at ``path`` if the harness wrote it: a JSON object naming this backend and key."""
    try:
        meta = json.loads((path / META).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("key") != path.name or meta.get("backend") != path.parent.name:
        return None
    return meta


def _entry_meta(path: Path) -> dict[str, Any] | None:
    """The manifest of the harness's entry at ``path``, else None. The compile entry may have none yet: torch
    makes its folders there (the harness pointed it there) before any compile job writes the manifest."""
    meta = _read_meta(path)
    ours = (path.parent.name, path.name) == COMPILE_ENTRY and path.is_dir()
    if meta is None and ours and _only_scaffolding(path, also=TORCH_DIRS):
        return {"backend": COMPILE_ENTRY[0], "key": COMPILE_ENTRY[1], "parts": dict(COMPILE_PARTS)}
    return meta


def _write_meta(path: Path, meta: dict[str, Any]) -> None:
    tmp = path / f"{META}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(meta, indent=1, sort_keys=True))
    os.replace(tmp, path / META)


def _tree_size(path: Path) -> int:
    """Bytes of the files under an entry, its own scaffolding (manifest, lock) left out."""
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        top = dirpath == str(path)
        for f in files:
            if top and _scaffolding(f):
                continue
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, f)).st_size
    return total


def _scaffolding(name: str) -> bool:
    """What the harness keeps in an entry besides the artifact: its manifest, build lock, a manifest being written."""
    return name in (META, BUILD_LOCK) or (name.startswith(META + ".") and name.endswith(".tmp"))


def _only_scaffolding(path: Path, also: tuple[str, ...] = ()) -> bool:
    """Nothing in ``path`` but the harness's scaffolding (no manifest yet) and the names in ``also``."""
    return all((_scaffolding(p.name) and p.name != META) or p.name in also for p in path.iterdir())


def _contents(path: Path) -> list[str]:
    """Every file and folder under an entry (relative POSIX paths), its scaffolding left out."""
    out = []
    for dirpath, dirs, files in os.walk(path):
        rel = Path(dirpath).relative_to(path)
        out += [(rel / d).as_posix() for d in dirs]
        out += [(rel / f).as_posix() for f in files if not (rel == Path(".") and _scaffolding(f))]
    return sorted(out)


def _extras(path: Path, meta: dict[str, Any]) -> list[Path]:
    """What is in an entry that the harness did not write there: anything not in the file list its manifest
    recorded at commit (in the compile entry: anything beside the folders torch was pointed at)."""
    if (path.parent.name, path.name) == COMPILE_ENTRY:
        return [p for p in sorted(path.iterdir()) if not _scaffolding(p.name) and p.name not in TORCH_DIRS]
    listed = meta.get("files")
    if not _complete(meta) or not isinstance(listed, list):
        return []  # still being built, or written before manifests listed their files
    known = set(listed)
    return [path / f for f in _contents(path) if f not in known]


def _empty(path: Path, keep: tuple[str, ...]) -> None:
    """Remove what is in an entry folder of the harness's, but the names in ``keep``."""
    for child in path.iterdir():
        if child.name in keep:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def _complete(meta: dict[str, Any]) -> bool:
    return meta.get("state", "complete") == "complete"  # entries written before states existed were complete


def _last_used(meta: dict[str, Any], path: Path) -> float:
    value = meta.get("last_used")
    if isinstance(value, (int, float)):
        return float(value)
    for where in (path / META, path):
        with contextlib.suppress(OSError):
            return where.stat().st_mtime
    return 0.0


@dataclass
class CacheEntry:
    """One entry: ``hit`` when a complete artifact for these parts is already there; else the caller builds
    it into :meth:`file` paths and calls :meth:`commit`."""

    path: Path
    key: str
    backend: str
    parts: dict[str, Any]
    hit: bool
    cache: ArtifactCache
    meta: dict[str, Any] = field(default_factory=dict)

    def file(self, name: str) -> Path:
        return self.path / name

    def commit(self, **extra: Any) -> list[str]:
        """Mark the entry complete (the manifest's state is written last, so a half-built artifact is never a
        hit), then evict least recently used entries down to the budget. Returns notes on what was evicted."""
        now = time.time()
        meta = {
            **self.meta,
            **extra,
            "state": "complete",
            "last_used": now,
            "size_bytes": _tree_size(self.path),
        }
        if (self.backend, self.key) != COMPILE_ENTRY:  # torch adds to that one without us
            meta["files"] = _contents(self.path)
        meta.setdefault("created", now)
        _write_meta(self.path, meta)
        self.meta = meta
        locks.end_build(self.path)  # processes waiting for this entry now see it complete
        return self.cache.enforce_budget()

    def release(self) -> None:
        """This process is done with the entry (its files may be evicted)."""
        locks.release(self.path)


@dataclass
class Listed:
    """An entry as ``ls`` and ``gc`` see it."""

    path: Path
    backend: str
    key: str
    meta: dict[str, Any]
    size_bytes: int
    last_used: float
    extras: list[Path] = field(default_factory=list)  # files in it the harness did not write: never removed

    @property
    def state(self) -> str:
        return str(self.meta.get("state", "complete"))


class CacheNotOurs(UserInputError):
    """``clear`` found things in the cache folder the harness did not write."""


class ArtifactCache:
    """The artifact cache at ``root`` (default :func:`harness_cache_dir`)."""

    def __init__(self, root: str | Path | None = None, max_gb: float | None = None):
        self.root = Path(root) if root is not None else harness_cache_dir()
        self.max_gb = max_gb

    @staticmethod
    def key_of(parts: dict[str, Any]) -> str:
        """The key of these parts (:func:`harness.backends.keys.key_of`)."""
        return key_of(parts)

    def _make_root(self) -> None:
        """Make the root; mark it as the harness's cache when it holds nothing else (torch may have made
        the compile entry's folders there already)."""
        self.root.mkdir(parents=True, exist_ok=True)
        if not (self.root / ROOT_MANIFEST).exists() and not self.scan()[1]:
            manifest = {
                "harness_cache": 1,
                "created": time.time(),
                "about": "the harness's artifact cache: `harness cache ls|gc|clear` manage it, and remove only "
                "folders whose meta.json the harness wrote",
            }
            (self.root / ROOT_MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")

    def entry(self, backend: str, parts: dict[str, Any]) -> CacheEntry:
        """The entry for these key parts, held in use by this process; ``hit`` when a complete artifact is there.

        On a miss the caller owns the (emptied) folder until :meth:`CacheEntry.commit`; a process building the
        same key elsewhere is waited for. A folder at the entry's path that the harness did not write is an
        error, never removed.
        """
        canon = canonical(parts)
        key = self.key_of(parts)
        path = self.root / backend / key
        self._make_root()
        locks.hold(path)
        now = time.time()
        meta = _read_meta(path)
        if meta and _complete(meta) and meta.get("parts") == canon:
            self._touch(path, meta, now)
            return CacheEntry(path, key, backend, canon, True, self, meta)
        if (meta is None and not _only_scaffolding(path)) or (meta and _extras(path, meta)):
            locks.release(path)
            raise HarnessError(
                f"{path}: holds files the harness did not write, where its cache entry goes; move them away"
            )
        if not locks.building(path):  # wait for another process building it, or take over a dead build
            locks.start_build(path, BUILD_LOCK)
            meta = _read_meta(path)
            if meta and _complete(meta) and meta.get("parts") == canon:
                locks.end_build(path)
                self._touch(path, meta, time.time())
                return CacheEntry(path, key, backend, canon, True, self, meta)
        _empty(path, keep=(BUILD_LOCK,))  # a build that did not finish, or a stale entry: ours to empty
        meta = {
            "backend": backend,
            "key": key,
            "key_version": KEY_VERSION,
            "parts": canon,
            "state": "building",
            "created": now,
            "last_used": now,
            "pid": os.getpid(),
            "host": socket.gethostname(),
        }
        _write_meta(path, meta)
        return CacheEntry(path, key, backend, canon, False, self, meta)

    def compile_entry(self) -> CacheEntry | None:
        """The entry that holds Inductor's and Triton's caches, held in use, when torch writes into it (the
        user may point torch elsewhere: that folder is then not ours). Call :meth:`CacheEntry.commit` after
        compiling to record its size and last use."""
        dirs = compiler_cache_dirs(self.root)
        if os.environ.get("TORCHINDUCTOR_CACHE_DIR") != str(dirs["TORCHINDUCTOR_CACHE_DIR"]):
            return None
        backend, key = COMPILE_ENTRY
        path = self.root / backend / key
        self._make_root()
        locks.hold(path)
        meta = _entry_meta(path)
        if meta is None:
            locks.release(path)
            return None  # something besides the folders torch was pointed at: not provably ours, left alone
        now = time.time()
        meta = {"state": "complete", "created": now, **meta}
        self._touch(path, meta, now)
        return CacheEntry(path, key, backend, meta["parts"], True, self, meta)

    @staticmethod
    def _touch(path: Path, meta: dict[str, Any], now: float) -> None:
        meta["last_used"] = now
        _write_meta(path, meta)

    # --------------------------------------------------------------------------------------- listing
    def scan(self, backend: str | None = None) -> tuple[list[Listed], list[Path]]:
        """(the harness's entries, everything else) under the root, or under one backend's folder."""
        entries: list[Listed] = []
        foreign: list[Path] = []
        if not self.root.is_dir():
            return entries, foreign
        for top in sorted(self.root.iterdir()):
            if backend is not None and top.name != backend:
                continue
            if top.name == ROOT_MANIFEST and top.is_file() and not top.is_symlink():
                continue
            if not top.is_dir() or top.is_symlink():
                foreign.append(top)
                continue
            # A folder at the top is a backend's; what is in it without a manifest is not ours (an empty
            # folder holds nothing to lose, and is what clear leaves of a backend's).
            for sub in sorted(top.iterdir()):
                meta = _entry_meta(sub) if sub.is_dir() and not sub.is_symlink() else None
                if meta is None:
                    foreign.append(sub)
                    continue
                size = meta.get("size_bytes")
                if (
                    (sub.parent.name, sub.name) == COMPILE_ENTRY
                    or not _complete(meta)
                    or not isinstance(size, int)
                ):
                    size = _tree_size(sub)  # torch writes there without us; a build is still growing
                extras = _extras(sub, meta)
                foreign += extras
                entries.append(Listed(sub, top.name, sub.name, meta, size, _last_used(meta, sub), extras))
        return entries, foreign

    def entries(self, backend: str | None = None) -> list[Listed]:
        return self.scan(backend)[0]

    # --------------------------------------------------------------------------------------- removal
    def _remove(self, item: Listed) -> bool:
        """Remove one entry unless a process holds it; re-checked under the exclusive lock."""
        if item.extras:
            return False
        free, fd = locks.claim_for_removal(item.path)
        if not free:
            return False
        try:
            meta = _entry_meta(item.path)
            if meta is None or _extras(item.path, meta):
                return False
            try:  # the manifest last: an entry that could not be removed whole stays recognisably ours
                _empty(item.path, keep=(META,))
                (item.path / META).unlink(missing_ok=True)
                item.path.rmdir()
            except OSError:
                return False
            return True
        finally:
            locks.close(fd)

    def clear(self, backend: str | None = None) -> tuple[int, int]:
        """Remove every entry (of one backend): (removed, kept because in use).

        Refuses (``CacheNotOurs``, nothing removed) when the folder it would clear holds anything the
        harness did not write.
        """
        entries, foreign = self.scan(backend)
        if foreign:
            scope = self.root / backend if backend else self.root
            raise CacheNotOurs(
                f"holds {len(foreign)} item(s) the harness did not write ({describe_paths(foreign, self.root)}); "
                f"nothing removed (move them out of {scope}, or point --dir at the harness's own cache folder)",
                source=str(scope),
            )
        removed = sum(self._remove(e) for e in entries)
        return removed, len(entries) - removed

    def gc(self, max_gb: float | None = None) -> GcResult:
        """Evict least recently used entries, never one in use, until the cache fits its budget."""
        budget = budget_bytes(max_gb if max_gb is not None else self.max_gb)
        entries, foreign = self.scan()
        total = sum(e.size_bytes for e in entries)
        evicted: list[Listed] = []
        busy = pinned = 0
        for e in sorted(entries, key=lambda e: e.last_used):
            if total <= budget:
                break
            if e.extras:
                pinned += 1
            elif self._remove(e):
                evicted.append(e)
                total -= e.size_bytes
            else:
                busy += 1
        return GcResult(budget, total, evicted, busy, pinned, foreign, len(entries) - len(evicted))

    def enforce_budget(self) -> list[str]:
        """After a new entry: evict down to the budget; notes for the job's record."""
        result = self.gc()
        notes = []
        if result.evicted:
            notes.append(
                f"cache: evicted {len(result.evicted)} least recently used entr{'y' if len(result.evicted) == 1 else 'ies'} "
                f"({human_bytes(sum(e.size_bytes for e in result.evicted))}) to stay within "
                f"{human_bytes(result.budget)} ({BUDGET_ENV})"
            )
        if result.total > result.budget:
            notes.append(
                f"cache: {human_bytes(result.total)} is over its budget of {human_bytes(result.budget)} "
                f"({BUDGET_ENV}): the entries left are in use{' or hold files the harness did not write' if result.pinned else ''}"
            )
        return notes


@dataclass
class GcResult:
    budget: float
    total: int
    evicted: list[Listed]
    busy: int  # kept: in use by a process
    pinned: int  # kept: they hold files the harness did not write
    foreign: list[Path]
    kept: int


def describe_paths(paths: list[Path], root: Path, limit: int = 5) -> str:
    """``a.txt, onnxruntime/mine/, and 3 more``: paths relative to ``root``, folders with a slash."""
    shown = [
        p.relative_to(root).as_posix() + ("/" if p.is_dir() and not p.is_symlink() else "") for p in paths
    ]
    more = f", and {len(shown) - limit} more" if len(shown) > limit else ""
    return ", ".join(shown[:limit]) + more


def human_bytes(n: float) -> str:
    """Decimal units, as the budget: 3.44 GB, 812.00 MB, 12.30 kB."""
    if math.isinf(n):
        return "no limit"
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{int(n)} B"

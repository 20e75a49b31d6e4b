"""Pinned weights of the quality metrics: locating, verifying and fetching them (the pins are data, in
:mod:`harness.metrics.weight_pins`: where each file comes from and its sha256).

Nothing is downloaded at run time. A metric asks for a name (``locate("pytorch-fid-inception")``); the file is
looked for, in order, in

1. the ``--weights-dir`` folder (``weights_dir=`` argument), then ``$HARNESS_WEIGHTS_DIR``;
2. torch hub's cache, ``$TORCH_HOME/hub/checkpoints`` (default ``~/.cache/torch/hub/checkpoints``), for files
   published as torch hub checkpoints;
3. the Hugging Face cache (``huggingface_hub.try_to_load_from_cache``, local files only), for files published
   on the Hugging Face Hub: the pinned revision first, then whatever ``main`` points to;

and verified against its pinned sha256 (the full hash; a ``sha256_prefix`` only where the full hash is not known
for certain). A file with neither (no published hash was found: some DINOv2 files) is accepted unverified: its
sha256 is recorded (``Located.unverified`` names it, and so do the metric's fingerprint and ``harness weights
verify``), never checked against a made-up one. A missing file raises ``WeightsNotFoundError`` with one line naming the file, every place looked
and how to provide it; a file with another hash raises ``WeightsMismatchError``. ``fetch`` (``harness weights
fetch``) downloads the files into a folder on a connected machine, laid out as ``HARNESS_WEIGHTS_DIR`` expects:
torch hub files flat (``DIR/<filename>``), Hugging Face bundles in a subfolder (``DIR/<folder>/<filename>``).

Standard library only at import time (no torch): ``harness weights list|path|verify`` start fast.
"""

from __future__ import annotations

import hashlib
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from harness.core.errors import HarnessError, UserInputError, WeightsNotFoundError
from harness.core.paths import hf_hub_cache, torch_hub_dir
from harness.core.registry import did_you_mean
from harness.metrics import weight_pins as pins

__all__ = [
    "WEIGHTS",
    "Located",
    "WeightsFetchError",
    "WeightsFile",
    "WeightsMismatchError",
    "WeightsSpec",
    "fetch",
    "locate",
    "search_places",
    "sha256_of",
    "spec",
]

ENV_DIR = "HARNESS_WEIGHTS_DIR"


class WeightsMismatchError(HarnessError):
    """A weights file was found but its sha256 is not the pinned one (another or a corrupted file)."""


class WeightsFetchError(HarnessError):
    """``harness weights fetch`` could not download or verify a file (no network, HTTP error, bad hash)."""


@dataclass(frozen=True)
class WeightsFile:
    """One file of a weights entry.

    ``sha256`` is the full hex digest. Where only torch hub's 8-hex prefix (in the file name) is known for certain,
    ``sha256`` is None and ``sha256_prefix`` holds it: the file is then checked against the prefix only.
    """

    filename: str
    sha256: str | None = None
    sha256_prefix: str | None = None
    size: int | None = None
    required: bool = True
    hash_source: str = ""

    @property
    def pinned(self) -> bool:
        """False where no published hash is known: the file is accepted unverified (and said to be)."""
        return bool(self.sha256 or self.sha256_prefix)

    @property
    def pin(self) -> str:
        if not self.pinned:
            return "not pinned (no published sha256 found)"
        return self.sha256 or f"{self.sha256_prefix}… (prefix)"

    def matches(self, digest: str) -> bool:
        if self.sha256:
            return digest == self.sha256
        if self.sha256_prefix:
            return digest.startswith(self.sha256_prefix)
        return not self.pinned


@dataclass(frozen=True)
class WeightsSpec:
    """A named set of files: one torch hub checkpoint, or a Hugging Face model folder (a bundle)."""

    name: str
    summary: str
    host: Literal["torch-hub", "hf"]
    files: tuple[WeightsFile, ...]
    license: str
    url: str = ""  # torch hub: the file's URL; hf: the repository page
    repo_id: str | None = None  # hf only
    revision: str | None = None  # hf only: the pinned commit
    folder: str | None = None  # hf only: subfolder of a weights dir holding the bundle
    used_by: tuple[str, ...] = ()

    @property
    def is_bundle(self) -> bool:
        return self.host == "hf"

    def file_url(self, wf: WeightsFile) -> str:
        if self.host == "hf":
            # quoted: a "+" in a file name (sac+logos+ava1-l14-linearMSE.pth) must reach the Hub as %2B
            name = urllib.parse.quote(wf.filename)
            return f"https://huggingface.co/{self.repo_id}/resolve/{self.revision or 'main'}/{name}"
        return self.url

    def file(self, filename: str) -> WeightsFile:
        for wf in self.files:
            if wf.filename == filename:
                return wf
        raise KeyError(filename)

    @property
    def required_files(self) -> tuple[WeightsFile, ...]:
        return tuple(wf for wf in self.files if wf.required)


def _entry(name: str) -> WeightsSpec:
    """The ``WeightsSpec`` of one entry of :mod:`harness.metrics.weight_pins`."""
    host, source, revision, folder, used_by = pins.ENTRIES[name]
    summary, licence = pins.ABOUT[name]
    files = tuple(
        WeightsFile(filename, sha256=sha, size=size, required=required, hash_source=pins.SOURCES[where])
        for entry, filename, sha, size, required, where in pins.FILES
        if entry == name
    )
    if host == "hf":
        return WeightsSpec(
            name=name,
            summary=summary,
            host="hf",
            files=files,
            license=licence,
            url=f"https://huggingface.co/{source}",
            repo_id=source,
            revision=revision,
            folder=folder,
            used_by=used_by,
        )
    return WeightsSpec(
        name=name,
        summary=summary,
        host="torch-hub",
        files=files,
        license=licence,
        url=source,
        used_by=used_by,
    )


WEIGHTS: dict[str, WeightsSpec] = {name: _entry(name) for name in pins.ENTRIES}


def spec(name: str) -> WeightsSpec:
    """The registry entry ``name``; an unknown name is bad input (with a did-you-mean hint)."""
    if name not in WEIGHTS:
        raise UserInputError(f"unknown weights '{name}' ({did_you_mean(name, WEIGHTS)})")
    return WEIGHTS[name]


# --------------------------------------------------------------------------------------------- hashing

_HASH_MEMO: dict[tuple[str, int, int], str] = {}


def sha256_of(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, remembered per (path, size, mtime) for this process."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    if key not in _HASH_MEMO:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        _HASH_MEMO[key] = h.hexdigest()
    return _HASH_MEMO[key]


def _check(path: Path, wf: WeightsFile, name: str) -> str:
    digest = sha256_of(path)
    if not wf.matches(digest):
        expected = wf.sha256 or f"a hash starting {wf.sha256_prefix}"
        raise WeightsMismatchError(
            f"weights '{name}': {path}: sha256 mismatch: expected {expected}, got {digest} "
            "(another or a corrupted file: delete it and provide the pinned one, see `harness weights list`)"
        )
    return digest


# --------------------------------------------------------------------------------------------- locating


@dataclass
class Located:
    """Where a weights entry was found: ``root`` is the file (torch hub) or the bundle's folder (hf)."""

    spec: WeightsSpec
    root: Path
    files: dict[str, Path]
    where: str
    sha256: dict[str, str] = field(default_factory=dict)  # filled by verification

    @property
    def path(self) -> Path:
        """The single file of a torch hub entry, or the bundle folder."""
        return self.root

    @property
    def unverified(self) -> list[str]:
        """The files present whose hash is not pinned (accepted, their sha256 recorded, never called verified)."""
        return [f for f in self.files if not self.spec.file(f).pinned]

    def details(self) -> dict[str, object]:
        """For metric fingerprints: the entry's name and the sha256 of each file (verified unless listed in
        ``unverified``)."""
        d: dict[str, object] = {"name": self.spec.name, "sha256": dict(self.sha256)}
        if self.unverified:
            d["unverified"] = self.unverified
        return d


def search_places(weights_dir: str | os.PathLike[str] | None = None) -> list[tuple[Path, str]]:
    """The weights folders searched first: ``(folder, label)`` for --weights-dir and $HARNESS_WEIGHTS_DIR."""
    places: list[tuple[Path, str]] = []
    if weights_dir:
        places.append((Path(weights_dir).expanduser(), "--weights-dir"))
    env = os.environ.get(ENV_DIR)
    if env:
        p = Path(env).expanduser()
        if not places or places[0][0] != p:
            places.append((p, f"${ENV_DIR}"))
    return places


def _hf_cached(s: WeightsSpec, filename: str, revision: str | None) -> Path | None:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover
        return None
    try:
        hit = try_to_load_from_cache(s.repo_id, filename, revision=revision)
    except Exception:
        return None
    return Path(hit) if isinstance(hit, str) and os.path.isfile(hit) else None


def _find(s: WeightsSpec, weights_dir: str | os.PathLike[str] | None) -> tuple[Located | None, list[str]]:
    """The first place holding every required file of ``s``, and a description of each place looked."""
    looked: list[str] = []

    def in_folder(folder: Path, label: str) -> Located | None:
        present = {wf.filename: folder / wf.filename for wf in s.files if (folder / wf.filename).is_file()}
        missing = [wf.filename for wf in s.required_files if wf.filename not in present]
        if not missing:
            root = folder if s.is_bundle else present[s.files[0].filename]
            return Located(s, root, present, f"{label}: {folder}")
        if s.is_bundle and len(missing) < len(s.required_files):
            looked.append(f"{folder} ({label}; missing {', '.join(missing)})")
        else:
            looked.append(f"{folder} ({label})")
        return None

    places = search_places(weights_dir)
    env_set = bool(os.environ.get(ENV_DIR))
    for folder, label in places:
        hit = in_folder(folder / s.folder if s.is_bundle and s.folder else folder, label)
        if hit:
            return hit, looked
    if not env_set:
        looked.append(f"${ENV_DIR} (unset)")
    if s.host == "torch-hub":
        hit = in_folder(torch_hub_dir(), "torch hub cache")
        if hit:
            return hit, looked
    else:
        revisions = [s.revision, None] if s.revision else [None]
        for rev in revisions:
            found = {wf.filename: _hf_cached(s, wf.filename, rev) for wf in s.files}
            present = {k: v for k, v in found.items() if v is not None}
            parents = {p.parent for p in present.values()}
            if all(wf.filename in present for wf in s.required_files) and len(parents) == 1:
                root = parents.pop()
                label = f"Hugging Face cache ({s.repo_id}@{(rev or 'main')[:12]})"
                return Located(s, root, present, f"{label}: {root}"), looked
        looked.append(
            f"{hf_hub_cache()} (Hugging Face cache, {s.repo_id} at {(s.revision or 'main')[:8]} or main)"
        )
    return None, looked


def _not_found(s: WeightsSpec, looked: list[str]) -> WeightsNotFoundError:
    what = (
        s.files[0].filename
        if not s.is_bundle
        else (f"{s.repo_id} ({', '.join(wf.filename for wf in s.required_files)})")
    )
    layout = f"DIR/{s.folder}/" if s.is_bundle else "DIR/"
    return WeightsNotFoundError(
        f"weights '{s.name}' not found: {what}; looked in: {'; '.join(looked)}; "
        f"to provide it, run `harness weights fetch {s.name} --to DIR` on a connected machine "
        f"(or download {s.url} into {layout}), copy DIR here and set {ENV_DIR}=DIR"
    )


def locate(name: str, weights_dir: str | os.PathLike[str] | None = None, *, verify: bool = True) -> Located:
    """Find the weights ``name`` on this machine (never downloading) and verify their sha256.

    Args:
        name: A key of ``WEIGHTS``.
        weights_dir: A folder searched first (the ``--weights-dir`` flag), before ``$HARNESS_WEIGHTS_DIR``.
        verify: Check every present file against its pinned hash (skip for a cheap listing).

    Raises:
        UserInputError: Unknown name.
        WeightsNotFoundError: Not found anywhere (one line: the file, every place looked, how to provide it).
        WeightsMismatchError: Found, but a file's sha256 is not the pinned one.
    """
    s = spec(name)
    hit, looked = _find(s, weights_dir)
    if hit is None:
        raise _not_found(s, looked)
    if verify:
        for filename, path in hit.files.items():
            hit.sha256[filename] = _check(path, s.file(filename), s.name)
    return hit


def find(name: str, weights_dir: str | os.PathLike[str] | None = None) -> Located | None:
    """Like ``locate`` without verification, or None when absent (for listings)."""
    hit, _ = _find(spec(name), weights_dir)
    return hit


# --------------------------------------------------------------------------------------------- fetching


def _download(url: str, dest: Path, wf: WeightsFile, name: str, timeout: float) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    h = hashlib.sha256()
    try:
        req = urllib.request.Request(url, headers={"User-Agent": "harness-weights-fetch"})
        with urllib.request.urlopen(req, timeout=timeout) as resp, open(part, "wb") as out:
            for chunk in iter(lambda: resp.read(1 << 20), b""):
                h.update(chunk)
                out.write(chunk)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        part.unlink(missing_ok=True)
        reason = getattr(exc, "reason", None) or exc
        raise WeightsFetchError(
            f"weights '{name}': cannot download {url}: {reason} (no network here? run `harness weights fetch` "
            f"on a connected machine, copy the folder here and set {ENV_DIR})"
        ) from None
    digest = h.hexdigest()
    if not wf.matches(digest):
        part.unlink(missing_ok=True)
        raise WeightsFetchError(
            f"weights '{name}': {url} downloaded with sha256 {digest}, expected {wf.pin}; nothing was kept"
        )
    os.replace(part, dest)


def fetch(
    names: Iterable[str] | None, to: str | os.PathLike[str], *, timeout: float = 20.0, log=None
) -> list[Path]:
    """Download and verify weights into ``to`` (the layout ``HARNESS_WEIGHTS_DIR`` expects).

    Files already in ``to`` with the pinned hash are kept. For a connected machine: here it fails with
    ``WeightsFetchError`` (one line) after at most ``timeout`` seconds per connection.

    Returns:
        The paths written or kept.
    """
    selected = [spec(n) for n in names] if names else list(WEIGHTS.values())
    root = Path(to).expanduser()
    if root.exists() and not root.is_dir():
        raise UserInputError("--to: exists and is not a folder", source=str(root))
    out: list[Path] = []
    for s in selected:
        for wf in s.files:
            dest = root / s.folder / wf.filename if s.is_bundle and s.folder else root / wf.filename
            if dest.is_file() and wf.matches(sha256_of(dest)):
                out.append(dest)
                continue
            if s.is_bundle and os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
                raise WeightsFetchError(
                    f"weights '{s.name}': HF_HUB_OFFLINE is set: refusing to download {s.file_url(wf)}"
                )
            t0 = time.perf_counter()
            if log:
                log(f"fetching {s.file_url(wf)}")
            _download(s.file_url(wf), dest, wf, s.name, timeout)
            if log:
                ok = "sha256 ok" if wf.pinned else f"sha256 {sha256_of(dest)}, NOT verified: {wf.pin}"
                log(f"  {dest} ({dest.stat().st_size} bytes, {time.perf_counter() - t0:.1f} s, {ok})")
            out.append(dest)
    return out

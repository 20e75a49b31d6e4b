"""A cache of built artifacts (ONNX models, TensorRT engines, compiler caches), keyed by what defines them.

The key covers the component's weights and config, the input shapes, precision, backend and its version,
torch's version and the device name: change any of them and the artifact is rebuilt.
Location: ``$HARNESS_CACHE_DIR``, else ``$XDG_CACHE_HOME/harness``, else ``~/.cache/harness``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CACHE_ENV = "HARNESS_CACHE_DIR"
META = "meta.json"


def default_cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "harness"


def configure_compiler_caches() -> None:
    """Point Inductor's and Triton's on-disk caches into ours, so `harness cache` lists and clears them.

    Must run before torch is imported: torch sets TORCHINDUCTOR_CACHE_DIR itself when it loads. A value the
    user set beforehand is kept.
    """
    root = default_cache_dir() / "compile"
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(root / "inductor"))
    os.environ.setdefault("TRITON_CACHE_DIR", str(root / "triton"))


def module_fingerprint(module: Any) -> str:
    """sha256 over a module's parameters and buffers (names, dtypes, shapes, bytes) and its config."""
    import torch

    h = hashlib.sha256()
    config = getattr(module, "config", None)
    if config is not None:
        cfg = dict(config) if hasattr(config, "keys") else getattr(config, "to_dict", lambda: {})()
        h.update(json.dumps(cfg, sort_keys=True, default=str).encode())
    h.update(type(module).__qualname__.encode())
    with torch.no_grad():
        for name, tensor in sorted(module.state_dict().items()):
            t = tensor.detach()
            h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
            if t.dtype == torch.bfloat16:
                t = t.view(torch.int16)
            h.update(t.contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


@dataclass
class CacheEntry:
    path: Path
    key: str
    meta: dict[str, Any]
    hit: bool

    def file(self, name: str) -> Path:
        return self.path / name

    def commit(self, **extra: Any) -> None:
        """Mark the entry complete (written last, so a half-built artifact is never a hit)."""
        meta = {**self.meta, **extra, "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
        tmp = self.path / (META + ".tmp")
        tmp.write_text(json.dumps(meta, indent=1, default=str))
        os.replace(tmp, self.path / META)


class ArtifactCache:
    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()

    @staticmethod
    def key_of(parts: dict[str, Any]) -> str:
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]

    def entry(self, backend: str, parts: dict[str, Any]) -> CacheEntry:
        """The entry for these key parts; ``hit`` is True when a complete artifact is already there."""
        key = self.key_of(parts)
        path = self.root / backend / key
        hit = (path / META).is_file()
        if not hit and path.exists():
            shutil.rmtree(path)  # left over from a build that did not finish
        path.mkdir(parents=True, exist_ok=True)
        return CacheEntry(path=path, key=key, meta={"backend": backend, "key": key, "parts": parts}, hit=hit)

    def entries(self) -> list[dict[str, Any]]:
        out = []
        if not self.root.is_dir():
            return out
        for meta_file in sorted(self.root.glob(f"*/*/{META}")):
            try:
                meta = json.loads(meta_file.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            size = sum(f.stat().st_size for f in meta_file.parent.rglob("*") if f.is_file())
            meta["size_mib"] = size / 2**20
            meta["path"] = str(meta_file.parent)
            out.append(meta)
        compiled = self.root / "compile"
        size = sum(f.stat().st_size for f in compiled.rglob("*") if f.is_file()) if compiled.is_dir() else 0
        if size:  # Inductor/Triton manage their own entries; listed as one
            out.append(
                {
                    "backend": "compile",
                    "key": "inductor+triton caches",
                    "parts": {},
                    "size_mib": size / 2**20,
                    "path": str(compiled),
                }
            )
        return out

    def clear(self, backend: str | None = None) -> int:
        """Remove every entry (of one backend); returns how many were removed."""
        removed = 0
        if not self.root.is_dir():
            return 0
        for folder in sorted(self.root.iterdir()):
            if not folder.is_dir() or (backend and folder.name != backend):
                continue
            removed += sum(1 for p in folder.iterdir() if p.is_dir())
            shutil.rmtree(folder)
        return removed

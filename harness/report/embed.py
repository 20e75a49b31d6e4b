"""A job's sample files embedded in report.html: images as PNG thumbnails, audio as data URIs."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

from harness.results.record import Record

MAX_SAMPLES_PER_JOB = 8
THUMB_PX = 192
MAX_AUDIO_BYTES = 4 * 1024 * 1024


def data_uri(data: bytes, mime: str) -> str:
    """``data:MIME;base64,…``."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def thumbnail(path: Path) -> tuple[str | None, bool]:
    """A PNG data URI of the image (or a GIF's first frame), shrunk to THUMB_PX when larger, and whether
    it is small enough to be shown enlarged with crisp pixels."""
    try:
        from PIL import Image
    except ImportError:
        mime = {".gif": "image/gif", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}
        return data_uri(path.read_bytes(), mime.get(path.suffix.lower(), "image/png")), False
    try:
        with Image.open(path) as im:
            im.seek(0)
            frame = im.convert("RGBA" if im.mode in ("RGBA", "LA", "P") else "RGB")
    except (OSError, ValueError, EOFError):
        return None, False
    if max(frame.size) > THUMB_PX:
        frame.thumbnail((THUMB_PX, THUMB_PX), Image.LANCZOS)
    buf = io.BytesIO()
    frame.save(buf, format="PNG", optimize=True)
    return data_uri(buf.getvalue(), "image/png"), max(frame.size) < 96


def sample_items(r: Record) -> list[dict[str, Any]]:
    """The first :data:`MAX_SAMPLES_PER_JOB` samples of a job, each ``{name, kind, src, note, pixelated}``:
    ``kind`` image, audio, missing, unreadable, too-large or other; ``src`` its data URI."""
    base = Path(r.run_dir or ".")
    out = []
    for rel in r.samples[:MAX_SAMPLES_PER_JOB]:
        path = base / rel
        name = Path(rel).name
        item: dict[str, Any] = {"name": name, "kind": "missing", "src": "", "note": "", "pixelated": False}
        if path.is_file():
            suffix = path.suffix.lower()
            if suffix in (".png", ".jpg", ".jpeg", ".webp", ".gif"):
                src, small = thumbnail(path)
                item.update(
                    kind="image" if src else "unreadable",
                    src=src or "",
                    pixelated=small,
                    note="first frame" if suffix == ".gif" else "",
                )
            elif suffix in (".wav", ".flac", ".ogg", ".mp3"):
                size = path.stat().st_size
                if size <= MAX_AUDIO_BYTES:
                    mime = {
                        ".wav": "audio/wav",
                        ".flac": "audio/flac",
                        ".ogg": "audio/ogg",
                        ".mp3": "audio/mpeg",
                    }[suffix]
                    item.update(kind="audio", src=data_uri(path.read_bytes(), mime))
                else:
                    item.update(kind="too-large", note=f"{size / 2**20:.1f} MiB, not embedded")
            else:
                item.update(kind="other")
        out.append(item)
    return out

"""The one place that knows where things are: the repository, the harness's artifact cache, and the torch hub
and Hugging Face caches it reads weights from. Read from the environment at each call (a test or a user may
set ``HF_HUB_CACHE`` after ``huggingface_hub`` was imported); nothing here imports torch or huggingface_hub.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = [
    "CACHE_ENV",
    "REPO_ROOT",
    "harness_cache_dir",
    "hf_hub_cache",
    "hub_snapshot",
    "pipeline_snapshot",
    "torch_hub_dir",
    "user_cache_home",
]

# The checkout (or installed tree) that holds harness/, model_cards/ and suites/.
REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_ENV = "HARNESS_CACHE_DIR"


def user_cache_home() -> Path:
    """``$XDG_CACHE_HOME``, else ``~/.cache``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def harness_cache_dir() -> Path:
    """The artifact cache: ``$HARNESS_CACHE_DIR``, else ``$XDG_CACHE_HOME/harness``, else ``~/.cache/harness``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return user_cache_home() / "harness"


def torch_hub_dir() -> Path:
    """``$TORCH_HOME/hub/checkpoints`` as torch.hub computes it (default ``~/.cache/torch/hub/checkpoints``)."""
    torch_home = os.environ.get("TORCH_HOME") or str(user_cache_home() / "torch")
    return Path(os.path.expanduser(torch_home)) / "hub" / "checkpoints"


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache: ``$HF_HUB_CACHE``, ``$HF_HOME/hub``; else, where ``huggingface_hub`` is
    already imported, its own setting (fixed at its import, and what its functions use); else
    ``~/.cache/huggingface/hub``."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]) / "hub"
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None and getattr(constants, "HF_HUB_CACHE", None):
        return Path(constants.HF_HUB_CACHE)
    return user_cache_home() / "huggingface" / "hub"


def hub_snapshot(repo_id: str, revision: str, cache: Path | None = None) -> Path | None:
    """The snapshot folder of ``repo_id`` at ``revision`` (a branch, tag or commit) in the hub cache's layout
    (``models--org--name/refs/REV`` → ``snapshots/COMMIT``), or None when it is not there."""
    repo = (cache or hf_hub_cache()) / f"models--{repo_id.replace('/', '--')}"
    ref = repo / "refs" / revision
    commit = ref.read_text().strip() if ref.is_file() else revision
    snapshot = repo / "snapshots" / commit
    return snapshot if snapshot.is_dir() else None


def pipeline_snapshot(repo_id: str, revision: str, cache: Path | None = None) -> Path | None:
    """The snapshot folder of a diffusers repository in the hub cache (:func:`hub_snapshot` with its
    ``model_index.json`` present), or None. Local files only: nothing is downloaded."""
    snapshot = hub_snapshot(repo_id, revision, cache)
    return snapshot if snapshot is not None and (snapshot / "model_index.json").is_file() else None

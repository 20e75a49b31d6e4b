"""Each VBench dimension scored by vbench's own per-video code, fed our frames instead of decoded MP4 files.

vbench's dimension functions take video paths and read them with decord (``load_video``) or OpenCV. Here each
video gets a key (``video-0000.mp4``) and, for the duration of the call, the reader vbench's function uses is
replaced by one that returns our frames in exactly the form the MP4 reader returns them: ``load_video`` gives a
float tensor (T, 3, H, W) of 0-255 values (or the uint8 array (T, H, W, 3) with ``return_tensor=False``);
OpenCV's reader gives RGB uint8 frames. Everything after reading, preprocessing included, is vbench's code.

A scorer returns, per video, the numerator and denominator VBench sums for its dimension score (the score is
Σ numerators / Σ denominators, as VBench computes it on one process): frame pairs for the consistencies, frames
for ``appearance_style`` and ``scene``, one per video for ``motion_smoothness`` and ``dynamic_degree``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from unittest import mock

import numpy as np

from harness.metrics.base import version_of
from harness.metrics.loading import load_strict
from harness.metrics.vbench import nets

__all__ = ["SCORERS", "Item", "Scorer", "to_uint8"]

_PATCH_LOCK = threading.Lock()


def to_uint8(video: np.ndarray) -> np.ndarray:
    """(T, H, W, C) in [0, 1] → RGB uint8 as diffusers' ``export_to_video`` quantises (x · 255, truncated)."""
    u8 = (np.clip(video, 0.0, 1.0) * 255).astype(np.uint8)
    return np.repeat(u8, 3, axis=-1) if u8.shape[-1] == 1 else u8


@dataclass
class Item:
    """One video to score: its key, RGB uint8 frames (T, H, W, 3), and the dimension's auxiliary information."""

    key: str
    frames: np.ndarray
    aux: Any = None


def _reader(items: Sequence[Item]) -> Callable[..., Any]:
    """A stand-in for ``vbench.utils.load_video`` of a decoded MP4, over our frames."""
    import torch

    by_key = {it.key: it.frames for it in items}

    def load_video(path: str, data_transform: Any = None, num_frames: Any = None, return_tensor: bool = True,
                   width: Any = None, height: Any = None) -> Any:  # fmt: skip
        if num_frames or width or height:
            raise NotImplementedError("frame sampling and decoder resizing are not reproduced")
        frames = by_key[path]
        if data_transform:
            return data_transform(frames)
        return torch.Tensor(frames).permute(0, 3, 1, 2) if return_tensor else frames

    return load_video


@contextlib.contextmanager
def patched(module: Any, **attrs: Any) -> Iterator[None]:
    """``module``'s globals replaced for the duration of one call (one call at a time in this process)."""
    with _PATCH_LOCK, contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(module, "tqdm", lambda it, **_: it))
        for name, value in attrs.items():
            stack.enter_context(mock.patch.object(module, name, value))
        yield


class Scorer:
    """Loads a dimension's networks once, then scores lists of videos; ``details()`` for the fingerprint."""

    dimension: ClassVar[str]
    module: ClassVar[str]
    weights: ClassVar[tuple[str, ...]] = ()

    def __init__(self, device: str, weights_dir: str | None) -> None:
        self.device = device
        self.vb = nets.require_vbench(self.module)
        self.located = [nets.locate(name, weights_dir) for name in self.weights]

    def score(self, items: Sequence[Item], fps: int | None) -> list[tuple[float, float]]:
        raise NotImplementedError

    def details(self) -> dict[str, Any]:
        return {
            "code": f"vbench {version_of('vbench')} vbench.{self.module}",
            "weights": [loc.details() for loc in self.located],
            "input": "frames quantised as export_to_video does, read as vbench reads a decoded MP4 (no codec)",
        }


class SubjectConsistency(Scorer):
    dimension, module, weights = "subject_consistency", "subject_consistency", ("vbench-dino-vitb16",)

    def score(self, items: Sequence[Item], fps: int | None) -> list[tuple[float, float]]:
        model = nets.load_dino(self.located[0], self.device)
        with patched(self.vb, load_video=_reader(items)):
            _, rows = self.vb.subject_consistency(model, [it.key for it in items], self.device, False)
        return [(r["video_results"] * (len(it.frames) - 1), len(it.frames) - 1) for r, it in zip(rows, items)]


class BackgroundConsistency(Scorer):
    dimension, module, weights = "background_consistency", "background_consistency", ("vbench-clip-vit-b-32",)

    def score(self, items: Sequence[Item], fps: int | None) -> list[tuple[float, float]]:
        model, preprocess = nets.load_clip_b32(self.located[0], self.device)
        with patched(self.vb, load_video=_reader(items)):
            _, rows = self.vb.background_consistency(
                model, preprocess, [it.key for it in items], self.device, False
            )
        return [(r["video_sim"], r["cnt_per_video"]) for r in rows]


class AppearanceStyle(Scorer):
    dimension, module, weights = "appearance_style", "appearance_style", ("vbench-clip-vit-b-32",)

    def score(self, items: Sequence[Item], fps: int | None) -> list[tuple[float, float]]:
        model, _ = nets.load_clip_b32(self.located[0], self.device)
        infos = [{"auxiliary_info": it.aux, "video_list": [it.key]} for it in items]
        with patched(self.vb, load_video=_reader(items)):
            _, rows = self.vb.appearance_style(model, infos, self.device)
        return [(float(np.sum(r["frame_results"])), len(r["frame_results"])) for r in rows]


class DynamicDegree(Scorer):
    dimension, module, weights = "dynamic_degree", "dynamic_degree", ("vbench-raft-things",)

    def score(self, items: Sequence[Item], fps: int | None) -> list[tuple[float, float]]:
        import torch
        from easydict import EasyDict

        frames = {it.key: it.frames for it in items}
        device = self.device

        class FromFrames(self.vb.DynamicDegree):  # type: ignore[name-defined,misc]
            def get_frames(self, path: str) -> list[Any]:
                # vbench's MP4 reader keeps every round(fps / 8)-th frame as a float (1, 3, H, W) tensor.
                interval = max(1, round(fps / 8))
                return [
                    torch.from_numpy(f).permute(2, 0, 1).float()[None].to(device)
                    for f in frames[path][::interval]
                ]

        args = EasyDict(
            {
                "model": str(self.located[0].path),
                "small": False,
                "mixed_precision": False,
                "alternate_corr": False,
            }
        )
        dyn = FromFrames(args, device)
        return [(float(dyn.infer(it.key)), 1.0) for it in items]


class MotionSmoothness(Scorer):
    dimension, module, weights = "motion_smoothness", "motion_smoothness", ("vbench-amt-s",)

    def score(self, items: Sequence[Item], fps: int | None) -> list[tuple[float, float]]:
        path = self.located[0].path
        located = self.located[0]

        class Verified(self.vb.MotionSmoothness):  # type: ignore[name-defined,misc]
            def load_model(self) -> None:
                import torch
                from omegaconf import OmegaConf
                from vbench.third_party.amt.utils.build_utils import build_from_cfg

                self.model = build_from_cfg(OmegaConf.load(self.config).network)
                # the hash was verified first; AMT checkpoints hold more than tensors
                ckpt = torch.load(located.path, map_location="cpu", weights_only=False)
                load_strict(self.model, ckpt["state_dict"], path)
                self.model = self.model.to(self.device).eval()

        config = f"{self.vb.__file__.rsplit('/', 1)[0]}/third_party/amt/cfgs/AMT-S.yaml"
        ms = Verified(config, str(path), self.device)
        by_key = {it.key: list(it.frames) for it in items}
        ms.fp.get_frames = lambda p: by_key[p]
        return [(float(ms.motion_score(it.key)), 1.0) for it in items]


SCORERS: dict[str, type[Scorer]] = {
    s.dimension: s
    for s in (SubjectConsistency, BackgroundConsistency, AppearanceStyle, DynamicDegree, MotionSmoothness)
}

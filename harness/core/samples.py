"""The neutral type of generated outputs: what loaders produce and metrics, reports and the zoo read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

__all__ = ["Modality", "Samples"]

Modality = Literal["image", "video", "audio"]


@dataclass
class Samples:
    """Generated outputs, one modality, float32 numpy.

    image: (N, H, W, C) in [0, 1]; video: (N, F, H, W, C) in [0, 1]; audio: (N, C, T) in [-1, 1].
    """

    modality: Modality
    data: np.ndarray
    sample_rate: int | None = None
    fps: int | None = None
    seeds: list[int] = field(default_factory=list)
    prompts: list[str] | None = None  # what each item was asked for (alignment metrics)
    labels: list[int] | None = None  # requested class of each item (class-conditional models)

    def __post_init__(self) -> None:
        ndim = {"image": 4, "video": 5, "audio": 3}[self.modality]
        if self.data.ndim != ndim:
            raise ValueError(
                f"{self.modality} samples must have {ndim} dimensions "
                f"({'N,H,W,C' if ndim == 4 else 'N,F,H,W,C' if ndim == 5 else 'N,C,T'}), got shape {self.data.shape}"
            )

    def __len__(self) -> int:
        return int(self.data.shape[0])

    def take(self, start: int, stop: int) -> Samples:
        """Items ``start`` … ``stop - 1``, with their seeds, prompts and labels."""
        return Samples(
            modality=self.modality,
            data=self.data[start:stop],
            sample_rate=self.sample_rate,
            fps=self.fps,
            seeds=self.seeds[start:stop],
            prompts=self.prompts[start:stop] if self.prompts is not None else None,
            labels=self.labels[start:stop] if self.labels is not None else None,
        )

    @staticmethod
    def concat(parts: list[Samples]) -> Samples:
        first = parts[0]
        return Samples(
            modality=first.modality,
            data=np.concatenate([p.data for p in parts]),
            sample_rate=first.sample_rate,
            fps=first.fps,
            seeds=[s for p in parts for s in p.seeds],
            prompts=[x for p in parts for x in p.prompts]
            if all(p.prompts is not None for p in parts)
            else None,
            labels=[x for p in parts for x in p.labels] if all(p.labels is not None for p in parts) else None,
        )

    def save_npz(self, path: Any) -> None:
        np.savez_compressed(
            path,
            data=self.data,
            modality=self.modality,
            sample_rate=-1 if self.sample_rate is None else self.sample_rate,
            fps=-1 if self.fps is None else self.fps,
            seeds=np.asarray(self.seeds, dtype=np.int64),
            labels=np.asarray(self.labels if self.labels is not None else [], dtype=np.int64),
            has_labels=self.labels is not None,
            prompts=np.asarray(self.prompts if self.prompts is not None else [], dtype=str),
            has_prompts=self.prompts is not None,
        )

    @staticmethod
    def load_npz(path: Any) -> Samples:
        with np.load(path) as z:
            sr, fps = int(z["sample_rate"]), int(z["fps"])
            return Samples(
                modality=str(z["modality"]),  # type: ignore[arg-type]
                data=z["data"],
                sample_rate=None if sr < 0 else sr,
                fps=None if fps < 0 else fps,
                seeds=[int(s) for s in z["seeds"]],
                labels=[int(v) for v in z["labels"]] if "has_labels" in z and bool(z["has_labels"]) else None,
                prompts=[str(v) for v in z["prompts"]]
                if "has_prompts" in z and bool(z["has_prompts"])
                else None,
            )

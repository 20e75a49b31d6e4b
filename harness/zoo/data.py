"""scikit-learn's bundled digits at 16×16: a fixed, stratified train / held-out split.

Images are the 8×8 digits scaled from [0, 16] to [0, 1] and upsampled bilinearly (``align_corners=False``)
to 16×16, shape (N, 1, 16, 16) float32. The split is ``train_test_split(test_size=0.2, stratify=y,
random_state=0)``: 1,437 training and 360 held-out images. Nothing is downloaded: the data ship with
scikit-learn.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

SIZE = 16
NUM_CLASSES = 10
SPLIT_SEED = 0
HELDOUT_FRACTION = 0.2


@dataclass(frozen=True)
class DigitsSplit:
    x_train: np.ndarray  # (N, 1, 16, 16) float32 in [0, 1]
    y_train: np.ndarray  # (N,) int64
    x_heldout: np.ndarray
    y_heldout: np.ndarray


def upsample(images: np.ndarray, size: int = SIZE) -> np.ndarray:
    """(N, 1, h, w) float in [0, 1] → (N, 1, size, size), bilinear (align_corners=False), clipped to [0, 1]."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x.clamp_(0.0, 1.0).numpy()


@functools.lru_cache(maxsize=1)
def load_digits_16() -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 digits as (N, 1, 16, 16) float32 in [0, 1] and their labels (N,) int64."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[:, None]
    return upsample(x), d.target.astype(np.int64)


@functools.lru_cache(maxsize=1)
def digits_split() -> DigitsSplit:
    """The fixed split every zoo model and reference statistic uses."""
    from sklearn.model_selection import train_test_split

    x, y = load_digits_16()
    idx = np.arange(len(y))
    tr, ho = train_test_split(idx, test_size=HELDOUT_FRACTION, stratify=y, random_state=SPLIT_SEED)
    tr, ho = np.sort(tr), np.sort(ho)
    return DigitsSplit(x[tr], y[tr], x[ho], y[ho])

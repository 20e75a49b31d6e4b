"""The zoo's digits CNN as a registered feature extractor (``digits-extractor`` in ``harness.metrics.extractors``).

Any metric on extractor features (``precision``, ``recall``, ``density``, ``coverage``, ``fd_<extractor>``)
can then use the classifier whose features define ``fd_digits``: the same inputs (16×16 gray in [0, 1]; RGB
averaged, other sizes bilinear antialiased, as ``harness.zoo.metrics.digits_images``) and the same 64-d
features (fc1 before its ReLU). Its real set ships with it: ``reference_features()`` are the features of the
360 held-out digits of the fixed split (``harness.zoo.data``), computed from scikit-learn's bundled data, so a
suite needs no ``reference_path``; ``control_features()`` (the 1,437 training digits) give metrics a
real-vs-real value to read theirs against, as fd_digits' noise floor.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from harness.core.samples import Samples
from harness.metrics.base import version_of
from harness.metrics.extractors import FeatureExtractor
from harness.zoo import EXTRACTOR_DIR
from harness.zoo.data import digits_split
from harness.zoo.metrics import digits_images

HELDOUT = (
    "digits held-out split (360 images): sklearn load_digits /16, bilinear to 16x16, "
    "train_test_split(test_size=0.2, stratify=y, random_state=0)"
)


class DigitsFeatures(FeatureExtractor):
    """The mini zoo's digits classifier: (N, H, W, 1 or 3) images in [0, 1] → (N, 64) float64 features.

    Args:
        device: Torch device of the network.
        weights_dir: Unused: the weights ship with the repository (``model_cards/zoo/digits-extractor``);
            accepted as every registered builder is called with it.
        batch_size: Images per forward pass.
        extractor_path: Another folder with ``model.safetensors`` + ``config.json`` (default: the shipped one).
        resize: Must be None (the extractor's input size is fixed; other sizes are resized to 16×16).
    """

    modality = "image"
    modalities = ("image",)  # not video frames: the held-out reference is still digits
    RESIZES: tuple[str, ...] = ()  # none: other sizes are resized to 16x16

    def __init__(
        self,
        *,
        device: str = "cpu",
        weights_dir: str | os.PathLike[str] | None = None,
        batch_size: int = 1000,
        extractor_path: str | os.PathLike[str] | None = None,
        resize: str | None = None,
    ) -> None:
        super().__init__(batch_size)
        if resize is not None:
            raise ValueError(
                f"digits-extractor has no resize option (images are resized to 16x16, bilinear antialiased), got {resize!r}"
            )
        from harness.zoo.extractor import DigitsExtractor

        self.net = DigitsExtractor(extractor_path or EXTRACTOR_DIR, device=device, batch_size=batch_size)
        self.dim = self.net.dim

    def _inputs(self, images: np.ndarray) -> np.ndarray:
        data = np.asarray(images)
        if data.ndim != 4:
            raise ValueError(f"expected images of shape (N, H, W, C), got {data.shape}")
        return digits_images(Samples(modality="image", data=data), self.net.size)

    def _forward(self, batch: np.ndarray) -> Any:
        return self.net.features(self._inputs(batch))

    def iter_features(self, images: np.ndarray) -> Iterator[np.ndarray]:
        x = self._inputs(images)  # checked and converted once, as fd_digits does
        for i in range(0, len(x), self.batch_size):
            yield self.net.features(x[i : i + self.batch_size])

    def protocol(self) -> dict[str, Any]:
        return {
            **super().protocol(),
            "network": "mini-zoo digits CNN (harness.zoo.extractor.DigitsNet), fc1 before its ReLU",
            "weights_sha256": self.net.sha256,
            "input": "16x16 gray in [0, 1]; other sizes bilinear antialiased, RGB averaged",
            "dtype": "float32 network, float64 features",
        }

    def libraries(self) -> dict[str, str | None]:
        return {**super().libraries(), "scikit-learn": version_of("scikit-learn")}

    def reference_features(self) -> tuple[np.ndarray, dict[str, Any]]:
        """The held-out digits' features (360, 64), read-only, and what they are (for a metric's details)."""
        key = (str(self.net.folder), self.net.sha256)
        if key not in _HELDOUT:
            feats = self.net.features(digits_split().x_heldout)
            feats.setflags(write=False)
            _HELDOUT[key] = feats
        return _HELDOUT[key], {"reference": HELDOUT, "n": len(_HELDOUT[key])}

    def control_features(self) -> tuple[np.ndarray, str]:
        """Other real digits, for real-vs-real values: the training split's features (1,437, 64), read-only."""
        key = (str(self.net.folder), self.net.sha256)
        if key not in _TRAIN:
            feats = self.net.features(digits_split().x_train)
            feats.setflags(write=False)
            _TRAIN[key] = feats
        return _TRAIN[key], f"training digits of the same split ({len(_TRAIN[key])})"


# (extractor folder, weights sha256) → features of the held-out / training digits
_HELDOUT: dict[tuple[str, str], np.ndarray] = {}
_TRAIN: dict[tuple[str, str], np.ndarray] = {}

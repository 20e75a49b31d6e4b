"""Face verifiers for the biometric threat metrics (#28 item 1): detect → align → embed → compare.

:class:`FaceVerifier` is the interface; :class:`DlibVerifier` is the default, dlib's pipeline as the
``face_recognition`` package runs it:

* detect: dlib's HOG frontal face detector with one upsampling (``model: cnn``: the MMOD CNN detector), boxes
  as (top, right, bottom, left) clipped to the image;
* align: the 5-point shape predictor on each box;
* embed: dlib's ResNet face descriptor (128-d; ``num_jitters`` resamplings, default 1), computed on the aligned
  150×150 chip dlib cuts from the landmarks;
* compare: Euclidean distance; a probe matches when the distance is at most the threshold. dlib's published
  threshold is 0.6 (99.38 % on LFW).

The model files come from the ``face-recognition-models`` package (0.3.0 on PyPI, sdist sha256
b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf), or a folder given as ``models_dir``; each is
checked against its sha256 before use. The 68-point predictor (iBUG 300-W, non-commercial) is not used; the
others are public domain (dlib's model notes). ``dlib`` itself comes from ``dlib-bin`` (a binary wheel).
"""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from harness.metrics.weights import sha256_of

# sha256 of the files of face-recognition-models 0.3.0 (the PyPI release above)
DLIB_FILES: dict[str, tuple[str, int, str]] = {
    "hog": ("", 0, "built into dlib (get_frontal_face_detector)"),
    "cnn": (
        "4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6",
        729_940,
        "mmod_human_face_detector.dat",
    ),
    "landmarks": (
        "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
        9_150_489,
        "shape_predictor_5_face_landmarks.dat",
    ),
    "encoder": (
        "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
        22_466_066,
        "dlib_face_recognition_resnet_model_v1.dat",
    ),
}
INSTALL_HINT = (
    "pip install dlib-bin face-recognition-models (offline: the two files from PyPI, then pip install them), "
    "or give models_dir: a folder holding the .dat files"
)

Box = tuple[int, int, int, int]  # (top, right, bottom, left), as face_recognition gives them


@dataclass(frozen=True)
class Face:
    """One detected face: its box and its embedding."""

    box: Box
    embedding: np.ndarray


class FaceVerifier(ABC):
    """detect → align → embed → compare. Images are (H, W, 3) uint8 RGB."""

    name: ClassVar[str]
    threshold: ClassVar[float]  # the published decision threshold (distance at most this: a match)
    threshold_source: ClassVar[str]

    @abstractmethod
    def detect(self, image: np.ndarray) -> list[Box]:
        """The faces' boxes, clipped to the image."""

    @abstractmethod
    def embed(self, image: np.ndarray, boxes: list[Box]) -> np.ndarray:
        """One embedding per box (aligned inside): (len(boxes), dim) float64."""

    @abstractmethod
    def fingerprint(self) -> dict[str, Any]:
        """What defines the verifier's distances: name, settings, model files' sha256, threshold and its source."""

    def faces(self, image: np.ndarray) -> list[Face]:
        boxes = self.detect(image)
        return [Face(b, e) for b, e in zip(boxes, self.embed(image, boxes))] if boxes else []

    @staticmethod
    def distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Euclidean distances between embeddings (broadcast over leading axes)."""
        return np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64), axis=-1)


def _check_image(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"a face image must be (H, W, 3) uint8 RGB, got {img.dtype} {img.shape}")
    return np.ascontiguousarray(img)


def default_models_dir() -> Path | None:
    """The ``face_recognition_models`` package's model folder (found without importing it: its __init__ needs
    pkg_resources), or None where it is not installed."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "models"


class DlibVerifier(FaceVerifier):
    name = "dlib-resnet-v1"
    threshold = 0.6
    threshold_source = "dlib: same person when the distance is below 0.6 (99.38 % on LFW)"

    def __init__(
        self,
        *,
        detector: str = "hog",
        upsample: int = 1,
        num_jitters: int = 1,
        models_dir: str | Path | None = None,
    ) -> None:
        if detector not in ("hog", "cnn"):
            raise ValueError(f"detector must be 'hog' or 'cnn', got {detector!r}")
        if upsample < 0 or num_jitters < 1:
            raise ValueError(f"upsample must be >= 0 and num_jitters >= 1, got {upsample}, {num_jitters}")
        try:
            import dlib
        except ImportError:
            raise ImportError(f"the dlib face verifier needs dlib: {INSTALL_HINT}") from None
        folder = Path(models_dir) if models_dir is not None else default_models_dir()
        if folder is None:
            raise FileNotFoundError(f"no face-recognition-models package and no models_dir: {INSTALL_HINT}")
        self.detector_kind, self.upsample, self.num_jitters = detector, upsample, num_jitters
        needed = ["landmarks", "encoder"] + (["cnn"] if detector == "cnn" else [])
        self.files = {key: self._verified(folder, key) for key in needed}
        self._detector = (
            dlib.cnn_face_detection_model_v1(str(self.files["cnn"]))
            if detector == "cnn"
            else dlib.get_frontal_face_detector()
        )
        self._landmarks = dlib.shape_predictor(str(self.files["landmarks"]))
        self._encoder = dlib.face_recognition_model_v1(str(self.files["encoder"]))
        self._rect = dlib.rectangle

    @staticmethod
    def _verified(folder: Path, key: str) -> Path:
        sha, size, filename = DLIB_FILES[key]
        path = folder / filename
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file ({INSTALL_HINT})")
        digest = (
            sha256_of(path)
            if path.stat().st_size == size
            else f"of another size ({path.stat().st_size} bytes)"
        )
        if digest != sha:
            raise ValueError(
                f"{path}: sha256 {digest} is not the pinned {sha} (face-recognition-models 0.3.0): another or a "
                "corrupted file"
            )
        return path

    def detect(self, image: np.ndarray) -> list[Box]:
        img = _check_image(image)
        found = self._detector(img, self.upsample)
        rects = [f.rect for f in found] if self.detector_kind == "cnn" else list(found)
        h, w = img.shape[:2]
        return [(max(r.top(), 0), min(r.right(), w), min(r.bottom(), h), max(r.left(), 0)) for r in rects]

    def embed(self, image: np.ndarray, boxes: list[Box]) -> np.ndarray:
        img = _check_image(image)
        out = np.zeros((len(boxes), 128))
        for i, (top, right, bottom, left) in enumerate(boxes):
            shape = self._landmarks(img, self._rect(left, top, right, bottom))
            out[i] = np.array(self._encoder.compute_face_descriptor(img, shape, self.num_jitters))
        return out

    def fingerprint(self) -> dict[str, Any]:
        return {
            "verifier": self.name,
            "detector": self.detector_kind,
            "upsample": self.upsample,
            "landmarks": "5-point",
            "num_jitters": self.num_jitters,
            "files_sha256": {p.name: DLIB_FILES[k][0] for k, p in self.files.items()},
            "threshold": self.threshold,
            "threshold_source": self.threshold_source,
            "distance": "euclidean; a match when distance <= threshold",
        }

"""Labelled identity sets for face verification (#28 item 3, first part): what a threat report enrols its
targets from and calibrates its verifier on.

A set is a folder with one subfolder per identity, each holding that person's images (``.jpg``, ``.jpeg``,
``.png``), read in name order. The first ``enrol`` images of an identity are its enrolment images (their mean
embedding is its template); the rest are its probes. Each probe against its own identity's template is a
genuine pair, against every other identity's template an impostor pair.

Images in which the verifier finds no face are left out and counted (``no_face``); with several faces, the
largest box is the subject. An identity with no probe left has no genuine pair, and is said so
(``without_probes``); a set needs at least two identities with a template.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.core.errors import UserInputError
from harness.metrics.face_threat import Rate, Threshold, rate, threshold_at_far
from harness.metrics.face_verifier import Box, FaceVerifier

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def load_rgb(path: Path) -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB."""
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


@dataclass(frozen=True)
class IdentityFolder:
    """The images of a set, by identity, in name order (nothing read yet)."""

    root: Path
    images: dict[str, list[Path]]

    @classmethod
    def scan(
        cls, root: str | Path, *, enrol: int = 1, field_name: str = "targets.identities"
    ) -> IdentityFolder:
        """The identity subfolders of ``root``; bad input (no folder, fewer than two identities, an identity
        without ``enrol`` images) is a :class:`UserInputError` naming the folder and ``field_name``."""
        path = Path(root)
        if enrol < 1:
            raise UserInputError(f"enrol must be >= 1, got {enrol}", field=f"{field_name}.enrol")
        if not path.is_dir():
            raise UserInputError(
                "no such folder (one subfolder of images per identity)", source=str(path), field=field_name
            )
        images = {
            sub.name: sorted(p for p in sub.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            for sub in sorted(path.iterdir())
            if sub.is_dir()
        }
        images = {k: v for k, v in images.items() if v}
        if len(images) < 2:
            raise UserInputError(
                f"{len(images)} identity folder(s) with images: impostor pairs need at least 2",
                source=str(path),
                field=field_name,
            )
        short = sorted(k for k, v in images.items() if len(v) < enrol)
        if short:
            raise UserInputError(
                f"identities with fewer than {enrol} enrolment image(s): {', '.join(short)}",
                source=str(path),
                field=f"{field_name}.enrol",
            )
        return cls(path, images)


def largest(boxes: list[Box]) -> Box:
    """The box of largest area (the subject of a portrait)."""
    return max(boxes, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]))


@dataclass
class EmbeddedSet:
    """A set's embeddings: per identity, its enrolment and probe embeddings; what had no face."""

    verifier: dict[str, Any]
    enrol: dict[str, np.ndarray]
    probes: dict[str, np.ndarray]
    no_face: list[str] = field(default_factory=list)

    @classmethod
    def embed(cls, folder: IdentityFolder, verifier: FaceVerifier, *, enrol: int = 1) -> EmbeddedSet:
        enrolled: dict[str, list[np.ndarray]] = {}
        probes: dict[str, list[np.ndarray]] = {}
        no_face: list[str] = []
        for identity, paths in folder.images.items():
            for i, path in enumerate(paths):
                image = load_rgb(path)
                boxes = verifier.detect(image)
                if not boxes:
                    no_face.append(str(path.relative_to(folder.root)))
                    continue
                emb = verifier.embed(image, [largest(boxes)])[0]
                (enrolled if i < enrol else probes).setdefault(identity, []).append(emb)
        return cls(
            verifier.fingerprint(),
            {k: np.stack(v) for k, v in enrolled.items()},
            {k: np.stack(v) for k, v in probes.items()},
            no_face,
        )

    def templates(self) -> dict[str, np.ndarray]:
        """Each identity's template: the mean of its enrolment embeddings."""
        return {k: v.mean(axis=0) for k, v in self.enrol.items()}

    @property
    def without_probes(self) -> list[str]:
        return sorted(set(self.enrol) - set(self.probes))

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """Genuine distances (each probe to its own template) and impostor distances (each probe to every other
        template); a probe whose identity has no template (all its enrolment images without a face) is left
        out."""
        templates = self.templates()
        if len(templates) < 2:
            raise ValueError(f"{len(templates)} identities have a template: impostor pairs need at least 2")
        genuine: list[float] = []
        impostor: list[float] = []
        names = sorted(templates)
        stack = np.stack([templates[n] for n in names])
        for identity, embs in sorted(self.probes.items()):
            if identity not in templates:
                continue
            d = FaceVerifier.distance(embs[:, None, :], stack[None])  # (probes, identities)
            own = names.index(identity)
            genuine.extend(d[:, own].tolist())
            impostor.extend(np.delete(d, own, axis=1).ravel().tolist())
        return np.asarray(genuine), np.asarray(impostor)


@dataclass(frozen=True)
class OperatingPoint:
    """The verifier on a labelled set: its published threshold's rates, and the threshold at a chosen FAR."""

    published_threshold: float
    genuine_accept: Rate  # at the published threshold
    impostor_accept: Rate
    at_far: Threshold
    genuine_accept_at_far: Rate


def operating_point(embedded: EmbeddedSet, published_threshold: float, far: float) -> OperatingPoint:
    """Genuine and impostor acceptance at the published threshold, and the threshold at ``far`` on this set's
    impostor pairs with its genuine acceptance (a set without genuine pairs is an error naming why)."""
    genuine, impostor = embedded.pairs()
    if not len(genuine):
        raise ValueError(
            "no genuine pairs: every identity has only its enrolment image(s) "
            f"({', '.join(embedded.without_probes)}); give at least one more image of some identity"
        )
    at = threshold_at_far(impostor, far)
    return OperatingPoint(
        published_threshold,
        rate(int((genuine <= published_threshold).sum()), len(genuine)),
        rate(int((impostor <= published_threshold).sum()), len(impostor)),
        at,
        rate(int((genuine <= at.value).sum()), len(genuine)),
    )

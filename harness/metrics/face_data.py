"""Real labelled faces obtainable offline (#28 item 4, data): fetched at set-up from the package registries, each
source's licence written beside its images; ``harness faces fetch --to DIR`` makes an identity folder
(:mod:`harness.metrics.identity_set`).

Sources (each optional: where one cannot be had, the set has fewer identities and ``faces.json`` says why):

* ``face_recognition``: the test images of the ``face_recognition`` 1.3.0 source archive on PyPI (MIT): Obama ×3,
  Biden ×1 (the partial-face images are left out);
* ``kphotoalbum``: the demo album of Debian's ``kphotoalbum`` package (GPL-2+; ``apt-get download``): its
  ``index.xml`` tags people; images tagged with exactly one person (``Pets`` aside) go to that person;
* ``matplotlib``: the Grace Hopper portrait in matplotlib's sample data (a US Navy photograph, public domain).

Nothing is committed to the repository; the folder is written by the harness only (``faces.json`` marks it), and
an existing folder the harness did not write is refused.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.core.errors import UserInputError

MANIFEST = "faces.json"
FACE_RECOGNITION = "face_recognition==1.3.0"
FACE_RECOGNITION_IMAGES = {
    "obama.jpg": "obama",
    "obama2.jpg": "obama",
    "obama3.jpg": "obama",
    "biden.jpg": "biden",
}
NOT_A_PERSON = {"Pets"}

Log = Callable[[str], None]
Images = dict[str, list[Path]]  # identity → image files (in a scratch folder)


def _run(cmd: list[str], cwd: Path) -> None:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    if done.returncode:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"{' '.join(cmd[:3])} … exited {done.returncode}: {tail[0]}")


def from_face_recognition(scratch: Path) -> tuple[Images, str]:
    """The face_recognition sdist's test images by person, and its LICENSE text."""
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            "-q",
            "-d",
            ".",
            FACE_RECOGNITION,
        ],
        scratch,
    )
    archive = next(scratch.glob("face_recognition-*.tar.gz"))
    images: Images = {}
    licence = ""
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            name = Path(member.name)
            if name.name == "LICENSE" and len(name.parts) == 2:
                licence = tar.extractfile(member).read().decode()  # type: ignore[union-attr]
            elif name.parent.name == "test_images" and name.name in FACE_RECOGNITION_IMAGES:
                out = scratch / name.name
                out.write_bytes(tar.extractfile(member).read())  # type: ignore[union-attr]
                images.setdefault(FACE_RECOGNITION_IMAGES[name.name], []).append(out)
    return images, "face_recognition 1.3.0 (PyPI source archive), MIT licence:\n\n" + licence


def people_of_album(index_xml: Path) -> dict[str, str]:
    """KPhotoAlbum's ``index.xml``: image file → its one person (images with no or several people left out)."""
    out: dict[str, str] = {}
    for image in ET.parse(index_xml).getroot().iter("image"):
        people = [
            v.get("value", "")
            for opt in image.iter("option")
            if opt.get("name") == "People"
            for v in opt.iter("value")
            if v.get("value") not in NOT_A_PERSON
        ]
        if len(people) == 1 and image.get("file"):
            out[str(image.get("file"))] = people[0]
    return out


def from_kphotoalbum(scratch: Path) -> tuple[Images, str]:
    """Debian's kphotoalbum demo album, by person, and the package's copyright file."""
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} not found (Debian's package tools)")
    _run(["apt-get", "download", "kphotoalbum"], scratch)
    deb = next(scratch.glob("kphotoalbum_*.deb"))
    _run(["dpkg-deb", "-x", deb.name, "pkg"], scratch)
    demo = scratch / "pkg" / "usr" / "share" / "kphotoalbum" / "demo"
    images: Images = {}
    for file, person in sorted(people_of_album(demo / "index.xml").items()):
        if (demo / file).is_file() and Path(file).suffix.lower() in (
            ".jpg",
            ".jpeg",
            ".png",
        ):  # not movie.avi
            images.setdefault(person, []).append(demo / file)
    copyright_file = scratch / "pkg" / "usr" / "share" / "doc" / "kphotoalbum" / "copyright"
    return (
        images,
        f"Debian package kphotoalbum ({deb.name}), demo album, GPL-2+:\n\n" + copyright_file.read_text(),
    )


def from_matplotlib(scratch: Path) -> tuple[Images, str]:
    import matplotlib.cbook as cbook

    path = Path(str(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    return {
        "grace_hopper": [path]
    }, "matplotlib sample data: Grace Hopper, US Navy photograph, public domain\n"


SOURCES: dict[str, Callable[[Path], tuple[Images, str]]] = {
    "face_recognition": from_face_recognition,
    "kphotoalbum": from_kphotoalbum,
    "matplotlib": from_matplotlib,
}


def _writable(to: Path) -> None:
    if to.exists() and any(to.iterdir()) and not (to / MANIFEST).is_file():
        raise UserInputError(
            "not empty and not written by `harness faces fetch` (no faces.json): give an empty or new folder",
            source=str(to),
            field="--to",
        )


def _remove_previous(out: Path) -> None:
    """Remove what an earlier fetch wrote there (the files its faces.json lists, its licences, then empty
    folders); anything else is left where it is."""
    manifest = out / MANIFEST
    if not manifest.is_file():
        return
    old = json.loads(manifest.read_text())
    for identity, files in old.get("identities", {}).items():
        for f in files:
            (out / identity / f).unlink(missing_ok=True)
    for source in old.get("sources", {}):
        (out / "LICENSES" / f"{source}.txt").unlink(missing_ok=True)
    manifest.unlink()
    for folder in sorted(out.iterdir()):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def fetch_faces(to: str | Path, *, sources: list[str] | None = None, log: Log = print) -> dict[str, Any]:
    """Fetch every source into ``to/<identity>/<source>-<file>`` with ``to/LICENSES/<source>.txt``; returns (and
    writes as ``faces.json``) identities, images per identity and each source's state."""
    names = sources or list(SOURCES)
    unknown = sorted(set(names) - set(SOURCES))
    if unknown:
        raise UserInputError(
            f"unknown face source(s) {', '.join(unknown)} (known: {', '.join(SOURCES)})", field="--source"
        )
    out = Path(to)
    _writable(out)
    manifest: dict[str, Any] = {"identities": {}, "sources": {}}
    _remove_previous(out)
    (out / "LICENSES").mkdir(parents=True, exist_ok=True)
    for name in names:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                images, licence = SOURCES[name](Path(tmp))
            except Exception as exc:  # a source that cannot be had here: fewer identities, said so
                manifest["sources"][name] = {"state": "unavailable", "why": f"{type(exc).__name__}: {exc}"}
                log(f"faces: {name}: unavailable ({exc})")
                continue
            count = 0
            for identity, files in images.items():
                folder = out / identity.replace("/", "_")
                folder.mkdir(exist_ok=True)
                for f in files:
                    shutil.copyfile(f, folder / f"{name}-{f.name}")
                    manifest["identities"].setdefault(folder.name, []).append(f"{name}-{f.name}")
                    count += 1
            (out / "LICENSES" / f"{name}.txt").write_text(licence)
            manifest["sources"][name] = {"state": "fetched", "identities": sorted(images), "images": count}
            log(f"faces: {name}: {count} images of {len(images)} identities")
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    if len(manifest["identities"]) < 2:
        raise UserInputError(
            f"only {len(manifest['identities'])} identities could be fetched (see {out / MANIFEST}): "
            "impostor pairs need at least 2",
            source=str(out),
        )
    return manifest

"""#28 item 4 (data): `harness faces fetch` builds an identity folder with licences beside it, says which sources
could not be had, and never touches a folder it did not write. Sources are stand-ins here (no registry in tests);
the album parser runs on an index.xml in KPhotoAlbum's format."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness.core.errors import UserInputError
from harness.metrics import face_data


def _jpeg(path, value):
    from PIL import Image

    Image.fromarray(np.full((4, 4, 3), value, np.uint8)).save(path)
    return path


@pytest.fixture
def stand_ins(monkeypatch):
    def one(scratch):
        return {
            "obama": [_jpeg(scratch / "obama.jpg", 10), _jpeg(scratch / "obama2.jpg", 20)],
            "biden": [_jpeg(scratch / "biden.jpg", 30)],
        }, "MIT"

    def broken(scratch):
        raise RuntimeError("apt-get not found (Debian's package tools)")

    def hopper(scratch):
        return {"grace_hopper": [_jpeg(scratch / "grace_hopper.jpg", 40)]}, "public domain"

    monkeypatch.setattr(
        face_data, "SOURCES", {"face_recognition": one, "kphotoalbum": broken, "matplotlib": hopper}
    )


def test_fetch_writes_identities_licences_and_says_what_is_missing(tmp_path, stand_ins):
    out = tmp_path / "faces"
    m = face_data.fetch_faces(out, log=lambda s: None)
    assert sorted(m["identities"]) == ["biden", "grace_hopper", "obama"]
    assert sorted(p.name for p in (out / "obama").iterdir()) == [
        "face_recognition-obama.jpg",
        "face_recognition-obama2.jpg",
    ]
    assert (out / "LICENSES" / "face_recognition.txt").read_text() == "MIT"
    assert m["sources"]["kphotoalbum"] == {
        "state": "unavailable",
        "why": "RuntimeError: apt-get not found (Debian's package tools)",
    }
    assert json.loads((out / "faces.json").read_text()) == m
    # an identity folder the verifier's set reads as is
    from harness.metrics.identity_set import IdentityFolder

    assert list(IdentityFolder.scan(out).images) == ["biden", "grace_hopper", "obama"]
    # fetched again: rebuilt; a file the user put there stays
    (out / "obama" / "mine.jpg").write_bytes(b"user's")
    face_data.fetch_faces(out, sources=["face_recognition"], log=lambda s: None)
    assert (out / "obama" / "mine.jpg").read_bytes() == b"user's" and not (out / "grace_hopper").exists()


def test_fetch_refuses_a_folder_it_did_not_write_and_too_few_identities(tmp_path, stand_ins):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    with pytest.raises(
        UserInputError, match=r"mine: --to: not empty and not written by `harness faces fetch`"
    ):
        face_data.fetch_faces(foreign)
    assert (foreign / "notes.txt").read_text() == "keep"
    with pytest.raises(UserInputError, match="only 1 identities could be fetched"):
        face_data.fetch_faces(tmp_path / "one", sources=["matplotlib", "kphotoalbum"], log=lambda s: None)
    with pytest.raises(UserInputError, match=r"unknown face source.*flickr"):
        face_data.fetch_faces(tmp_path / "x", sources=["flickr"])


def test_album_people_one_person_per_image(tmp_path):
    xml = tmp_path / "index.xml"
    xml.write_text(
        """<?xml version="1.0" encoding="UTF-8"?><KPhotoAlbum><images>
        <image file="a.jpg"><options><option name="People"><value value="Jesper"/></option></options></image>
        <image file="b.jpg"><options><option name="People"><value value="Jesper"/><value value="Donna"/></option></options></image>
        <image file="c.jpg"><options><option name="People"><value value="Pets"/><value value="Donna"/></option></options></image>
        <image file="d.jpg"><options><option name="Places"><value value="Skagen"/></option></options></image>
        </images></KPhotoAlbum>"""
    )
    assert face_data.people_of_album(xml) == {"a.jpg": "Jesper", "c.jpg": "Donna"}


def test_cli_fetch(tmp_path, stand_ins, capsys):
    from harness.cli import main

    assert main(["faces", "fetch", "--to", str(tmp_path / "f")]) == 0
    assert "3 identities, 4 images" in capsys.readouterr().out
    assert main(["faces", "fetch", "--to", str(tmp_path / "g"), "--source", "matplotlib"]) == 2
    assert "only 1 identities" in capsys.readouterr().err

"""#28 item 3 (first part): identity folders, enrolment/probe split, genuine and impostor pairs, the verifier's
operating point, and bad input, on a stand-in verifier whose embedding is an image's mean colour."""

from __future__ import annotations

import numpy as np
import pytest

from harness.core.errors import UserInputError
from harness.metrics.face_verifier import FaceVerifier
from harness.metrics.identity_set import EmbeddedSet, IdentityFolder, largest, operating_point


class ColourVerifier(FaceVerifier):
    """A face everywhere except in black images; the embedding is the mean colour / 255."""

    name = "colour"
    threshold = 0.2
    threshold_source = "this test"

    def detect(self, image):
        return [] if not image.any() else [(0, image.shape[1], image.shape[0], 0)]

    def embed(self, image, boxes):
        return np.stack([image.reshape(-1, 3).mean(0) / 255.0 for _ in boxes])

    def fingerprint(self):
        return {"verifier": self.name}


def _write(folder, identity, name, rgb):
    from PIL import Image

    (folder / identity).mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8, 3), rgb, np.uint8)).save(folder / identity / name)


@pytest.fixture
def faces(tmp_path):
    root = tmp_path / "ids"
    _write(root, "alice", "1.png", (200, 0, 0))
    _write(root, "alice", "2.png", (210, 0, 0))
    _write(root, "alice", "3.png", (0, 0, 0))  # no face
    _write(root, "bob", "1.png", (0, 0, 200))
    _write(root, "bob", "2.png", (0, 0, 180))
    _write(root, "carol", "1.png", (0, 200, 0))  # enrolment only
    return root


def test_pairs_and_operating_point_hand_counted(faces):
    folder = IdentityFolder.scan(faces)
    assert list(folder.images) == ["alice", "bob", "carol"]
    emb = EmbeddedSet.embed(folder, ColourVerifier())
    assert emb.no_face == ["alice/3.png"] and emb.without_probes == ["carol"]
    genuine, impostor = emb.pairs()
    # probes: alice/2 (210,0,0) and bob/2 (0,0,180); templates alice (200,0,0), bob (0,0,200), carol (0,200,0)
    np.testing.assert_allclose(genuine, [10 / 255, 20 / 255])
    assert len(impostor) == 4
    np.testing.assert_allclose(
        sorted(impostor),
        sorted(
            [
                np.hypot(210, 200) / 255,
                np.hypot(210, 200) / 255,
                np.hypot(180, 200) / 255,
                np.hypot(180, 200) / 255,
            ]
        ),
    )
    op = operating_point(emb, ColourVerifier.threshold, far=0.25)
    assert (op.genuine_accept.k, op.genuine_accept.n) == (2, 2)
    assert (op.impostor_accept.k, op.impostor_accept.n) == (0, 4)
    assert op.at_far.impostor_pairs == 4 and not op.at_far.supported  # 4 pairs cannot support FAR 0.25
    assert op.at_far.far_achieved <= 0.25 and op.genuine_accept_at_far.k == 2


def test_bad_input_names_the_folder_and_field(tmp_path, faces):
    with pytest.raises(UserInputError, match=r"nowhere: targets\.identities: no such folder"):
        IdentityFolder.scan(tmp_path / "nowhere")
    lonely = tmp_path / "one"
    _write(lonely, "alice", "1.png", (200, 0, 0))
    with pytest.raises(UserInputError, match=r"1 identity folder.*impostor pairs need at least 2"):
        IdentityFolder.scan(lonely)
    with pytest.raises(
        UserInputError,
        match=r"targets\.identities\.enrol: identities with fewer than 2 enrolment image\(s\): carol",
    ):
        IdentityFolder.scan(faces, enrol=2)
    with pytest.raises(UserInputError, match="enrol must be >= 1"):
        IdentityFolder.scan(faces, enrol=0)


def test_one_image_per_identity_has_no_genuine_pair(tmp_path):
    root = tmp_path / "single"
    _write(root, "alice", "1.png", (200, 0, 0))
    _write(root, "bob", "1.png", (0, 0, 200))
    emb = EmbeddedSet.embed(IdentityFolder.scan(root), ColourVerifier())
    with pytest.raises(
        ValueError, match=r"no genuine pairs: every identity has only its enrolment image\(s\) \(alice, bob\)"
    ):
        operating_point(emb, 0.2, far=0.1)


def test_the_subject_is_the_largest_face():
    assert largest([(0, 10, 10, 0), (0, 50, 40, 10), (5, 8, 9, 2)]) == (0, 50, 40, 10)

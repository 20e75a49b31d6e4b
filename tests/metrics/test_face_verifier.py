"""#28 item 1: the dlib face verifier (detect → align → embed → compare) against face_recognition's own API on
the same images: the same boxes, embeddings within 1e-6."""

from __future__ import annotations

import numpy as np
import pytest

dlib = pytest.importorskip("dlib", reason="needs dlib-bin (pip install dlib-bin face-recognition-models)")
face_recognition = pytest.importorskip(
    "face_recognition",
    reason="the reference API: pip install --no-deps face_recognition (make test installs it)",
)

from harness.metrics.face_verifier import DLIB_FILES, DlibVerifier, default_models_dir  # noqa: E402


def _images() -> list[np.ndarray]:
    """Grace Hopper (matplotlib's sample data), mirrored, at 3/4 size, and two faces side by side."""
    import matplotlib.cbook as cbook
    from PIL import Image

    with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as im:
        rgb = im.convert("RGB")
        small = np.asarray(rgb.resize((rgb.width * 3 // 4, rgb.height * 3 // 4), Image.BILINEAR))
        hopper = np.asarray(rgb)
    mirrored = np.ascontiguousarray(hopper[:, ::-1])
    pair = np.concatenate([hopper, mirrored], axis=1)
    return [hopper, mirrored, small, pair]


@pytest.fixture(scope="module")
def verifier():
    if default_models_dir() is None:
        pytest.skip("needs face-recognition-models (pip install face-recognition-models)")
    return DlibVerifier()


def test_boxes_and_embeddings_are_face_recognitions(verifier):
    embeddings = []
    for img in _images():
        ours = verifier.detect(img)
        theirs = face_recognition.face_locations(img)
        assert ours == [tuple(b) for b in theirs] and ours
        mine = verifier.embed(img, ours)
        ref = np.array(face_recognition.face_encodings(img, known_face_locations=theirs))
        assert np.abs(mine - ref).max() <= 1e-6
        embeddings.extend(mine)
    e = np.array(embeddings)
    # distances as face_recognition computes them
    np.testing.assert_allclose(
        verifier.distance(e[1:], e[0]), face_recognition.face_distance(e[1:], e[0]), atol=1e-12
    )
    assert len(verifier.faces(_images()[3])) == 2
    # the same person, mirrored or smaller: a match at dlib's published threshold
    assert (verifier.distance(e[1:], e[0]) <= verifier.threshold).all()


def test_fingerprint_names_verifier_threshold_and_files(verifier):
    fp = verifier.fingerprint()
    assert fp["verifier"] == "dlib-resnet-v1" and fp["threshold"] == 0.6 and "LFW" in fp["threshold_source"]
    assert fp["files_sha256"]["dlib_face_recognition_resnet_model_v1.dat"] == DLIB_FILES["encoder"][0]


def test_bad_input_and_missing_or_wrong_files(tmp_path, verifier):
    with pytest.raises(ValueError, match=r"must be \(H, W, 3\) uint8 RGB, got float32"):
        verifier.detect(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(ValueError, match="detector must be 'hog' or 'cnn', got 'haar'"):
        DlibVerifier(detector="haar")
    with pytest.raises(FileNotFoundError, match=r"shape_predictor_5_face_landmarks\.dat: no such file"):
        DlibVerifier(models_dir=tmp_path)
    (tmp_path / "shape_predictor_5_face_landmarks.dat").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="is not the pinned"):
        DlibVerifier(models_dir=tmp_path)
    assert verifier.detect(np.zeros((64, 64, 3), np.uint8)) == []
    assert verifier.faces(np.zeros((64, 64, 3), np.uint8)) == []

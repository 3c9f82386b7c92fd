"""custodes.media.faces.int8: the 8-bit CenterFace model, against the float one and on record."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from custodes.core.errors import InvalidInput
from custodes.media.faces import FaceDetector, int8
from custodes.media.synth import frames
from tests.media.faces.astronaut import astronaut_bgr


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
    int8._BUILT.clear()  # build it here, not from this process's memory
    det = FaceDetector(precision="int8", cache_dir=tmp_path)
    lin = det.lineage()
    assert lin["precision"] == "int8"
    assert "32 generated street frames" in lin["quantization"]
    kept = list(tmp_path.glob("centerface-int8-*.onnx"))
    assert len(kept) == 1
    assert hashlib.sha256(kept[0].read_bytes()).hexdigest() == lin["quantized_sha256"]
    assert f"int8 sha256:{lin['quantized_sha256']}" in det.version
    # the same bytes again, from the file (no rebuild) ...
    int8._BUILT.clear()
    mtime = kept[0].stat().st_mtime_ns
    again = FaceDetector(precision="int8", cache_dir=tmp_path)
    assert again.quantized_sha256 == lin["quantized_sha256"]
    assert kept[0].stat().st_mtime_ns == mtime
    # ... and a damaged file is built again, giving the same model
    kept[0].write_bytes(kept[0].read_bytes()[:1000])
    int8._BUILT.clear()
    rebuilt = FaceDetector(precision="int8", cache_dir=tmp_path)
    assert rebuilt.quantized_sha256 == lin["quantized_sha256"]
    assert not list(tmp_path.glob(".*part"))
    with pytest.raises(InvalidInput, match="precision"):
        FaceDetector(precision="int4")

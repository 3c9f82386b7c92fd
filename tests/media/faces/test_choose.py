"""custodes.media.faces.choose: a face model by name."""

from __future__ import annotations

import pytest

from custodes.core.errors import InvalidInput
from custodes.media.faces import FaceDetector, RetinaFaceDetector, face_detector, face_model_name


def test_models_are_chosen_by_name() -> None:
    assert face_model_name("float32") == "centerface"
    assert face_model_name("int8") == "centerface-int8"
    assert face_model_name("retinaface") == "retinaface"
    with pytest.raises(InvalidInput, match="centerface, centerface-int8, retinaface"):
        face_model_name("yolo")
    assert isinstance(face_detector("retinaface"), RetinaFaceDetector)
    chosen = face_detector("centerface")
    assert isinstance(chosen, FaceDetector)
    assert chosen.precision == "float32"

"""Choosing a face model by name (:func:`face_detector`, :data:`FACE_MODELS`)."""

from __future__ import annotations

from pathlib import Path

from custodes.core.errors import InvalidInput
from custodes.media.faces.centerface import FaceDetector
from custodes.media.faces.retinaface import RetinaFaceDetector

__all__ = ["FACE_MODELS", "face_detector", "face_model_name"]


FACE_MODELS = ("centerface", "centerface-int8", "retinaface")
"""The face models ``custodes redact --face-model`` takes (``float32`` and ``int8`` are
older names of the two CenterFace ones)."""
_MODEL_ALIASES = {"float32": "centerface", "int8": "centerface-int8"}


def face_model_name(model: str) -> str:
    """``model`` by its current name; an unknown one is refused."""
    name = _MODEL_ALIASES.get(model, model)
    if name not in FACE_MODELS:
        raise InvalidInput(f"unknown face model '{model}' ({', '.join(FACE_MODELS)})")
    return name


def face_detector(
    model: str, *, max_side: int = 1280, cache_dir: Path | None = None
) -> FaceDetector | RetinaFaceDetector:
    """The detector called ``model`` (see :data:`FACE_MODELS`), seeing frames up to
    ``max_side`` pixels, its other settings at their defaults."""
    name = face_model_name(model)
    if name == "retinaface":
        return RetinaFaceDetector(max_side=max_side)
    return FaceDetector(
        max_side=max_side,
        precision="int8" if name == "centerface-int8" else "float32",
        cache_dir=cache_dir,
    )

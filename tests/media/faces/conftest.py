"""The CenterFace detector the face tests share (loading it takes a while)."""

from __future__ import annotations

import pytest

from custodes.media.faces import FaceDetector


@pytest.fixture(scope="package")
def detector() -> FaceDetector:
    return FaceDetector()

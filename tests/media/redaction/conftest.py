"""The redaction tests' clip, its plan and its redacted copy: made once for the package."""

from __future__ import annotations

from typing import Any

import pytest

from custodes.media.faces import FaceDetector
from custodes.media.redaction import (
    RedactionPlan,
    RegionSeed,
    TrackingParams,
    apply_redaction,
    plan_redaction,
)
from tests.media.redaction.clip import FPS, PLATE_SEED_FRAME, Clip, N, write_clip


@pytest.fixture(scope="package")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Clip:
    return write_clip(tmp_path_factory.mktemp("redact") / "faces.mp4")


@pytest.fixture(scope="package")
def detector() -> FaceDetector:
    return FaceDetector()


@pytest.fixture(scope="package")
def plan(clip: Clip, detector: FaceDetector) -> RedactionPlan:
    seen: list[int] = []
    p = clip.plates[PLATE_SEED_FRAME]
    seed = RegionSeed(PLATE_SEED_FRAME / FPS, p.x0, p.y0, p.width, p.height, "plate")
    plan = plan_redaction(
        clip.path,
        faces=True,
        regions=[seed],
        detector=detector,
        params=TrackingParams(detect_every=1),
        source_sha256=clip.sha256,
        progress=seen.append,
    )
    assert sum(seen) == N
    return plan


@pytest.fixture(scope="package")
def redacted(clip: Clip, plan: RedactionPlan, tmp_path_factory: pytest.TempPathFactory) -> Any:
    dest = tmp_path_factory.mktemp("out") / "redacted.mp4"
    return dest, apply_redaction(clip.path, dest, plan)

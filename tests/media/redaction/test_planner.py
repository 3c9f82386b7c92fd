"""custodes.media.redaction.planner: what planning refuses, and what the detector is shown."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from custodes.core.errors import InvalidInput
from custodes.media.faces import Box
from custodes.media.redaction import (
    RedactionPlan,
    RegionSeed,
    TrackingParams,
    detect_every_for,
    plan_redaction,
)
from tests.media.redaction.clip import FPS, Clip, H, N, W


def test_faces_need_a_detector_and_regions_must_fit(clip: Clip) -> None:
    with pytest.raises(InvalidInput, match="detector"):
        plan_redaction(clip.path, faces=True, regions=[])
    with pytest.raises(InvalidInput, match="outside"):
        plan_redaction(clip.path, faces=False, regions=[RegionSeed(0.0, 300, 10, 50, 10)])
    with pytest.raises(InvalidInput):
        plan_redaction(clip.path, faces=False, regions=[RegionSeed(float("nan"), 1, 1, 5, 5)])
    with pytest.raises(InvalidInput, match="after the video"):
        plan_redaction(clip.path, faces=False, regions=[RegionSeed(99.0, 1, 1, 5, 5)])


def test_an_unreadable_source_is_invalid_input(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    with pytest.raises(InvalidInput):
        plan_redaction(junk, faces=False, regions=[])


class _SizeRecorder:
    """A stand-in detector that records the frame sizes it is shown (finds nothing)."""

    name = "recorder"
    threshold = 0.5
    version = "test"

    def __init__(self, side: int) -> None:
        self.side = side
        self.seen: list[tuple[int, int]] = []

    def lineage(self) -> dict[str, Any]:
        return {"name": self.name}

    def input_size(self, width: int, height: int) -> tuple[int, int]:
        s = min(1.0, self.side / max(width, height))
        return round(width * s), round(height * s)

    def detect(self, image: np.ndarray, *, bgr: bool = False) -> list[Box]:
        self.seen.append((image.shape[1], image.shape[0]))
        return []


def test_the_detector_sees_frames_at_its_own_size_not_the_tracking_size(clip: Clip) -> None:
    """Region tracking works on small frames; the detector must not be capped by that
    (it hid 8-12 px faces of a 768x576 camera when it was)."""
    big = _SizeRecorder(side=W)  # native: larger than work_side below
    plan_redaction(clip.path, faces=True, detector=big, work_side=W // 2)
    assert set(big.seen) == {(W, H)}
    small = _SizeRecorder(side=W // 4)
    plan_redaction(clip.path, faces=True, detector=small, work_side=W)
    assert set(small.seen) == {(W // 4, H // 4)}
    # no face found, so nothing carried and no extra looks: the default stride alone
    assert len(small.seen) == math.ceil(N / detect_every_for(FPS, "flow")) == math.ceil(N / 5)


def test_the_plan_records_the_stride_it_used(clip: Clip) -> None:
    rec = _SizeRecorder(side=W)
    plan = plan_redaction(clip.path, faces=True, detector=rec)
    assert plan.params.detect_every == 5  # 30 fps, boxes carried with the picture: 6 looks a second
    assert plan.params.carry == "flow"
    back = RedactionPlan.from_json(plan.to_json()).params
    assert back.detect_every == 5 and back.carry == "flow"
    linear = plan_redaction(
        clip.path, faces=True, detector=rec, params=TrackingParams(carry="linear")
    )
    assert linear.params.detect_every == 3  # 30 fps, boxes interpolated: 10 looks a second
    with pytest.raises(InvalidInput, match="detect_every"):
        plan_redaction(clip.path, faces=True, detector=rec, params=TrackingParams(detect_every=-1))
    with pytest.raises(InvalidInput, match="carry"):
        plan_redaction(clip.path, faces=True, detector=rec, params=TrackingParams(carry="warp"))

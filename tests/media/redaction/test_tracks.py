"""custodes.media.redaction.tracks: faces covered in every frame, between detections too."""

from __future__ import annotations

import pytest

from custodes.media.faces import Box, FaceDetector
from custodes.media.redaction import RedactionPlan, TrackingParams, detect_every_for, plan_redaction
from tests.media.redaction.clip import OCCLUDED, Clip, H, N, W, coverage


def test_plan_covers_the_face_in_every_frame(clip: Clip, plan: RedactionPlan) -> None:
    assert plan.frames == N and (plan.width, plan.height) == (W, H)
    for i, face in clip.faces.items():
        boxes = [b for b in plan.boxes.get(i, []) if b.kind == "face"]
        assert coverage(face, boxes) > 0.97, (i, face, boxes)
    hows = {b.how for bs in plan.boxes.values() for b in bs if b.kind == "face"}
    assert "detected" in hows


def test_a_face_missing_for_two_frames_is_still_covered(clip: Clip, plan: RedactionPlan) -> None:
    before, after = clip.faces[OCCLUDED[0] - 1], clip.faces[OCCLUDED[-1] + 1]
    for i in OCCLUDED:
        boxes = [b for b in plan.boxes.get(i, []) if b.kind == "face"]
        assert boxes, f"frame {i} has no face box"
        assert {b.how for b in boxes} == {"interpolated"}
        k = (i - OCCLUDED[0] + 1) / (len(OCCLUDED) + 1)
        where = Box(
            *(
                a + k * (b - a)
                for a, b in zip(before.as_tuple()[:4], after.as_tuple()[:4], strict=True)
            )
        )
        assert coverage(where, boxes) > 0.97


def test_faces_seen_only_every_third_frame_are_still_covered(
    clip: Clip, detector: FaceDetector
) -> None:
    plan = plan_redaction(
        clip.path, faces=True, detector=detector, params=TrackingParams(detect_every=3)
    )
    assert len([b for bs in plan.boxes.values() for b in bs if b.how == "detected"]) <= N // 3 + 1
    for i, face in clip.faces.items():
        assert coverage(face, plan.boxes.get(i, [])) > 0.95, i


@pytest.mark.parametrize(
    ("fps", "every"),
    [(30.0, 3), (29.97, 2), (25.0, 2), (24.0, 2), (10.0, 1), (5.0, 1), (60.0, 6), (0.0, 1)],
)
def test_the_default_detector_stride_looks_ten_times_a_second(fps: float, every: int) -> None:
    assert detect_every_for(fps) == every
    assert fps <= 0 or fps / every >= 10 or every == 1

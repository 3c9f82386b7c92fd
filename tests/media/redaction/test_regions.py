"""custodes.media.redaction.regions: a drawn region followed as it moves."""

from __future__ import annotations

from custodes.media.redaction import RedactionPlan, RegionSeed, TrackingParams, plan_redaction
from tests.media.redaction.clip import FPS, PLATE_SEED_FRAME, Clip, N, coverage


def test_a_drawn_region_follows_the_moving_plate(clip: Clip, plan: RedactionPlan) -> None:
    for i in range(PLATE_SEED_FRAME, N):
        boxes = [b for b in plan.boxes.get(i, []) if b.kind == "region"]
        assert len(boxes) == 1, i
        assert boxes[0].label == "plate"
        assert coverage(clip.plates[i], boxes) > 0.9, (i, clip.plates[i], boxes)
    # nothing before the frame it was drawn on
    assert not [
        b for i in range(PLATE_SEED_FRAME) for b in plan.boxes.get(i, []) if b.kind == "region"
    ]


def test_mil_tracker_can_be_chosen(clip: Clip) -> None:
    """OpenCV's MIL tracker samples at random (not from a seed it exposes: cv2.setRNGSeed
    does not make it repeat), so its boxes differ from run to run. Over 40 runs its box
    covered the plate by 12-100 % in every frame and 52-100 % on average over the 12
    frames; the last frame alone fell to 22 %. It must follow the plate, not land on
    the same pixels every time."""
    start = N - 12
    p = clip.plates[start]
    plan = plan_redaction(
        clip.path,
        faces=False,
        regions=[RegionSeed(start / FPS, p.x0, p.y0, p.width, p.height, "plate")],
        params=TrackingParams(region_tracker="mil"),
    )
    assert plan.detector is None
    assert plan.params.region_tracker == "mil"
    assert plan.frames_with_boxes() == list(range(start, N))
    covered = [coverage(clip.plates[i], plan.boxes[i]) for i in range(start, N)]
    assert min(covered) > 0.05, covered
    assert sum(covered) / len(covered) >= 0.4, covered

"""custodes.media.redaction.carry: boxes carried with the picture between the detector's looks.

A textured patch moves over a textured background along a curve (so that a straight line
between two looks does not follow it); the boxes carried from one look forward and from
the next backward must cover it at every frame between, a patch that appears between two
looks must be covered from its first frame, and a box must widen more the faster it moves.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest

from custodes.media.faces import Box
from custodes.media.redaction import TrackingParams, plan_redaction
from custodes.media.redaction.carry import Carrier, step
from tests.media.redaction.clip import coverage

W, H, N, SIDE = 320, 192, 41, 24


def _texture(h: int, w: int, seed: int) -> np.ndarray:
    """Smooth random texture (blurred noise), like a scene's, not like a chessboard's."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(128, 60, (h, w)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), 2.0)
    smooth = (smooth - smooth.mean()) / max(1e-6, float(smooth.std())) * 40 + 128
    return np.clip(smooth, 0, 255).astype(np.uint8)


def _background(seed: int = 1) -> np.ndarray:
    return _texture(H, W, seed)


def _patch(seed: int = 2) -> np.ndarray:
    return _texture(SIDE, SIDE, seed)


def _curve(i: int, speed: float = 1.0) -> tuple[float, float]:
    """Along x at ``3 * speed`` px a frame, up and down 20 px over 40 frames (up to
    ``3 * speed`` px a frame in y too): a walker's path, not a straight line."""
    return 40 + 3.0 * speed * i, 80 + 20 * speed * math.sin(2 * math.pi * i / 40)


def _grays(speed: float = 1.0) -> tuple[list[np.ndarray], list[Box]]:
    bg, patch = _background(), _patch()
    frames, truth = [], []
    for i in range(N):
        x, y = _curve(i, speed)
        g = bg.copy()
        xi, yi = round(x), round(y)
        g[yi : yi + SIDE, xi : xi + SIDE] = patch
        frames.append(g)
        truth.append(Box(xi, yi, xi + SIDE, yi + SIDE))
    return frames, truth


def _carry(frames: list[np.ndarray], box: Box, start: int, direction: int, reach: int) -> Carrier:
    c = Carrier.at(frames[start], start, np.array(box.as_tuple()[:4]), direction, reach)
    f = start
    while not c.done:
        step(frames[f], frames[f + direction], [c])
        f += direction
    return c


def _widened(c: Carrier, frame: int) -> Box:
    b, w = c.out[frame]
    return Box(b[0] - w, b[1] - w, b[2] + w, b[3] + w)


def test_a_box_is_carried_forward_and_backward_with_the_patch() -> None:
    frames, truth = _grays()
    ahead = _carry(frames, truth[0], 0, 1, 20)
    back = _carry(frames, truth[20], 20, -1, 20)
    assert sorted(ahead.out) == list(range(1, 21)) and sorted(back.out) == list(range(20))
    for f in range(1, 20):
        for c in (ahead, back):
            got = _widened(c, f)
            assert coverage(truth[f], [got]) > 0.95, (f, c.direction, got, truth[f])
            # it follows: the centre within a quarter of the patch, not a wide blanket
            assert abs(got.center[0] - truth[f].center[0]) < SIDE / 4, (f, got, truth[f])
            assert abs(got.center[1] - truth[f].center[1]) < SIDE / 4, (f, got, truth[f])
            assert got.width < 2 * SIDE
    # a straight line between the two looks misses the patch in the middle: the test
    # would not tell carrying from interpolating otherwise
    mid = Box(
        *(
            a + 0.5 * (b - a)
            for a, b in zip(truth[0].as_tuple()[:4], truth[20].as_tuple()[:4], strict=True)
        )
    )
    assert coverage(truth[10], [mid]) < 0.5


def test_a_box_widens_with_its_motion() -> None:
    slow_frames, slow_truth = _grays(speed=0.25)
    fast_frames, fast_truth = _grays(speed=1.5)
    slow = _carry(slow_frames, slow_truth[0], 0, 1, 10)
    fast = _carry(fast_frames, fast_truth[0], 0, 1, 10)
    for f in range(1, 11):
        assert fast.out[f][1] > slow.out[f][1], f
    # ... and with how long it has been carried (its uncertainty adds up)
    assert slow.out[10][1] > slow.out[1][1]
    assert fast.out[10][1] > fast.out[1][1]


# --- the planner, with a detector that finds the red patch -------------------------------


class _RedFinder:
    """A stand-in face detector: the red pixels' bounding box, and a record of its looks."""

    name = "red"
    threshold = 0.5
    version = "test"

    def __init__(self) -> None:
        self.looks = 0

    def lineage(self) -> dict[str, Any]:
        return {"name": self.name}

    def input_size(self, width: int, height: int) -> tuple[int, int]:
        return width, height

    def detect(self, image: np.ndarray, *, bgr: bool = False) -> list[Box]:
        self.looks += 1
        rgb = image.astype(np.int16)
        red = (rgb[:, :, 0] - rgb[:, :, 1] > 60) & (rgb[:, :, 0] - rgb[:, :, 2] > 60)
        ys, xs = np.nonzero(red)
        if len(xs) < 20:
            return []
        return [Box(float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))]


APPEARS = 13  # between the looks at frames 10 and 20


def _write_red_clip(path: Path) -> dict[int, Box]:
    bg, tex = _background(), _patch()
    truth: dict[int, Box] = {}
    with av.open(str(path), "w") as out:
        vs = out.add_stream(
            "libx264", rate=Fraction(30), options={"crf": "16", "preset": "ultrafast"}
        )
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
        for i in range(N):
            rgb = np.repeat(bg[:, :, None], 3, axis=2)
            if i >= APPEARS:
                x, y = _curve(i - APPEARS + 5)
                xi, yi = round(x), round(y)
                rgb[yi : yi + SIDE, xi : xi + SIDE, 0] = 200 + tex // 5
                rgb[yi : yi + SIDE, xi : xi + SIDE, 1] = tex // 3
                rgb[yi : yi + SIDE, xi : xi + SIDE, 2] = tex // 3
                truth[i] = Box(xi, yi, xi + SIDE, yi + SIDE)
            vf = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            vf.pts, vf.time_base = i, Fraction(1, 30)
            out.mux(vs.encode(vf))
        out.mux(vs.encode(None))
    return truth


@pytest.fixture(scope="module")
def red_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[int, Box]]:
    path = tmp_path_factory.mktemp("carry") / "red.mp4"
    return path, _write_red_clip(path)


def test_a_face_appearing_between_looks_is_covered_from_its_first_frame(
    red_clip: tuple[Path, dict[int, Box]],
) -> None:
    path, truth = red_clip
    finder = _RedFinder()
    plan = plan_redaction(
        path, faces=True, detector=finder, params=TrackingParams(detect_every=10, carry="flow")
    )
    assert finder.looks <= N // 10 + 3  # a few looks (and maybe one where the motion jumped)
    assert min(f for f, bs in plan.boxes.items() if bs) <= APPEARS
    for i, face in truth.items():
        boxes = plan.boxes.get(i, [])
        assert coverage(face, boxes) > 0.9, (i, face, boxes)
    hows = {b.how for i in range(APPEARS, 20) for b in plan.boxes.get(i, [])}
    assert "held" in hows  # before its first detection: carried back, not detected


def test_carrying_covers_a_curved_path_that_a_straight_line_misses(
    red_clip: tuple[Path, dict[int, Box]],
) -> None:
    path, truth = red_clip
    params = dict(detect_every=10, hold=0, smooth=0)
    flow = plan_redaction(
        path, faces=True, detector=_RedFinder(), params=TrackingParams(carry="flow", **params)
    )
    linear = plan_redaction(
        path, faces=True, detector=_RedFinder(), params=TrackingParams(carry="linear", **params)
    )
    inside = [i for i in truth if 20 < i < 40]  # between the looks at 20, 30 and 40
    flow_cov = [coverage(truth[i], flow.boxes.get(i, [])) for i in inside]
    linear_cov = [coverage(truth[i], linear.boxes.get(i, [])) for i in inside]
    assert min(flow_cov) > 0.9, flow_cov
    assert min(linear_cov) < 0.8, linear_cov  # what carrying is for

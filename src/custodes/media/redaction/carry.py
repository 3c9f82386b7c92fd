"""Boxes carried with the picture between the detector's looks (pyramidal Lucas-Kanade).

The detector looks a few times a second (and at scene cuts, and when the motion jumps);
in between, each box it found is carried forward frame by frame, and backward over the
frames since the previous look, with the motion of its own pixels: a few points inside
the box (OpenCV ``goodFeaturesToTrack`` corners and a 3x3 grid, for faces too small to
have corners) followed by pyramidal Lucas-Kanade (``calcOpticalFlowPyrLK``) on a small
grayscale copy of the frame, all the boxes' points of a frame pair in one call. The box
moves by the points' median motion and scales by the median change of their spread.

Each carried box has an uncertainty, in pixels on each side, that grows every frame by
the spread of its points' motions (how much they disagree), a little of its size
(``DRIFT``), and its whole motion when the points are lost (then it moves on at its last
velocity); the box handed on is widened by that uncertainty and by ``MOTION_K`` of the
frame's motion. Offline, so a face first seen at a look is also covered on the frames
before it (:class:`Carrier` in the backward direction).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = ["Carrier", "is_cut", "small_gray", "step"]

_U8 = NDArray[np.uint8]
_F32 = NDArray[np.float32]

DRIFT = 0.02  # uncertainty added a frame, share of the box's size
MOTION_K = 0.5  # box widened by this share of the frame's motion, on each side
MAX_SIGMA = 1.0  # uncertainty at most this share of the box's size
LOST_ERR = 40.0  # LK error (mean absolute difference in the window) above which a point is lost
WIN = 11  # LK window, pixels of the small frame
LEVELS = 3
_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 12, 0.03)
CUT_DIFF = 35.0  # mean absolute difference of 32x18 thumbnails that makes a scene cut


def small_gray(y_plane: _U8, side: int) -> _U8:
    """The luma plane shrunk so that its longer side is at most ``side``."""
    h, w = y_plane.shape
    s = min(1.0, side / max(w, h))
    if s >= 1.0:
        return np.ascontiguousarray(y_plane)
    size = (max(2, round(w * s)), max(2, round(h * s)))
    return np.asarray(cv2.resize(y_plane, size, interpolation=cv2.INTER_AREA), np.uint8)


def thumb(gray: _U8) -> NDArray[np.float32]:
    return np.asarray(cv2.resize(gray, (32, 18), interpolation=cv2.INTER_AREA), np.float32)


def is_cut(prev: NDArray[np.float32] | None, cur: NDArray[np.float32]) -> bool:
    """Whether two thumbnails (:func:`thumb`) differ like a scene cut."""
    return prev is not None and float(np.abs(cur - prev).mean()) > CUT_DIFF


def seed_points(gray: _U8, box: NDArray[np.float64]) -> _F32:
    """Points to follow inside ``box`` (x0, y0, x1, y1 in ``gray``'s pixels)."""
    h, w = gray.shape
    x0, y0 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    x1, y1 = min(w, int(np.ceil(box[2]))), min(h, int(np.ceil(box[3])))
    gx = np.linspace(box[0], box[2], 5)[1:4]
    gy = np.linspace(box[1], box[3], 5)[1:4]
    grid = np.stack(np.meshgrid(gx, gy), axis=-1).reshape(-1, 2)
    pts = [grid]
    if x1 - x0 >= 6 and y1 - y0 >= 6:
        corners = cv2.goodFeaturesToTrack(
            np.ascontiguousarray(gray[y0:y1, x0:x1]), 12, 0.01, max(2.0, (x1 - x0) / 8)
        )
        if corners is not None:
            pts.append(corners.reshape(-1, 2) + (x0, y0))
    out = np.concatenate(pts).astype(np.float32)
    out[:, 0] = np.clip(out[:, 0], 0, w - 1)
    out[:, 1] = np.clip(out[:, 1], 0, h - 1)
    return out


@dataclass
class Carrier:
    """One detected box carried in one direction (``step`` +1 or -1) from ``start``.

    ``box`` is in the small frame's pixels; ``out`` maps each frame it reached to the box
    there and its widening (both in the small frame's pixels)."""

    start: int
    direction: int
    box: NDArray[np.float64]
    pts: _F32
    reach: int
    sigma: float = 0.0
    v: NDArray[np.float64] = field(default_factory=lambda: np.zeros(2))
    frame: int = 0
    jumped: bool = False
    out: dict[int, tuple[NDArray[np.float64], float]] = field(default_factory=dict)

    @classmethod
    def at(cls, gray: _U8, frame: int, box: NDArray[np.float64], direction: int, reach: int):  # type: ignore[no-untyped-def]
        return cls(frame, direction, box.astype(np.float64), seed_points(gray, box), reach, frame=frame)

    @property
    def size(self) -> float:
        return float(max(self.box[2] - self.box[0], self.box[3] - self.box[1], 1.0))

    @property
    def done(self) -> bool:
        return abs(self.frame - self.start) >= self.reach

    def _moved(self, gray: _U8, new: _F32, ok: NDArray[np.bool_]) -> None:
        size = self.size
        old = self.pts
        jump = False
        if int(ok.sum()) >= 2:
            d = new[ok] - old[ok]
            med = np.median(d, axis=0).astype(np.float64)
            spread = float(1.4826 * np.median(np.linalg.norm(d - med, axis=1)))
            scale = 1.0
            if int(ok.sum()) >= 4:
                c0, c1 = old[ok].mean(axis=0), new[ok].mean(axis=0)
                r0 = float(np.median(np.linalg.norm(old[ok] - c0, axis=1)))
                r1 = float(np.median(np.linalg.norm(new[ok] - c1, axis=1)))
                if r0 > 1.0:
                    scale = float(np.clip(r1 / r0, 0.95, 1.05))
            speed0 = float(np.hypot(*self.v))
            speed = float(np.hypot(*med))
            jump = self.frame != self.start and speed > max(0.5 * size, 3 * speed0 + 2.0)
            self.v = med
            self.sigma += spread + DRIFT * size
            self.pts = new[ok]
        else:  # lost: move on at the last velocity, unsure by all of it
            scale = 1.0
            speed = float(np.hypot(*self.v))
            self.sigma += speed + 0.1 * size
            self.pts = np.zeros((0, 2), np.float32)
            jump = True
        cx = (self.box[0] + self.box[2]) / 2 + self.v[0]
        cy = (self.box[1] + self.box[3]) / 2 + self.v[1]
        hw, hh = (self.box[2] - self.box[0]) / 2 * scale, (self.box[3] - self.box[1]) / 2 * scale
        self.box = np.array([cx - hw, cy - hh, cx + hw, cy + hh])
        self.sigma = min(self.sigma, MAX_SIGMA * size)
        self.frame += self.direction
        self.jumped = jump
        self.out[self.frame] = (self.box.copy(), self.sigma + MOTION_K * speed)
        if len(self.pts) < 3:  # too few left: new points where the box now is
            self.pts = seed_points(gray, self.box)


def step(prev: _U8, gray: _U8, carriers: list[Carrier]) -> None:
    """Carry every one of ``carriers`` from ``prev`` to ``gray`` (one frame, one LK call)."""
    live = [c for c in carriers if not c.done]
    if not live:
        return
    counts = [len(c.pts) for c in live]
    pts = np.concatenate([c.pts for c in live]).reshape(-1, 1, 2).astype(np.float32)
    if len(pts):
        new, status, err = cv2.calcOpticalFlowPyrLK(
            prev, gray, pts, None, winSize=(WIN, WIN), maxLevel=LEVELS, criteria=_CRITERIA
        )
        new = new.reshape(-1, 2)
        ok = (status.reshape(-1) == 1) & (err.reshape(-1) < LOST_ERR)
    else:
        new, ok = pts.reshape(-1, 2), np.zeros(0, bool)
    h, w = gray.shape
    ok &= (new[:, 0] >= 0) & (new[:, 0] < w) & (new[:, 1] >= 0) & (new[:, 1] < h)
    k = 0
    for c, n in zip(live, counts, strict=True):
        c._moved(gray, new[k : k + n], ok[k : k + n])
        k += n

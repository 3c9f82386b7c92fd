"""Boxes carried with the picture between the detector's looks (pyramidal Lucas-Kanade).

The detector looks a few times a second (and at scene cuts, and when the motion jumps);
in between, each box it found is carried forward frame by frame, and backward over the
frames since the previous look, with the motion of its own pixels: a few points inside
the box (OpenCV ``goodFeaturesToTrack`` corners and a 3x3 grid, for faces too small to
have corners) followed by pyramidal Lucas-Kanade (``calcOpticalFlowPyrLK``) on a small
grayscale copy of the frame, in a window around the box, starting from where the box's
last velocity puts them. The box
moves by the points' median motion and scales by the median change of their spread.

Each carried box has an uncertainty, in pixels on each side, that grows every frame by
the spread of its points' motions (how much they disagree, over the square root of
their number), a little of its size
(``DRIFT``), and its whole motion when the points are lost (then it moves on at its last
velocity); the box handed on is widened by that uncertainty and by ``MOTION_K`` of the
frame's motion. Offline, so a face first seen at a look is also covered on the frames
before it (:class:`Carrier` in the backward direction).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = ["Carrier", "is_cut", "small_gray", "step"]

_U8 = NDArray[np.uint8]
_F32 = NDArray[np.float32]

DRIFT = 0.005  # uncertainty added a frame, share of the box's size
MOTION_K = 0.5  # box widened by this share of the frame's motion, on each side
MAX_SIGMA = 1.0  # uncertainty at most this share of the box's size
STOP_SIGMA = 0.5  # a box unsure by more than this share of its size is carried no further
LOST_ERR = 40.0  # LK error (mean absolute difference in the window) above which a point is lost
WIN = 11  # LK window, pixels of the small frame
LEVELS = 3
PAD = 24  # pixels of the small frame around a box that its points are followed in
_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 8, 0.05)
CORNERS = 6  # corners followed in a box, besides a 3x3 grid
CUT_DIFF = 35.0  # mean absolute difference of 32x18 thumbnails that makes a scene cut


_LUMA8 = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12"})


def small_gray(frame: Any, size: tuple[int, int]) -> _U8:
    """The frame's luma at ``size`` (width, height): its Y plane as it is where it is 8-bit
    (no conversion), else converted."""
    if frame.format.name in _LUMA8:
        p = frame.planes[0]
        y = np.frombuffer(p, np.uint8).reshape(-1, p.line_size)[: frame.height, : frame.width]
        if (frame.width, frame.height) == size:
            return y.copy()
        return np.asarray(cv2.resize(y, size, interpolation=cv2.INTER_AREA), np.uint8)
    w, h = size
    out: _U8 = frame.reformat(width=w, height=h, format="gray", interpolation="AREA").to_ndarray()
    return out


def thumb(gray: _U8) -> NDArray[np.float32]:
    return np.asarray(cv2.resize(gray, (32, 18), interpolation=cv2.INTER_AREA), np.float32)


def is_cut(prev: NDArray[np.float32] | None, cur: NDArray[np.float32]) -> bool:
    """Whether two thumbnails (:func:`thumb`) differ like a scene cut."""
    return prev is not None and float(np.abs(cur - prev).mean()) > CUT_DIFF


def seed_points(gray: _U8, box: NDArray[np.float64]) -> _F32:
    """Points to follow inside ``box`` (x0, y0, x1, y1 in ``gray``'s pixels): a 3x3 grid
    over its middle half and up to ``CORNERS`` corners in its middle 70 %, where the face is
    rather than what is behind it."""
    h, w = gray.shape
    bw, bh = box[2] - box[0], box[3] - box[1]
    gx = np.linspace(box[0] + 0.25 * bw, box[2] - 0.25 * bw, 3)
    gy = np.linspace(box[1] + 0.25 * bh, box[3] - 0.25 * bh, 3)
    pts = [np.stack(np.meshgrid(gx, gy), axis=-1).reshape(-1, 2)]
    x0, y0 = max(0, int(box[0] + 0.15 * bw)), max(0, int(box[1] + 0.15 * bh))
    x1, y1 = min(w, int(np.ceil(box[2] - 0.15 * bw))), min(h, int(np.ceil(box[3] - 0.15 * bh)))
    if x1 - x0 >= 6 and y1 - y0 >= 6:
        corners = cv2.goodFeaturesToTrack(
            np.ascontiguousarray(gray[y0:y1, x0:x1]), CORNERS, 0.01, max(2.0, (x1 - x0) / 6)
        )
        if corners is not None:
            pts.append(corners.reshape(-1, 2) + np.array([x0, y0], np.float32))
    out = np.concatenate(pts).astype(np.float32)
    out[:, 0] = np.clip(out[:, 0], 0, w - 1)
    out[:, 1] = np.clip(out[:, 1], 0, h - 1)
    return out


@dataclass(eq=False)
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
    def at(
        cls, gray: _U8, frame: int, box: NDArray[np.float64], direction: int, reach: int
    ) -> Carrier:
        """A carrier of ``box`` found on ``gray`` (frame ``frame``)."""
        box = np.asarray(box, np.float64)
        return cls(frame, direction, box, seed_points(gray, box), reach, frame=frame)

    @property
    def size(self) -> float:
        return float(max(self.box[2] - self.box[0], self.box[3] - self.box[1], 1.0))

    @property
    def done(self) -> bool:
        """Gone as far as it may, or lost: unsure by more than ``STOP_SIGMA`` of its size."""
        return abs(self.frame - self.start) >= self.reach or self.sigma > STOP_SIGMA * self.size

    def _moved(self, gray: _U8, new: _F32, ok: NDArray[np.bool_]) -> None:
        size = self.size
        n = int(ok.sum())
        speed0 = float(np.hypot(*self.v))
        scale = 1.0
        if n >= 2:
            old, now = self.pts[ok], new[ok]
            d = now - old
            med = np.sort(d, axis=0)[n // 2].astype(np.float64)
            dev = np.abs(d - med).sum(axis=1)
            spread = 1.4826 * 0.7071 * float(np.sort(dev)[n // 2])
            if n >= 4:
                r0 = np.abs(old - old.mean(axis=0)).sum(axis=1)
                r1 = np.abs(now - now.mean(axis=0)).sum(axis=1)
                m0 = float(np.sort(r0)[n // 2])
                if m0 > 1.0:
                    scale = min(1.05, max(0.95, float(np.sort(r1)[n // 2]) / m0))
            speed = float(np.hypot(*med))
            jump = self.frame != self.start and speed > max(0.5 * size, 3 * speed0 + 2.0)
            self.v = med
            self.sigma += spread / math.sqrt(n) + DRIFT * size
            self.pts = now
        else:  # lost: move on at the last velocity, unsure by all of it
            speed = speed0
            self.sigma += speed + 0.1 * size
            jump = len(self.pts) > 0  # once, when it is lost
            self.pts = np.zeros((0, 2), np.float32)
        b = self.box
        cx, cy = (b[0] + b[2]) / 2 + self.v[0], (b[1] + b[3]) / 2 + self.v[1]
        hw, hh = (b[2] - b[0]) / 2 * scale, (b[3] - b[1]) / 2 * scale
        self.box = np.array([cx - hw, cy - hh, cx + hw, cy + hh])
        self.sigma = min(self.sigma, MAX_SIGMA * size)
        self.frame += self.direction
        self.jumped = jump
        self.out[self.frame] = (self.box, self.sigma + MOTION_K * speed)
        if len(self.pts) < 3:  # too few left: new points where the box now is
            self.pts = seed_points(gray, self.box)


def step(prev: _U8, gray: _U8, carriers: list[Carrier]) -> None:
    """Carry every one of ``carriers`` from ``prev`` to ``gray`` (one frame).

    Each box's points are followed in a window around it (the box, its last motion and
    ``PAD`` pixels each side), starting from where its last velocity puts them."""
    h, w = gray.shape
    for c in carriers:
        if c.done:
            continue
        pad = PAD + 2 * float(np.abs(c.v).max())
        x0, y0 = max(0, int(c.box[0] - pad)), max(0, int(c.box[1] - pad))
        x1, y1 = min(w, int(c.box[2] + pad) + 1), min(h, int(c.box[3] + pad) + 1)
        n = len(c.pts)
        if n == 0 or x1 - x0 < 8 or y1 - y0 < 8:
            c._moved(gray, c.pts, np.zeros(n, bool))
            continue
        off = np.array([x0, y0], np.float32)
        p0 = (c.pts - off).reshape(-1, 1, 2)
        guess = (p0 + c.v.astype(np.float32)).astype(np.float32)
        new, status, err = cv2.calcOpticalFlowPyrLK(
            prev[y0:y1, x0:x1],
            gray[y0:y1, x0:x1],
            p0,
            guess,
            winSize=(WIN, WIN),
            maxLevel=LEVELS,
            criteria=_CRITERIA,
            flags=cv2.OPTFLOW_USE_INITIAL_FLOW,
        )
        new = new.reshape(-1, 2)
        ok = (status.reshape(-1) == 1) & (err.reshape(-1) < LOST_ERR)
        ok &= (new[:, 0] >= 0) & (new[:, 0] < x1 - x0) & (new[:, 1] >= 0) & (new[:, 1] < y1 - y0)
        c._moved(gray, new + off, ok)

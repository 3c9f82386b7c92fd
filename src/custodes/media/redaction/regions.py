"""Regions a person drew (a licence plate, a screen, a tattoo), followed from frame to frame.

A :class:`~custodes.media.redaction.plan.RegionSeed` is followed forward from the frame
it was drawn on by normalised cross-correlation template matching at three scales around
a constant-velocity prediction (OpenCV ``matchTemplate``, :class:`TemplateTracker`;
opencv-python-headless has no KCF/CSRT and its MIL tracker, :class:`MILTracker`, is slower
and drifts more, see ``bench/bench_redact.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from custodes.media.redaction.plan import PlanBox, RegionSeed, TrackingParams

_U8 = NDArray[np.uint8]


class TemplateTracker:
    """Follows a patch by normalised cross-correlation at three scales, in a window
    around a constant-velocity prediction; reports the match score."""

    scales = (1 / 1.06, 1.0, 1.06)

    def __init__(self, gray: _U8, box: tuple[float, float, float, float]) -> None:
        self.box = box  # x, y, w, h in working pixels
        self.v = (0.0, 0.0)
        self.template = self._crop(gray, box)
        self.first = self.template

    @staticmethod
    def _crop(gray: _U8, box: tuple[float, float, float, float]) -> _U8:
        x, y, w, h = box
        hgt, wid = gray.shape
        x0, y0 = max(0, round(x)), max(0, round(y))
        x1, y1 = min(wid, max(x0 + 2, round(x + w))), min(hgt, max(y0 + 2, round(y + h)))
        return np.ascontiguousarray(gray[y0:y1, x0:x1])

    def update(self, gray: _U8, lost: int) -> float:
        x, y, w, h = self.box
        px, py = x + self.v[0], y + self.v[1]
        pad = max(12.0, 0.6 * max(w, h)) * (1 + min(lost, 4))
        hgt, wid = gray.shape
        sx0, sy0 = max(0, int(px - pad)), max(0, int(py - pad))
        sx1, sy1 = min(wid, int(px + w + pad) + 1), min(hgt, int(py + h + pad) + 1)
        window = gray[sy0:sy1, sx0:sx1]
        best = (-2.0, x, y, w, h)
        for tpl in (self.template, self.first):
            for s in self.scales:
                tw, th = max(4, round(w * s)), max(4, round(h * s))
                if tw >= window.shape[1] or th >= window.shape[0]:
                    continue
                t = cv2.resize(tpl, (tw, th), interpolation=cv2.INTER_AREA)
                if float(t.std()) < 1.0:
                    continue
                res = cv2.matchTemplate(window, t, cv2.TM_CCOEFF_NORMED)
                res = np.nan_to_num(res, nan=-1.0, posinf=-1.0, neginf=-1.0)
                _, score, _, loc = cv2.minMaxLoc(res)
                score -= 0.02 * abs(math.log(s))  # prefer no scale change on a tie
                if score > best[0]:
                    best = (score, sx0 + loc[0], sy0 + loc[1], float(tw), float(th))
        score, nx, ny, nw, nh = best
        if score >= 0.0:
            self.v = (0.5 * self.v[0] + 0.5 * (nx - x), 0.5 * self.v[1] + 0.5 * (ny - y))
            self.box = (float(nx), float(ny), nw, nh)
            if score > 0.8:
                self.template = self._crop(gray, self.box)
        return float(score)


class MILTracker:
    """OpenCV's MIL tracker (opencv-python-headless has no KCF or CSRT)."""

    def __init__(self, gray: _U8, box: tuple[float, float, float, float]) -> None:
        self.box = box
        self._t: Any = cv2.TrackerMIL.create()
        bgr = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
        self._t.init(bgr, tuple(round(v) for v in box))

    def update(self, gray: _U8, lost: int) -> float:
        ok, rect = self._t.update(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR))
        if not ok:
            return -1.0
        x, y, w, h = rect
        self.box = (float(x), float(y), float(w), float(h))
        return 1.0


@dataclass
class Region:
    id: int
    seed: RegionSeed
    start: int  # frame index where it starts
    tracker: TemplateTracker | MILTracker | None = None
    lost: int = 0
    ended: bool = False


def region_box(
    reg: Region,
    x: float,
    y: float,
    w: float,
    h: float,
    how: str,
    width: int,
    height: int,
    params: TrackingParams,
) -> PlanBox:
    mx, my = w * params.region_margin, h * params.region_margin
    x0, y0 = max(0.0, x - mx), max(0.0, y - my)
    x1, y1 = min(float(width), x + w + mx), min(float(height), y + h + my)
    return PlanBox(x0, y0, max(x1, x0 + 1), max(y1, y0 + 1), "region", reg.seed.label, reg.id, how)

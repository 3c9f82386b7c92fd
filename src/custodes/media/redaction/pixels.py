"""Hiding the pixels of a box in a yuv420p picture: blurred or filled black.

Inside every box each of the Y, U and V planes is pixelated to four blocks across,
those blocks blurred (Gaussian, sigma 1.5 blocks) and stretched back smoothly
(``style="blur"``: what is left is a smooth blob; weaker settings let a cascade face
detector fire on 1-2 % of blurred faces in ``bench/bench_redact.py``), or filled black
(``style="box"``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

from custodes.media.redaction.plan import PlanBox

__all__ = ["redact_planes", "redact_yuv"]

_U8 = NDArray[np.uint8]


BLUR_BLOCKS = 4  # blocks across the longer side of a box
BLUR_SIGMA = 1.5  # Gaussian sigma over those blocks, in blocks


def _blur_patch(patch: _U8) -> _U8:
    """Pixelate to ``BLUR_BLOCKS`` blocks across the longer side, blur those blocks by
    ``BLUR_SIGMA`` blocks, and stretch back smoothly. Working on the few blocks keeps
    the cost tiny whatever the box size (a wide Gaussian at full size costs ~1 ms)."""
    h, w = patch.shape
    block = max(2.0, max(h, w) / BLUR_BLOCKS)
    bw, bh = max(1, round(w / block)), max(1, round(h / block))
    small = cv2.resize(patch, (bw, bh), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(
        small, (0, 0), sigmaX=BLUR_SIGMA, sigmaY=BLUR_SIGMA, borderType=cv2.BORDER_REPLICATE
    )
    return np.asarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR), np.uint8)


def redact_planes(
    planes: _U8, width: int, height: int, boxes: Sequence[PlanBox], style: str
) -> int:
    """Redact ``boxes`` in a yuv420p ``(h*3/2, w)`` array in place; returns boxes applied."""
    uv = planes[height:].reshape(2, height // 2, width // 2)
    return redact_yuv(planes[:height], uv[0], uv[1], boxes, style)


def redact_yuv(y: _U8, u: _U8, v: _U8, boxes: Sequence[PlanBox], style: str) -> int:
    """Redact ``boxes`` in the planes of a yuv420p picture in place (``u`` and ``v`` at
    half the size of ``y``); returns the boxes applied."""
    height, width = y.shape
    n = 0
    for b in boxes:
        x0, y0 = max(0, math.floor(b.x0)), max(0, math.floor(b.y0))
        x1, y1 = min(width, math.ceil(b.x1)), min(height, math.ceil(b.y1))
        if x1 - x0 < 1 or y1 - y0 < 1:
            continue
        cx0, cy0, cx1, cy1 = x0 // 2, y0 // 2, (x1 + 1) // 2, (y1 + 1) // 2
        if style == "box":
            y[y0:y1, x0:x1] = 16
            u[cy0:cy1, cx0:cx1] = 128
            v[cy0:cy1, cx0:cx1] = 128
        else:
            y[y0:y1, x0:x1] = _blur_patch(y[y0:y1, x0:x1])
            if cx1 > cx0 and cy1 > cy0:
                u[cy0:cy1, cx0:cx1] = _blur_patch(u[cy0:cy1, cx0:cx1])
                v[cy0:cy1, cx0:cx1] = _blur_patch(v[cy0:cy1, cx0:cx1])
        n += 1
    return n

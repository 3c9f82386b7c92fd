"""Synthetic leaks with a known answer for the registration tests.

Every case builds a leak from a synthetic bodycam frame with a transform we choose (so
the true homography is known), adds sensor noise and a JPEG round trip.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import islice

import cv2
import numpy as np

from custodes.media.registration import Registration
from custodes.media.synth import frames

W, H = 320, 180


def gray_frames(seed: int, n: int = 1, start: int = 3) -> list[np.ndarray]:
    rgbs = islice(frames(seconds=1.0, width=W, height=H, seed=seed), start, start + n)
    return [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in rgbs]


def gamma_curve(x: np.ndarray) -> np.ndarray:
    return np.clip(255 * (x / 255.0) ** 0.7 * 1.1 + 8, 0, 255)


def make_leak(
    orig: np.ndarray,
    t: np.ndarray,
    size: tuple[int, int],
    tone: Callable[[np.ndarray], np.ndarray] | None = None,
    *,
    seed: int = 0,
    pattern: np.ndarray | None = None,
) -> np.ndarray:
    """leak = jpeg(noise(tone(warp(orig + pattern, t)))); ``t`` maps original -> leak."""
    src = orig.astype(np.float32)
    if pattern is not None:
        src = src + pattern
    leak = cv2.warpPerspective(src, t, size, flags=cv2.INTER_LINEAR, borderValue=0)
    if tone is not None:
        leak = tone(leak)
    rng = np.random.default_rng(seed)
    leak = np.clip(leak + rng.normal(0, 1.0, leak.shape), 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", leak, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return np.asarray(cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE), np.uint8)


def known_transform(
    name: str,
) -> tuple[np.ndarray, tuple[int, int], Callable[..., np.ndarray] | None]:
    """(original -> leak homography, leak size, tone) of a named transform."""
    if name == "scale":
        return np.diag([0.6, 0.6, 1.0]), (int(W * 0.6), int(H * 0.6)), None
    if name == "upscale":
        return np.diag([1.7, 1.7, 1.0]), (int(W * 1.7), int(H * 1.7)), None
    if name == "crop":  # 60 % of the area, off centre, scaled back up
        f = math.sqrt(0.6)
        x0, y0 = 0.15 * W, 0.1 * H
        return np.array([[1 / f, 0, -x0 / f], [0, 1 / f, -y0 / f], [0, 0, 1]]), (W, H), None
    if name == "letterbox":
        lh = int(W * 3 / 4)
        return np.array([[1.0, 0, 0], [0, 1, (lh - H) / 2], [0, 0, 1]]), (W, lh), None
    if name == "mirror":
        return np.array([[-1.0, 0, W - 1], [0, 1, 0], [0, 0, 1]]), (W, H), None
    if name == "perspective":
        src = np.array([[0, 0], [W, 0], [W, H], [0, H]], np.float32)
        dst = src + np.array([[9, -5], [-12, 7], [6, 10], [-8, -6]], np.float32)
        return cv2.getPerspectiveTransform(src, dst).astype(np.float64), (W, H), None
    if name == "rotate":
        m = np.vstack([cv2.getRotationMatrix2D((W / 2, H / 2), 7, 0.9), [0, 0, 1]])
        return m, (W, H), None
    if name == "gamma":
        return np.eye(3), (W, H), gamma_curve
    raise AssertionError(name)


CASES = ["scale", "upscale", "crop", "letterbox", "mirror", "perspective", "rotate", "gamma"]


def point_error(reg: Registration, t: np.ndarray, size: tuple[int, int]) -> float:
    """Largest distance between where ``reg`` and the truth send leak pixels that come
    from inside the original."""
    ys, xs = np.mgrid[0 : size[1] : 5, 0 : size[0] : 5]
    pts = np.c_[xs.ravel(), ys.ravel()].astype(np.float64)
    truth = np.c_[pts, np.ones(len(pts))] @ np.linalg.inv(t).T
    truth = truth[:, :2] / truth[:, 2:]
    inside = (truth[:, 0] >= 0) & (truth[:, 0] < W) & (truth[:, 1] >= 0) & (truth[:, 1] < H)
    return float(np.linalg.norm(reg.map_points(pts) - truth, axis=1)[inside].max())

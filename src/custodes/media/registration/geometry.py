"""A registration's geometry: the homography leak -> original and what it maps.

:class:`Registration` holds the homography (with the mirror, when the leak is
mirrored); :func:`warp_to_original` resamples a leak on the original's pixel grid, and
:func:`valid_mask` says where that is defined, solved row by row (two comparisons a
pixel). :func:`plausible` rejects folded, wildly scaled or mostly off-frame maps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = ["Registration", "warp_to_original"]

_F32 = NDArray[np.float32]
_F64 = NDArray[np.float64]
_Mask = NDArray[np.bool_]
_Arr = NDArray[Any]


@dataclass(frozen=True)
class Registration:
    """A homography taking leak pixel coordinates ``(x, y, 1)`` to the original's.

    ``H`` includes the mirror when ``mirrored`` is true (its linear part then has a
    negative determinant). ``inliers``/``inlier_ratio`` describe the feature match;
    ``error`` is the robust residual scale (luma levels) after refinement, NaN if
    the pixels were not compared.
    """

    H: _F64
    mirrored: bool
    inliers: int
    inlier_ratio: float
    error: float = math.nan

    def map_points(self, pts: NDArray[np.floating]) -> _F64:
        """Leak points (N, 2) -> original points (N, 2)."""
        return apply_h(self.H, np.asarray(pts, np.float64))

    def inverse_points(self, pts: NDArray[np.floating]) -> _F64:
        """Original points (N, 2) -> leak points (N, 2)."""
        return apply_h(np.linalg.inv(self.H), np.asarray(pts, np.float64))


def apply_h(h: _Arr, pts: _Arr) -> _F64:
    p = np.c_[pts, np.ones(len(pts))] @ h.T
    return np.asarray(p[:, :2] / p[:, 2:3], np.float64)


def resize_mat(sx: float, sy: float) -> _F64:
    """Pixel coordinates before ``cv2.resize`` by (sx, sy) -> after (centres aligned)."""
    return np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])


def plausible(h: _Arr, leak_shape: tuple[int, int], orig_shape: tuple[int, int]) -> bool:
    """Reject degenerate homographies: folded, wildly scaled or mostly off-frame."""
    lh, lw = leak_shape
    oh, ow = orig_shape
    if not np.all(np.isfinite(h)):
        return False
    corners = np.array([[0, 0], [lw, 0], [lw, lh], [0, lh]], np.float64)
    p = np.c_[corners, np.ones(4)] @ h.T
    if np.any(p[:, 2] <= 1e-6 * np.abs(p[:, 2]).max()) or np.any(
        np.sign(p[:, 2]) != np.sign(h[2, 2])
    ):
        return False
    q = p[:, :2] / p[:, 2:3]
    area = 0.5 * abs(np.dot(q[:, 0], np.roll(q[:, 1], 1)) - np.dot(q[:, 1], np.roll(q[:, 0], 1)))
    if not (0.02 * ow * oh <= area <= 200.0 * ow * oh):
        return False
    # The mapped leak must be convex (no fold) and overlap the original.
    cross = []
    for i in range(4):
        a, b, c = q[i], q[(i + 1) % 4], q[(i + 2) % 4]
        cross.append((b[0] - a[0]) * (c[1] - b[1]) - (b[1] - a[1]) * (c[0] - b[0]))
    if not (all(v > 0 for v in cross) or all(v < 0 for v in cross)):
        return False
    x0, y0 = np.clip(q.min(axis=0), [0, 0], [ow, oh])
    x1, y1 = np.clip(q.max(axis=0), [0, 0], [ow, oh])
    return bool((x1 - x0) * (y1 - y0) >= 0.05 * ow * oh)


def warp_to_original(
    leak_y: NDArray[np.generic], reg: Registration, orig_shape: tuple[int, ...]
) -> tuple[_F32, _Mask]:
    """The leak resampled on the original's pixel grid, and where that is defined.

    ``valid`` is false outside the leak's field of view and on a 2-pixel rim inside it
    (bilinear interpolation there mixes in the border).
    """
    oh, ow = int(orig_shape[0]), int(orig_shape[1])
    src = np.asarray(leak_y, np.float32)
    g = np.linalg.inv(reg.H)
    warped = cv2.warpPerspective(
        src,
        g,
        (ow, oh),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    valid = valid_mask(g, src.shape, (oh, ow), rim=2.0)
    return np.asarray(warped, np.float32), valid


def valid_mask(
    g: _Arr, leak_shape: tuple[int, ...], out_shape: tuple[int, int], rim: float
) -> _Mask:
    """Original pixels x whose leak position g(x) lies at least ``rim`` px inside.

    Along a row of the original every condition (``den > 0``, ``rim <= lx <= lw - 1 -
    rim``, the same for ``ly``) is linear in x once multiplied by the positive
    denominator, so the pixels that pass form one interval per row: the bounds are
    solved per row and the mask is two comparisons a pixel.
    """
    oh, ow = out_shape
    lh, lw = int(leak_shape[0]), int(leak_shape[1])
    gg = np.asarray(g, np.float64)
    rows = np.arange(oh, dtype=np.float64)
    lo = np.zeros(oh)
    hi = np.full(oh, float(ow - 1))

    def holds(c: float, d: _F64) -> None:  # c * x >= d for the pixels x kept in each row
        nonlocal lo, hi
        if c > 0.0:
            lo = np.maximum(lo, d / c)
        elif c < 0.0:
            hi = np.minimum(hi, d / c)
        else:
            hi = np.where(d <= 0.0, hi, -1.0)

    a2, b2 = float(gg[2, 0]), gg[2, 1] * rows + gg[2, 2]
    holds(a2, 1e-9 - b2)
    for k, top in ((0, lw - 1 - rim), (1, lh - 1 - rim)):
        ak, bk = float(gg[k, 0]), gg[k, 1] * rows + gg[k, 2]
        holds(ak - rim * a2, rim * b2 - bk)  # (ak x + bk) / den >= rim
        holds(top * a2 - ak, bk - top * b2)  # (ak x + bk) / den <= top
    first = np.ceil(np.clip(lo, -1.0, ow)).astype(np.int32)
    last = np.floor(np.clip(hi, -1.0, ow)).astype(np.int32)
    xx = np.arange(ow, dtype=np.int32)[None, :]
    return np.asarray((xx >= first[:, None]) & (xx <= last[:, None]), np.bool_)


def leak_scale(g_level: _Arr, shape: tuple[int, int]) -> float:
    """Leak pixels per level pixel at the centre of the level image (linear size)."""
    h, w = shape
    c = np.array([[w / 2, h / 2], [w / 2 + 1, h / 2], [w / 2, h / 2 + 1]], np.float64)
    p = apply_h(g_level, c)
    jx, jy = p[1] - p[0], p[2] - p[0]
    return math.sqrt(abs(jx[0] * jy[1] - jx[1] * jy[0]))

"""How well a registered leak matches an original, measured cheaply at low resolution.

:func:`structure_agreement` (band-passed pictures correlated block by block: near 1 for
a right registration, near 0 for unrelated pictures; a registration is kept at
:data:`MIN_AGREEMENT` or more), :func:`registration_error` (the robust residual scale)
and :func:`refine_time` (which of the original's frames around the predicted time the
leaked frame shows).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

from custodes.media.registration.geometry import Registration, leak_scale, resize_mat, valid_mask
from custodes.media.registration.robust import robust_sigma
from custodes.media.registration.tone import ToneMap, fit_tone
from custodes.media.threads import one_blas_thread

__all__ = ["MIN_AGREEMENT", "refine_time", "registration_error", "structure_agreement"]

_F32 = NDArray[np.float32]
_F64 = NDArray[np.float64]
_Mask = NDArray[np.bool_]


MIN_AGREEMENT = 0.35
"""Least :func:`structure_agreement` of a registration (unrelated frames: under 0.25)."""


def _warp_level(
    leak_gray: NDArray[np.generic], reg: Registration, orig_shape: tuple[int, int], side: int
) -> tuple[_F32, _Mask, _F64, float]:
    """The leak warped onto a downscaled original grid: (warped, valid, orig->level, scale)."""
    oh, ow = orig_shape
    s = min(1.0, side / max(oh, ow))
    nw, nh = max(8, round(ow * s)), max(8, round(oh * s))
    smat = resize_mat(nw / ow, nh / oh) if s < 1.0 else np.eye(3)
    g = np.linalg.inv(smat @ reg.H)
    leak = np.asarray(leak_gray, np.float32)
    ls = leak_scale(g, (nh, nw))
    if ls > 1.5:  # shrink a much finer leak first, against aliasing
        lh, lw = leak.shape
        small = cv2.resize(
            leak, (max(8, round(lw / ls)), max(8, round(lh / ls))), interpolation=cv2.INTER_AREA
        )
        g = resize_mat(small.shape[1] / lw, small.shape[0] / lh) @ g
        leak = np.asarray(small, np.float32)
    warped = cv2.warpPerspective(
        leak,
        g,
        (nw, nh),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    blurred = np.asarray(cv2.GaussianBlur(warped, (0, 0), 0.8), np.float32)
    valid = valid_mask(g, leak.shape, (nh, nw), rim=3.0)
    return blurred, valid, smat, s


def _level_orig(orig: NDArray[np.generic], size: tuple[int, int]) -> _F32:
    o = np.asarray(orig, np.float32)
    if o.shape != (size[1], size[0]):
        o = np.asarray(cv2.resize(o, size, interpolation=cv2.INTER_AREA), np.float32)
    return np.asarray(cv2.GaussianBlur(o, (0, 0), 0.8), np.float32)


def _level_error(
    warped: _F32, valid: _Mask, orig: NDArray[np.generic], tone: ToneMap | None = None
) -> tuple[float, ToneMap]:
    o = _level_orig(orig, (warped.shape[1], warped.shape[0]))
    if tone is None:
        tone = fit_tone(warped, o, valid, max_samples=10_000)
    return robust_sigma((warped - tone.apply(o))[valid], max_samples=10_000), tone


@one_blas_thread
def structure_agreement(
    leak_gray: NDArray[np.generic],
    orig_gray: NDArray[np.generic],
    reg: Registration,
    *,
    side: int = 320,
) -> float:
    """How well the registered leak's structure follows the original's: the median
    over a 4x4 grid of blocks of the correlation of band-passed (difference of
    Gaussians) pictures. Near 1 for a right registration, even blurred, noisy or
    re-toned; near 0 for unrelated pictures. The median ignores what a few blocks
    share by accident (the same burned-in overlay line) or lost (a banner)."""
    shape = np.asarray(orig_gray).shape[:2]
    warped, valid, _, _ = _warp_level(leak_gray, reg, (int(shape[0]), int(shape[1])), side)
    if valid.sum() < 0.02 * valid.size:
        return 0.0
    o = _level_orig(orig_gray, (warped.shape[1], warped.shape[0]))
    a = warped - cv2.GaussianBlur(warped, (0, 0), 3.0)
    b = o - cv2.GaussianBlur(o, (0, 0), 3.0)
    valid = cv2.erode(valid.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    h, w = valid.shape
    scores: list[float] = []
    for i in range(4):
        for j in range(4):
            sl = (slice(i * h // 4, (i + 1) * h // 4), slice(j * w // 4, (j + 1) * w // 4))
            v = valid[sl]
            if v.sum() < 0.3 * v.size or v.sum() < 50:
                continue
            av = a[sl][v].astype(np.float64)
            bv = b[sl][v].astype(np.float64)
            av -= av.mean()
            bv -= bv.mean()
            den = math.sqrt(float(av @ av) * float(bv @ bv))
            scores.append(float(av @ bv) / den if den > 1e-9 else 0.0)
    return float(np.median(scores)) if scores else 0.0


@one_blas_thread
def registration_error(
    leak_gray: NDArray[np.generic],
    orig_gray: NDArray[np.generic],
    reg: Registration,
    *,
    side: int = 320,
) -> float:
    """Robust residual scale (luma levels) of the registered leak against the original,
    measured cheaply on a downscaled original; inf when they barely overlap."""
    shape = np.asarray(orig_gray).shape[:2]
    warped, valid, _, _ = _warp_level(leak_gray, reg, (int(shape[0]), int(shape[1])), side)
    if valid.sum() < 0.02 * valid.size:
        return math.inf
    return _level_error(warped, valid, orig_gray)[0]


@one_blas_thread
def refine_time(
    leak_gray: NDArray[np.generic],
    candidates: Sequence[NDArray[np.generic]],
    reg: Registration,
    *,
    side: int = 320,
) -> tuple[int, list[float]]:
    """Which of ``candidates`` (original frames around the predicted time, all the same
    size) the leaked frame shows: the index with the least registered error, and all
    the errors. The leak is warped and the tone fitted once (on the middle candidate);
    each candidate then costs a resize and a robust scale."""
    if not candidates:
        raise ValueError("no candidate frames")
    shape = np.asarray(candidates[0]).shape[:2]
    warped, valid, _, _ = _warp_level(leak_gray, reg, (int(shape[0]), int(shape[1])), side)
    if valid.sum() < 0.02 * valid.size:
        return 0, [math.inf] * len(candidates)
    mid = len(candidates) // 2
    _, tone = _level_error(warped, valid, candidates[mid])
    errors = [_level_error(warped, valid, c, tone)[0] for c in candidates]
    return int(np.argmin(errors)), errors

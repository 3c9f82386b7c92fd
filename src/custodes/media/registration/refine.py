"""Pixel refinement of a homography: robust Gauss-Newton on the pictures.

Forward compositional Lucas-Kanade (Baker and Matthews, "Lucas-Kanade 20 years on",
IJCV 2004) with a tone curve, a gain, a bias and a smooth gain field in the model and
Tukey weights, so that banners, vignetting and captions do not pull the geometry; a
phase correlation first catches shifts of several pixels. :func:`refine_registration`
runs it on the original at no more than :data:`WORK_SIDE` pixels a side, coarse to fine;
the steps evaluate their model on every other pixel only (the warp, its blur and
gradients stay whole-frame).
"""

from __future__ import annotations

import functools
import math
from dataclasses import replace

import cv2
import numpy as np
from numpy.typing import NDArray

from custodes.media.registration.blur import gaussian_blur
from custodes.media.registration.geometry import (
    Registration,
    apply_h,
    leak_scale,
    plausible,
    resize_mat,
    valid_mask,
)
from custodes.media.registration.robust import TUKEY_C, robust_centre_scale, tukey
from custodes.media.registration.tone import ToneMap, fit_tone
from custodes.media.threads import one_blas_thread

__all__ = ["WORK_SIDE", "refine_registration"]

_F32 = NDArray[np.float32]
_F64 = NDArray[np.float64]


WORK_SIDE = 640
"""Longest side of the original at which the pixel refinement runs."""
_GN_EXTRA_BLUR = 1.5  # px of extra blur for the first Gauss-Newton steps


def _level_image(img: _F32, scale: float, sigma: float = 0.8) -> tuple[_F32, _F64]:
    """The image resized by about ``scale`` and blurred, and the map original -> level."""
    h, w = img.shape
    m = np.eye(3)
    if scale != 1.0:
        nw, nh = max(8, round(w * scale)), max(8, round(h * scale))
        img = np.asarray(cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA), np.float32)
        m = resize_mat(nw / w, nh / h)
    return np.asarray(cv2.GaussianBlur(img, (0, 0), sigma), np.float32), m


def _gn_level(
    leak: _F32,
    orig: _F32,
    g: _F64,
    *,
    iterations: int,
    stride: int,
    sigma: float,
    tol: float = 0.01,
) -> tuple[_F64, float, int]:
    """Robust Gauss-Newton on one level: refine g (level coords -> leak coords).

    The model is evaluated on every ``stride``-th pixel each way; only the warp, its
    blur and its gradients are computed on the whole level. Stops when an update moves
    the corners by less than ``tol`` px. Returns (g, robust residual scale, valid pixel
    count).
    """
    h, w = orig.shape
    c = 0.5 * math.hypot(w, h)
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    norm = np.array([[1 / c, 0, -cx / c], [0, 1 / c, -cy / c], [0, 0, 1.0]])
    denorm = np.linalg.inv(norm)
    ys, xs = np.mgrid[0:h:stride, 0:w:stride]
    grid_shape = (int(ys.shape[0]), int(ys.shape[1]))
    flat = (ys * w + xs).ravel()  # the samples' flat indices in the level image
    on_grid = np.diag([float(stride), float(stride), 1.0])  # sample grid -> level coords
    xn = ((xs - cx) / c).astype(np.float32).ravel()
    yn = ((ys - cy) / c).astype(np.float32).ravel()
    err = math.inf
    count = 0
    tone = ToneMap.identity()
    orig_soft = gaussian_blur(orig, _GN_EXTRA_BLUR)
    for it in range(iterations):
        warped = cv2.warpPerspective(
            leak,
            g,
            (w, h),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
        # The first steps on softer pictures: a wider basin for shifts over a pixel.
        soft = it < 2 and iterations > 4
        extra = _GN_EXTRA_BLUR if soft else 0.0
        warped = cv2.GaussianBlur(warped, (0, 0), math.hypot(sigma, extra))
        target = orig_soft if soft else orig
        valid = valid_mask(g @ on_grid, leak.shape, grid_shape, rim=2.0 + 2 * (sigma + extra))
        count = int(valid.sum())
        if count < 64:
            return g, math.inf, count
        if it == 0 or (it == 2 and iterations > 4) or it % 4 == 0:
            tone = fit_tone(
                warped[::stride, ::stride],
                target[::stride, ::stride],
                valid,
                max_samples=20_000,
                robust_prior=it == 0,
            )
        valid = valid.ravel()
        sel = flat[valid]
        px = tone.apply(np.take(target, sel))
        e = np.take(warped, sel) - px
        gxs = np.take(cv2.Sobel(warped, cv2.CV_32F, 1, 0, ksize=3, scale=0.125), sel) * c
        gys = np.take(cv2.Sobel(warped, cv2.CV_32F, 0, 1, ksize=3, scale=0.125), sel) * c
        x, y = xn[valid], yn[valid]
        med, err = robust_centre_scale(e)
        wts = tukey(e - np.float32(med), TUKEY_C * err)
        # Geometry (8), then photometry: gain, bias and a smooth gain field
        # (vignetting, an unevenly lit screen) that the geometry must not absorb. One
        # row per parameter, in float32 like the pictures: the normal equations from
        # float32 products differ from float64 ones by under 1e-4 px in the answer.
        jac = np.empty((15, count), np.float32)
        gxx, gyy = gxs * x, gys * y
        jac[0], jac[1], jac[2] = gxx, gxs * y, gxs
        jac[3], jac[4], jac[5] = gys * x, gyy, gys
        radial = gxx + gyy
        jac[6], jac[7] = -(radial * x), -(radial * y)
        npx = -px
        pxx, pxy = npx * x, npx * y
        jac[8], jac[9], jac[10], jac[11] = npx, -1.0, pxx, pxy
        jac[12], jac[13], jac[14] = pxx * x, pxx * y, pxy * y
        # Weighted normal equations as a symmetric rank-k product (BLAS syrk).
        root = np.sqrt(wts)
        jac *= root
        a = np.asarray(jac @ jac.T, np.float64)
        b = -np.asarray(jac @ (e * root), np.float64)
        a += np.eye(a.shape[0]) * (1e-6 * np.trace(a) / a.shape[0] + 1e-12)
        try:
            delta = np.linalg.solve(a, b)
        except np.linalg.LinAlgError:
            break
        d = delta[:8]
        upd = np.array([[1 + d[0], d[1], d[2]], [d[3], 1 + d[4], d[5]], [d[6], d[7], 1.0]])
        g = g @ (denorm @ upd @ norm)
        g = g / g[2, 2]
        # Stop when the corners move less than ``tol`` pixels.
        corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64) * 0.8
        moved = apply_h(upd, corners) - corners
        if float(np.abs(moved).max()) * c < tol:
            break
    return g, err, count


@functools.lru_cache(maxsize=8)
def _hanning(w: int, h: int) -> _F32:
    win = np.asarray(cv2.createHanningWindow((w, h), cv2.CV_32F), np.float32)
    win.setflags(write=False)
    return win


_PHASE_SIDE = 400  # phase correlation on a level no larger than this (half size above)


def _phase_shift(leak: _F32, orig: _F32, g: _F64) -> _F64:
    """Correct the translation part of ``g`` (level -> leak) by phase correlation of the
    warped leak against the original: catches shifts of several pixels (a phone drifting
    in front of a monitor) that Gauss-Newton steps would take many iterations over.
    A level wider than :data:`_PHASE_SIDE` is correlated at half size: the shift only
    has to land within the Gauss-Newton steps' reach."""
    h, w = orig.shape
    half = max(h, w) > _PHASE_SIDE
    f = 2 if half else 1
    hs, ws = (h // 2, w // 2) if half else (h, w)
    # Sample the leak straight onto the (half-size) grid, and shrink the original to it.
    to_level = resize_mat(w / ws, h / hs) if half else np.eye(3)
    g_small = g @ to_level
    src = leak
    if half and leak_scale(g_small, (hs, ws)) > 1.5:  # against aliasing
        lh, lw = leak.shape
        src = np.asarray(
            cv2.resize(leak, (max(8, lw // 2), max(8, lh // 2)), interpolation=cv2.INTER_AREA),
            np.float32,
        )
        g_small = resize_mat(src.shape[1] / lw, src.shape[0] / lh) @ g_small
    o = (
        np.asarray(cv2.resize(orig, (ws, hs), interpolation=cv2.INTER_AREA), np.float32)
        if half
        else orig
    )
    warped = cv2.warpPerspective(
        src,
        g_small,
        (ws, hs),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    valid = valid_mask(g_small, src.shape, (hs, ws), rim=2.0)
    if valid.mean() < 0.2:
        return g
    idx = np.flatnonzero(valid)[:: max(1, int(valid.sum()) // 20_000)]
    fill = float(np.median(np.take(warped, idx)))
    a = np.where(valid, o - np.float32(np.median(np.take(o, idx))), np.float32(0.0))
    b = np.where(valid, warped - np.float32(fill), np.float32(0.0))
    (dx, dy), response = cv2.phaseCorrelate(
        np.asarray(a, np.float32), np.asarray(b, np.float32), _hanning(ws, hs)
    )
    dx, dy = dx * f, dy * f
    if response < 0.05 or math.hypot(dx, dy) < 0.3 or math.hypot(dx, dy) > 0.25 * min(w, h):
        return g
    # warped(x) = orig(x - d): sample the leak at x + d instead.
    return np.asarray(g @ np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]]), np.float64)


@one_blas_thread
def refine_registration(
    leak_gray: NDArray[np.generic],
    orig_gray: NDArray[np.generic],
    reg: Registration,
    *,
    coarse: bool = True,
    iterations: int = 12,
    stride: int | None = None,
) -> Registration | None:
    """Refine ``reg`` on the pixels (robust Gauss-Newton, tone-aware); None if it fails.

    Runs on the original at no more than :data:`WORK_SIDE` pixels a side (and a
    half-size level first when ``coarse``), on every ``stride``-th pixel each way
    (default: 1 up to 80,000 pixels, else 2). The answer's ``error`` is the robust
    residual scale in luma levels at the finest level.
    """
    orig = np.asarray(orig_gray, np.float32)
    leak = np.asarray(leak_gray, np.float32)
    oh, ow = orig.shape
    base = min(1.0, WORK_SIDE / max(oh, ow))
    scales = [base * 0.5, base] if coarse else [base]
    h_cur = reg.H.copy()
    err = math.inf
    for level, s in enumerate(scales):
        lvl, smat = _level_image(orig, s)
        # Level coords -> leak coords.
        g = np.linalg.inv(smat @ h_cur)
        # Pre-shrink a leak much finer than the level, against aliasing.
        shrink = 1.0
        ls = leak_scale(g, lvl.shape)
        src = leak
        if ls > 1.5:
            shrink = 1.0 / ls
            lh, lw = leak.shape
            size = (max(8, round(lw * shrink)), max(8, round(lh * shrink)))
            src = np.asarray(cv2.resize(leak, size, interpolation=cv2.INTER_AREA), np.float32)
            pre = resize_mat(src.shape[1] / lw, src.shape[0] / lh)
        else:
            pre = np.eye(3)
        g_src = pre @ g
        if level == 0:
            g_src = _phase_shift(np.asarray(src, np.float32), lvl, g_src)
        g_src, err, _count = _gn_level(
            np.asarray(src, np.float32),
            lvl,
            g_src,
            iterations=iterations if level == len(scales) - 1 else max(4, iterations // 2),
            stride=stride or (1 if lvl.size <= 80_000 else 2),
            sigma=0.8,
        )
        if not math.isfinite(err):
            return None
        g = np.linalg.inv(pre) @ g_src
        h_cur = np.linalg.inv(smat) @ np.linalg.inv(g)
        h_cur = h_cur / h_cur[2, 2]
    if not plausible(h_cur, leak.shape, orig.shape):
        return None
    return replace(reg, H=h_cur, error=err)

"""Registration from scratch: feature matches, then a homography (:func:`register`).

ORB features (Rublee et al., ICCV 2011; SIFT as a fallback) on contrast-equalised
(CLAHE) luma, Lowe's ratio test, a homography by MAGSAC++ (OpenCV's ``USAC_MAGSAC``),
tried on the leak as is and mirrored; the inliers must spread over the picture (the
burned-in overlay line that every bodycam of a model prints must not pass for a
match). The homography is then refined on the pixels (:mod:`.refine`) and kept only if
the pictures agree (:func:`~.comparison.structure_agreement`).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from custodes.media.registration.comparison import MIN_AGREEMENT, structure_agreement
from custodes.media.registration.geometry import Registration, plausible
from custodes.media.registration.refine import refine_registration
from custodes.media.threads import one_blas_thread

__all__ = ["MIN_INLIERS", "register"]

_F64 = NDArray[np.float64]
_U8 = NDArray[np.uint8]
_Arr = NDArray[Any]


MIN_INLIERS = 12
"""Fewest feature matches consistent with a homography for :func:`register` to answer."""
_MIN_SPREAD = 0.08  # inliers' convex hull, as a fraction of the leak's area


def _to_u8(img: NDArray[np.generic]) -> _U8:
    if img.dtype == np.uint8:
        return np.ascontiguousarray(img, dtype=np.uint8)
    return np.clip(np.rint(np.asarray(img, np.float64)), 0, 255).astype(np.uint8)


_CLAHE = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))


def _features(img: _U8, kind: str) -> tuple[list[cv2.KeyPoint], _Arr | None]:
    eq = _CLAHE.apply(img)
    det: cv2.Feature2D
    if kind == "orb":
        det = cv2.ORB.create(nfeatures=3000, scaleFactor=1.2, nlevels=8, fastThreshold=7)
    else:
        det = cv2.SIFT.create(nfeatures=3000)
    kps, desc = det.detectAndCompute(eq, None)
    return list(kps), None if desc is None else np.asarray(desc)


def _match(
    kl: list[cv2.KeyPoint],
    dl: _Arr | None,
    ko: list[cv2.KeyPoint],
    do: _Arr | None,
    kind: str,
    ratio: float = 0.8,
) -> tuple[_F64, _F64]:
    if dl is None or do is None or len(kl) < 4 or len(ko) < 4:
        return np.zeros((0, 2)), np.zeros((0, 2))
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING if kind == "orb" else cv2.NORM_L2)
    pairs = matcher.knnMatch(dl, do, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < ratio * p[1].distance]
    if not good:
        return np.zeros((0, 2)), np.zeros((0, 2))
    src = np.array([kl[m.queryIdx].pt for m in good], np.float64)
    dst = np.array([ko[m.trainIdx].pt for m in good], np.float64)
    return src, dst


def _spread(pts: _F64) -> float:
    """Area of the convex hull of points (px^2)."""
    if len(pts) < 3:
        return 0.0
    hull = cv2.convexHull(pts.astype(np.float32).reshape(-1, 1, 2))
    return float(cv2.contourArea(hull))


def _homography_from_features(
    leak: _U8,
    orig: _U8,
    kind: str,
    orig_feats: tuple[list[cv2.KeyPoint], _Arr | None],
    mirrors: tuple[bool, ...],
) -> Registration | None:
    """The best feature homography over the mirror hypotheses, or None.

    Besides enough inliers, they must spread over a tenth of the leak's area: a
    burned-in overlay line alone (every bodycam of a model prints the same one) or a
    logo must not pass for a registration.
    """
    best: Registration | None = None
    ko, do = orig_feats
    lh, lw = leak.shape
    flip = np.array([[-1.0, 0.0, lw - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    for mirrored in mirrors:
        img = np.ascontiguousarray(leak[:, ::-1]) if mirrored else leak
        kl, dl = _features(img, kind)
        src, dst = _match(kl, dl, ko, do, kind)
        if len(src) < MIN_INLIERS:
            continue
        h, mask = cv2.findHomography(
            src.reshape(-1, 1, 2),
            dst.reshape(-1, 1, 2),
            cv2.USAC_MAGSAC,
            ransacReprojThreshold=2.5,
            maxIters=5000,
            confidence=0.999,
        )
        if h is None or mask is None:
            continue
        inl = mask.ravel().astype(bool)
        if int(inl.sum()) < MIN_INLIERS or _spread(src[inl]) < _MIN_SPREAD * lw * lh:
            continue
        h = np.asarray(h, np.float64)
        if mirrored:
            h = h @ flip
        if not plausible(h, leak.shape, orig.shape):
            continue
        cand = Registration(h / h[2, 2], mirrored, int(inl.sum()), float(inl.mean()))
        if best is None or cand.inliers > best.inliers:
            best = cand
    return best


@one_blas_thread
def register(
    leak_gray: NDArray[np.generic],
    orig_gray: NDArray[np.generic],
    *,
    refine: bool = True,
    try_mirror: bool = True,
) -> Registration | None:
    """The homography leak -> original, or None when the two do not match.

    Features first (ORB, then SIFT if ORB finds too little), mirrored too unless
    ``try_mirror`` is false; then, when ``refine``, the pixel-level refinement of
    :func:`refine_registration`. Inputs are 2-D luma arrays of any size.
    """
    leak = _to_u8(leak_gray)
    orig = _to_u8(orig_gray)
    mirrors = (False, True) if try_mirror else (False,)
    reg: Registration | None = None
    for kind in ("orb", "sift"):
        found = _homography_from_features(leak, orig, kind, _features(orig, kind), mirrors)
        if found is not None and (reg is None or found.inliers > reg.inliers):
            reg = found
        if reg is not None and reg.inliers >= 2 * MIN_INLIERS:
            break
    if reg is None:
        return None
    if refine:
        reg = refine_registration(leak, orig, reg)
        if reg is None or structure_agreement(leak, orig, reg) < MIN_AGREEMENT:
            return None
    return reg

"""The leak's blur: how much softer than the original it is (:func:`estimate_blur`).

A re-encode at a lower resolution, a camera's defocus and the warp's own interpolation
all soften a leak; subtracting a sharper original would leave its edges in the
residual. The Gaussian that makes the original look most like the registered leak is
found over a few candidates, refined by a parabola through the best three.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from custodes.media.registration.robust import robust_sigma
from custodes.media.registration.tone import ToneMap, fit_tone

__all__ = ["estimate_blur"]

_F32 = NDArray[np.float32]
_Mask = NDArray[np.bool_]


_BLUR_CANDIDATES = (0.0, 0.5, 0.8, 1.1, 1.5, 2.0, 2.8)


def gaussian_blur(img: _F32, sigma: float) -> _F32:
    if sigma <= 0:
        return img
    return np.asarray(cv2.GaussianBlur(img, (0, 0), sigma), np.float32)


def estimate_blur(warped: _F32, orig: _F32, valid: _Mask, tone: ToneMap | None = None) -> float:
    """The Gaussian blur (px, original grid) that makes the original look most like the
    registered leak: a re-encode at a lower resolution, a camera's defocus and the
    warp's own interpolation all soften the leak, and subtracting a sharper original
    would leave its edges in the residual."""
    if tone is None:
        tone = fit_tone(warped, orig, valid, max_samples=20_000)
    idx = np.flatnonzero(valid.ravel())
    if len(idx) < 200:
        return 0.0
    idx = idx[:: max(1, len(idx) // 30_000)]
    target = warped.ravel()[idx]
    errs = []
    for s in _BLUR_CANDIDATES:
        pred = tone.apply(gaussian_blur(orig, s).ravel()[idx])
        errs.append(robust_sigma(target - pred, max_samples=30_000))
    k = int(np.argmin(errs))
    if 0 < k < len(errs) - 1:  # parabola through the three around the best
        y0, y1, y2 = errs[k - 1], errs[k], errs[k + 1]
        x0, x1, x2 = _BLUR_CANDIDATES[k - 1 : k + 2]
        den = (x0 - x1) * (x0 - x2) * (x1 - x2)
        if den != 0:
            a = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / den
            b = (x2 * x2 * (y0 - y1) + x1 * x1 * (y2 - y0) + x0 * x0 * (y1 - y2)) / den
            if a > 0:
                return float(min(max(-b / (2 * a), x0), x2))
    return float(_BLUR_CANDIDATES[k])

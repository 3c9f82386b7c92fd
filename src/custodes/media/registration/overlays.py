"""What an overlay replaced: captions, banners, logos, a finger over the lens.

Three signs, any of which suffices over most of a small window (about a fortieth of the
frame): large residuals, a residual whose local mean strays, and textured original areas
the leak stopped following (a local normalised correlation, blind to brightness and
contrast, from one :class:`Structure` map per frame). The blobs found are dilated
(:func:`grow`) and get no weight in the residual.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from custodes.media.registration.robust import OUTLIER_Z

_F32 = NDArray[np.float32]
_Mask = NDArray[np.bool_]


LOST_MIN_STD = 4.0  # local std (levels) an area needs before the leak must follow it
_LOCAL_MEAN_LEVELS = 5.0  # a residual's local mean beyond this is not a mark


def _box(shape: tuple[int, ...]) -> tuple[int, int]:
    """The window of the overlay tests: about a fortieth of the frame, odd, at least 5."""
    k = max(5, (min(int(shape[0]), int(shape[1])) // 40) | 1)
    return k, k


@dataclass(frozen=True)
class Structure:
    """How a registered leak follows the original's texture, pixel by pixel: the
    original's local variance and the local normalised correlation of the two pictures,
    over a :func:`_box` window. Blind to brightness, contrast and a smooth gain, so one
    map per frame serves every overlay test, before and after the tone fit."""

    var_o: _F32
    ncc: _F32

    @classmethod
    def of(cls, warped: _F32, orig: _F32) -> Structure:
        box = _box(orig.shape)
        mu_o = cv2.boxFilter(orig, cv2.CV_32F, box)
        var_o = cv2.boxFilter(orig * orig, cv2.CV_32F, box) - mu_o * mu_o
        mu_l = cv2.boxFilter(warped, cv2.CV_32F, box)
        var_l = cv2.boxFilter(warped * warped, cv2.CV_32F, box) - mu_l * mu_l
        cov = cv2.boxFilter(warped * orig, cv2.CV_32F, box) - mu_l * mu_o
        ncc = cov / np.sqrt(np.maximum(var_l, 0) * np.maximum(var_o, 0) + 1e-6)
        return cls(np.asarray(var_o, np.float32), np.asarray(ncc, np.float32))


def lost_mask(structure: Structure, ok: _Mask, min_std: float) -> _Mask:
    """Textured original areas (local std over ``min_std``) that the leak no longer
    follows: local normalised correlation under 0.25 over most of a small window. The
    test is blind to brightness and contrast, so it can run before any tone fit."""
    h, w = ok.shape
    lost = (structure.var_o > min_std * min_std) & (structure.ncc < 0.25) & ok
    kb = max(3, (min(h, w) // 90) | 1)
    return np.asarray(cv2.blur(lost.astype(np.float32), (kb, kb)) > 0.6, np.bool_)


def grow(mask: _Mask) -> _Mask:
    h, w = mask.shape
    d = max(3, (min(h, w) // 60) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (d, d))
    return np.asarray(cv2.dilate(mask.astype(np.uint8), kernel) > 0, np.bool_)


def replaced_mask(residual: _F32, ok: _Mask, sigma: float, structure: Structure) -> _Mask:
    """Pixels an overlay, caption, banner or logo replaced, as dilated blobs.

    Three signs, any suffices where it covers most of a small window (about a fortieth
    of the frame), so that isolated pixels (noise, a misregistered edge) make no blob:
    large residuals; a residual whose local mean strays further than a watermark or a
    tone error would take it (a flat banner close to the luma it covers); and textured
    original areas the leak no longer follows (:func:`lost_mask`).
    """
    h, w = ok.shape
    box = _box(ok.shape)
    okf = ok.astype(np.float32)
    r = np.asarray(residual, np.float32) * okf
    count = np.maximum(cv2.boxFilter(okf, cv2.CV_32F, box), np.float32(1e-3))
    local_mean = cv2.boxFilter(r, cv2.CV_32F, box) / count
    shifted = np.abs(local_mean) > max(_LOCAL_MEAN_LEVELS, 2.5 * sigma)
    big = np.abs(residual) > OUTLIER_Z * sigma
    kb = max(3, (min(h, w) // 90) | 1)
    frac_big = cv2.blur((big & ok).astype(np.float32), (kb, kb))
    lost = lost_mask(structure, ok, 2.0 * sigma)
    blob = (frac_big > 0.25) | (shifted & ok) | lost
    return grow(blob)

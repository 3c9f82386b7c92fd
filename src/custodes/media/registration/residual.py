"""The residual: the tone-inverted, registered leak minus the original, with weights.

:func:`residual_frame` and :func:`residual_details` warp the leak onto the original's
grid, blur the original like the leak (:mod:`.blur`), fit the tone curve (:mod:`.tone`)
and a smooth gain field (:mod:`.gain`) twice (the second time without what the first
found replaced, :mod:`.overlays`), and subtract. Weights in [0, 1]: zero outside the
leak's field of view, on clipped levels and on blobs an overlay replaced; elsewhere
Tukey's biweight over a robust (MAD) scale, lowered on strong edges where a small
misregistration would show.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from custodes.media.registration.blur import estimate_blur, gaussian_blur
from custodes.media.registration.gain import fit_gain
from custodes.media.registration.geometry import Registration, warp_to_original
from custodes.media.registration.overlays import (
    LOST_MIN_STD,
    Structure,
    grow,
    lost_mask,
    replaced_mask,
)
from custodes.media.registration.robust import OUTLIER_Z, TUKEY_C, masked_sigma, tukey
from custodes.media.registration.tone import ToneMap, fit_tone
from custodes.media.threads import one_blas_thread

__all__ = ["Residual", "residual_details", "residual_frame"]

_F32 = NDArray[np.float32]


_EDGE_SHIFT = 0.15  # px of misregistration assumed when lowering weights on edges


@dataclass(frozen=True)
class Residual:
    """What :func:`residual_details` found; ``residual``/``weight`` as in
    :func:`residual_frame`, and the photometric model used."""

    residual: _F32
    weight: _F32
    tone: ToneMap
    blur: float
    gain: _F32 | None
    sigma: float


def residual_frame(
    leak_y: NDArray[np.generic],
    orig_y: NDArray[np.generic],
    reg: Registration,
    *,
    tone: ToneMap | None = None,
    blur: float | None = None,
    spatial_gain: bool = True,
) -> tuple[_F32, _F32]:
    """``(residual, weight)`` on the original's grid: tone-inverted warped leak - original.

    The weight is 0 outside the leak's field of view, where the leak is clipped, and on
    blobs an overlay replaced; elsewhere Tukey's biweight of the residual (scale from
    its MAD), times a factor that lowers it on strong edges. See
    :func:`residual_details` for the photometric model (tone, blur, gain).
    """
    r = residual_details(leak_y, orig_y, reg, tone=tone, blur=blur, spatial_gain=spatial_gain)
    return r.residual, r.weight


@one_blas_thread
def residual_details(
    leak_y: NDArray[np.generic],
    orig_y: NDArray[np.generic],
    reg: Registration,
    *,
    tone: ToneMap | None = None,
    blur: float | None = None,
    spatial_gain: bool = True,
) -> Residual:
    """:func:`residual_frame` with its photometric model.

    The original is first blurred like the leak (``blur`` px, estimated by
    :func:`estimate_blur` when None: the low-frequency mark is untouched by it); the
    tone curve is fitted twice (the second time without outliers) unless ``tone`` is
    given; with ``spatial_gain`` a smooth multiplicative field (degree-2 polynomial in
    log gain: vignetting, a screen's uneven brightness) is divided out of the leak.
    Such a field is far smoother than the mark's grid, so it takes almost none of it.
    """
    orig_raw = np.asarray(orig_y, np.float32)
    warped, valid = warp_to_original(leak_y, reg, orig_raw.shape)
    fixed_tone = tone
    if blur is None:
        blur = estimate_blur(warped, orig_raw, valid, tone)
    orig = gaussian_blur(orig_raw, blur)
    # The leak's structure against the original, for every overlay test below.
    structure = Structure.of(warped, orig)
    inside = valid.astype(np.float32)  # 1 in the field of view, 0 outside
    gain: _F32 | None = None

    leak = warped
    tone = fixed_tone if fixed_tone is not None else ToneMap.identity()
    # What an overlay replaced can already be seen, tone aside: keep it out of the fits.
    keep = valid & ~grow(lost_mask(structure, valid, LOST_MIN_STD))
    if keep.sum() < 0.2 * valid.sum():
        keep = valid
    residual = np.zeros_like(orig)
    restored = residual
    sigma = math.inf
    ok = valid
    # Two passes: the second fits tone, gain and noise scale without what the first
    # found replaced, which sharpens all three (a banner biases them all).
    for second in (False, True):
        if fixed_tone is None:
            if second:  # keep is clean by now: one fit will do
                tone = fit_tone(leak, orig, keep, robust_prior=False)
            else:
                tone = fit_tone(leak, orig, keep, max_samples=30_000)
                first = tone.inverse(leak) - orig
                keep = keep & (np.abs(first) < OUTLIER_Z * masked_sigma(first, keep))
                tone = fit_tone(leak, orig, keep, robust_prior=False)
        warped = leak
        gain = None
        if spatial_gain:
            pred = tone.apply(orig)
            first = leak - pred
            sig = masked_sigma(first, keep)
            use = keep & (np.abs(first) < OUTLIER_Z * sig) & ~tone.clipped(leak)
            gain = fit_gain(leak, pred, use, sig)
            if gain is not None:
                warped = leak / gain
                if fixed_tone is None and second:
                    tone = fit_tone(warped, orig, keep, robust_prior=False)
        restored = tone.inverse(warped)
        residual = (restored - orig) * inside
        ok = valid & ~tone.clipped(warped)
        sigma = masked_sigma(residual, ok & keep)
        if not math.isfinite(sigma):
            zeros = np.zeros_like(residual)
            return Residual(zeros, zeros.copy(), tone, blur, gain, sigma)
        ok &= ~replaced_mask(residual, ok, sigma, structure)
        if ok.sum() < 200:
            break
        keep = ok
    weight = tukey(residual, TUKEY_C * sigma)
    gx = cv2.Sobel(orig, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)
    gy = cv2.Sobel(orig, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)
    edge = (gx * gx + gy * gy) * np.float32((_EDGE_SHIFT / sigma) ** 2)
    edge += np.float32(1.0)
    weight /= edge
    weight *= ok
    return Residual(residual, weight, tone, blur, gain, sigma)

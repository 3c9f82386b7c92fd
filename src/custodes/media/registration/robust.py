"""Robust statistics shared by the fits: a MAD scale and Tukey's biweight.

The scale is 1.4826 times the median absolute deviation (the standard deviation of
normal noise), taken on a regular subsample; Tukey's biweight (tuning constant 4.685
robust standard deviations) weighs residuals in the robust least-squares fits.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

_F32 = NDArray[np.float32]
_Mask = NDArray[np.bool_]


TUKEY_C = 4.685  # Tukey biweight tuning constant, in robust standard deviations
OUTLIER_Z = 4.0  # |residual| beyond this many sigmas counts toward an overlay


def robust_sigma(r: NDArray[np.floating], floor: float = 0.5, max_samples: int = 20_000) -> float:
    """1.4826 * MAD (on a regular subsample of at most ``max_samples`` values)."""
    if r.size == 0:
        return math.inf
    r = np.asarray(r).ravel()
    if r.size > max_samples:
        r = r[:: math.ceil(r.size / max_samples)]
    med = float(np.median(r))
    return max(floor, 1.4826 * float(np.median(np.abs(r - med))))


def masked_sigma(r: _F32, mask: _Mask, max_samples: int = 20_000) -> float:
    """``robust_sigma(r[mask])`` without gathering every masked value first."""
    idx = np.flatnonzero(mask)
    if idx.size > max_samples:
        idx = idx[:: math.ceil(idx.size / max_samples)]
    return robust_sigma(np.take(r, idx), max_samples=max_samples)


def robust_centre_scale(
    r: NDArray[np.floating], floor: float = 0.5, max_samples: int = 20_000
) -> tuple[float, float]:
    """(median, 1.4826 * MAD) on a regular subsample of at most ``max_samples`` values."""
    r = np.asarray(r).ravel()
    if r.size > max_samples:
        r = r[:: math.ceil(r.size / max_samples)]
    med = float(np.median(r))
    return med, max(floor, 1.4826 * float(np.median(np.abs(r - med))))


def tukey(r: _F32, c: float) -> _F32:
    u = np.abs(np.asarray(r, np.float32))
    u /= np.float32(c)
    np.minimum(u, np.float32(1.0), out=u)
    u *= u
    np.subtract(np.float32(1.0), u, out=u)
    u *= u
    return u

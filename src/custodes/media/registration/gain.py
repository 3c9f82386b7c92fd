"""A smooth multiplicative gain field: vignetting, an unevenly lit screen.

:func:`fit_gain` fits a degree-2 polynomial in log gain by robust (Tukey) least squares
on log ratios; a field far smoother than the watermark's grid, so it takes almost none
of it.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from custodes.media.registration.robust import TUKEY_C, tukey

_F32 = NDArray[np.float32]
_F64 = NDArray[np.float64]
_Mask = NDArray[np.bool_]


def _gain_basis(h: int, w: int, idx: NDArray[np.intp]) -> _F64:
    """Smooth spatial basis (x, y, x^2, xy, y^2 in [-1, 1] coordinates) at flat indices."""
    yy, xx = np.divmod(idx, w)
    x = 2.0 * xx / max(1, w - 1) - 1.0
    y = 2.0 * yy / max(1, h - 1) - 1.0
    return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=1)


def fit_gain(warped: _F32, pred: _F32, use: _Mask, sigma: float) -> NDArray[np.float32] | None:
    """A smooth multiplicative gain field g with warped ~ g * pred (vignetting, an
    unevenly lit screen), by robust least squares on log ratios; None if unneeded."""
    h, w = warped.shape
    idx = np.flatnonzero(use.ravel())
    if len(idx) < 500:
        return None
    idx = idx[:: max(1, len(idx) // 6_000)]
    lw = np.log(warped.ravel()[idx] + 8.0)
    lp = np.log(pred.ravel()[idx] + 8.0)
    r = lw - lp
    basis = _gain_basis(h, w, idx)
    wts = np.ones(len(idx))
    coef = np.zeros(basis.shape[1])
    for _ in range(2):
        bw = basis * wts[:, None]
        coef = np.linalg.lstsq(bw.T @ basis + 1e-9 * np.eye(basis.shape[1]), bw.T @ r, rcond=None)[
            0
        ]
        e = r - basis @ coef
        s = max(1.4826 * float(np.median(np.abs(e - np.median(e)))), 1e-4)
        wts = tukey(e.astype(np.float32), TUKEY_C * s).astype(np.float64)
    # Skip a field that changes the picture by less than a fifth of the noise.
    ys, xs = np.mgrid[0 : h : max(1, h // 16), 0 : w : max(1, w // 16)]
    grid = _gain_basis(h, w, (ys * w + xs).ravel())
    field_ = grid @ coef - coef[0]
    level = float(np.median(pred.ravel()[idx]))
    if float(np.abs(field_).max()) * (level + 8.0) < 0.2 * sigma:
        return None
    small = (grid @ coef).reshape(ys.shape)
    g = np.exp(cv2.resize(small.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR))
    return np.asarray(g, np.float32)

"""The tone curve: a monotone map of original luma levels to the leak's.

:func:`fit_tone` takes, in each band of original levels, the weighted median leak level
(from a 2-D histogram), after dropping gross outliers to a robust cubic fit, and makes
the medians monotone by pool-adjacent-violators: brightness, contrast and gamma without
a parametric model. :class:`ToneMap` looks the curve up, and its inverse
(:func:`apply_inverse` takes leak levels back to the original's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from custodes.media.registration.robust import OUTLIER_Z, TUKEY_C, tukey

__all__ = ["ToneMap", "apply_inverse", "fit_tone"]

_F32 = NDArray[np.float32]
_F64 = NDArray[np.float64]
_Mask = NDArray[np.bool_]


_TONE_BINS = 64  # bands of original levels in the tone fit
_LEAK_STEPS = 4  # leak levels are histogrammed to a quarter level
_LEAK_BINS = 256 * _LEAK_STEPS


def _table_lookup(
    x: NDArray[np.generic], table: _F32, per_level: int, step: _F32 | None = None
) -> _F32:
    """Piecewise-linear lookup of ``x`` in a table sampled every 1/per_level on [0, 255].

    ``step`` is ``table[1:] - table[:-1]`` (float32) when the caller has it at hand.
    """
    a = np.asarray(x)
    if per_level == 1 and a.dtype == np.uint8:
        return np.asarray(table, np.float32)[a]
    pos = np.multiply(a, np.float32(per_level), dtype=np.float32)
    np.clip(pos, 0, len(table) - 1.001, out=pos)
    whole = np.floor(pos)
    i = whole.astype(np.int32)
    pos -= whole  # the fraction
    if step is None:
        step = np.asarray(table[1:] - table[:-1], np.float32)
    pos *= np.take(step, i)
    pos += np.take(table, i)
    return pos


_INV_STEPS = 8  # the inverse tone table has 8 entries a level


@dataclass(frozen=True)
class ToneMap:
    """A monotone map of original luma levels to leak levels: ``lut[v]`` for v in 0..255.

    Strictly increasing, so that :meth:`inverse` exists on ``[lut[0], lut[255]]``.
    """

    lut: _F32
    _inv: _F32 = field(init=False, repr=False, compare=False)
    _lut_step: _F32 = field(init=False, repr=False, compare=False)
    _inv_step: _F32 = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lut = np.asarray(self.lut, np.float64)
        grid = np.arange(255 * _INV_STEPS + 1) / _INV_STEPS
        inv = np.interp(grid, lut, np.arange(256, dtype=np.float64))
        lut32, inv32 = lut.astype(np.float32), inv.astype(np.float32)
        object.__setattr__(self, "lut", lut32)
        object.__setattr__(self, "_inv", inv32)
        object.__setattr__(self, "_lut_step", lut32[1:] - lut32[:-1])
        object.__setattr__(self, "_inv_step", inv32[1:] - inv32[:-1])

    @classmethod
    def identity(cls) -> ToneMap:
        return cls(np.arange(256, dtype=np.float32))

    def apply(self, orig: NDArray[np.generic]) -> _F32:
        """Original levels -> the leak's levels."""
        return _table_lookup(orig, self.lut, 1, self._lut_step)

    def inverse(self, leak: NDArray[np.generic]) -> _F32:
        """Leak levels -> original levels (clamped at the curve's ends)."""
        return _table_lookup(leak, self._inv, _INV_STEPS, self._inv_step)

    def clipped(self, leak: NDArray[np.generic], margin: float = 1.5) -> _Mask:
        """Leak levels at or beyond the ends of the curve, where nothing can be undone."""
        lo = max(float(self.lut[0]), 0.0) + margin
        hi = min(float(self.lut[-1]), 255.0) - margin
        v = np.asarray(leak)
        return np.asarray((v <= lo) | (v >= hi), np.bool_)

    def slope(self) -> _F32:
        """d(leak)/d(orig) per original level."""
        return np.asarray(np.gradient(self.lut.astype(np.float64)), np.float32)


def apply_inverse(tone: ToneMap, leak_values: NDArray[np.generic]) -> _F32:
    """Leak luma levels -> original luma levels under ``tone``."""
    return tone.inverse(leak_values)


def _pav(y: _F64, w: _F64) -> _F64:
    """Weighted isotonic (non-decreasing) regression: pool adjacent violators.

    Runs over the tone bins (64 values), not over pixels.
    """
    vals: list[float] = []
    wts: list[float] = []
    cnts: list[int] = []
    for yi, wi in zip(y.tolist(), w.tolist(), strict=True):
        vals.append(yi)
        wts.append(wi)
        cnts.append(1)
        while len(vals) > 1 and vals[-2] > vals[-1]:
            wsum = wts[-2] + wts[-1]
            v = (vals[-2] * wts[-2] + vals[-1] * wts[-1]) / wsum if wsum > 0 else vals[-1]
            c = cnts[-2] + cnts[-1]
            del vals[-1], wts[-1], cnts[-1]
            vals[-1], wts[-1], cnts[-1] = v, wsum, c
    return np.repeat(np.asarray(vals), cnts)


def _global_inliers(o: _F32, lk: _F32) -> _Mask:
    """Pixels within reach of a robust (Tukey IRLS) cubic fit leak ~ p(orig)."""
    x = o.astype(np.float64) / 255.0
    y = lk.astype(np.float64)
    step = max(1, len(x) // 3000)
    xs, ys = x[::step], y[::step]
    basis = np.stack([np.ones_like(xs), xs, xs * xs, xs * xs * xs], axis=1)
    coef = np.linalg.lstsq(basis, ys, rcond=None)[0]
    scale = 0.0
    for _ in range(3):
        e = ys - basis @ coef
        scale = max(1.4826 * float(np.median(np.abs(e - np.median(e)))), 0.5)
        wts = tukey(e.astype(np.float32), TUKEY_C * scale).astype(np.float64)
        bw = basis * wts[:, None]
        coef = np.linalg.lstsq(bw.T @ basis + 1e-9 * np.eye(4), bw.T @ ys, rcond=None)[0]
    full = np.stack([np.ones_like(x), x, x * x, x * x * x], axis=1)
    e = y - full @ coef
    return np.asarray(np.abs(e) < max(OUTLIER_Z * 1.5 * scale, 8.0), np.bool_)


def fit_tone(
    warped: NDArray[np.generic],
    orig: NDArray[np.generic],
    valid: _Mask,
    weight: NDArray[np.floating] | None = None,
    *,
    max_samples: int = 60_000,
    robust_prior: bool = True,
) -> ToneMap:
    """Robust monotone tone curve original -> leak from co-located pixels.

    A weighted 2-D histogram (64 bands of original levels x quarter levels of the leak)
    gives in each band the weighted median leak level, robust to overlays covering
    less than half a band; the medians are made monotone (PAV, weighted by the band's
    mass), interpolated between bands and extended linearly past the ends with the
    overall slope. Returns the identity when too few pixels are valid.
    """
    sel = np.asarray(valid, bool)
    if weight is not None:
        sel = sel & (np.asarray(weight) > 0)
    idx = np.flatnonzero(sel.ravel())
    if len(idx) < 200:
        return ToneMap.identity()
    if len(idx) > max_samples:
        idx = idx[:: math.ceil(len(idx) / max_samples)]
    o = np.asarray(orig, np.float32).ravel()[idx]
    lk = np.asarray(warped, np.float32).ravel()[idx]
    wt = None if weight is None else np.asarray(weight, np.float64).ravel()[idx]
    # Drop gross outliers against a robust global cubic first: where an overlay covers
    # most of the pixels of some band of levels, that band's median alone would follow it.
    inl = _global_inliers(o, lk) if robust_prior else np.ones(len(o), np.bool_)
    if robust_prior and inl.sum() >= 200:
        o, lk = o[inl], lk[inl]
        wt = None if wt is None else wt[inl]
    b = np.clip((o * (_TONE_BINS / 256.0)).astype(np.int64), 0, _TONE_BINS - 1)
    q = np.clip(np.rint(lk * _LEAK_STEPS), 0, _LEAK_BINS - 1).astype(np.int64)
    hist = np.bincount(b * _LEAK_BINS + q, weights=wt, minlength=_TONE_BINS * _LEAK_BINS)
    hist = hist.reshape(_TONE_BINS, _LEAK_BINS)
    cum = np.cumsum(hist, axis=1)
    mass = cum[:, -1]
    half = 0.5 * mass
    k = np.argmax(cum >= half[:, None], axis=1)
    before = np.where(k > 0, cum[np.arange(_TONE_BINS), np.maximum(k - 1, 0)], 0.0)
    inbin = hist[np.arange(_TONE_BINS), k]
    frac = np.where(inbin > 0, (half - before) / np.maximum(inbin, 1e-12), 0.5)
    med = (k - 0.5 + frac) / _LEAK_STEPS
    centre = np.bincount(b, weights=o if wt is None else wt * o, minlength=_TONE_BINS) / (
        np.maximum(mass, 1e-12)
    )
    enough = mass >= max(3.0, 1e-3 * float(mass.sum()))
    if enough.sum() < 2:
        return ToneMap.identity()
    xs = centre[enough]
    ys = np.asarray(med[enough], np.float64)
    ws = np.asarray(mass[enough], np.float64)
    ys = _pav(ys, ws)
    # Overall slope (weighted least squares through the band medians) for the ends.
    xm = np.average(xs, weights=ws)
    ym = np.average(ys, weights=ws)
    var = np.average((xs - xm) ** 2, weights=ws)
    slope = float(np.average((xs - xm) * (ys - ym), weights=ws) / var) if var > 1e-9 else 1.0
    slope = min(max(slope, 0.05), 20.0)
    levels = np.arange(256, dtype=np.float64)
    lut = np.interp(levels, xs, ys)
    lut = np.where(levels < xs[0], ys[0] + slope * (levels - xs[0]), lut)
    lut = np.where(levels > xs[-1], ys[-1] + slope * (levels - xs[-1]), lut)
    # Strictly increasing, so the inverse is a function.
    lut = np.maximum.accumulate(lut + 1e-3 * levels)
    return ToneMap(lut.astype(np.float32))

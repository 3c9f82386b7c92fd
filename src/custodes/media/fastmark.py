"""The export's forensic mark, compiled: the same bytes as the core's, in two passes.

:meth:`custodes.core.watermark.Embedder.mark_luma` is the reference: numpy only, as the
core must be. It makes about a dozen passes over the frame plus some twenty numpy calls
on the 160x90 bins of the mask: 0.8-2.0 ms of CPU a 640x360 frame and 3.8-11.5 ms at
1280x720 on the 2-core VMs of docs/benchmarks.md, where an export must not cost much
more than a plain transcode. :class:`FastEmbedder` computes the same thing with loops
compiled by numba, 0.5 and 2.3-2.5 ms on the same machine in the same runs
(``bench/bench_export.py --breakdown``):

1. one pass over the luma bytes sums each 4 x 4 bin and its squares (integers, as the
   core's byte-wise sums do), and the box means and the variance follow on the bins;
2. the texture term's power is numpy's own ``np.power`` on the bins: numba's ``pow``
   differs from numpy's vectorised one in the last bit of about one value in six;
3. the luminance term, the second box mean and the clip on the bins;
4. one pass over the frame: blend of the two cached patterns, times the mask of the
   pixel's bin, times the strength, plus the luma, rounded half to even and clipped.

Every step does the core's floating-point operations in the core's order and
precision (no fused multiply-add: numba does not contract without ``fastmath``), so
the marked frame is equal byte for byte to the core's on the same machine
(``tests/media/test_fastmark.py`` checks it on many sizes, strengths and times).
Frames the compiled path does not cover (less than 128 px on a side, where the core
uses bins of 2; not uint8; a mask given by the caller) go to the core.

The kernels are compiled on first use (a few seconds) and cached next to this file
(numba's ``cache=True``). Where that folder is read-only (an installed package run by a
service account) and ``NUMBA_CACHE_DIR`` is not set, the cache goes to a folder of this
user's under the temporary directory: numba refuses to define a cached function it has
nowhere to cache. The kernels release the GIL, so marking on the export's worker
thread overlaps decoding and encoding.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any


def _writable(path: Path) -> bool:
    return os.access(path, os.W_OK)


def numba_cache_dir(
    here: Path, env: MutableMapping[str, str], writable: Callable[[Path], bool] = _writable
) -> str | None:
    """The ``NUMBA_CACHE_DIR`` to set before numba loads, or None to leave numba's own
    choice (this module's ``__pycache__``, when it can be written)."""
    if env.get("NUMBA_CACHE_DIR"):
        return None
    cache = here / "__pycache__"
    if writable(cache if cache.exists() else here):
        return None
    return str(Path(tempfile.gettempdir()) / f"custodes-numba-{os.getuid()}")


_chosen = numba_cache_dir(Path(__file__).resolve().parent, os.environ)
if _chosen is not None:
    os.environ["NUMBA_CACHE_DIR"] = _chosen

import numpy as np  # noqa: E402
from numba import njit  # noqa: E402
from numpy.typing import NDArray  # noqa: E402

from custodes.core import watermark as wm  # noqa: E402

__all__ = ["FastEmbedder"]

_U8 = NDArray[np.uint8]
_F32 = NDArray[np.float32]
_F64 = NDArray[np.float64]

_INV_REF2 = np.float32(1.0 / (wm._MASK_SIGMA_REF * wm._MASK_SIGMA_REF))
_EXPONENT = np.float32(0.35)
_MIN, _MAX = np.float32(wm._MASK_MIN), np.float32(wm._MASK_MAX)


@njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _column_sums(x: Any, i: int, r: int, out: Any) -> None:  # pragma: no cover (compiled)
    """``out[j] = x[i - r, j] + ... + x[i + r, j]``, rows clamped to the edges, added left
    to right as the core adds its shifted rows. Written out for the usual radii (1 up to
    540 lines, 2 at 720p, 3 at 1080p) so that the loop over ``j`` vectorises."""
    h, w = x.shape
    if r == 1:
        a, b, c = x[max(i - 1, 0)], x[i], x[min(i + 1, h - 1)]
        for j in range(w):
            out[j] = a[j] + b[j] + c[j]
    elif r == 2:
        a, b, c = x[max(i - 2, 0)], x[max(i - 1, 0)], x[i]
        d, e = x[min(i + 1, h - 1)], x[min(i + 2, h - 1)]
        for j in range(w):
            out[j] = a[j] + b[j] + c[j] + d[j] + e[j]
    elif r == 3:
        a, b, c, d = x[max(i - 3, 0)], x[max(i - 2, 0)], x[max(i - 1, 0)], x[i]
        e, f, g = x[min(i + 1, h - 1)], x[min(i + 2, h - 1)], x[min(i + 3, h - 1)]
        for j in range(w):
            out[j] = a[j] + b[j] + c[j] + d[j] + e[j] + f[j] + g[j]
    else:
        out[:] = x[min(max(i - r, 0), h - 1)]
        for t in range(1, 2 * r + 1):
            src = x[min(max(i - r + t, 0), h - 1)]
            for j in range(w):
                out[j] += src[j]


@njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _row_means(a: Any, r: int, kk: Any, out: Any) -> None:  # pragma: no cover (compiled)
    """``out[j] = (a[j - r] + ... + a[j + r]) / kk``, columns clamped, left to right."""
    w = a.shape[0]
    for j in range(min(r, w)):
        s = a[0]
        for t in range(1, 2 * r + 1):
            s += a[min(max(j - r + t, 0), w - 1)]
        out[j] = s / kk
    if r == 1:
        for j in range(1, w - 1):
            out[j] = (a[j - 1] + a[j] + a[j + 1]) / kk
    elif r == 2:
        for j in range(2, w - 2):
            out[j] = (a[j - 2] + a[j - 1] + a[j] + a[j + 1] + a[j + 2]) / kk
    elif r == 3:
        for j in range(3, w - 3):
            out[j] = (a[j - 3] + a[j - 2] + a[j - 1] + a[j] + a[j + 1] + a[j + 2] + a[j + 3]) / kk
    else:
        for j in range(r, w - r):
            s = a[j - r]
            for t in range(1, 2 * r + 1):
                s += a[j - r + t]
            out[j] = s / kk
    for j in range(max(w - r, r), w):
        s = a[j - r]
        for t in range(1, 2 * r + 1):
            s += a[min(j - r + t, w - 1)]
        out[j] = s / kk


@njit(cache=True, nogil=True, boundscheck=False)
def _box_mean(x: Any, r: int, kk: Any, out: Any) -> None:  # pragma: no cover (compiled)
    """``wm._box_mean`` into ``out``, in the dtype of ``x`` and ``kk`` (the window's pixel
    count): the same sums in the same order, edges replicated, one output row at a time
    so the work stays in the cache. The row of column sums is allocated here: a buffer
    the compiler knows to be distinct from ``out`` is what lets the loops vectorise
    (passed in, it made the 720p mask four times slower)."""
    acc = np.empty(x.shape[1], x.dtype)
    for i in range(x.shape[0]):
        _column_sums(x, i, r, acc)
        _row_means(acc, r, kk, out[i])


@njit(cache=True, nogil=True, boundscheck=False)
def _bin_stats(
    y: _U8, r: int, inv_ref2: np.float32, f64: _F64, var32: _F32, mu32: _F32
) -> None:  # pragma: no cover (compiled)
    """Per 4 x 4 bin, into ``var32`` and ``mu32``: ``(var + 1) / 6^2`` and the local mean,
    as ``wm._mask_bins`` has them just before the power. ``f64`` is (4, hb, wb) scratch."""
    h, w = y.shape
    hb, wb = h // 4, w // 4
    mean, mean_sq, mu, msq = f64[0], f64[1], f64[2], f64[3]
    rs = np.empty(wb * 4, np.int32)
    rq = np.empty(wb * 4, np.int32)
    for bi in range(hb):
        rs[:] = 0
        rq[:] = 0
        for di in range(4):
            row = y[bi * 4 + di]
            for j in range(wb * 4):
                v = np.int32(row[j])
                rs[j] += v
                rq[j] += v * v
        for bj in range(wb):
            j = bj * 4
            mean[bi, bj] = np.float64(rs[j] + rs[j + 1] + rs[j + 2] + rs[j + 3]) / 16.0
            mean_sq[bi, bj] = np.float64(rq[j] + rq[j + 1] + rq[j + 2] + rq[j + 3]) / 16.0
    kk = np.float64((2 * r + 1) * (2 * r + 1))
    _box_mean(mean, r, kk, mu)
    _box_mean(mean_sq, r, kk, msq)
    one = np.float32(1.0)
    for i in range(hb):
        for j in range(wb):
            m = mu[i, j]
            var = np.float32(max(msq[i, j] - m * m, 0.0))
            var += one
            var *= inv_ref2
            var32[i, j] = var
            mu32[i, j] = np.float32(m)


@njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _smoothstep(x: np.float32, lo: np.float32, inv: np.float32) -> np.float32:  # pragma: no cover
    """``wm._smoothstep`` of one float32 value."""
    s = x - lo
    s *= inv
    s = min(max(s, np.float32(0.0)), np.float32(1.0))
    out = s * s
    s *= np.float32(-2.0)
    s += np.float32(3.0)
    return out * s


@njit(cache=True, nogil=True, boundscheck=False)
def _finish_bins(
    texture: _F32, mu32: _F32, r: int, lo: np.float32, hi: np.float32, f32: _F32
) -> None:  # pragma: no cover (compiled)
    """The luminance term, the second box mean and the clip: the mask per bin, into
    ``f32[1]`` (``f32[0]`` is scratch)."""
    hb, wb = texture.shape
    lum_tex, out = f32[0], f32[1]
    dark, inv_dark = np.float32(16.0), np.float32(1.0 / 40.0)
    bright, inv_bright = np.float32(200.0), np.float32(1.0 / 40.0)
    for i in range(hb):
        for j in range(wb):
            m = mu32[i, j]
            lum = _smoothstep(m, dark, inv_dark)
            lum *= np.float32(1.0) - _smoothstep(m, bright, inv_bright)
            lum *= np.float32(0.6)
            lum += np.float32(0.4)
            lum_tex[i, j] = texture[i, j] * lum
    _box_mean(lum_tex, r, np.float32((2 * r + 1) * (2 * r + 1)), out)
    for i in range(hb):
        for j in range(wb):
            out[i, j] = min(max(out[i, j], lo), hi)


@njit(cache=True, nogil=True, boundscheck=False)
def _expand_row(bins_row: _F32, out: _F32) -> None:  # pragma: no cover (compiled)
    """One row of bins, each repeated 4 times; columns past the last bin copy it."""
    wb = bins_row.shape[0]
    for j in range(out.shape[0]):
        out[j] = bins_row[min(j >> 2, wb - 1)]


@njit(cache=True, nogil=True, boundscheck=False)
def _mark(
    y: _U8,
    p0: _F32,
    w0: np.float32,
    p1: _F32,
    w1: np.float32,
    bins: _F32,
    strength: np.float32,
    dst: _U8,
) -> None:  # pragma: no cover (compiled)
    """``dst = clip(rint((p0 w0 + p1 w1) mask strength + y))``, in the core's order. With
    one pattern alone the core skips ``p1 w1``; here it is ``p0 x 0``, which adds an exact
    zero and changes no value."""
    h, w = y.shape
    hb = bins.shape[0]
    mrow = np.empty(w, np.float32)
    lo, hi = np.float32(0.0), np.float32(255.0)
    for i in range(h):
        if (i & 3) == 0:
            _expand_row(bins[min(i >> 2, hb - 1)], mrow)
        a, b, yy, d = p0[i], p1[i], y[i], dst[i]
        for j in range(w):
            v = a[j] * w0
            v = v + b[j] * w1
            v = v * mrow[j]
            v = v * strength
            v = v + np.float32(yy[j])
            v = min(max(np.rint(v), lo), hi)
            d[j] = np.uint8(np.int32(v))


class _Workspace:
    """The bins' buffers of one frame size, reused from frame to frame."""

    def __init__(self, height: int, width: int) -> None:
        hb, wb = height // 4, width // 4
        self.r = wm.mask_radius(height)
        self.f64: _F64 = np.empty((4, hb, wb), np.float64)
        self.var32: _F32 = np.empty((hb, wb), np.float32)
        self.mu32: _F32 = np.empty((hb, wb), np.float32)
        self.texture: _F32 = np.empty((hb, wb), np.float32)
        self.f32: _F32 = np.empty((2, hb, wb), np.float32)

    def mask_bins(self, y: _U8) -> _F32:
        """``wm._mask_bins(y)[0]`` (a view of this workspace, valid until the next call)."""
        _bin_stats(y, self.r, _INV_REF2, self.f64, self.var32, self.mu32)
        np.power(self.var32, _EXPONENT, out=self.texture)  # numpy's, as the core's
        _finish_bins(self.texture, self.mu32, self.r, _MIN, _MAX, self.f32)
        out: _F32 = self.f32[1]
        return out


def mask_bins(y: _U8) -> _F32:
    """``wm._mask_bins(y)[0]`` for a C-contiguous uint8 frame of at least 128 px a side."""
    return _Workspace(*y.shape).mask_bins(y).copy()


class FastEmbedder(wm.Embedder):
    """:class:`~custodes.core.watermark.Embedder` whose ``mark_luma`` runs compiled.

    Same key, parameters, pattern cache and output; only the arithmetic is fused. Like
    the core's, one embedder marks one frame at a time (its buffers are reused).
    """

    def __init__(self, key: bytes, width: int, height: int, params: wm.MarkParams) -> None:
        super().__init__(key, width, height, params)
        self._work = _Workspace(height, width) if min(width, height) >= 128 else None

    def mark_luma(self, y: NDArray[Any], t: float, mask: NDArray[Any] | None = None) -> _U8:
        if mask is not None or self._work is None or y.dtype != np.uint8 or y.ndim != 2:
            return super().mark_luma(y, t, mask)
        wm._check_plane(y, self.width, self.height, "luma plane")
        y = np.ascontiguousarray(y)
        bins = self._work.mask_bins(y)
        (p0, w0), (p1, w1) = wm.temporal_weights(t, self.params)
        first = self.pattern(p0)  # in the core's order: the cache keeps the same periods
        second = self.pattern(p1) if w1 > 0.0 else first
        dst = np.empty_like(y)
        _mark(
            y,
            first,
            np.float32(w0),
            second,
            np.float32(w1 if w1 > 0.0 else 0.0),
            bins,
            np.float32(self.params.strength),
            dst,
        )
        return dst

"""Map a leaked frame back onto its original frame, and subtract.

Informed watermark detection needs the leaked picture in the *original's* pixel grid,
with the original's brightness, so that ``leak - original`` is the watermark plus
noise. Each step is numpy/OpenCV work on whole arrays, never a per-pixel loop:

1. **Geometry** (:func:`register`). ORB features (Rublee et al., ICCV 2011; SIFT as a
   fallback) on contrast-equalised (CLAHE) luma, Lowe's ratio test, a homography by
   MAGSAC++ (OpenCV's ``USAC_MAGSAC``), tried on the leak as is and mirrored; the
   inliers must spread over the picture (the burned-in overlay line that every bodycam
   of a model prints must not pass for a match). The homography is then refined on the
   pixels by robust Gauss-Newton (forward compositional Lucas-Kanade: Baker and
   Matthews, "Lucas-Kanade 20 years on", IJCV 2004) with a tone curve, a gain, a bias
   and a smooth gain field in the model and Tukey weights, so that banners, vignetting
   and captions do not pull the geometry. On the synthetic known-answer cases of
   ``tests/media/test_register.py`` leak pixels land within 0.3 px of the truth:
   misregistration would leak the picture's edges into the residual, and those dwarf a
   watermark. A registration is kept only if the band-passed pictures agree
   (:func:`structure_agreement` at least :data:`MIN_AGREEMENT`).
2. **Tone** (:func:`fit_tone`). A monotone curve original -> leak: the weighted median
   leak level in each band of original levels (from a 2-D histogram), after dropping
   gross outliers to a robust cubic fit, made monotone by pool-adjacent-violators.
   Brightness, contrast and gamma, without a parametric model;
   :func:`apply_inverse` takes leak levels back to the original's.
3. **Residual** (:func:`residual_frame`, :func:`residual_details`). Tone-inverted
   warped leak minus the original blurred like the leak (:func:`estimate_blur`),
   with a smooth multiplicative gain field divided out (vignetting). Weights in
   [0, 1]: zero outside the leak's field of view, on clipped levels and on blobs an
   overlay replaced (large residuals, a stray local mean, or texture the leak stopped
   following); elsewhere Tukey's biweight over a robust (MAD) scale, lowered on
   strong edges where a small misregistration would show.

A leak's geometry is constant or slowly varying (a phone filming a monitor drifts):
:class:`RegistrationTracker` registers from scratch once, then per frame measures
the motion with a phase correlation and a few Gauss-Newton steps from the previous
map, keeps the map unchanged while it moves less than a tenth of a pixel (a steady
map, not a jittery one), follows it when it moves, and starts over when the pictures
stop agreeing.

Speed (a 640x360 frame is tracked, registered in time and subtracted in about 50 ms
of one core): the Gauss-Newton steps evaluate their model on every other pixel only
(the warp, its blur and gradients stay whole-frame), the overlay tests share one map
of local correlation per frame, tone curves are looked up with precomputed steps,
the field of view is solved row by row, and the public entry points run OpenBLAS on
one thread (:func:`single_threaded_blas`).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import math
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ParamSpec, TypeVar

import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = [
    "MIN_AGREEMENT",
    "MIN_INLIERS",
    "Registration",
    "RegistrationTracker",
    "Residual",
    "ToneMap",
    "apply_inverse",
    "estimate_blur",
    "fit_tone",
    "refine_registration",
    "refine_time",
    "register",
    "registration_error",
    "residual_details",
    "residual_frame",
    "single_threaded_blas",
    "structure_agreement",
    "warp_to_original",
]

_F32 = NDArray[np.float32]
_F64 = NDArray[np.float64]
_U8 = NDArray[np.uint8]
_Mask = NDArray[np.bool_]
_Arr = NDArray[Any]

MIN_INLIERS = 12
"""Fewest feature matches consistent with a homography for :func:`register` to answer."""
MIN_AGREEMENT = 0.35
"""Least :func:`structure_agreement` of a registration (unrelated frames: under 0.25)."""
_MIN_SPREAD = 0.08  # inliers' convex hull, as a fraction of the leak's area
WORK_SIDE = 640
"""Longest side of the original at which the pixel refinement runs."""
_TONE_BINS = 64  # bands of original levels in the tone fit
_LEAK_STEPS = 4  # leak levels are histogrammed to a quarter level
_LEAK_BINS = 256 * _LEAK_STEPS
_TUKEY_C = 4.685  # Tukey biweight tuning constant, in robust standard deviations
_OUTLIER_Z = 4.0  # |residual| beyond this many sigmas counts toward an overlay
_LOST_MIN_STD = 4.0  # local std (levels) an area needs before the leak must follow it
_LOCAL_MEAN_LEVELS = 5.0  # a residual's local mean beyond this is not a mark
_EDGE_SHIFT = 0.15  # px of misregistration assumed when lowering weights on edges
_GN_EXTRA_BLUR = 1.5  # px of extra blur for the first Gauss-Newton steps


# ---------------------------------------------------------------- BLAS threads

_BLAS_SYMBOLS = (  # (set, get) pairs: numpy's scipy-openblas wheels, then plain OpenBLAS
    ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
    ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
    ("openblas_set_num_threads", "openblas_get_num_threads"),
)
_blas_lock = threading.Lock()
_blas_users = 0
_blas_saved: list[tuple[Callable[[int], Any], int]] = []


@functools.cache
def _openblas_controls() -> tuple[tuple[Callable[[int], Any], Callable[[], int]], ...]:
    """The thread-count setters and getters of every OpenBLAS loaded in this process
    (numpy's and OpenCV's wheels each bundle one); none where that cannot be told."""
    try:
        with open(f"/proc/{os.getpid()}/maps", encoding="utf-8", errors="replace") as maps:
            paths = {
                line.split(None, 5)[5].strip()
                for line in maps
                if "openblas" in line.lower() and len(line.split(None, 5)) == 6
            }
    except OSError:
        return ()
    controls = []
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for set_name, get_name in _BLAS_SYMBOLS:
            setter, getter = getattr(lib, set_name, None), getattr(lib, get_name, None)
            if setter is not None and getter is not None:
                setter.argtypes, setter.restype = [ctypes.c_int], None
                getter.argtypes, getter.restype = [], ctypes.c_int
                controls.append((setter, getter))
                break
    return tuple(controls)


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Run OpenBLAS on one thread inside the block (the previous counts come back after).

    Registration and watermarking multiply many small matrices (15 x 15 normal
    equations over 50,000 pixels, the watermark's 27 x 360 and 48 x 640 upsampling
    matrices): work of a millisecond or less, which OpenBLAS splits over every core.
    On two cores shared with other jobs, waiting for a helper thread that is not
    scheduled made the matched filter's projection take 20 ms instead of 0.3 and
    whole traces two to three times slower. The count is per process, so nested and
    concurrent blocks count their users and the last one out restores it.
    """
    global _blas_users
    with _blas_lock:
        if _blas_users == 0:
            _blas_saved[:] = [(setter, getter()) for setter, getter in _openblas_controls()]
            for setter, _ in _blas_saved:
                setter(1)
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0:
                for setter, n in _blas_saved:
                    setter(n)
                _blas_saved.clear()


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _one_blas_thread(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``fn`` under :func:`single_threaded_blas` (the entry points of this module)."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with single_threaded_blas():
            return fn(*args, **kwargs)

    return wrapper


# ------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class Registration:
    """A homography taking leak pixel coordinates ``(x, y, 1)`` to the original's.

    ``H`` includes the mirror when ``mirrored`` is true (its linear part then has a
    negative determinant). ``inliers``/``inlier_ratio`` describe the feature match;
    ``error`` is the robust residual scale (luma levels) after refinement, NaN if
    the pixels were not compared.
    """

    H: _F64
    mirrored: bool
    inliers: int
    inlier_ratio: float
    error: float = math.nan

    def map_points(self, pts: NDArray[np.floating]) -> _F64:
        """Leak points (N, 2) -> original points (N, 2)."""
        return _apply_h(self.H, np.asarray(pts, np.float64))

    def inverse_points(self, pts: NDArray[np.floating]) -> _F64:
        """Original points (N, 2) -> leak points (N, 2)."""
        return _apply_h(np.linalg.inv(self.H), np.asarray(pts, np.float64))


def _apply_h(h: _Arr, pts: _Arr) -> _F64:
    p = np.c_[pts, np.ones(len(pts))] @ h.T
    return np.asarray(p[:, :2] / p[:, 2:3], np.float64)


def _resize_mat(sx: float, sy: float) -> _F64:
    """Pixel coordinates before ``cv2.resize`` by (sx, sy) -> after (centres aligned)."""
    return np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])


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


def _plausible(h: _Arr, leak_shape: tuple[int, int], orig_shape: tuple[int, int]) -> bool:
    """Reject degenerate homographies: folded, wildly scaled or mostly off-frame."""
    lh, lw = leak_shape
    oh, ow = orig_shape
    if not np.all(np.isfinite(h)):
        return False
    corners = np.array([[0, 0], [lw, 0], [lw, lh], [0, lh]], np.float64)
    p = np.c_[corners, np.ones(4)] @ h.T
    if np.any(p[:, 2] <= 1e-6 * np.abs(p[:, 2]).max()) or np.any(
        np.sign(p[:, 2]) != np.sign(h[2, 2])
    ):
        return False
    q = p[:, :2] / p[:, 2:3]
    area = 0.5 * abs(np.dot(q[:, 0], np.roll(q[:, 1], 1)) - np.dot(q[:, 1], np.roll(q[:, 0], 1)))
    if not (0.02 * ow * oh <= area <= 200.0 * ow * oh):
        return False
    # The mapped leak must be convex (no fold) and overlap the original.
    cross = []
    for i in range(4):
        a, b, c = q[i], q[(i + 1) % 4], q[(i + 2) % 4]
        cross.append((b[0] - a[0]) * (c[1] - b[1]) - (b[1] - a[1]) * (c[0] - b[0]))
    if not (all(v > 0 for v in cross) or all(v < 0 for v in cross)):
        return False
    x0, y0 = np.clip(q.min(axis=0), [0, 0], [ow, oh])
    x1, y1 = np.clip(q.max(axis=0), [0, 0], [ow, oh])
    return bool((x1 - x0) * (y1 - y0) >= 0.05 * ow * oh)


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
        if not _plausible(h, leak.shape, orig.shape):
            continue
        cand = Registration(h / h[2, 2], mirrored, int(inl.sum()), float(inl.mean()))
        if best is None or cand.inliers > best.inliers:
            best = cand
    return best


@_one_blas_thread
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


# --------------------------------------------------------------------- warping


def warp_to_original(
    leak_y: NDArray[np.generic], reg: Registration, orig_shape: tuple[int, ...]
) -> tuple[_F32, _Mask]:
    """The leak resampled on the original's pixel grid, and where that is defined.

    ``valid`` is false outside the leak's field of view and on a 2-pixel rim inside it
    (bilinear interpolation there mixes in the border).
    """
    oh, ow = int(orig_shape[0]), int(orig_shape[1])
    src = np.asarray(leak_y, np.float32)
    g = np.linalg.inv(reg.H)
    warped = cv2.warpPerspective(
        src,
        g,
        (ow, oh),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    valid = _valid_mask(g, src.shape, (oh, ow), rim=2.0)
    return np.asarray(warped, np.float32), valid


def _valid_mask(
    g: _Arr, leak_shape: tuple[int, ...], out_shape: tuple[int, int], rim: float
) -> _Mask:
    """Original pixels x whose leak position g(x) lies at least ``rim`` px inside.

    Along a row of the original every condition (``den > 0``, ``rim <= lx <= lw - 1 -
    rim``, the same for ``ly``) is linear in x once multiplied by the positive
    denominator, so the pixels that pass form one interval per row: the bounds are
    solved per row and the mask is two comparisons a pixel.
    """
    oh, ow = out_shape
    lh, lw = int(leak_shape[0]), int(leak_shape[1])
    gg = np.asarray(g, np.float64)
    rows = np.arange(oh, dtype=np.float64)
    lo = np.zeros(oh)
    hi = np.full(oh, float(ow - 1))

    def holds(c: float, d: _F64) -> None:  # c * x >= d for the pixels x kept in each row
        nonlocal lo, hi
        if c > 0.0:
            lo = np.maximum(lo, d / c)
        elif c < 0.0:
            hi = np.minimum(hi, d / c)
        else:
            hi = np.where(d <= 0.0, hi, -1.0)

    a2, b2 = float(gg[2, 0]), gg[2, 1] * rows + gg[2, 2]
    holds(a2, 1e-9 - b2)
    for k, top in ((0, lw - 1 - rim), (1, lh - 1 - rim)):
        ak, bk = float(gg[k, 0]), gg[k, 1] * rows + gg[k, 2]
        holds(ak - rim * a2, rim * b2 - bk)  # (ak x + bk) / den >= rim
        holds(top * a2 - ak, bk - top * b2)  # (ak x + bk) / den <= top
    first = np.ceil(np.clip(lo, -1.0, ow)).astype(np.int32)
    last = np.floor(np.clip(hi, -1.0, ow)).astype(np.int32)
    xx = np.arange(ow, dtype=np.int32)[None, :]
    return np.asarray((xx >= first[:, None]) & (xx <= last[:, None]), np.bool_)


# ------------------------------------------------------------------------ tone


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
        wts = _tukey(e.astype(np.float32), _TUKEY_C * scale).astype(np.float64)
        bw = basis * wts[:, None]
        coef = np.linalg.lstsq(bw.T @ basis + 1e-9 * np.eye(4), bw.T @ ys, rcond=None)[0]
    full = np.stack([np.ones_like(x), x, x * x, x * x * x], axis=1)
    e = y - full @ coef
    return np.asarray(np.abs(e) < max(_OUTLIER_Z * 1.5 * scale, 8.0), np.bool_)


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


# -------------------------------------------------------------------- residual


def _robust_sigma(r: NDArray[np.floating], floor: float = 0.5, max_samples: int = 20_000) -> float:
    """1.4826 * MAD (on a regular subsample of at most ``max_samples`` values)."""
    if r.size == 0:
        return math.inf
    r = np.asarray(r).ravel()
    if r.size > max_samples:
        r = r[:: math.ceil(r.size / max_samples)]
    med = float(np.median(r))
    return max(floor, 1.4826 * float(np.median(np.abs(r - med))))


def _masked_sigma(r: _F32, mask: _Mask, max_samples: int = 20_000) -> float:
    """``_robust_sigma(r[mask])`` without gathering every masked value first."""
    idx = np.flatnonzero(mask)
    if idx.size > max_samples:
        idx = idx[:: math.ceil(idx.size / max_samples)]
    return _robust_sigma(np.take(r, idx), max_samples=max_samples)


def _robust_centre_scale(
    r: NDArray[np.floating], floor: float = 0.5, max_samples: int = 20_000
) -> tuple[float, float]:
    """(median, 1.4826 * MAD) on a regular subsample of at most ``max_samples`` values."""
    r = np.asarray(r).ravel()
    if r.size > max_samples:
        r = r[:: math.ceil(r.size / max_samples)]
    med = float(np.median(r))
    return med, max(floor, 1.4826 * float(np.median(np.abs(r - med))))


def _tukey(r: _F32, c: float) -> _F32:
    u = np.abs(np.asarray(r, np.float32))
    u /= np.float32(c)
    np.minimum(u, np.float32(1.0), out=u)
    u *= u
    np.subtract(np.float32(1.0), u, out=u)
    u *= u
    return u


def _box(shape: tuple[int, ...]) -> tuple[int, int]:
    """The window of the overlay tests: about a fortieth of the frame, odd, at least 5."""
    k = max(5, (min(int(shape[0]), int(shape[1])) // 40) | 1)
    return k, k


@dataclass(frozen=True)
class _Structure:
    """How a registered leak follows the original's texture, pixel by pixel: the
    original's local variance and the local normalised correlation of the two pictures,
    over a :func:`_box` window. Blind to brightness, contrast and a smooth gain, so one
    map per frame serves every overlay test, before and after the tone fit."""

    var_o: _F32
    ncc: _F32

    @classmethod
    def of(cls, warped: _F32, orig: _F32) -> _Structure:
        box = _box(orig.shape)
        mu_o = cv2.boxFilter(orig, cv2.CV_32F, box)
        var_o = cv2.boxFilter(orig * orig, cv2.CV_32F, box) - mu_o * mu_o
        mu_l = cv2.boxFilter(warped, cv2.CV_32F, box)
        var_l = cv2.boxFilter(warped * warped, cv2.CV_32F, box) - mu_l * mu_l
        cov = cv2.boxFilter(warped * orig, cv2.CV_32F, box) - mu_l * mu_o
        ncc = cov / np.sqrt(np.maximum(var_l, 0) * np.maximum(var_o, 0) + 1e-6)
        return cls(np.asarray(var_o, np.float32), np.asarray(ncc, np.float32))


def _lost_mask(structure: _Structure, ok: _Mask, min_std: float) -> _Mask:
    """Textured original areas (local std over ``min_std``) that the leak no longer
    follows: local normalised correlation under 0.25 over most of a small window. The
    test is blind to brightness and contrast, so it can run before any tone fit."""
    h, w = ok.shape
    lost = (structure.var_o > min_std * min_std) & (structure.ncc < 0.25) & ok
    kb = max(3, (min(h, w) // 90) | 1)
    return np.asarray(cv2.blur(lost.astype(np.float32), (kb, kb)) > 0.6, np.bool_)


def _grow(mask: _Mask) -> _Mask:
    h, w = mask.shape
    d = max(3, (min(h, w) // 60) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (d, d))
    return np.asarray(cv2.dilate(mask.astype(np.uint8), kernel) > 0, np.bool_)


def _replaced_mask(residual: _F32, ok: _Mask, sigma: float, structure: _Structure) -> _Mask:
    """Pixels an overlay, caption, banner or logo replaced, as dilated blobs.

    Three signs, any suffices where it covers most of a small window (about a fortieth
    of the frame), so that isolated pixels (noise, a misregistered edge) make no blob:
    large residuals; a residual whose local mean strays further than a watermark or a
    tone error would take it (a flat banner close to the luma it covers); and textured
    original areas the leak no longer follows (:func:`_lost_mask`).
    """
    h, w = ok.shape
    box = _box(ok.shape)
    okf = ok.astype(np.float32)
    r = np.asarray(residual, np.float32) * okf
    count = np.maximum(cv2.boxFilter(okf, cv2.CV_32F, box), np.float32(1e-3))
    local_mean = cv2.boxFilter(r, cv2.CV_32F, box) / count
    shifted = np.abs(local_mean) > max(_LOCAL_MEAN_LEVELS, 2.5 * sigma)
    big = np.abs(residual) > _OUTLIER_Z * sigma
    kb = max(3, (min(h, w) // 90) | 1)
    frac_big = cv2.blur((big & ok).astype(np.float32), (kb, kb))
    lost = _lost_mask(structure, ok, 2.0 * sigma)
    blob = (frac_big > 0.25) | (shifted & ok) | lost
    return _grow(blob)


_BLUR_CANDIDATES = (0.0, 0.5, 0.8, 1.1, 1.5, 2.0, 2.8)


def _blur(img: _F32, sigma: float) -> _F32:
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
        pred = tone.apply(_blur(orig, s).ravel()[idx])
        errs.append(_robust_sigma(target - pred, max_samples=30_000))
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


def _gain_basis(h: int, w: int, idx: NDArray[np.intp]) -> _F64:
    """Smooth spatial basis (x, y, x^2, xy, y^2 in [-1, 1] coordinates) at flat indices."""
    yy, xx = np.divmod(idx, w)
    x = 2.0 * xx / max(1, w - 1) - 1.0
    y = 2.0 * yy / max(1, h - 1) - 1.0
    return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=1)


def _fit_gain(warped: _F32, pred: _F32, use: _Mask, sigma: float) -> NDArray[np.float32] | None:
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
        wts = _tukey(e.astype(np.float32), _TUKEY_C * s).astype(np.float64)
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


@_one_blas_thread
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
    orig = _blur(orig_raw, blur)
    # The leak's structure against the original, for every overlay test below.
    structure = _Structure.of(warped, orig)
    inside = valid.astype(np.float32)  # 1 in the field of view, 0 outside
    gain: _F32 | None = None

    leak = warped
    tone = fixed_tone if fixed_tone is not None else ToneMap.identity()
    # What an overlay replaced can already be seen, tone aside: keep it out of the fits.
    keep = valid & ~_grow(_lost_mask(structure, valid, _LOST_MIN_STD))
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
                keep = keep & (np.abs(first) < _OUTLIER_Z * _masked_sigma(first, keep))
                tone = fit_tone(leak, orig, keep, robust_prior=False)
        warped = leak
        gain = None
        if spatial_gain:
            pred = tone.apply(orig)
            first = leak - pred
            sig = _masked_sigma(first, keep)
            use = keep & (np.abs(first) < _OUTLIER_Z * sig) & ~tone.clipped(leak)
            gain = _fit_gain(leak, pred, use, sig)
            if gain is not None:
                warped = leak / gain
                if fixed_tone is None and second:
                    tone = fit_tone(warped, orig, keep, robust_prior=False)
        restored = tone.inverse(warped)
        residual = (restored - orig) * inside
        ok = valid & ~tone.clipped(warped)
        sigma = _masked_sigma(residual, ok & keep)
        if not math.isfinite(sigma):
            zeros = np.zeros_like(residual)
            return Residual(zeros, zeros.copy(), tone, blur, gain, sigma)
        ok &= ~_replaced_mask(residual, ok, sigma, structure)
        if ok.sum() < 200:
            break
        keep = ok
    weight = _tukey(residual, _TUKEY_C * sigma)
    gx = cv2.Sobel(orig, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)
    gy = cv2.Sobel(orig, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)
    edge = (gx * gx + gy * gy) * np.float32((_EDGE_SHIFT / sigma) ** 2)
    edge += np.float32(1.0)
    weight /= edge
    weight *= ok
    return Residual(residual, weight, tone, blur, gain, sigma)


# ---------------------------------------------------------- pixel refinement


def _level_image(img: _F32, scale: float, sigma: float = 0.8) -> tuple[_F32, _F64]:
    """The image resized by about ``scale`` and blurred, and the map original -> level."""
    h, w = img.shape
    m = np.eye(3)
    if scale != 1.0:
        nw, nh = max(8, round(w * scale)), max(8, round(h * scale))
        img = np.asarray(cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA), np.float32)
        m = _resize_mat(nw / w, nh / h)
    return np.asarray(cv2.GaussianBlur(img, (0, 0), sigma), np.float32), m


def _leak_scale(g_level: _Arr, shape: tuple[int, int]) -> float:
    """Leak pixels per level pixel at the centre of the level image (linear size)."""
    h, w = shape
    c = np.array([[w / 2, h / 2], [w / 2 + 1, h / 2], [w / 2, h / 2 + 1]], np.float64)
    p = _apply_h(g_level, c)
    jx, jy = p[1] - p[0], p[2] - p[0]
    return math.sqrt(abs(jx[0] * jy[1] - jx[1] * jy[0]))


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
    orig_soft = _blur(orig, _GN_EXTRA_BLUR)
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
        valid = _valid_mask(g @ on_grid, leak.shape, grid_shape, rim=2.0 + 2 * (sigma + extra))
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
        med, err = _robust_centre_scale(e)
        wts = _tukey(e - np.float32(med), _TUKEY_C * err)
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
        moved = _apply_h(upd, corners) - corners
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
    to_level = _resize_mat(w / ws, h / hs) if half else np.eye(3)
    g_small = g @ to_level
    src = leak
    if half and _leak_scale(g_small, (hs, ws)) > 1.5:  # against aliasing
        lh, lw = leak.shape
        src = np.asarray(
            cv2.resize(leak, (max(8, lw // 2), max(8, lh // 2)), interpolation=cv2.INTER_AREA),
            np.float32,
        )
        g_small = _resize_mat(src.shape[1] / lw, src.shape[0] / lh) @ g_small
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
    valid = _valid_mask(g_small, src.shape, (hs, ws), rim=2.0)
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


@_one_blas_thread
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
        ls = _leak_scale(g, lvl.shape)
        src = leak
        if ls > 1.5:
            shrink = 1.0 / ls
            lh, lw = leak.shape
            size = (max(8, round(lw * shrink)), max(8, round(lh * shrink)))
            src = np.asarray(cv2.resize(leak, size, interpolation=cv2.INTER_AREA), np.float32)
            pre = _resize_mat(src.shape[1] / lw, src.shape[0] / lh)
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
    if not _plausible(h_cur, leak.shape, orig.shape):
        return None
    return replace(reg, H=h_cur, error=err)


def _warp_level(
    leak_gray: NDArray[np.generic], reg: Registration, orig_shape: tuple[int, int], side: int
) -> tuple[_F32, _Mask, _F64, float]:
    """The leak warped onto a downscaled original grid: (warped, valid, orig->level, scale)."""
    oh, ow = orig_shape
    s = min(1.0, side / max(oh, ow))
    nw, nh = max(8, round(ow * s)), max(8, round(oh * s))
    smat = _resize_mat(nw / ow, nh / oh) if s < 1.0 else np.eye(3)
    g = np.linalg.inv(smat @ reg.H)
    leak = np.asarray(leak_gray, np.float32)
    ls = _leak_scale(g, (nh, nw))
    if ls > 1.5:  # shrink a much finer leak first, against aliasing
        lh, lw = leak.shape
        small = cv2.resize(
            leak, (max(8, round(lw / ls)), max(8, round(lh / ls))), interpolation=cv2.INTER_AREA
        )
        g = _resize_mat(small.shape[1] / lw, small.shape[0] / lh) @ g
        leak = np.asarray(small, np.float32)
    warped = cv2.warpPerspective(
        leak,
        g,
        (nw, nh),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    blurred = np.asarray(cv2.GaussianBlur(warped, (0, 0), 0.8), np.float32)
    valid = _valid_mask(g, leak.shape, (nh, nw), rim=3.0)
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
    return _robust_sigma((warped - tone.apply(o))[valid], max_samples=10_000), tone


@_one_blas_thread
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


@_one_blas_thread
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


@_one_blas_thread
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


# ---------------------------------------------------------------- tracking


def _displacement(h_old: _F64, h_new: _F64, leak_shape: tuple[int, int]) -> float:
    """Largest move (original pixels) of the leak's corners and centre between two maps."""
    lh, lw = leak_shape
    pts = np.array([[0, 0], [lw, 0], [lw, lh], [0, lh], [lw / 2, lh / 2]], np.float64)
    return float(np.abs(_apply_h(h_new, pts) - _apply_h(h_old, pts)).max())


class RegistrationTracker:
    """Registration along a leak: from scratch once, then tracked.

    :meth:`update` registers the first frame from scratch (:func:`register`). On each
    later frame a few Gauss-Newton steps from the current homography measure how far
    the geometry moved; below ``still_px`` (original pixels) the homography is kept
    as it is, so a fixed crop or letterbox keeps one steady map instead of a jittery
    one; above it (a phone moving in front of a monitor) the refined map is taken.
    Every ``check_every`` frames, and when refining fails, the structural agreement
    (:func:`structure_agreement`) is checked, and below :data:`MIN_AGREEMENT` the
    frame is registered from scratch (a cut, a new framing). After a failed attempt
    from scratch the next ``retry_after`` frames get None without trying (a few hundred
    milliseconds each otherwise).
    """

    def __init__(
        self, *, still_px: float = 0.12, check_every: int = 15, retry_after: int = 4
    ) -> None:
        self.still_px = still_px
        self.check_every = check_every
        self.retry_after = retry_after
        self.cooldown = 0
        self.current: Registration | None = None
        self.since_check = 0
        self.restarts = 0
        self.moves = 0

    @property
    def baseline(self) -> float:
        """The current registration's residual scale at the working level."""
        return self.current.error if self.current is not None else math.inf

    def reset(self) -> None:
        self.current = None
        self.since_check = 0

    def update(
        self, leak_gray: NDArray[np.generic], orig_gray: NDArray[np.generic]
    ) -> Registration | None:
        """The registration of this frame pair, or None when there is none."""
        if self.current is None:
            return self._restart(leak_gray, orig_gray)
        leak_shape = np.asarray(leak_gray).shape[:2]
        refined = refine_registration(
            leak_gray, orig_gray, self.current, coarse=False, iterations=4, stride=2
        )
        self.since_check += 1
        if refined is None:
            return self._restart(leak_gray, orig_gray)
        moved = _displacement(self.current.H, refined.H, (int(leak_shape[0]), int(leak_shape[1])))
        if moved > self.still_px:
            self.current = refined
            self.moves += 1
        else:
            self.current = replace(self.current, error=refined.error)
        if self.since_check >= self.check_every:
            self.since_check = 0
            if structure_agreement(leak_gray, orig_gray, self.current) < MIN_AGREEMENT:
                return self._restart(leak_gray, orig_gray)
        return self.current

    def _restart(
        self, leak_gray: NDArray[np.generic], orig_gray: NDArray[np.generic]
    ) -> Registration | None:
        if self.cooldown > 0:  # registering from scratch just failed: not every frame
            self.cooldown -= 1
            return None
        self.restarts += 1
        self.since_check = 0
        reg = register(leak_gray, orig_gray)
        if reg is None:
            # Keep the last good geometry for the next frame: the miss may be a flash.
            self.cooldown = self.retry_after
            return None
        self.current = reg
        return reg

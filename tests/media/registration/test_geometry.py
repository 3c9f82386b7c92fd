"""custodes.media.registration.geometry: the field of view solved row by row."""

from __future__ import annotations

import numpy as np

from custodes.media.registration.geometry import valid_mask


def _valid_reference(
    g: np.ndarray, leak: tuple[int, int], out: tuple[int, int], rim: float
) -> np.ndarray:
    """Every pixel mapped through ``g`` one by one (float64): inside by ``rim``?"""
    oh, ow = out
    ys, xs = np.mgrid[0:oh, 0:ow].astype(np.float64)
    p = np.stack([xs, ys, np.ones_like(xs)], axis=-1) @ g.T
    den = p[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        lx, ly = p[..., 0] / den, p[..., 1] / den
    inside: np.ndarray = (
        (den > 1e-9)
        & (lx >= rim)
        & (lx <= leak[1] - 1 - rim)
        & (ly >= rim)
        & (ly <= leak[0] - 1 - rim)
    )
    return inside


def test_valid_mask_solves_each_row_like_the_pixels() -> None:
    """The per-row intervals of ``_valid_mask`` against a pixel-by-pixel reference, for
    crops, scales, mirrors, rotations and strong perspective (pixels within 1e-6 px of
    the rim may go either way)."""
    rng = np.random.default_rng(7)
    for trial in range(60):
        g = np.eye(3)
        g[:2, :2] = rng.normal(0, 0.6, (2, 2)) + np.diag(rng.uniform(0.3, 2.5, 2))
        g[:2, 2] = rng.normal(0, 80, 2)
        if trial % 3 == 0:
            g[2, :2] = rng.normal(0, 4e-3, 2)
        leak = (int(rng.integers(40, 300)), int(rng.integers(40, 500)))
        out = (int(rng.integers(20, 200)), int(rng.integers(20, 300)))
        rim = float(rng.uniform(0, 5))
        got = valid_mask(g, leak, out, rim)
        want = _valid_reference(g, leak, out, rim)
        assert got.shape == want.shape and got.dtype == np.bool_
        assert int((got != want).sum()) <= 2, trial

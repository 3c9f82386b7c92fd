"""The compiled mark equals the core's byte for byte (custodes.media.fastmark)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from custodes.core import watermark as wm
from custodes.core.errors import InvalidInput
from custodes.media import fastmark

SECRET = b"s" * 32


def frames(w: int, h: int, seed: int) -> list[np.ndarray]:
    """Textured, flat, dark, bright and saturating frames (the mask's and the clip's
    every branch)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    smooth = 128 + 100 * np.sin(xx / 23.0) * np.cos(yy / 17.0)
    out = [
        rng.integers(0, 256, (h, w)),
        np.clip(smooth + rng.normal(0, 6, (h, w)), 0, 255),
        np.full((h, w), 3),
        np.full((h, w), 254),
        np.where((xx // 16 + yy // 16) % 2 == 0, 0, 255),
        np.clip(np.linspace(-40, 300, w)[None, :] + rng.normal(0, 2, (h, w)), 0, 255),
    ]
    return [np.ascontiguousarray(f, dtype=np.uint8) for f in out]


@pytest.mark.parametrize(
    "size",
    [(640, 360), (1280, 720), (323, 181), (250, 130), (130, 128), (1918, 1078), (200, 1300)],
)
@pytest.mark.parametrize("strength", [1.0, 0.25, 3.0])
def test_compiled_mark_equals_the_core_byte_for_byte(
    size: tuple[int, int], strength: float
) -> None:
    w, h = size
    params = wm.MarkParams(strength=strength)
    key = wm.derive_key(SECRET, f"exp-{w}")
    core = wm.Embedder(key, w, h, params)
    fast = fastmark.FastEmbedder(key, w, h, params)
    # Times inside a period, on a period's start (one pattern alone) and negative.
    times = [0.0, 0.25, 0.5, 0.3337, 1.0, 7.77, -0.4]
    for i, y in enumerate(frames(w, h, w + int(strength * 4))):
        for t in times[i % 3 :: 2]:
            want = core.mark_luma(y, t)
            got = fast.mark_luma(y, t)
            assert got.dtype == np.uint8 and got.shape == (h, w)
            assert np.array_equal(got, want), (size, strength, i, t)
        np.testing.assert_array_equal(fastmark.mask_bins(y), wm._mask_bins(y)[0])


def test_the_frame_is_not_changed_and_views_are_accepted() -> None:
    w, h = 640, 360
    key = wm.derive_key(SECRET, "exp-1")
    fast = fastmark.FastEmbedder(key, w, h, wm.MarkParams())
    planes = np.ascontiguousarray(frames(w, h * 3 // 2, 1)[1])  # a yuv420p-shaped buffer
    y = planes[:h]
    before = y.copy()
    out = fast.mark_luma(y, 1.3)
    assert np.array_equal(y, before)
    assert np.array_equal(out, wm.Embedder(key, w, h, wm.MarkParams()).mark_luma(before, 1.3))
    strided = np.asfortranarray(before)
    assert np.array_equal(fast.mark_luma(strided, 1.3), out)


def test_what_the_compiled_path_does_not_cover_goes_to_the_core() -> None:
    key = wm.derive_key(SECRET, "exp-1")
    small = frames(120, 100, 2)[1]  # bins of 2 below 128 px
    fast = fastmark.FastEmbedder(key, 120, 100, wm.MarkParams())
    core = wm.Embedder(key, 120, 100, wm.MarkParams())
    assert np.array_equal(fast.mark_luma(small, 0.7), core.mark_luma(small, 0.7))
    y = frames(640, 360, 3)[1]
    fast = fastmark.FastEmbedder(key, 640, 360, wm.MarkParams())
    core = wm.Embedder(key, 640, 360, wm.MarkParams())
    mask = wm.perceptual_mask(y) * np.float32(0.5)  # a caller's own mask is honoured
    assert np.array_equal(fast.mark_luma(y, 0.7, mask), core.mark_luma(y, 0.7, mask))
    assert np.array_equal(
        fast.mark_luma(y.astype(np.float32), 0.7), core.mark_luma(y.astype(np.float32), 0.7)
    )
    with pytest.raises(InvalidInput):
        fast.mark_luma(y[:-1], 0.7)


def test_a_read_only_install_caches_the_kernels_elsewhere(tmp_path: Path) -> None:
    """numba refuses to define a cached kernel it cannot cache anywhere: a package folder
    that cannot be written sends the cache to the user's temporary folder."""
    pkg = tmp_path / "pkg"
    (pkg / "__pycache__").mkdir(parents=True)
    assert fastmark.numba_cache_dir(pkg, {}) is None  # numba's own choice
    asked: list[Path] = []

    def read_only(path: Path) -> bool:
        asked.append(path)
        return False

    chosen = fastmark.numba_cache_dir(pkg, {}, read_only)
    assert asked == [pkg / "__pycache__"]
    assert chosen is not None and chosen.endswith(f"custodes-numba-{os.getuid()}")
    assert fastmark.numba_cache_dir(pkg, {"NUMBA_CACHE_DIR": "/srv/cache"}, read_only) is None
    fresh = tmp_path / "fresh"  # no __pycache__ yet: the folder itself must be writable
    fresh.mkdir()
    asked.clear()
    assert fastmark.numba_cache_dir(fresh, {}, read_only) is not None
    assert asked == [fresh]

"""custodes.media.redaction.pixels: a box blurred in every plane, or blacked out."""

from __future__ import annotations

import numpy as np

from custodes.media.redaction import PlanBox
from custodes.media.redaction.pixels import redact_planes
from tests.media.redaction.clip import H, W


def test_blur_covers_luma_and_chroma() -> None:
    rng = np.random.default_rng(1)
    planes = rng.integers(0, 256, (H * 3 // 2, W), dtype=np.uint8)
    before = planes.copy()
    box = PlanBox(40, 30, 104, 106)
    assert redact_planes(planes, W, H, [box], "blur") == 1
    y, u, v = (
        before[:H],
        before[H:].reshape(2, H // 2, W // 2)[0],
        before[H:].reshape(2, H // 2, W // 2)[1],
    )
    y2 = planes[:H]
    uv2 = planes[H:].reshape(2, H // 2, W // 2)
    # inside: the noise is gone (the std of neighbouring pixel differences collapses)
    assert (
        np.diff(y2[30:106, 40:104].astype(int), axis=1).std()
        < 0.2 * np.diff(y[30:106, 40:104].astype(int), axis=1).std()
    )
    assert (
        np.diff(uv2[0, 15:53, 20:52].astype(int), axis=1).std()
        < 0.3 * np.diff(u[15:53, 20:52].astype(int), axis=1).std()
    )
    assert (
        np.diff(uv2[1, 15:53, 20:52].astype(int), axis=1).std()
        < 0.3 * np.diff(v[15:53, 20:52].astype(int), axis=1).std()
    )
    # outside: untouched
    mask = np.ones((H, W), bool)
    mask[30:106, 40:104] = False
    assert np.array_equal(y2[mask], y[mask])
    assert redact_planes(planes, W, H, [box], "box") == 1
    assert (planes[30:106, 40:104] == 16).all()
    assert (planes[H:].reshape(2, H // 2, W // 2)[:, 15:53, 20:52] == 128).all()

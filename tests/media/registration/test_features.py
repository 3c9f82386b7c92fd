"""custodes.media.registration.features: known geometric and tonal transforms are undone,
and unrelated frames do not register."""

from __future__ import annotations

import numpy as np
import pytest

from custodes.media.registration import register
from tests.media.registration.synthetic import (
    CASES,
    H,
    W,
    gray_frames,
    known_transform,
    make_leak,
    point_error,
)


@pytest.mark.parametrize("name", CASES)
def test_register_recovers_known_transform(orig: np.ndarray, name: str) -> None:
    t, size, tone = known_transform(name)
    leak = make_leak(orig, t, size, tone)
    reg = register(leak, orig)
    assert reg is not None
    assert reg.mirrored == (name == "mirror")
    assert reg.inliers >= 12
    assert point_error(reg, t, size) < 1.0


def test_unrelated_and_blank_frames_do_not_register(orig: np.ndarray) -> None:
    # Same generator, other seeds: the same overlay text, lane markings, buildings.
    for seed in (2, 4, 5):
        other = gray_frames(seed)[0]
        assert register(other, orig) is None
    assert register(np.full((H, W), 128, np.uint8), orig) is None

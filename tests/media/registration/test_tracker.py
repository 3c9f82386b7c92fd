"""custodes.media.registration.tracker: a steady geometry kept, a moving one followed."""

from __future__ import annotations

import numpy as np

from custodes.media.registration import RegistrationTracker
from tests.media.registration.synthetic import (
    H,
    W,
    gray_frames,
    known_transform,
    make_leak,
    point_error,
)


def test_tracker_keeps_a_steady_geometry() -> None:
    seq = gray_frames(12, n=8, start=5)
    t, size, _ = known_transform("crop")
    tracker = RegistrationTracker()
    regs = []
    for i, frame in enumerate(seq):
        leak = make_leak(frame, t, size, seed=i)
        reg = tracker.update(leak, frame)
        assert reg is not None
        assert point_error(reg, t, size) < 1.0
        regs.append(reg)
    assert tracker.restarts == 1
    # Still geometry: the homography is reused rather than re-estimated each frame.
    assert tracker.moves <= 2


def test_tracker_follows_a_moving_view() -> None:
    seq = gray_frames(13, n=8, start=5)
    tracker = RegistrationTracker()
    for i, frame in enumerate(seq):
        dx = 1.5 * i  # the phone drifts 1.5 px a frame
        t = np.array([[0.9, 0.0, 10 + dx], [0.0, 0.9, 8.0], [0, 0, 1]])
        leak = make_leak(frame, t, (W, H), seed=i)
        reg = tracker.update(leak, frame)
        assert reg is not None
        assert point_error(reg, t, (W, H)) < 1.0
    assert tracker.restarts == 1

"""custodes.media.registration.comparison: right and wrong registrations, and the right frame."""

from __future__ import annotations

import numpy as np

from custodes.media.registration import MIN_AGREEMENT, refine_time, register, structure_agreement
from tests.media.registration.synthetic import gray_frames, known_transform, make_leak


def test_structure_agreement_separates_right_from_wrong(orig: np.ndarray) -> None:
    t, size, tone = known_transform("perspective")
    leak = make_leak(orig, t, size, tone)
    reg = register(leak, orig)
    assert reg is not None
    assert structure_agreement(leak, orig, reg) > 0.8
    assert structure_agreement(leak, gray_frames(9)[0], reg) < MIN_AGREEMENT


def test_refine_time_picks_the_frame_the_leak_shows() -> None:
    seq = gray_frames(11, n=5, start=10)  # consecutive frames: the camera shakes between them
    t, size, _ = known_transform("scale")
    leak = make_leak(seq[2], t, size)
    reg = register(leak, seq[2])
    assert reg is not None
    best, errors = refine_time(leak, seq, reg)
    assert best == 2
    assert errors[2] < min(errors[1], errors[3])

"""The redacted copy's sound: muted or bleeped (a 1 kHz tone) over ranges, and cut."""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import av
import numpy as np
from numpy.typing import NDArray

from custodes.media.redaction.ranges import Range
from custodes.media.render import Mux

BLEEP_HZ = 1000.0
BLEEP_AMPLITUDE = 0.25  # -12 dBFS


def _mask(times: NDArray[np.float64], ranges: Sequence[Range]) -> NDArray[np.bool_]:
    m = np.zeros(times.shape, bool)
    for s, e in ranges:
        m |= (times >= s) & (times < e)
    return m


def audio_chunk(
    mux: Mux,
    aout: Any,
    rf: Any,
    t: float,
    pts: int,
    sr: int,
    layout: str,
    mutes: list[Range],
    bleep: bool,
    cuts: list[Range],
) -> tuple[int, float]:
    """Mute, bleep and cut one resampled chunk starting at source time ``t``; encode it."""
    samples = np.asarray(rf.to_ndarray(), np.float32)
    n = samples.shape[1]
    end_t = t + n / sr
    if mutes or cuts:
        times = t + np.arange(n, dtype=np.float64) / sr
        if mutes:
            m = _mask(times, mutes)
            if m.any():
                samples = samples.copy()
                if bleep:
                    tone = BLEEP_AMPLITUDE * np.sin(2 * math.pi * BLEEP_HZ * times[m])
                    samples[:, m] = tone.astype(np.float32)
                else:
                    samples[:, m] = 0.0
        if cuts:
            keep = ~_mask(times, cuts)
            if not keep.all():
                samples = samples[:, keep]
    if samples.shape[1]:
        af = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples), format="fltp", layout=layout)
        af.sample_rate = sr
        af.pts = pts
        af.time_base = Fraction(1, sr)
        mux(aout.encode(af))
        pts += samples.shape[1]
    return pts, end_t

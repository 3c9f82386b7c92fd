"""custodes.media.redaction.audio: muted or bleeped only in the range."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from custodes.media.redaction import RedactionPlan, apply_redaction
from custodes.media.synth import SAMPLE_RATE
from tests.media.redaction.clip import Clip, decode_audio


def test_mute_and_bleep_change_audio_only_in_the_range(
    clip: Clip, plan: RedactionPlan, tmp_path: Path
) -> None:
    orig = decode_audio(clip.path)
    sr = SAMPLE_RATE

    def rms(a: np.ndarray, s: float, e: float) -> float:
        return float(np.sqrt(np.mean(a[int(s * sr) : int(e * sr)] ** 2)))

    muted = decode_audio(
        apply_redaction(clip.path, tmp_path / "m.mp4", plan, mute=[(0.6, 1.0)])
        and tmp_path / "m.mp4"
    )
    assert rms(muted, 0.65, 0.95) < 0.01 * rms(orig, 0.65, 0.95)
    for s, e in ((0.1, 0.5), (1.1, 1.9)):
        assert 0.8 < rms(muted, s, e) / rms(orig, s, e) < 1.25
    res = apply_redaction(clip.path, tmp_path / "b.mp4", plan, mute=[(0.6, 1.0)], bleep=True)
    assert res.audio_ranges == 1
    bleeped = decode_audio(tmp_path / "b.mp4")
    window = bleeped[int(0.65 * sr) : int(0.95 * sr)]
    spectrum = np.abs(np.fft.rfft(window * np.hanning(len(window))))
    peak = float(np.fft.rfftfreq(len(window), 1 / sr)[int(np.argmax(spectrum))])
    assert abs(peak - 1000) < 10
    assert rms(bleeped, 0.65, 0.95) == pytest.approx(0.25 / math.sqrt(2), rel=0.15)
    for s, e in ((0.1, 0.5), (1.1, 1.9)):
        assert 0.8 < rms(bleeped, s, e) / rms(orig, s, e) < 1.25

"""custodes.media.registration.tone: tone curves fitted, looked up and inverted."""

from __future__ import annotations

import numpy as np

from custodes.media.registration import ToneMap, apply_inverse, fit_tone
from tests.media.registration.synthetic import W, gamma_curve


def test_fit_tone_recovers_a_gamma_curve(orig: np.ndarray) -> None:
    leak = gamma_curve(orig.astype(np.float64)).astype(np.float32)
    valid = np.ones(orig.shape, bool)
    tone = fit_tone(leak, orig, valid)
    levels = np.arange(256)
    expected = gamma_curve(levels.astype(np.float64))
    present = (np.bincount(orig.ravel(), minlength=256) >= 20) & (expected < 250)
    assert np.abs(tone.lut[present] - expected[present]).max() < 1.5
    assert np.all(np.diff(tone.lut) > 0)
    # The inverse undoes it over the well-populated levels, short of the clipped top.
    back = apply_inverse(tone, leak)
    inside = (orig >= 20) & (orig <= 200)
    assert np.abs(back[inside] - orig[inside]).max() < 1.5


def test_fit_tone_ignores_an_overlay(orig: np.ndarray) -> None:
    leak = orig.astype(np.float32) * 0.8 + 20
    leak[:, : W // 4] = 250  # a white card over the left quarter
    tone = fit_tone(leak, orig, np.ones(orig.shape, bool))
    v = np.array([60, 100, 140], np.float32)
    assert np.abs(tone.apply(v) - (0.8 * v + 20)).max() < 2.0


def test_tone_map_identity_and_round_trip() -> None:
    ident = ToneMap.identity()
    x = np.linspace(0, 255, 1001, dtype=np.float32)
    assert np.allclose(ident.apply(x), x, atol=1e-4)
    assert np.allclose(ident.inverse(x), x, atol=1e-4)
    curve = ToneMap((np.arange(256) * 0.7 + 30).astype(np.float32))
    y = np.linspace(31, 200, 500, dtype=np.float32)
    assert np.allclose(curve.apply(curve.inverse(y)), y, atol=0.01)
    assert curve.clipped(np.array([25.0, 100.0, 250.0])).tolist() == [True, False, True]


def test_table_lookup_interpolates_and_clamps() -> None:
    lut = np.sort(np.random.default_rng(1).uniform(0, 255, 256)).astype(np.float32)
    tone = ToneMap(lut)
    x = np.linspace(-20.0, 280.0, 5001).astype(np.float32)
    want = np.interp(np.clip(x, 0.0, 255.0 - 0.001), np.arange(256.0), lut.astype(np.float64))
    np.testing.assert_allclose(tone.apply(x), want, rtol=0, atol=1e-3)
    assert np.array_equal(tone.apply(np.arange(256, dtype=np.uint8)), tone.lut)
    gamma = ToneMap(gamma_curve(np.arange(256.0)).astype(np.float32))
    levels = np.arange(10.0, 200.0, 0.37, dtype=np.float32)
    np.testing.assert_allclose(gamma.inverse(gamma.apply(levels)), levels, atol=0.02)

"""custodes.media.register: known geometric and tonal transforms must be undone.

Every case builds a leak from a synthetic bodycam frame with a transform we choose (so
the true homography is known), adds sensor noise and a JPEG round trip, and checks that
the recovered map puts leak pixels within a pixel of where they came from and that the
residual on an unmarked copy is noise around zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import islice

import cv2
import numpy as np
import pytest

from custodes.media import register as reg_mod
from custodes.media.register import (
    MIN_AGREEMENT,
    Registration,
    RegistrationTracker,
    ToneMap,
    apply_inverse,
    fit_tone,
    refine_time,
    register,
    residual_details,
    residual_frame,
    structure_agreement,
    warp_to_original,
)
from custodes.media.synth import frames

W, H = 320, 180


def _gray(seed: int, n: int = 1, start: int = 3) -> list[np.ndarray]:
    rgbs = islice(frames(seconds=1.0, width=W, height=H, seed=seed), start, start + n)
    return [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in rgbs]


@pytest.fixture(scope="module")
def orig() -> np.ndarray:
    return _gray(3)[0]


def _gamma(x: np.ndarray) -> np.ndarray:
    return np.clip(255 * (x / 255.0) ** 0.7 * 1.1 + 8, 0, 255)


def _make(
    orig: np.ndarray,
    t: np.ndarray,
    size: tuple[int, int],
    tone: Callable[[np.ndarray], np.ndarray] | None = None,
    *,
    seed: int = 0,
    pattern: np.ndarray | None = None,
) -> np.ndarray:
    """leak = jpeg(noise(tone(warp(orig + pattern, t)))); ``t`` maps original -> leak."""
    src = orig.astype(np.float32)
    if pattern is not None:
        src = src + pattern
    leak = cv2.warpPerspective(src, t, size, flags=cv2.INTER_LINEAR, borderValue=0)
    if tone is not None:
        leak = tone(leak)
    rng = np.random.default_rng(seed)
    leak = np.clip(leak + rng.normal(0, 1.0, leak.shape), 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", leak, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return np.asarray(cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE), np.uint8)


def _case(name: str) -> tuple[np.ndarray, tuple[int, int], Callable[..., np.ndarray] | None]:
    """(original -> leak homography, leak size, tone) of a named transform."""
    if name == "scale":
        return np.diag([0.6, 0.6, 1.0]), (int(W * 0.6), int(H * 0.6)), None
    if name == "upscale":
        return np.diag([1.7, 1.7, 1.0]), (int(W * 1.7), int(H * 1.7)), None
    if name == "crop":  # 60 % of the area, off centre, scaled back up
        f = math.sqrt(0.6)
        x0, y0 = 0.15 * W, 0.1 * H
        return np.array([[1 / f, 0, -x0 / f], [0, 1 / f, -y0 / f], [0, 0, 1]]), (W, H), None
    if name == "letterbox":
        lh = int(W * 3 / 4)
        return np.array([[1.0, 0, 0], [0, 1, (lh - H) / 2], [0, 0, 1]]), (W, lh), None
    if name == "mirror":
        return np.array([[-1.0, 0, W - 1], [0, 1, 0], [0, 0, 1]]), (W, H), None
    if name == "perspective":
        src = np.array([[0, 0], [W, 0], [W, H], [0, H]], np.float32)
        dst = src + np.array([[9, -5], [-12, 7], [6, 10], [-8, -6]], np.float32)
        return cv2.getPerspectiveTransform(src, dst).astype(np.float64), (W, H), None
    if name == "rotate":
        m = np.vstack([cv2.getRotationMatrix2D((W / 2, H / 2), 7, 0.9), [0, 0, 1]])
        return m, (W, H), None
    if name == "gamma":
        return np.eye(3), (W, H), _gamma
    raise AssertionError(name)


CASES = ["scale", "upscale", "crop", "letterbox", "mirror", "perspective", "rotate", "gamma"]


def _point_error(reg: Registration, t: np.ndarray, size: tuple[int, int]) -> float:
    """Largest distance between where ``reg`` and the truth send leak pixels that come
    from inside the original."""
    ys, xs = np.mgrid[0 : size[1] : 5, 0 : size[0] : 5]
    pts = np.c_[xs.ravel(), ys.ravel()].astype(np.float64)
    truth = np.c_[pts, np.ones(len(pts))] @ np.linalg.inv(t).T
    truth = truth[:, :2] / truth[:, 2:]
    inside = (truth[:, 0] >= 0) & (truth[:, 0] < W) & (truth[:, 1] >= 0) & (truth[:, 1] < H)
    return float(np.linalg.norm(reg.map_points(pts) - truth, axis=1)[inside].max())


@pytest.mark.parametrize("name", CASES)
def test_register_recovers_known_transform(orig: np.ndarray, name: str) -> None:
    t, size, tone = _case(name)
    leak = _make(orig, t, size, tone)
    reg = register(leak, orig)
    assert reg is not None
    assert reg.mirrored == (name == "mirror")
    assert reg.inliers >= 12
    assert _point_error(reg, t, size) < 1.0


@pytest.mark.parametrize("name", ["crop", "mirror", "perspective", "gamma"])
def test_residual_of_unmarked_copy_is_noise(orig: np.ndarray, name: str) -> None:
    t, size, tone = _case(name)
    leak = _make(orig, t, size, tone)
    reg = register(leak, orig)
    assert reg is not None
    residual, weight = residual_frame(leak, orig, reg)
    assert residual.shape == weight.shape == orig.shape
    assert residual.dtype == weight.dtype == np.float32
    assert float(weight.min()) >= 0.0
    assert float(weight.max()) <= 1.0
    used = weight > 0
    assert used.mean() > 0.4  # a 60 % crop still leaves most of its area usable
    mean = float((residual * weight).sum() / weight.sum())
    rms = math.sqrt(float((residual**2 * weight).sum() / weight.sum()))
    assert abs(mean) < 0.4
    assert rms < 3.0  # noise sigma 1 and JPEG q90, after interpolation


def test_weight_is_zero_outside_the_field_of_view(orig: np.ndarray) -> None:
    t, size, _ = _case("crop")
    leak = _make(orig, t, size)
    reg = register(leak, orig)
    assert reg is not None
    _, weight = residual_frame(leak, orig, reg)
    _, valid = warp_to_original(leak, reg, orig.shape)
    assert not np.any(weight[~valid])
    # The crop keeps x in [48, 296), y in [18, 157) of the original.
    assert not weight[:, :40].any() and not weight[:10].any()
    assert weight[40:140, 80:260].mean() > 0.5


def test_low_frequency_mark_survives_the_round_trip(orig: np.ndarray) -> None:
    """A smooth +-2 level pattern added before scaling and re-toning comes back."""
    rng = np.random.default_rng(7)
    coarse = rng.choice([-1.0, 1.0], size=(9, 16)).astype(np.float32)
    pattern = 2.0 * cv2.resize(coarse, (W, H), interpolation=cv2.INTER_CUBIC)
    t = np.array([[0.8, 0, 4.0], [0, 0.8, 3.0], [0, 0, 1]])
    size = (int(W * 0.85), int(H * 0.85))
    leak = _make(orig, t, size, _gamma, pattern=pattern, seed=3)
    reg = register(leak, orig)
    assert reg is not None
    residual, weight = residual_frame(leak, orig, reg)
    used = weight > 0.3
    smooth = cv2.GaussianBlur(residual * (weight > 0), (0, 0), 4.0)
    norm = cv2.GaussianBlur((weight > 0).astype(np.float32), (0, 0), 4.0)
    low = smooth / np.maximum(norm, 1e-3)
    corr = np.corrcoef(low[used], pattern[used])[0, 1]
    assert corr > 0.8


def test_banner_and_logo_get_no_weight(orig: np.ndarray) -> None:
    leak = orig.copy()
    leak[int(H * 0.75) :] = 25  # a dark banner across the bottom quarter
    cv2.putText(leak, "BREAKING NEWS 042", (8, H - 14), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 255, 2)
    leak[6:30, W - 60 : W - 6] = 235  # a logo
    leak = _make(leak, np.eye(3), (W, H))
    reg = register(leak, orig)
    assert reg is not None
    _, weight = residual_frame(leak, orig, reg)
    banner = weight[int(H * 0.75) + 3 :, 4:-4]
    assert (banner == 0).mean() > 0.95
    assert (weight[8:28, W - 58 : W - 8] == 0).all()
    assert weight[20 : int(H * 0.6), 20:200].mean() > 0.5


def test_unrelated_and_blank_frames_do_not_register(orig: np.ndarray) -> None:
    # Same generator, other seeds: the same overlay text, lane markings, buildings.
    for seed in (2, 4, 5):
        other = _gray(seed)[0]
        assert register(other, orig) is None
    assert register(np.full((H, W), 128, np.uint8), orig) is None


def test_structure_agreement_separates_right_from_wrong(orig: np.ndarray) -> None:
    t, size, tone = _case("perspective")
    leak = _make(orig, t, size, tone)
    reg = register(leak, orig)
    assert reg is not None
    assert structure_agreement(leak, orig, reg) > 0.8
    assert structure_agreement(leak, _gray(9)[0], reg) < MIN_AGREEMENT


def test_fit_tone_recovers_a_gamma_curve(orig: np.ndarray) -> None:
    leak = _gamma(orig.astype(np.float64)).astype(np.float32)
    valid = np.ones(orig.shape, bool)
    tone = fit_tone(leak, orig, valid)
    levels = np.arange(256)
    expected = _gamma(levels.astype(np.float64))
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


def test_refine_time_picks_the_frame_the_leak_shows() -> None:
    seq = _gray(11, n=5, start=10)  # consecutive frames: the camera shakes between them
    t, size, _ = _case("scale")
    leak = _make(seq[2], t, size)
    reg = register(leak, seq[2])
    assert reg is not None
    best, errors = refine_time(leak, seq, reg)
    assert best == 2
    assert errors[2] < min(errors[1], errors[3])


def test_residual_details_estimates_the_leak_blur(orig: np.ndarray) -> None:
    blurred = cv2.GaussianBlur(orig, (0, 0), 1.5)
    leak = _make(blurred, np.eye(3), (W, H))
    reg = register(leak, orig)
    assert reg is not None
    found = residual_details(leak, orig, reg)
    assert 1.0 < found.blur < 2.0
    sharp = residual_details(leak, orig, reg, blur=0.0)
    assert found.sigma < 0.7 * sharp.sigma


def test_tracker_keeps_a_steady_geometry() -> None:
    seq = _gray(12, n=8, start=5)
    t, size, _ = _case("crop")
    tracker = RegistrationTracker()
    regs = []
    for i, frame in enumerate(seq):
        leak = _make(frame, t, size, seed=i)
        reg = tracker.update(leak, frame)
        assert reg is not None
        assert _point_error(reg, t, size) < 1.0
        regs.append(reg)
    assert tracker.restarts == 1
    # Still geometry: the homography is reused rather than re-estimated each frame.
    assert tracker.moves <= 2


def test_tracker_follows_a_moving_view() -> None:
    seq = _gray(13, n=8, start=5)
    tracker = RegistrationTracker()
    for i, frame in enumerate(seq):
        dx = 1.5 * i  # the phone drifts 1.5 px a frame
        t = np.array([[0.9, 0.0, 10 + dx], [0.0, 0.9, 8.0], [0, 0, 1]])
        leak = _make(frame, t, (W, H), seed=i)
        reg = tracker.update(leak, frame)
        assert reg is not None
        assert _point_error(reg, t, (W, H)) < 1.0
    assert tracker.restarts == 1


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
        got = reg_mod._valid_mask(g, leak, out, rim)
        want = _valid_reference(g, leak, out, rim)
        assert got.shape == want.shape and got.dtype == np.bool_
        assert int((got != want).sum()) <= 2, trial


def test_table_lookup_interpolates_and_clamps() -> None:
    lut = np.sort(np.random.default_rng(1).uniform(0, 255, 256)).astype(np.float32)
    tone = ToneMap(lut)
    x = np.linspace(-20.0, 280.0, 5001).astype(np.float32)
    want = np.interp(np.clip(x, 0.0, 255.0 - 0.001), np.arange(256.0), lut.astype(np.float64))
    np.testing.assert_allclose(tone.apply(x), want, rtol=0, atol=1e-3)
    assert np.array_equal(tone.apply(np.arange(256, dtype=np.uint8)), tone.lut)
    gamma = ToneMap(_gamma(np.arange(256.0)).astype(np.float32))
    levels = np.arange(10.0, 200.0, 0.37, dtype=np.float32)
    np.testing.assert_allclose(gamma.inverse(gamma.apply(levels)), levels, atol=0.02)


def test_single_threaded_blas_nests_and_restores() -> None:
    controls = reg_mod._openblas_controls()
    before = [get() for _, get in controls]
    with reg_mod.single_threaded_blas():
        assert all(get() == 1 for _, get in controls)
        with reg_mod.single_threaded_blas():
            assert all(get() == 1 for _, get in controls)
        assert all(get() == 1 for _, get in controls)
    assert [get() for _, get in controls] == before
    with pytest.raises(RuntimeError), reg_mod.single_threaded_blas():
        raise RuntimeError("inside")
    assert [get() for _, get in controls] == before

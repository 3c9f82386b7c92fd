"""custodes.media.registration.residual: the residual of an unmarked copy is noise around
zero, a mark survives, and what the leak does not show gets no weight."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from custodes.media.registration import register, residual_details, residual_frame, warp_to_original
from tests.media.registration.synthetic import H, W, gamma_curve, known_transform, make_leak


@pytest.mark.parametrize("name", ["crop", "mirror", "perspective", "gamma"])
def test_residual_of_unmarked_copy_is_noise(orig: np.ndarray, name: str) -> None:
    t, size, tone = known_transform(name)
    leak = make_leak(orig, t, size, tone)
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
    t, size, _ = known_transform("crop")
    leak = make_leak(orig, t, size)
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
    leak = make_leak(orig, t, size, gamma_curve, pattern=pattern, seed=3)
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
    leak = make_leak(leak, np.eye(3), (W, H))
    reg = register(leak, orig)
    assert reg is not None
    _, weight = residual_frame(leak, orig, reg)
    banner = weight[int(H * 0.75) + 3 :, 4:-4]
    assert (banner == 0).mean() > 0.95
    assert (weight[8:28, W - 58 : W - 8] == 0).all()
    assert weight[20 : int(H * 0.6), 20:200].mean() > 0.5


def test_residual_details_estimates_the_leak_blur(orig: np.ndarray) -> None:
    blurred = cv2.GaussianBlur(orig, (0, 0), 1.5)
    leak = make_leak(blurred, np.eye(3), (W, H))
    reg = register(leak, orig)
    assert reg is not None
    found = residual_details(leak, orig, reg)
    assert 1.0 < found.blur < 2.0
    sharp = residual_details(leak, orig, reg, blur=0.0)
    assert found.sigma < 0.7 * sharp.sigma

"""custodes.media.fingerprint: per-frame temporal features, their storage and decoding."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from custodes.core.errors import InvalidInput, NotFound
from custodes.media.fingerprint import (
    FEATURES,
    Fingerprint,
    fingerprint_frames,
    fingerprint_video,
)
from custodes.media.synth import write_bodycam_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fingerprint")
    return write_bodycam_clip(
        root / "clip.mp4", seconds=4.0, width=320, height=180, fps=30, seed=21, audio=False
    )


def _texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (h // 8 + 2, w // 8 + 2)).astype(np.float32)
    return cv2.resize(coarse, (w + 16, h + 16), interpolation=cv2.INTER_CUBIC)


def _panning(n: int, dx: float, dy: float, *, mirror: bool = False) -> list[np.ndarray]:
    """Frames of a texture moving by (dx, dy) pixels a frame (a panning camera)."""
    big = _texture(360, 640)
    out = []
    for i in range(n):
        m = np.array([[1, 0, 8 + dx * i], [0, 1, 8 + dy * i]], np.float32)
        f = cv2.warpAffine(big, m, (640, 360), flags=cv2.INTER_LINEAR)
        f = np.clip(f, 0, 255).astype(np.uint8)
        out.append(np.ascontiguousarray(f[:, ::-1]) if mirror else f)
    return out


def test_fingerprint_of_a_clip(clip: Path) -> None:
    fp = fingerprint_video(clip)
    assert len(fp) == 120
    assert fp.fps == pytest.approx(30.0)
    assert (fp.width, fp.height) == (320, 180)
    assert fp.times[0] == pytest.approx(0.0)
    assert np.all(np.diff(fp.times) > 0)
    assert fp.duration_s == pytest.approx(4.0, abs=1e-6)
    assert fp.feats.shape == (120, len(FEATURES))
    assert np.all(fp.feats[0] == 0)  # the first frame has no predecessor
    assert np.all(np.isfinite(fp.feats))
    # The synthetic camera shakes: the motion channels are alive.
    assert fp.column("vx")[1:].std() > 0.05
    assert fp.column("vy")[1:].std() > 0.05


def test_motion_channels_measure_known_motion() -> None:
    n = 12
    right = fingerprint_frames(_panning(n, 3.0, 0.0), fps=30)
    down = fingerprint_frames(_panning(n, 0.0, 2.0), fps=30)
    # warpAffine moves the content right (and down) by (dx, dy) a frame: positive.
    vx = right.column("vx")[1:]
    assert np.all(vx > 0)
    # 3 px a frame at 640 px is about 3 * (thumbnail width / 640) thumbnail pixels.
    tw = np.sqrt(96 * 54 * 640 / 360)
    assert np.median(vx) == pytest.approx(3.0 * tw / 640, rel=0.3)
    assert np.abs(vx - np.median(vx)).max() < 0.1 * np.median(vx)  # steady
    assert np.abs(right.column("vy")[1:]).max() < 0.1 * np.median(vx)
    assert np.all(down.column("vy")[1:] > 0)
    # A mirror flips the horizontal motion and keeps the vertical.
    mirrored = fingerprint_frames(_panning(n, 3.0, 2.0, mirror=True), fps=30)
    plain = fingerprint_frames(_panning(n, 3.0, 2.0), fps=30)
    assert np.allclose(mirrored.column("vx"), -plain.column("vx"), atol=0.02)
    assert np.allclose(mirrored.column("vy"), plain.column("vy"), atol=0.02)


def test_mean_luma_channel_follows_brightness() -> None:
    frames = [np.full((90, 160), 50 + 10 * i, np.uint8) for i in range(5)]
    fp = fingerprint_frames(frames, fps=25)
    assert np.allclose(fp.column("dm")[1:], 10.0, atol=0.01)
    assert np.allclose(fp.times, np.arange(5) / 25)


def test_round_trip_through_bytes(clip: Path) -> None:
    fp = fingerprint_video(clip)
    data = fp.to_bytes()
    assert len(data) < 1500 + 10 * len(fp)  # float16 features, compressed times
    back = Fingerprint.from_bytes(data)
    assert back.fps == fp.fps
    assert (back.width, back.height) == (fp.width, fp.height)
    assert np.abs(back.times - fp.times).max() < 1e-6
    assert np.allclose(back.feats, fp.feats, rtol=2e-3, atol=1e-4)


def test_from_bytes_refuses_foreign_data(clip: Path) -> None:
    with pytest.raises(InvalidInput):
        Fingerprint.from_bytes(b"not a fingerprint")
    fp = fingerprint_video(clip, max_seconds=1.0)
    old = Fingerprint(fp.fps, fp.times, fp.feats, fp.width, fp.height, version=0)
    with pytest.raises(InvalidInput, match="format 0"):
        Fingerprint.from_bytes(old.to_bytes())


def test_max_seconds_and_progress(clip: Path) -> None:
    seen: list[int] = []
    fp = fingerprint_video(clip, max_seconds=1.5, progress=seen.append)
    assert len(fp) == 45
    assert sum(seen) == 45


def test_errors_are_ours(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        fingerprint_video(tmp_path / "missing.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 1000)
    with pytest.raises(InvalidInput):
        fingerprint_video(junk)


def test_mismatched_arrays_are_refused() -> None:
    with pytest.raises(InvalidInput):
        Fingerprint(30.0, np.zeros(3), np.zeros((4, len(FEATURES)), np.float32))

"""custodes.media.synth: seeded bodycam-like frames, audio, and the clips written from them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice, pairwise
from pathlib import Path

import av
import numpy as np
import pytest

from custodes.media.synth import (
    DEFAULT_START,
    bodycam_audio,
    frames,
    overlay_text,
    write_bodycam_clip,
)

from .conftest import START


def _frames(n: int, **kwargs: object) -> list[np.ndarray]:
    args: dict[str, object] = {"seconds": 2.0, "width": 160, "height": 90}
    args.update(kwargs)
    return list(islice(frames(**args), n))  # type: ignore[arg-type]


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def test_frames_shape_count_and_type() -> None:
    out = list(frames(seconds=0.5, width=96, height=64, fps=20))
    assert len(out) == 10
    assert all(f.shape == (64, 96, 3) and f.dtype == np.uint8 for f in out)


def test_frames_are_deterministic_from_the_seed() -> None:
    a, b, c = _frames(5, seed=11), _frames(5, seed=11), _frames(5, seed=12)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])


def test_scene_moves_and_shakes() -> None:
    seq = _frames(30, seed=3)
    # Every frame differs from the one before (shake, moving objects, sensor noise)...
    diffs = [np.abs(x.astype(int) - y.astype(int)).mean() for x, y in pairwise(seq)]
    assert min(diffs) > 0.5
    # ...and the picture is textured, not flat.
    assert _luma(seq[0]).std() > 20


def test_night_is_darker() -> None:
    day, night = _frames(1, seed=2)[0], _frames(1, seed=2, night=True)[0]
    assert _luma(night).mean() < 0.6 * _luma(day).mean()


def test_overlay_text() -> None:
    assert overlay_text(DEFAULT_START) == "AXON BODY 3 X81234567  2026-03-14T21:04:05Z"
    at = datetime(2026, 1, 2, 3, 4, 5, 900_000, tzinfo=UTC)
    assert overlay_text(at, "X1") == "AXON BODY 3 X1  2026-01-02T03:04:05Z"


def test_overlay_is_burned_in_and_ticks() -> None:
    seq = list(frames(seconds=1.2, width=640, height=360, fps=10, seed=4))
    # The glyphs' cores are pure white, whatever the scene behind them does.
    cores = [(f[:24] == 255).all(axis=2) for f in seq]
    assert min(int(c.sum()) for c in cores) > 50
    assert all(np.array_equal(cores[0], c) for c in cores[1:10])  # 21:04:05 ...
    assert not np.array_equal(cores[9], cores[10])  # ... then 21:04:06


def test_bad_sizes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="even"):
        write_bodycam_clip(tmp_path / "odd.mp4", width=321, height=180, seconds=0.2)
    with pytest.raises(ValueError, match="too small"):
        next(frames(width=1, height=1))


def test_audio_shape_level_and_seed() -> None:
    mono = bodycam_audio(1.5, seed=1)
    assert mono.shape == (1, 72_000) and mono.dtype == np.float32
    assert np.abs(mono).max() == pytest.approx(0.5, rel=1e-3)
    assert np.array_equal(mono, bodycam_audio(1.5, seed=1))
    assert not np.array_equal(mono, bodycam_audio(1.5, seed=2))
    stereo = bodycam_audio(1.0, channels=2)
    assert stereo.shape == (2, 48_000)
    assert not np.array_equal(stereo[0], stereo[1])
    # An engine hum: the low band (< 300 Hz) carries real energy.
    spectrum = np.abs(np.fft.rfft(mono[0])) ** 2
    freqs = np.fft.rfftfreq(mono.shape[1], 1 / 48_000)
    assert spectrum[(freqs > 30) & (freqs < 300)].sum() > 0.2 * spectrum.sum()


def test_written_clip_streams_and_metadata(good_mp4: Path) -> None:
    with av.open(str(good_mp4)) as c:
        video, audio = c.streams.video[0], c.streams.audio[0]
        assert video.codec_context.name == "h264"
        assert video.codec_context.pix_fmt == "yuv420p"
        assert (video.width, video.height, video.frames) == (320, 180, 90)
        assert video.average_rate == 30
        assert (audio.codec_context.name, audio.sample_rate, audio.channels) == ("aac", 48000, 1)
        assert c.metadata["creation_time"].startswith(f"{START:%Y-%m-%dT%H:%M:%S}")
        keyframes = [p.pts for p in c.demux(video) if p.size and p.is_keyframe]
    assert len(keyframes) == 3  # one a second


def test_written_frames_match_the_generator(good_mp4: Path) -> None:
    with av.open(str(good_mp4)) as c:
        decoded = [f.to_ndarray(format="rgb24") for f in islice(c.decode(video=0), 3)]
    made = list(islice(frames(seconds=3.0, width=320, height=180, seed=1, start_time=START), 3))
    for got, want in zip(decoded, made, strict=True):
        mse = np.mean((got.astype(float) - want.astype(float)) ** 2)
        assert 10 * np.log10(255**2 / mse) > 28  # PSNR: the same picture, lossy-coded


def test_start_time_runs_the_overlay_clock(tmp_path: Path) -> None:
    start = datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC)
    clip = write_bodycam_clip(
        tmp_path / "c.mkv", seconds=0.4, width=128, height=72, fps=10, start_time=start
    )
    with av.open(str(clip)) as c:
        assert c.metadata["creation_time"].startswith("2025-12-31T23:59:59")
    later = overlay_text(start + timedelta(seconds=1))
    assert later.endswith("2026-01-01T00:00:00Z")

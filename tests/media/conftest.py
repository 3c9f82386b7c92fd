"""Generated media for the media tests: small seeded clips, written once per session."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from custodes.media.synth import SAMPLE_RATE, bodycam_audio, write_bodycam_clip

START = datetime(2026, 3, 14, 21, 4, 5, tzinfo=UTC)


def small_clip(path: Path, **kwargs: object) -> Path:
    """A 3 s, 320x180, 30 fps clip (overridable), with mono audio by default."""
    args: dict[str, object] = {"seconds": 3.0, "width": 320, "height": 180, "fps": 30}
    args.update(kwargs)
    return write_bodycam_clip(path, **args)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def good_mp4(media_dir: Path) -> Path:
    """3 s, 320x180, 30 fps, H.264 + mono AAC, index (moov) at the end, creation_time set."""
    return small_clip(media_dir / "good.mp4", start_time=START, seed=1)


@pytest.fixture(scope="session")
def faststart_mp4(media_dir: Path) -> Path:
    """As ``good_mp4`` with the moov index before the media data."""
    return small_clip(media_dir / "faststart.mp4", start_time=START, seed=1, faststart=True)


@pytest.fixture(scope="session")
def good_mkv(media_dir: Path) -> Path:
    return small_clip(media_dir / "good.mkv", start_time=START, seed=2)


@pytest.fixture(scope="session")
def stereo_mov(media_dir: Path) -> Path:
    return write_bodycam_clip(
        media_dir / "stereo.mov",
        seconds=2.0,
        width=256,
        height=144,
        fps=25,
        channels=2,
        seed=3,
    )


@pytest.fixture(scope="session")
def silent_mp4(media_dir: Path) -> Path:
    return write_bodycam_clip(
        media_dir / "silent.mp4", audio=False, seconds=2.0, width=320, height=180, seed=4
    )


@pytest.fixture(scope="session")
def long_mp4(media_dir: Path) -> Path:
    """8 s at 160x90: 240 frames, a keyframe a second; for counting what probe decodes."""
    return write_bodycam_clip(
        media_dir / "long.mp4", seconds=8.0, width=160, height=90, audio=False, seed=5
    )


@pytest.fixture(scope="session")
def audio_only_m4a(media_dir: Path) -> Path:
    path = media_dir / "voice.m4a"
    samples = bodycam_audio(2.0, seed=6)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=SAMPLE_RATE)
        stream.layout = "mono"
        for start in range(0, samples.shape[1], 1024):
            chunk = np.ascontiguousarray(samples[:, start : start + 1024])
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            frame.sample_rate = SAMPLE_RATE
            frame.pts = start
            frame.time_base = Fraction(1, SAMPLE_RATE)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path

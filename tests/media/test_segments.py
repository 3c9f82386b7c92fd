"""Segment-parallel export: segments planned at keyframes, rendered apart, joined by
copying packets; the joined copy holds the frames, the sound and the mark of a
single-process render of the same export."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest

from custodes.core import watermark as wm
from custodes.core.errors import InvalidInput
from custodes.media.fastmark import FastEmbedder
from custodes.media.render import EncodeSettings, render
from custodes.media.segments import Segment, join_parts, plan_segments, render_part
from custodes.media.synth import write_bodycam_clip

W, H, FPS = 320, 180, 15
PARAMS = wm.MarkParams()
SECRET = b"segments-vault-secret-0123456789"
SETTINGS = EncodeSettings(preset="veryfast")


@dataclass
class Decoded:
    times: list[float]
    luma: list[np.ndarray]
    audio: list[bytes]


def decode(path: Path) -> Decoded:
    with av.open(str(path)) as c:
        frames = [(float(f.time), f.to_ndarray(format="gray")) for f in c.decode(video=0)]
    with av.open(str(path)) as c:
        audio = [bytes(p) for p in c.demux(audio=0) if p.size] if c.streams.audio else []
    return Decoded([t for t, _ in frames], [y for _, y in frames], audio)


@dataclass
class Renders:
    src: Path
    source: Decoded
    single: Decoded
    joined: Decoded
    plan: list[Segment]
    key: bytes

    def __post_init__(self) -> None:
        self.masks = [wm.perceptual_mask(y) for y in self.source.luma]


@pytest.fixture(scope="module")
def renders(tmp_path_factory: pytest.TempPathFactory) -> Renders:
    work = tmp_path_factory.mktemp("segments")
    src = write_bodycam_clip(work / "src.mp4", seconds=3.0, width=W, height=H, fps=FPS, seed=4)
    key = wm.derive_key(SECRET, "EX-SEGMENTS")
    text = "COPY FOR tester  EX-SEGMENTS"
    render(
        src,
        work / "single.mp4",
        start_s=0.0,
        end_s=3.0,
        marker=FastEmbedder(key, W, H, PARAMS),
        visible_text=text,
        settings=SETTINGS,
    )
    plan = plan_segments(src, 0.0, 3.0, 1.0)
    parts = []
    for seg in reversed(plan):  # in any order, each with its own marker (another process)
        part = work / f"part-{seg.index}.mp4"
        render_part(
            src,
            part,
            seg,
            height=None,
            marker=FastEmbedder(key, W, H, PARAMS),
            visible_text=text,
            settings=SETTINGS,
        )
        parts.append(part)
    joined = work / "joined.mp4"
    result = join_parts(sorted(parts), src, joined, start_s=0.0, end_s=3.0, settings=SETTINGS)
    assert result.frames == 3 * FPS and result.has_audio
    return Renders(src, decode(src), decode(work / "single.mp4"), decode(joined), plan, key)


def test_plan_cuts_at_source_keyframes(renders: Renders) -> None:
    # The clip has a keyframe each second: three segments of one second.
    assert [(s.start_s, s.end_s) for s in renders.plan] == [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)]
    assert plan_segments(renders.src, 0.0, 3.0, None) == [Segment(0, 0.0, 3.0)]
    assert plan_segments(renders.src, 0.5, 2.5, 5.0) == [Segment(0, 0.5, 2.5)]
    # A cut waits for the next keyframe; a short tail joins the last segment.
    assert [(s.start_s, s.end_s) for s in plan_segments(renders.src, 0.2, 2.9, 1.5)] == [
        (0.2, 2.0),
        (2.0, 2.9),
    ]
    with pytest.raises(InvalidInput):
        plan_segments(renders.src, 0.0, 3.0, -1.0)


def test_joined_copy_has_the_frames_and_sound_of_a_single_render(renders: Renders) -> None:
    single, joined = renders.single, renders.joined
    assert len(joined.times) == len(single.times) == 3 * FPS
    assert joined.times == pytest.approx(single.times, abs=1e-6)
    assert joined.audio == single.audio and len(joined.audio) > 50  # the same AAC packets
    psnr = [
        10 * np.log10(255.0**2 / max(1e-9, float(np.mean((a.astype(float) - b) ** 2))))
        for a, b in zip(single.luma, joined.luma, strict=True)
    ]
    assert min(psnr) > 33.0  # encoding noise only: each segment starts a new encoder


def _score(renders: Renders, copy: Decoded, key: bytes) -> float:
    acc = wm.Accumulator(W, H, PARAMS)
    src = renders.source
    for y, y0, t, m in zip(copy.luma, src.luma, src.times, renders.masks, strict=True):
        acc.add(y.astype(np.float32) - y0.astype(np.float32), t, m)
    return acc.score(key)


def test_trace_attributes_the_joined_copy_as_the_single_render(renders: Renders) -> None:
    single = _score(renders, renders.single, renders.key)
    joined = _score(renders, renders.joined, renders.key)
    other = _score(renders, renders.joined, wm.derive_key(SECRET, "EX-OTHER"))
    assert single > 8.0 and joined > 8.0
    assert abs(joined - single) < 0.15 * single
    assert abs(other) < 4.5


def test_join_refuses_parts_encoded_differently(renders: Renders, tmp_path: Path) -> None:
    a = tmp_path / "a.mp4"
    b = tmp_path / "b.mp4"
    render_part(renders.src, a, Segment(0, 0.0, 1.0), height=None, marker=None, visible_text=None)
    render_part(renders.src, b, Segment(1, 1.0, 2.0), height=90, marker=None, visible_text=None)
    with pytest.raises(InvalidInput, match="not encoded as the first"):
        join_parts([a, b], renders.src, tmp_path / "j.mp4", start_s=0.0, end_s=2.0)
    assert not (tmp_path / "j.mp4").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


class Recorder:
    """A marker that changes nothing and notes the source time of every frame it marks."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def mark_luma(self, y: np.ndarray, t: float) -> np.ndarray:
        self.times.append(round(t, 6))
        return y


@pytest.mark.parametrize("audio", [True, False], ids=["with-sound", "silent"])
def test_a_trimmed_scaled_export_in_segments_marks_the_same_frames(
    tmp_path: Path, audio: bool
) -> None:
    src = write_bodycam_clip(
        tmp_path / "src.mp4", seconds=3.0, width=W, height=H, fps=FPS, seed=5, audio=audio
    )
    fast = EncodeSettings(preset="ultrafast")
    whole = Recorder()
    render(
        src, tmp_path / "single.mp4", start_s=0.4, end_s=2.7, height=90, marker=whole, settings=fast
    )
    plan = plan_segments(src, 0.4, 2.7, 0.5)
    assert [s.start_s for s in plan] == [0.4, 1.0, 2.0]  # keyframes at 1 s and 2 s
    parts = Recorder()
    files = []
    for seg in plan:
        files.append(tmp_path / f"{seg.index}.mp4")
        render_part(src, files[-1], seg, height=90, marker=parts, visible_text=None, settings=fast)
    joined = join_parts(files, src, tmp_path / "joined.mp4", start_s=0.4, end_s=2.7, settings=fast)
    assert parts.times == whole.times and len(whole.times) > 30
    assert (joined.width, joined.height, joined.has_audio) == (160, 90, audio)
    single, copy = decode(tmp_path / "single.mp4"), decode(tmp_path / "joined.mp4")
    assert copy.times == pytest.approx(single.times, abs=1e-6)
    assert copy.audio == single.audio

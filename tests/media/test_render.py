"""custodes.media.render: trimmed, scaled, marked exports (marking on a worker thread)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from custodes.core import watermark as wm
from custodes.media.render import decode_packet, mark_frame, render

FPS = 30


def _luma(path: Path) -> tuple[list[np.ndarray], list[float]]:
    """The Y planes (as coded: what the mark changes) and their times."""
    planes: list[np.ndarray] = []
    times: list[float] = []
    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            planes.append(frame.to_ndarray(format="yuv420p")[: frame.height].copy())
            times.append(float(frame.time))
    return planes, times


class Recorder:
    """A marker that notes the times it is asked to mark."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def mark_luma(self, y: np.ndarray, t: float) -> np.ndarray:
        self.times.append(t)
        return y


def test_frames_are_marked_and_encoded_in_order(good_mp4: Path, tmp_path: Path) -> None:
    """Frames go through the worker a few at a time: what comes out must still be each
    frame's own marking, in order (alternate frames made dark and bright)."""

    def alternate(y: np.ndarray, t: float) -> np.ndarray:
        return np.full_like(y, 50 if round(t * FPS) % 2 == 0 else 200)

    marker = Recorder()
    ticks: list[int] = []
    dest = tmp_path / "alt.mp4"
    result = render(good_mp4, dest, marker=marker, hooks=(alternate,), progress=ticks.append)
    planes, times = _luma(dest)
    assert result.frames == len(planes) == sum(ticks) == 90
    assert marker.times == sorted(marker.times) and len(marker.times) == 90
    _, source_times = _luma(good_mp4)
    assert marker.times == pytest.approx(source_times)
    means = [float(p.mean()) for p in planes]
    assert all(abs(m - (50 if i % 2 == 0 else 200)) < 4 for i, m in enumerate(means))


def test_a_failing_marker_fails_the_render_and_leaves_nothing(
    good_mp4: Path, tmp_path: Path
) -> None:
    class Broken:
        calls = 0

        def mark_luma(self, y: np.ndarray, t: float) -> np.ndarray:
            self.calls += 1
            if self.calls == 20:
                raise ValueError("marker broke")
            return y

    dest = tmp_path / "broken.mp4"
    with pytest.raises(ValueError, match="marker broke"):
        render(good_mp4, dest, marker=Broken())
    assert list(tmp_path.iterdir()) == []


def test_a_marked_export_names_its_key(good_mp4: Path, tmp_path: Path) -> None:
    """render + Embedder end to end: the export's residual against the original scores
    the export's key far above the detection threshold, and another key near zero."""
    originals, times = _luma(good_mp4)
    h, w = originals[0].shape
    params = wm.MarkParams()
    key = wm.derive_key(b"render-test-vault-secret-0123456", "export-1")
    dest = tmp_path / "marked.mp4"
    render(good_mp4, dest, marker=wm.Embedder(key, w, h, params))
    marked, marked_times = _luma(dest)
    assert marked_times == pytest.approx(times)
    acc = wm.Accumulator(w, h, params)
    for y, y0, t in zip(marked, originals, times, strict=True):
        acc.add(y.astype(np.float32) - y0.astype(np.float32), t, wm.perceptual_mask(y0))
    other = wm.derive_key(b"render-test-vault-secret-0123456", "export-2")
    right, wrong = acc.scores([key, other])
    assert right > 12.0
    assert abs(wrong) < 4.5


MEGAMIND = Path("/usr/share/doc/opencv-doc/examples/data/Megamind.avi")


@pytest.mark.skipif(not MEGAMIND.exists(), reason="Debian's opencv-doc is not installed")
def test_a_damaged_audio_packet_in_real_footage_is_left_out(tmp_path: Path) -> None:
    # Megamind.avi (opencv-doc) has one AC-3 packet FFmpeg refuses to decode.
    result = render(MEGAMIND, tmp_path / "out.mp4")
    assert result.frames == 270 and result.has_audio
    assert result.audio_packets_skipped == 1


def test_only_audio_packets_may_be_left_out() -> None:
    class Packet:
        def __init__(self, kind: str) -> None:
            self.stream = type("S", (), {"type": kind})()

        def decode(self) -> list[object]:
            raise av.error.InvalidDataError(1094995529, "Invalid data")

    skipped = [0]
    assert decode_packet(Packet("audio"), skipped) == [] and skipped == [1]
    with pytest.raises(av.error.InvalidDataError):
        decode_packet(Packet("video"), skipped)


def test_a_failure_on_the_encoding_side_stops_the_decoder_and_leaves_nothing(
    good_mp4: Path, tmp_path: Path
) -> None:
    """Ctrl-C (or any error) while frames are encoded: the decoding thread, which may be
    waiting on a full queue, leaves; no thread is left behind, no file."""
    import threading

    seen = 0

    def interrupt(n: int) -> None:
        nonlocal seen
        seen += n
        if seen == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render(good_mp4, tmp_path / "out.mp4", marker=Recorder(), progress=interrupt)
    assert list(tmp_path.iterdir()) == []
    assert not [t for t in threading.enumerate() if t.name == "custodes-decode"]


def test_marking_in_place_leaves_the_decoders_reference_pictures_alone(good_mp4: Path) -> None:
    """A decoded frame shares its memory with the decoder's reference pictures: marking
    it in place must not change the frames decoded after it. (Without frame threads the
    decoder has not run ahead, so a change to frame 0 would show in frame 1.)"""

    def blacken(y: np.ndarray, t: float) -> np.ndarray:
        return np.zeros_like(y)

    def decode(mark_first: bool) -> list[float]:
        means: list[float] = []
        with av.open(str(good_mp4)) as c:
            stream = c.streams.video[0]
            stream.codec_context.thread_type = "SLICE"
            for i, frame in enumerate(c.decode(stream)):
                if i == 0 and mark_first:
                    mark_frame(frame, 0.0, None, (blacken,), None)
                    assert float(frame.to_ndarray(format="yuv420p")[: frame.height].mean()) == 0
                means.append(float(frame.to_ndarray(format="yuv420p")[: frame.height].mean()))
                if i == 5:
                    break
        return means

    clean, marked = decode(False), decode(True)
    assert marked[0] == 0 and marked[1:] == clean[1:]


def test_plain_and_marked_frames_keep_the_source_picture(good_mp4: Path, tmp_path: Path) -> None:
    """Decoded frames go to the encoder as they are (plain) or marked in place: the
    decoder's own reference pictures must not be changed by the marking, or the frames
    after them would decode wrong. A hook that brightens the luma by 10 everywhere must
    leave each output frame about 10 above the source, never more (a reference picture
    marked twice would add 10 again to every frame decoded from it). The tolerance is
    x264's: at this size its frame threads do not code a frame the same way twice."""

    def brighten(y: np.ndarray, t: float) -> np.ndarray:
        return np.minimum(y.astype(np.int16) + 10, 255).astype(np.uint8)

    render(good_mp4, tmp_path / "plain.mp4")
    render(good_mp4, tmp_path / "bright.mp4", hooks=(brighten,))
    plain, _ = _luma(tmp_path / "plain.mp4")
    bright, _ = _luma(tmp_path / "bright.mp4")
    source, _ = _luma(good_mp4)
    assert len(plain) == len(bright) == len(source)
    for p, b, s in zip(plain, bright, source, strict=True):
        assert abs(float(p.astype(np.float32).mean() - s.mean())) < 3.0
        diff = float(b.astype(np.float32).mean() - np.minimum(s.astype(np.int16) + 10, 255).mean())
        assert abs(diff) < 3.0

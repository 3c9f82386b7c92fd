"""HLS segments: fixed boundaries that partition a range's frames exactly as an export's
trim does, each frame marked at its source time, so joined segments carry the marks of a
contiguous export."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from custodes.media.hls import SegmentPlan, playlist, render_segment
from custodes.media.render import EncodeSettings, render


class Recorder:
    """A marker that changes nothing and notes the source time of every frame it marks."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def mark_luma(self, y: np.ndarray, t: float) -> np.ndarray:
        self.times.append(round(t, 6))
        return y


@pytest.mark.parametrize(("start", "end"), [(0.3, 1.7), (0.0, 2.0)])
def test_segments_mark_the_frames_of_a_contiguous_export(
    clips: dict[str, Path], tmp_path: Path, start: float, end: float
) -> None:
    src = clips["a"]  # 2 s at 15 fps
    whole = Recorder()
    render(src, tmp_path / "export.mp4", start_s=start, end_s=end, marker=whole)
    plan = SegmentPlan(start, end, 0.5)
    parts = Recorder()
    joined = tmp_path / "joined.ts"
    with joined.open("wb") as out:
        for n in range(plan.count):
            a, b = plan.bounds(n)
            dest = tmp_path / f"{n}.ts"
            render_segment(
                src,
                dest,
                start_s=a,
                end_s=b,
                height=None,
                marker=parts,
                visible_text="VIEWED BY tester",
                settings=EncodeSettings(preset="ultrafast"),
                last=n == plan.count - 1 and b >= 2.0,
            )
            out.write(dest.read_bytes())
    assert parts.times == whole.times and len(parts.times) > 10
    with av.open(str(joined)) as c:  # the joined segments read as one clean stream
        times = [float(f.time) for f in c.decode(video=0)]
    assert len(times) == len(whole.times)
    assert np.allclose(np.diff(times), 1 / 15, atol=1e-3)


def test_playlist_lists_every_segment_with_its_duration() -> None:
    text = playlist(SegmentPlan(0.0, 5.0, 2.0), lambda n: f"s/{n}.ts")
    lines = text.splitlines()
    assert lines[0] == "#EXTM3U" and "#EXT-X-TARGETDURATION:2" in lines
    assert [ln for ln in lines if ln.startswith("#EXTINF")] == [
        "#EXTINF:2.000,",
        "#EXTINF:2.000,",
        "#EXTINF:1.000,",
    ]
    assert lines[-1] == "#EXT-X-ENDLIST"

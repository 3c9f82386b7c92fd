"""Marked playback: HLS segments rendered on demand from an original (PyAV).

A viewing's stream is an HLS media playlist (RFC 8216) of MPEG-TS segments at fixed
times of the recording: segment ``n`` holds the frames whose source time lies in
``[start + n * length, start + (n + 1) * length)``, with the same rounding as an
export's trim (:func:`custodes.media.render.render`: a frame belongs to the portion
whose bounds, moved half a frame earlier, enclose its time). So the segments partition
the frames of the viewing's range exactly: joined end to end they hold the frames a
contiguous export of that range holds, each marked by the same marker at the same
*source* time (the invisible mark is keyed to source time, never to an output frame
index), and a trace of a recording of the joined stream scores exactly as it would a
contiguous export.

Each segment is self-contained: a new H.264 encoder starts it with a keyframe, and its
timestamps are those of the recording (``pts`` = source time plus a constant
:data:`PTS_OFFSET_S`, so a player joins the segments without gaps or overlaps; MPEG-TS
adds its constant muxing delay to all of them alike). Audio frames whose source time
lies in the segment are encoded with it (AAC), their timestamps also on that clock.

The original is only read; the segment is written to a temporary file and renamed into
place, so a cached segment is whole or absent.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

import av

from custodes.core.errors import CustodesError, InvalidInput
from custodes.media.render import (
    EncodeSettings,
    LumaMarker,
    add_audio_stream,
    add_video_stream,
    decode_packet,
    mark_frame,
    output_size,
)
from custodes.media.threads import single_threaded_blas

PTS_OFFSET_S = 10.0
"""Added to every timestamp of a segment: the recording's clock, moved later so that no
timestamp is ever negative (an AAC encoder's priming samples start before the first
frame, and a muxer would shift a segment that starts at 0 to make up for it, which would
break the segments' continuity). Players start the timeline at the first segment."""

Source = Path | BinaryIO
"""The original: a path, or a seekable binary stream of its bytes."""


@dataclass(frozen=True)
class SegmentPlan:
    """The fixed segment boundaries of a range of a recording."""

    start_s: float
    end_s: float
    length_s: float

    @property
    def count(self) -> int:
        n = int((self.end_s - self.start_s) // self.length_s)
        if self.start_s + n * self.length_s < self.end_s - 1e-9:
            n += 1
        return max(1, n)

    def bounds(self, n: int) -> tuple[float, float]:
        """Seconds of the recording that segment ``n`` covers."""
        if not 0 <= n < self.count:
            raise InvalidInput(f"no segment {n} (0 to {self.count - 1})", field="n")
        a = self.start_s + n * self.length_s
        return a, min(self.end_s, a + self.length_s)

    def segment_of(self, t: float) -> int:
        """The segment holding second ``t`` of the recording."""
        n = int((t - self.start_s) // self.length_s)
        return min(max(0, n), self.count - 1)


def playlist(plan: SegmentPlan, uri: Callable[[int], str]) -> str:
    """An HLS media playlist (VOD, every segment listed) of ``plan``'s segments."""
    target = max(1, round(plan.length_s + 0.499))
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        f"#EXT-X-TARGETDURATION:{target}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-INDEPENDENT-SEGMENTS",
    ]
    for n in range(plan.count):
        a, b = plan.bounds(n)
        lines += [f"#EXTINF:{b - a:.3f},", uri(n)]
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class SegmentResult:
    frames: int
    width: int
    height: int
    first_t: float | None
    """Source time of the segment's first frame (None: it holds none)."""


def render_segment(
    src: Source,
    dest: Path,
    *,
    start_s: float,
    end_s: float,
    height: int | None,
    marker: LumaMarker | None,
    visible_text: str | None,
    settings: EncodeSettings,
    last: bool = False,
) -> SegmentResult:
    """Write the frames of ``src`` in ``[start_s, end_s)`` (export rounding), marked,
    as one MPEG-TS segment at ``dest`` (atomically). ``last``: the segment ends the
    recording's readable part, so a frame at its very end is kept."""
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    try:
        with single_threaded_blas():
            result = _render_segment(
                src, tmp, start_s, end_s, height, marker, visible_text, settings, last
            )
        os.replace(tmp, dest)
        return result
    except av.error.FFmpegError as exc:
        raise InvalidInput(f"cannot render a segment of the recording: {exc}") from exc
    except OSError as exc:
        raise CustodesError(f"cannot write {dest}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def _render_segment(
    src: Source,
    tmp: Path,
    start_s: float,
    end_s: float,
    height: int | None,
    marker: LumaMarker | None,
    visible_text: str | None,
    settings: EncodeSettings,
    last: bool,
) -> SegmentResult:
    inp: Any = av.open(str(src) if isinstance(src, Path) else src)
    with inp:
        vin: Any = inp.streams.video[0]
        vin.codec_context.thread_type = "AUTO"
        ain: Any = inp.streams.audio[0] if inp.streams.audio else None
        rate = vin.average_rate or vin.guessed_rate or Fraction(30)
        fps = float(rate)
        half = 0.5 / fps
        w, h = output_size(vin.codec_context.width, vin.codec_context.height, height)
        # Each stream's first packet says its continuity counter starts anew, so that
        # segments joined end to end (``cat``) read as one clean transport stream.
        ts_options = {"mpegts_flags": "initial_discontinuity"}
        with av.open(str(tmp), "w", format="mpegts", options=ts_options) as out:
            vout = add_video_stream(out, settings, rate, w, h)
            vout.codec_context.time_base = Fraction(1) / rate
            aout, resampler = add_audio_stream(out, ain, settings)
            if start_s > 0:
                inp.seek(int(start_s / vin.time_base), stream=vin, backward=True)
            streams = [vin] + ([ain] if ain is not None else [])
            skipped = [0]
            marks = marker is not None or bool(visible_text)
            frames = 0
            first_t: float | None = None
            last_pts = -1
            audio_pts: int | None = None
            video_done = False
            audio_done = ain is None
            for packet in inp.demux(*streams):
                if video_done and audio_done:
                    break
                if packet.stream is vin and video_done:
                    continue
                if ain is not None and packet.stream is ain and audio_done:
                    continue
                frame: Any
                for frame in decode_packet(packet, skipped):
                    if frame.time is None:
                        continue
                    t = float(frame.time)
                    if isinstance(frame, av.AudioFrame):
                        if t < start_s - 1e-3:
                            continue
                        if t >= end_s - 1e-3 and not last:
                            audio_done = True
                            continue
                        for rf in resampler.resample(frame):
                            if audio_pts is None:
                                audio_pts = round((t + PTS_OFFSET_S) * rf.sample_rate)
                            rf.pts = audio_pts
                            rf.time_base = Fraction(1, rf.sample_rate)
                            audio_pts += rf.samples
                            out.mux(aout.encode(rf))
                        continue
                    if t < start_s - half:
                        continue
                    if t >= end_s - half and not last:
                        video_done = True
                        continue
                    if (frame.width, frame.height) != (w, h) or frame.format.name != "yuv420p":
                        frame = frame.reformat(
                            width=w, height=h, format="yuv420p", interpolation="AREA"
                        )
                    if marks:
                        mark_frame(frame, t, marker, (), visible_text)
                    pts = max(round((t + PTS_OFFSET_S) * fps), last_pts + 1)
                    last_pts = pts
                    frame.pts = pts
                    frame.time_base = Fraction(1) / rate
                    frame.pict_type = 0
                    out.mux(vout.encode(frame))
                    frames += 1
                    if first_t is None:
                        first_t = t
            out.mux(vout.encode(None))
            if aout is not None:
                out.mux(aout.encode(None))
    return SegmentResult(frames=frames, width=w, height=h, first_t=first_t)

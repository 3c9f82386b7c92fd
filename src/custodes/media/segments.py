"""Segment-parallel export: plan at keyframes, render each segment, join without re-encoding.

A long export is cut at keyframes of the *source* into segments
(:func:`plan_segments`), each rendered on its own (:func:`render_part`: the picture
only, trimmed, scaled and marked exactly as :func:`custodes.media.render.render` does,
by the same marker at the same *source* time, with the same visible line), possibly by
different processes or machines, and joined (:func:`join_parts`) into one MP4 by
copying the encoded video packets (no re-encoding: their timestamps are only shifted
by the frames before them) and encoding the sound once, from the source, as a
single-process render encodes it.

What is equal to a single-process render of the same export:

- the frames: the segments partition the export's range with the export's own trim
  rounding (a frame belongs to the portion whose bounds, moved half a frame earlier,
  enclose its time), so the joined copy holds the same source frames in the same order
  at the same output times, each marked before encoding exactly as the single render
  marks it (the mark is keyed to source time, never to an output frame index);
- the sound: the same AAC packets (encoded from the same source frames, in one pass);
- not the encoded video bytes: each segment starts a new H.264 encoder (an IDR frame
  at each seam, rate control starting afresh), so the decoded pictures differ from a
  single render's by encoding noise only (36 to 38 dB PSNR on the test clip at CRF 23),
  and a trace attributes the joined copy to the same export at about the same strength
  (31.1 for the single render, 30.2 for the joined copy, -1.2 for another export's key,
  ``tests/media/test_segments.py``).

A segment starts on a source keyframe, so its renderer decodes only its own GOPs; every
segment's stream has the same encoder settings (the join refuses parts whose codec
parameters differ).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from custodes.core.errors import CustodesError, InvalidInput
from custodes.media.render import (
    EncodeSettings,
    LumaMarker,
    RenderResult,
    decode_packet,
    render,
)


@dataclass(frozen=True)
class Segment:
    """Seconds of the source one segment covers: ``[start_s, end_s)`` (export rounding)."""

    index: int
    start_s: float
    end_s: float


def keyframe_times(src: Path) -> tuple[list[float], float]:
    """Source times of the video keyframes of ``src`` (demuxed, not decoded), and its
    frame rate."""
    with av.open(str(src)) as inp:
        vin: Any = inp.streams.video[0]
        rate = vin.average_rate or vin.guessed_rate or Fraction(30)
        times = [
            float(p.pts * p.time_base)
            for p in inp.demux(vin)
            if p.is_keyframe and p.pts is not None and p.size
        ]
    return sorted(times), float(rate)


def plan_segments(src: Path, start_s: float, end_s: float, length_s: float | None) -> list[Segment]:
    """Segments of about ``length_s`` seconds of ``[start_s, end_s)``, each but the first
    starting on a keyframe of ``src`` (the first keyframe at or after each multiple of
    ``length_s``). One segment when ``length_s`` is None or the range is not longer."""
    if length_s is None or end_s - start_s <= length_s:
        return [Segment(0, start_s, end_s)]
    if length_s <= 0:
        raise InvalidInput(f"segment length must be positive, got {length_s}", field="length_s")
    keys, fps = keyframe_times(src)
    half = 0.5 / fps
    cuts: list[float] = []
    target = start_s + length_s
    for k in keys:
        if k < target - half:
            continue
        if k >= end_s - length_s / 4:  # a tail shorter than a quarter joins the last
            break
        cuts.append(k)
        target = k + length_s
    bounds = [start_s, *cuts, end_s]
    return [Segment(i, a, b) for i, (a, b) in enumerate(itertools.pairwise(bounds))]


def render_part(
    src: Path,
    dest: Path,
    segment: Segment,
    *,
    height: int | None,
    marker: LumaMarker | None,
    visible_text: str | None,
    settings: EncodeSettings = EncodeSettings(),
    progress: Callable[[int], None] | None = None,
) -> RenderResult:
    """Render one segment's picture to ``dest`` (MP4, video only, atomically)."""
    return render(
        src,
        dest,
        start_s=segment.start_s,
        end_s=segment.end_s,
        height=height,
        marker=marker,
        visible_text=visible_text,
        settings=settings,
        progress=progress,
        audio=False,
    )


@dataclass(frozen=True)
class Joined:
    frames: int
    width: int
    height: int
    fps: float
    has_audio: bool
    audio_packets_skipped: int


def join_parts(
    parts: Sequence[Path],
    src: Path,
    dest: Path,
    *,
    start_s: float,
    end_s: float,
    settings: EncodeSettings = EncodeSettings(),
) -> Joined:
    """Join rendered segments (in order) into one MP4 at ``dest`` (atomically): their
    video packets copied, the source's sound in ``[start_s, end_s)`` encoded once."""
    if not parts:
        raise InvalidInput("no segments to join")
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    try:
        result = _join(parts, src, tmp, start_s, end_s, settings)
        os.replace(tmp, dest)
        return result
    except av.error.FFmpegError as exc:
        raise InvalidInput(f"cannot join the segments of {src.name}: {exc}") from exc
    except OSError as exc:
        raise CustodesError(f"cannot write {dest}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def _audio_packets(
    src: Path, aout: Any, start_s: float, end_s: float, skipped: list[int]
) -> Iterator[Any]:
    """The encoded sound of ``[start_s, end_s)``, as :func:`render` encodes it."""
    with av.open(str(src)) as inp:
        ain: Any = inp.streams.audio[0]
        layout = aout.layout.name
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=aout.rate)
        if start_s > 0:
            vin: Any = inp.streams.video[0]
            inp.seek(int(start_s / vin.time_base), stream=vin, backward=True)
        pts = 0
        for packet in inp.demux(ain):
            for frame in decode_packet(packet, skipped):
                t = float(frame.time) if frame.time is not None else start_s
                if t < start_s - 1e-3 or t >= end_s:
                    continue
                for rf in resampler.resample(frame):
                    rf.pts = pts
                    rf.time_base = Fraction(1, rf.sample_rate)
                    pts += rf.samples
                    yield from aout.encode(rf)
        yield from aout.encode(None)


def _join(
    parts: Sequence[Path],
    src: Path,
    tmp: Path,
    start_s: float,
    end_s: float,
    settings: EncodeSettings,
) -> Joined:
    with contextlib.ExitStack() as stack:
        inputs: list[Any] = [stack.enter_context(av.open(str(p))) for p in parts]
        streams: list[Any] = [c.streams.video[0] for c in inputs]
        first = streams[0]
        cc = first.codec_context
        for p, s in zip(parts, streams, strict=True):
            c = s.codec_context
            same = (c.name, c.width, c.height, c.pix_fmt, bytes(c.extradata or b"")) == (
                cc.name,
                cc.width,
                cc.height,
                cc.pix_fmt,
                bytes(cc.extradata or b""),
            )
            if not same or s.time_base != first.time_base:
                raise InvalidInput(f"segment {p.name} was not encoded as the first one was")
        rate: Fraction = first.average_rate or first.guessed_rate or Fraction(30)
        tb: Fraction = first.time_base
        per_frame = Fraction(1) / (rate * tb)
        with av.open(str(src)) as probe:
            ain: Any = probe.streams.audio[0] if probe.streams.audio else None
            sr = (ain.codec_context.sample_rate or 48_000) if ain is not None else 0
            channels = (ain.codec_context.channels or 1) if ain is not None else 0
        out = stack.enter_context(
            av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"})
        )
        vout = out.add_stream_from_template(first)
        skipped = [0]
        audio: Iterator[Any] = iter(())
        aout: Any = None
        if ain is not None:
            aout = out.add_stream(settings.audio_codec, rate=sr)
            aout.bit_rate = settings.audio_bitrate
            aout.layout = "stereo" if channels > 1 else "mono"
            audio = _audio_packets(src, aout, start_s, end_s, skipped)
        pending_audio: Any = None
        frames = 0
        for stream in streams:
            offset = round(frames * per_frame)
            count = 0
            for packet in inputs[streams.index(stream)].demux(stream):
                if packet.dts is None or not packet.size:
                    continue
                packet.pts += offset
                packet.dts += offset
                video_t = float(packet.dts * tb)
                # Interleave: the sound up to this picture first.
                while True:
                    if pending_audio is None:
                        pending_audio = next(audio, None)
                        if pending_audio is None:
                            break
                    if (
                        pending_audio.dts is not None
                        and float(pending_audio.dts * pending_audio.time_base) > video_t
                    ):
                        break
                    out.mux(pending_audio)
                    pending_audio = None
                packet.stream = vout
                out.mux(packet)
                count += 1
            frames += count
        if pending_audio is not None:
            out.mux(pending_audio)
        for packet in audio:
            out.mux(packet)
        width, height = cc.width, cc.height
    return Joined(
        frames=frames,
        width=width,
        height=height,
        fps=float(rate),
        has_audio=aout is not None,
        audio_packets_skipped=skipped[0],
    )

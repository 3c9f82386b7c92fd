"""Render a derivative of an original: trim, scale, mark, encode (PyAV).

The original is only read. The derivative is written to a temporary file beside the
destination and renamed into place when complete, so a failure or a kill leaves no
half-written copy under the destination name.

Frames stay in yuv420p from decoder to encoder (a source in another pixel format is
converted once, as it is decoded): the invisible mark changes the luma plane only. The
mark is keyed to the *source* time of each frame (seconds on the evidence's own
timeline), which is what the tracer recovers from a leaked clip.

Two threads share the work (:func:`encode_pipeline`, also used by redaction). A decoding
thread demuxes, decodes, trims, scales and marks each frame in place (in frame order)
and encodes the audio; the calling thread only encodes the video (x264 with its own
frame threads) and reports progress. A bounded queue of a few frames lies between them.
Decoded frames go to the encoder as they are, with no copy into numpy and back: an
unmarked frame untouched, a marked one after ``make_writable`` (its memory may be the
decoder's reference picture) with its luma changed in place. PyAV releases the GIL while
FFmpeg decodes, encodes and muxes, and the compiled mark
(:class:`~custodes.media.fastmark.FastEmbedder`, about 0.5 ms of CPU a 640x360 frame and
2.3-2.5 ms at 1280x720) runs in numba without it, so where a core is free the mark costs
little time (``bench/bench_export.py``). Packets from both threads are muxed under one
lock. An error on either side stops both, and the first error is raised; OpenBLAS runs
on one thread (:func:`~custodes.media.threads.single_threaded_blas`).
"""

from __future__ import annotations

import contextlib
import os
import queue
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import av
import cv2
import numpy as np

from custodes.core.errors import CustodesError, InvalidInput
from custodes.media.threads import single_threaded_blas

FrameHook = Callable[[np.ndarray, float], np.ndarray]
"""``hook(y_plane, source_time) -> y_plane``: changes a frame's luma in place or anew."""


class LumaMarker(Protocol):
    def mark_luma(self, y: np.ndarray, t: float) -> np.ndarray: ...


@dataclass(frozen=True)
class EncodeSettings:
    codec: str = "libx264"
    crf: int = 23
    preset: str = "veryfast"
    audio_codec: str = "aac"
    audio_bitrate: int = 128_000

    def to_dict(self) -> dict[str, Any]:
        return {
            "codec": self.codec,
            "crf": self.crf,
            "preset": self.preset,
            "pix_fmt": "yuv420p",
            "audio_codec": self.audio_codec,
            "audio_bitrate": self.audio_bitrate,
        }


@dataclass(frozen=True)
class RenderResult:
    frames: int
    width: int
    height: int
    fps: float
    start_s: float
    end_s: float
    has_audio: bool
    audio_packets_skipped: int = 0  # undecodable audio packets, left out (silence)
    segments: int = 1  # rendered apart and joined (custodes.media.segments)


def decode_packet(packet: Any, skipped: list[int]) -> list[Any]:
    """The frames of one demuxed packet. An audio packet the decoder refuses (a damaged
    AC-3 frame in a real camera file) is left out and counted in ``skipped[0]``: the
    picture matters more than one packet of sound. A damaged video packet still fails."""
    try:
        return list(packet.decode())
    except av.error.InvalidDataError:
        if packet.stream.type != "audio":
            raise
        skipped[0] += 1
        return []


def output_size(src_w: int, src_h: int, height: int | None) -> tuple[int, int]:
    """Frame size for a requested height (keeps the aspect ratio, even numbers)."""
    if height is None or height >= src_h:
        return src_w - src_w % 2, src_h - src_h % 2
    if height < 64:
        raise InvalidInput(f"requested height {height} is too small (minimum 64)")
    w = round(src_w * height / src_h)
    return w - w % 2, height - height % 2


def draw_visible_mark(y: np.ndarray, text: str) -> None:
    """Burn a legible line into the luma plane: a darkened band with white text."""
    h, w = y.shape
    scale = max(0.35, min(1.2, w / 1400))
    thick = max(1, round(scale * 2))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    band = th + base + 2 * thick + 6
    top = h - band - max(4, h // 60)
    y0, y1 = max(0, top), min(h, top + band)
    x1 = min(w, tw + 16)
    y[y0:y1, 0:x1] = (y[y0:y1, 0:x1] >> 1).astype(np.uint8)
    cv2.putText(
        y,
        text,
        (8, y1 - base - thick - 2),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        235,
        thick,
        cv2.LINE_AA,
    )


def add_video_stream(out: Any, settings: EncodeSettings, rate: Fraction, w: int, h: int) -> Any:
    """The H.264 output stream of an export or a redaction, set as ``settings`` say.

    Frame threads, as the ffmpeg command line uses: PyAV's default for an encoder
    (slice threads) makes x264 about 20 % slower at these sizes.
    """
    vout = out.add_stream(settings.codec, rate=rate)
    vout.width, vout.height, vout.pix_fmt = w, h, "yuv420p"
    vout.options = {"crf": str(settings.crf), "preset": settings.preset}
    vout.codec_context.thread_type = "FRAME"
    return vout


def add_audio_stream(out: Any, ain: Any, settings: EncodeSettings) -> tuple[Any, Any]:
    """The AAC output stream for the source's sound ``ain`` and the resampler that feeds
    it (planar float at the source's rate, stereo or mono as the source); ``(None, None)``
    when the source has no sound."""
    if ain is None:
        return None, None
    sr = ain.codec_context.sample_rate or 48_000
    aout = out.add_stream(settings.audio_codec, rate=sr)
    aout.bit_rate = settings.audio_bitrate
    layout = "stereo" if (ain.codec_context.channels or 1) > 1 else "mono"
    aout.layout = layout
    return aout, av.AudioResampler(format="fltp", layout=layout, rate=sr)


def render(
    src: Path,
    dest: Path,
    *,
    start_s: float = 0.0,
    end_s: float | None = None,
    height: int | None = None,
    marker: LumaMarker | None = None,
    visible_text: str | None = None,
    hooks: tuple[FrameHook, ...] = (),
    settings: EncodeSettings = EncodeSettings(),
    progress: Callable[[int], None] | None = None,
    audio: bool = True,
) -> RenderResult:
    """Write the derivative of ``src`` to ``dest`` (MP4, H.264/AAC). ``audio=False``:
    the picture only (a segment of a segment-parallel render, whose sound the join
    encodes once: :mod:`custodes.media.segments`)."""
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    try:
        with single_threaded_blas():
            result = _render(
                src,
                tmp,
                start_s,
                end_s,
                height,
                marker,
                visible_text,
                hooks,
                settings,
                progress,
                audio,
            )
        os.replace(tmp, dest)
        return result
    except av.error.FFmpegError as exc:
        raise InvalidInput(f"cannot render {src.name}: {exc}") from exc
    except OSError as exc:
        raise CustodesError(f"cannot write {dest}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)


_QUEUE = 8
"""Frames the decoding thread may have ready before it waits for the encoder."""

_END = object()
"""Put on the frame queue by the decoding thread when it has nothing more to give."""


class _Stopped(Exception):
    """The encoding side gave up (an error, Ctrl-C): the decoding thread leaves."""


def plane_view(frame: Any, index: int = 0) -> np.ndarray:
    """Plane ``index`` of a video frame (0: Y, 1: U, 2: V in yuv420p) as an array over
    the frame's own memory: writable once ``frame.make_writable()`` has been called."""
    plane = frame.planes[index]
    buf = np.frombuffer(plane, np.uint8)
    return np.lib.stride_tricks.as_strided(
        buf, shape=(plane.height, plane.width), strides=(plane.line_size, 1)
    )


def mark_frame(
    frame: Any,
    t: float,
    marker: LumaMarker | None,
    hooks: tuple[FrameHook, ...],
    visible_text: str | None,
) -> None:
    """Mark one decoded yuv420p frame in place (its luma only).

    ``make_writable`` first: a decoded frame shares its memory with the decoder's
    reference pictures, and marking those would corrupt the frames decoded after it.
    """
    frame.make_writable()
    view = plane_view(frame, 0)
    y = view if view.flags.c_contiguous else view.copy()
    if marker is not None:
        y[:] = marker.mark_luma(y, t)
    for hook in hooks:
        y[:] = hook(y, t)
    if visible_text:
        draw_visible_mark(y, visible_text)
    if y is not view:
        view[:] = y


Put = Callable[[Any, int], None]
"""``put(frame, ticks)``: hand a prepared video frame (or None) to the encoder, and
``ticks`` frames of progress."""
Mux = Callable[[Any], None]
"""``mux(packets)``: write packets to the output (under the pipeline's lock)."""


def encode_pipeline(
    out: Any,
    vout: Any,
    rate: Fraction,
    produce: Callable[[Put, Mux], None],
    progress: Callable[[int], None] | None = None,
) -> int:
    """Encode on this thread the video frames ``produce`` makes on a thread of its own.

    ``produce(put, mux)`` demuxes, decodes and prepares the frames in their order and
    hands each to ``put(frame, ticks)`` (``None`` for progress only); it may write other
    packets (its audio) with ``mux``. This thread numbers the frames, encodes them with
    ``vout``, writes the packets and reports progress. An error on either side (or
    Ctrl-C here) stops both, and the first error is raised. Returns the frames encoded;
    the caller then flushes the encoders.
    """
    muxing = threading.Lock()
    ready: queue.Queue[Any] = queue.Queue(_QUEUE)
    stop = threading.Event()
    failed: list[BaseException] = []

    def put(item: Any, ticks: int = 1) -> None:
        while True:
            if stop.is_set():
                raise _Stopped
            try:
                ready.put((item, ticks), timeout=0.1)
                return
            except queue.Full:
                continue

    def mux(packets: Any) -> None:
        with muxing:
            out.mux(packets)

    def work() -> None:
        try:
            produce(put, mux)
        except _Stopped:
            return
        except BaseException as exc:  # handed to the encoding thread
            failed.append(exc)
        with contextlib.suppress(_Stopped):
            put(_END, 0)

    frames = 0
    worker = threading.Thread(target=work, name="custodes-decode", daemon=True)
    worker.start()
    try:
        while True:
            try:
                vf, ticks = ready.get(timeout=0.5)
            except queue.Empty:
                if worker.is_alive():
                    continue
                raise CustodesError("the decoding thread ended unexpectedly") from None
            if vf is _END:
                break
            if vf is not None:
                vf.pts = frames
                vf.time_base = Fraction(1) / rate
                vf.pict_type = 0  # let x264 choose: a source keyframe need not be one
                mux(vout.encode(vf))
                frames += 1
            if progress is not None and ticks:
                progress(ticks)
    finally:
        stop.set()
        worker.join()
    if failed:
        raise failed[0]
    return frames


def _render(
    src: Path,
    tmp: Path,
    start_s: float,
    end_s: float | None,
    height: int | None,
    marker: LumaMarker | None,
    visible_text: str | None,
    hooks: tuple[FrameHook, ...],
    settings: EncodeSettings,
    progress: Callable[[int], None] | None,
    audio: bool = True,
) -> RenderResult:
    with av.open(str(src)) as inp:
        vin: Any = inp.streams.video[0]
        vin.codec_context.thread_type = "AUTO"
        ain: Any = inp.streams.audio[0] if inp.streams.audio and audio else None
        rate = vin.average_rate or vin.guessed_rate or Fraction(30)
        fps = float(rate)
        w, h = output_size(vin.codec_context.width, vin.codec_context.height, height)
        with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            vout = add_video_stream(out, settings, rate, w, h)
            aout, resampler = add_audio_stream(out, ain, settings)
            if start_s > 0:
                inp.seek(int(start_s / vin.time_base), stream=vin, backward=True)
            streams = [vin] + ([ain] if ain is not None else [])
            skipped = [0]
            marks = marker is not None or bool(hooks) or bool(visible_text)

            def produce(put: Put, mux: Mux) -> None:
                """Demux, decode, trim, scale and mark (in frame order); encode audio."""
                audio_pts = 0
                last_t = start_s
                done = False
                for packet in inp.demux(*streams):
                    if done and packet.stream is vin:
                        continue
                    frame: Any
                    for frame in decode_packet(packet, skipped):
                        t = float(frame.time) if frame.time is not None else last_t
                        if isinstance(frame, av.AudioFrame):
                            if aout is None or resampler is None or t < start_s - 1e-3:
                                continue
                            if end_s is not None and t >= end_s:
                                continue
                            for rf in resampler.resample(frame):
                                rf.pts = audio_pts
                                rf.time_base = Fraction(1, rf.sample_rate)
                                audio_pts += rf.samples
                                mux(aout.encode(rf))
                            continue
                        if t < start_s - 0.5 / fps:
                            continue
                        if end_s is not None and t >= end_s - 0.5 / fps:
                            done = True
                            continue
                        last_t = t
                        if (frame.width, frame.height) != (w, h) or (
                            frame.format.name != "yuv420p"
                        ):
                            frame = frame.reformat(
                                width=w, height=h, format="yuv420p", interpolation="AREA"
                            )
                        if marks:
                            mark_frame(frame, t, marker, hooks, visible_text)
                        put(frame, 1)

            frames = encode_pipeline(out, vout, rate, produce, progress)
            out.mux(vout.encode(None))
            if aout is not None:
                out.mux(aout.encode(None))
    if frames == 0:
        raise InvalidInput(f"no frames between {start_s:.2f} s and {end_s} s")
    return RenderResult(
        frames=frames,
        width=w,
        height=h,
        fps=fps,
        start_s=start_s,
        end_s=start_s + frames / fps if end_s is None else min(end_s, start_s + frames / fps),
        has_audio=aout is not None,
        audio_packets_skipped=skipped[0],
    )

"""Rendering the redacted derivative of an original (:func:`apply_redaction`).

MP4, H.264 yuv420p and AAC: the boxes of the plan hidden (:mod:`.pixels`), audio
silenced or bleeped over the ``mute`` ranges (:mod:`.audio`), ``cut`` ranges removed
from both streams, so the copy is shorter. Times are seconds on the original's
timeline. As in :mod:`custodes.media.render`, the copy is written to a temporary file
and renamed into place, and the original is only read.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av

from custodes.core.errors import CustodesError, InvalidInput
from custodes.media.redaction.audio import audio_chunk
from custodes.media.redaction.pixels import redact_yuv
from custodes.media.redaction.plan import RedactionPlan
from custodes.media.redaction.ranges import Range, in_ranges, ranges_ok
from custodes.media.render import (
    EncodeSettings,
    Mux,
    Put,
    add_audio_stream,
    add_video_stream,
    decode_packet,
    encode_pipeline,
    plane_view,
)

__all__ = ["RedactionResult", "apply_redaction"]

Progress = Callable[[int], None]


@dataclass(frozen=True)
class RedactionResult:
    frames: int  # frames written
    frames_redacted: int  # frames written with at least one box redacted
    boxes_redacted: int
    frames_cut: int
    width: int
    height: int
    fps: float
    duration_s: float
    has_audio: bool
    style: str
    audio_ranges: int  # mute or bleep ranges applied
    mute: tuple[Range, ...] = ()
    bleep: bool = False
    cut: tuple[Range, ...] = ()


def apply_redaction(
    src: Path,
    dest: Path,
    plan: RedactionPlan,
    *,
    style: Literal["blur", "box"] = "blur",
    mute: Sequence[Range] = (),
    bleep: bool = False,
    cut: Sequence[Range] = (),
    settings: EncodeSettings = EncodeSettings(),
    progress: Progress | None = None,
) -> RedactionResult:
    """Render the redacted derivative of ``src`` to ``dest`` (MP4, H.264/AAC).

    ``mute`` ranges are silenced, or with ``bleep`` replaced by a 1 kHz tone; ``cut``
    ranges are removed. Ranges are ``(start, end)`` seconds on ``src``'s timeline.
    """
    if style not in ("blur", "box"):
        raise InvalidInput(f"unknown redaction style {style!r} (blur or box)")
    mutes = ranges_ok(mute, "mute")
    cuts = ranges_ok(cut, "cut")
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    try:
        result = _apply(src, tmp, plan, style, mutes, bleep, cuts, settings, progress)
        os.replace(tmp, dest)
        return result
    except av.error.FFmpegError as exc:
        raise InvalidInput(f"cannot redact {src.name}: {exc}") from exc
    except OSError as exc:
        raise CustodesError(f"cannot write {dest}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def _apply(
    src: Path,
    tmp: Path,
    plan: RedactionPlan,
    style: str,
    mutes: list[Range],
    bleep: bool,
    cuts: list[Range],
    settings: EncodeSettings,
    progress: Progress | None,
) -> RedactionResult:
    with av.open(str(src)) as inp:
        if not inp.streams.video:
            raise InvalidInput(f"{src.name} has no video stream")
        vin: Any = inp.streams.video[0]
        vin.codec_context.thread_type = "AUTO"
        ain: Any = inp.streams.audio[0] if inp.streams.audio else None
        w, h = vin.codec_context.width, vin.codec_context.height
        if (w, h) != (plan.width, plan.height):
            raise InvalidInput(
                f"the redaction plan is for a {plan.width}x{plan.height} video,"
                f" {src.name} is {w}x{h}"
            )
        if w % 2 or h % 2:
            raise InvalidInput(f"{src.name} is {w}x{h}: odd sizes are not supported")
        rate = vin.average_rate or vin.guessed_rate or Fraction(30)
        fps = float(rate)
        with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            vout = add_video_stream(out, settings, rate, w, h)
            aout, resampler = add_audio_stream(out, ain, settings)
            sr = aout.rate if aout is not None else 48_000
            layout = aout.layout.name if aout is not None else "mono"
            streams = [vin] + ([ain] if ain is not None else [])
            index = redacted = n_boxes = cut_frames = 0
            skipped = [0]

            def produce(put: Put, mux: Mux) -> None:
                """Demux, decode, cut and redact (in frame order); mute and encode audio."""
                nonlocal index, redacted, n_boxes, cut_frames
                audio_pts = 0
                audio_t: float | None = None
                ticks = 0  # source frames (cut ones too) not yet counted in the progress
                for packet in inp.demux(*streams):
                    frame: Any
                    for frame in decode_packet(packet, skipped):
                        if isinstance(frame, av.AudioFrame):
                            if aout is None:
                                continue
                            for rf in resampler.resample(frame):
                                if audio_t is None:
                                    audio_t = float(frame.time) if frame.time is not None else 0.0
                                audio_pts, audio_t = audio_chunk(
                                    mux,
                                    aout,
                                    rf,
                                    audio_t,
                                    audio_pts,
                                    sr,
                                    layout,
                                    mutes,
                                    bleep,
                                    cuts,
                                )
                            continue
                        t = float(frame.time) if frame.time is not None else plan.t0 + index / fps
                        boxes = plan.boxes.get(index, [])
                        index += 1
                        ticks += 1
                        if in_ranges(t, cuts):
                            cut_frames += 1
                            continue
                        if frame.format.name != "yuv420p":
                            frame = frame.reformat(format="yuv420p")
                        if boxes:
                            frame.make_writable()  # the decoder's reference pictures stay
                            applied = redact_yuv(
                                plane_view(frame, 0),
                                plane_view(frame, 1),
                                plane_view(frame, 2),
                                boxes,
                                style,
                            )
                            n_boxes += applied
                            redacted += applied > 0
                        put(frame, ticks)
                        ticks = 0
                if aout is not None and resampler is not None:
                    for rf in resampler.resample(None):
                        if audio_t is None:
                            break
                        audio_pts, audio_t = audio_chunk(
                            mux, aout, rf, audio_t, audio_pts, sr, layout, mutes, bleep, cuts
                        )
                if ticks:
                    put(None, ticks)

            frames = encode_pipeline(out, vout, rate, produce, progress)
            out.mux(vout.encode(None))
            if aout is not None:
                out.mux(aout.encode(None))
    if index != plan.frames:
        raise InvalidInput(
            f"the redaction plan is for a video of {plan.frames} frames, {src.name} has {index}"
        )
    if frames == 0:
        raise InvalidInput("the cut ranges remove every frame")
    return RedactionResult(
        frames=frames,
        frames_redacted=redacted,
        boxes_redacted=n_boxes,
        frames_cut=cut_frames,
        width=w,
        height=h,
        fps=fps,
        duration_s=frames / fps,
        has_audio=aout is not None,
        style=style,
        audio_ranges=len(mutes),
        mute=tuple(mutes),
        bleep=bleep,
        cut=tuple(cuts),
    )

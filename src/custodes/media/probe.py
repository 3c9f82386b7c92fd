"""Probe a file before ingest: is it whole, decodable video, and what is it?

:func:`probe` answers with a :class:`custodes.core.media.MediaInfo` or refuses with
:class:`custodes.core.errors.InvalidInput` and a one-line reason that starts with the
file's name. It refuses files that are missing or empty; text, images and other
non-media files; audio-only files; playlists and other formats that are not a video
container; frame sizes that are unknown, under :data:`MIN_DIM` or over ``max_dim``;
truncated files; and data the demuxer or the decoder finds corrupt.

How it stays cheap on multi-gigabyte files. One pass reads every packet (demuxing,
not decoding: a few tenths of a second a gigabyte from the page cache) and checks:

- timestamps, and the demuxer's own complaints (a Matroska element that overruns its
  parent, "file ended prematurely", a packet cut short by the end of the file);
- for H.264/HEVC stored with length prefixes (MP4, MOV, MKV), that the NAL unit
  lengths tile each packet exactly, which random bytes almost never leave intact.

It decodes only a few dozen frames: the first, up to three keyframes spread over the
file, and the last group of pictures (at most :data:`TAIL_DECODE_LIMIT` frames or
:data:`TAIL_DECODE_BYTES` of compressed data, whichever comes first), with FFmpeg's
error detection set to fail rather than conceal. Finally the media must reach
the duration and the frame count the container declares (an MP4 cut after a front
``moov`` index still declares its whole length).

What it cannot promise: damage confined to the inside of a picture that is not
decoded (a few bytes changed in one P-frame) passes. Decoding everything is the only
way to know; that belongs in a background verification, not in ingest. And a format
that declares no length (MPEG-TS, made to be cut anywhere) cut between two packets
is just a shorter video.

Damaged recordings. By default any of the faults above is a refusal. With
``damaged=True`` (what ingest asks: evidence is kept as it is) a fault met while
demuxing, after a first frame decoded, ends the scan instead: the packets before it are
the readable part, its last group of pictures must decode, and a file shorter than it
declares is noted rather than refused; :attr:`MediaInfo.damage` says what was found.
Damage the decoder finds in a sampled keyframe or in the last group of pictures is
still refused: past it nothing says where the readable part ends.

While a probe runs FFmpeg's log goes to a private capture, so nothing reaches stderr;
its error lines become the detail in the refusal messages.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import av
import av.logging
from av.error import FFmpegError

from custodes.core.errors import InvalidInput
from custodes.core.media import MediaInfo

__all__ = [
    "MIN_DIM",
    "TAIL_DECODE_BYTES",
    "TAIL_DECODE_LIMIT",
    "ProbeReport",
    "probe",
    "probe_report",
]

MIN_DIM = 16
"""Smallest accepted frame side, in pixels."""
TAIL_DECODE_LIMIT = 60
"""Most frames decoded from the last keyframe on (bodycams put one every 1-2 s)."""
TAIL_DECODE_BYTES = 8 << 20
"""Most compressed bytes decoded there: bounds the cost on very high bitrates."""

_SAMPLED_KEYFRAMES = (0.25, 0.5, 0.75)  # where, as fractions of the declared duration
_HEAD_PACKET_LIMIT = 300  # packets fed from the first keyframe before giving up
_ERR_DETECT = "crccheck+bitstream+buffer+explode"  # fail on damage, never conceal it
_DECODE_THREADS = max(1, min(4, os.cpu_count() or 1))

# The demuxers FFmpeg may use at all (its format_whitelist). Only video containers are
# accepted; audio and image demuxers are listed so that such files get a precise
# refusal rather than "not allowed". Anything else, notably playlists (HLS, concat)
# that would open other files or URLs, is refused before it reads past its header.
_VIDEO_CONTAINERS = ("mov", "matroska", "avi", "mpegts", "mpeg", "asf", "flv", "mxf", "nut")
_AUDIO_DEMUXERS = ("mp3", "wav", "w64", "aac", "flac", "ogg", "aiff", "amr", "caf", "ac3")
_IMAGE_DEMUXERS = (
    "image2",
    "png_pipe",
    "jpeg_pipe",
    "bmp_pipe",
    "tiff_pipe",
    "webp_pipe",
    "gif_pipe",
    "jpegxl_pipe",
    "gif",
    "apng",
)
_OPEN_OPTIONS = {
    "protocol_whitelist": "file",
    "format_whitelist": ",".join(_VIDEO_CONTAINERS + _AUDIO_DEMUXERS + _IMAGE_DEMUXERS),
}
# Codec -> offset in its configuration record (avcC, hvcC) of the NAL length size.
_LENGTH_PREFIXED = {"h264": 4, "hevc": 21}

_Log = list[tuple[int, str, str]]
_log_lock = threading.Lock()
_log_users = 0
_saved_log: tuple[int | None, bool] = (None, True)


def _near(at: float | None) -> str:
    """Where in the file a fault lies, for a message; a timestamp before the start
    (edit lists, B-frame delay) is reported as the start."""
    return f" near {max(0.0, at):.2f} s" if at is not None and math.isfinite(at) else ""


@dataclass(frozen=True)
class ProbeReport:
    """A probe's answer and what it cost."""

    info: MediaInfo
    packets_read: int
    bytes_read: int
    frames_decoded: int
    elapsed_s: float


def probe(
    path: Path, *, max_dim: int = 8192, name: str | None = None, damaged: bool = False
) -> MediaInfo:
    """Describe the video at ``path``, or raise :class:`InvalidInput` saying why not.

    ``name`` is what messages call the file (default: ``path.name``); give the
    user's file name when probing a staged copy with a private name.

    With ``damaged``, a recording that is truncated or damaged part-way is described
    rather than refused: what the demuxer reads whole up to the first fault (at least
    one decoded frame, and a last group of pictures that decodes) is the readable part
    (``duration_s``, ``frame_count``), and ``MediaInfo.damage`` says what was found. A
    file with no readable video at all is still refused.
    """
    return probe_report(path, max_dim=max_dim, name=name, damaged=damaged).info


def probe_report(
    path: Path, *, max_dim: int = 8192, name: str | None = None, damaged: bool = False
) -> ProbeReport:
    """Like :func:`probe`, and say how much was read and decoded."""
    path = Path(path)
    label = name or path.name
    started = time.perf_counter()
    _check_file(path, label)
    with _ffmpeg_log() as (mine, workers):
        run = _Probe(path, label, max_dim, mine, workers, lenient=damaged)
        try:
            info = run.run()
        except InvalidInput:
            raise
        except (FFmpegError, OSError, ValueError, RuntimeError) as exc:
            # What PyAV raises that was not foreseen still means "not usable video".
            raise run.refuse(f"cannot be read as video ({run.detail(exc)})") from exc
    return ProbeReport(
        info=info,
        packets_read=run.packets,
        bytes_read=run.bytes,
        frames_decoded=run.decoded,
        elapsed_s=time.perf_counter() - started,
    )


def _check_file(path: Path, label: str) -> None:
    try:
        st = path.stat()
        if path.is_dir():
            raise InvalidInput(f"{label}: is a directory, not a video file")
        if st.st_size == 0:
            raise InvalidInput(f"{label}: the file is empty (0 bytes)")
        with path.open("rb") as fh:
            head = fh.read(4096)
    except FileNotFoundError:
        raise InvalidInput(f"{label}: no such file") from None
    except OSError as exc:
        raise InvalidInput(f"{label}: cannot read the file ({exc.strerror})") from exc
    if _looks_like_text(head):
        raise InvalidInput(f"{label}: looks like a text file, not a video")


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # more than a character cut at the 4 KiB mark
            return False
        text = head[: exc.start].decode("utf-8")
    return all(ch.isprintable() or ch in "\t\r\n\f" for ch in text)


@contextmanager
def _ffmpeg_log() -> Iterator[tuple[_Log, _Log]]:
    """Capture FFmpeg's error lines instead of printing them; restore settings after.

    Yields the lines logged from this thread (the demuxer, the decoder's own calls)
    and those from threads that capture nothing themselves (the decoder's workers).
    Only the first list decides anything: in a threaded server the second may also
    hold another probe's lines, so it is used for wording only.
    """
    global _log_users, _saved_log
    with _log_lock:  # the settings are global: the first probe in sets, the last out restores
        if _log_users == 0:
            _saved_log = av.logging.get_level(), av.logging.get_skip_repeated()
            av.logging.set_level(av.logging.ERROR)
            av.logging.set_skip_repeated(False)  # else a line equal to the last is dropped
        _log_users += 1
    try:
        with av.logging.Capture() as mine, av.logging.Capture(local=False) as workers:
            yield mine, workers
    finally:
        with _log_lock:
            _log_users -= 1
            if _log_users == 0:
                av.logging.set_level(_saved_log[0])
                av.logging.set_skip_repeated(_saved_log[1])


def _last_error(logs: _Log, since: int = 0) -> str | None:
    for level, _name, message in reversed(logs[since:]):
        if level <= av.logging.ERROR and message.strip():
            return "FFmpeg: " + " ".join(message.split())
    return None


def _short_container(fmt_name: str, metadata: dict[str, str]) -> str:
    """``mp4``, ``mov``, ``3gp``, ``matroska``, ``avi``...: one name, not FFmpeg's list."""
    names = fmt_name.split(",")
    if names[0] == "mov":
        brand = metadata.get("major_brand", "").strip().lower()
        if brand == "qt":
            return "mov"
        return "3gp" if brand.startswith("3g") else "mp4"
    return names[0]


def _codec_name(stream: Any) -> str:
    """The codec's own name (``mp3``), not the decoder's (``mp3float``)."""
    codec = stream.codec_context.codec
    return str(codec.canonical_name or codec.name)


class _StopScan(Exception):
    """Lenient probing met a fault: the scan ends, and what came before is readable."""


@dataclass
class _Span:
    """Where one stream's packets start and end, in its time base ticks."""

    start: int | None = None
    end: int | None = None
    packets: int = 0
    last_dts: int | None = None


@dataclass
class _Probe:
    path: Path
    label: str  # what messages call the file
    max_dim: int
    logs: _Log  # this thread's FFmpeg lines
    worker_logs: _Log  # decoder worker threads' lines
    packets: int = 0
    bytes: int = 0
    decoded: int = 0
    spans: dict[int, _Span] = field(default_factory=dict)
    lenient: bool = False  # describe a damaged recording's readable part, not refuse it
    faults: list[str] = field(default_factory=list)  # what was found, with lenient
    head_done: bool = False  # a first frame decoded

    # -- refusals ---------------------------------------------------------------------

    def refuse(self, why: str) -> InvalidInput:
        return InvalidInput(f"{self.label}: {why}")

    def detail(self, exc: BaseException | None, mark: int = 0, worker_mark: int = 0) -> str:
        """FFmpeg's most specific words: its last error line, else the exception's."""
        text = _last_error(self.logs, mark) or _last_error(self.worker_logs, worker_mark)
        if text:
            return text
        if isinstance(exc, FFmpegError) and exc.strerror:
            return f"FFmpeg: {exc.strerror}"
        return f"{type(exc).__name__}: {exc}" if exc is not None else "no detail"

    def damaged(self, at: float | None, why: str) -> NoReturn:
        where = _near(at)
        truncated = any(t in why for t in ("ended prematurely", "cut short", "partial file"))
        finding = f"{'truncated' if truncated else 'corrupt'} data{where} ({why})"
        if self.lenient and self.head_done:
            self.faults.append(finding)
            raise _StopScan
        raise self.refuse(finding)

    def short(self, finding: str) -> None:
        """The media is shorter than the file declares: refused, or (lenient) noted."""
        if not self.lenient:
            raise self.refuse(finding)
        self.faults.insert(0, finding)

    # -- the probe --------------------------------------------------------------------

    def run(self) -> MediaInfo:
        with self._open() as container:
            return self._inspect(container)

    def _open(self) -> Any:
        mark = len(self.logs)
        try:
            return av.open(
                "file:" + str(self.path.resolve()),  # never read as a URL or protocol
                "r",
                options=dict(_OPEN_OPTIONS),
                metadata_errors="replace",
            )
        except FFmpegError as exc:
            new = self.logs[mark:]
            said = " ".join(m for _lvl, _n, m in new)
            if "moov atom not found" in said:
                raise self.refuse(
                    "no MP4/MOV index (moov atom): the file is truncated or is not a video"
                ) from exc
            if "not on whitelist" in said:
                fmt = next((n for _lvl, n, m in new if "whitelist" in m), "unknown")
                raise self.refuse(
                    f"format '{fmt}' is not a video container "
                    "(expected MP4, MOV, MKV, AVI, MPEG-TS or similar)"
                ) from exc
            raise self.refuse(f"not a recognised media file ({self.detail(exc, mark)})") from exc

    def _inspect(self, c: Any) -> MediaInfo:
        fmt: str = c.format.name
        fmt_names = set(fmt.split(","))
        if fmt_names & set(_IMAGE_DEMUXERS):
            what = _codec_name(c.streams.video[0]) if c.streams.video else fmt
            raise self.refuse(f"a still image ({what}), not a video")
        attached = av.stream.Disposition.attached_pic  # cover art in audio files
        videos = [s for s in c.streams.video if not s.disposition & attached]
        audios = list(c.streams.audio)
        if not videos:
            if audios:
                raise self.refuse(f"audio only ({_codec_name(audios[0])}), no video stream")
            raise self.refuse(f"no video stream (format {fmt})")
        if not fmt_names & set(_VIDEO_CONTAINERS):
            raise self.refuse(f"format '{fmt}' is not a video container")
        vs = videos[0]
        if vs.codec_context is None:
            raise self.refuse("no decoder for its video codec")
        width, height = int(vs.codec_context.width or 0), int(vs.codec_context.height or 0)
        self._check_dims(width, height)

        fps = self._fps(vs)
        c_end = None  # where the container says the media ends, in seconds
        if c.duration:
            c_end = (c.duration + (c.start_time or 0)) / av.time_base
        tb_v = float(vs.time_base or 0)
        v_end = None  # and where the video stream says it ends
        if vs.duration and tb_v:
            v_end = (vs.duration + (vs.start_time or 0)) * tb_v

        cc = vs.codec_context
        cc.thread_count = _DECODE_THREADS
        cc.thread_type = "AUTO"
        cc.options = {"err_detect": _ERR_DETECT}
        self._scan(c, vs, fps, c_end)

        span = self.spans.get(vs.index)
        if span is None or span.start is None or span.end is None:
            raise self.refuse("video packets carry no timestamps")
        tbs = {s.index: float(s.time_base or 0) for s in c.streams}
        ends = [sp.end * tbs[i] for i, sp in self.spans.items() if sp.end is not None]
        video_end = span.end * tb_v
        tol = max(0.25, 3.0 / fps) if fps else 0.25
        declared = int(vs.frames or 0)
        # MP4/MOV sample tables count exactly; AVI headers, say, may count one frame
        # more than they index.
        slack = 0 if "mov" in fmt_names else max(2, declared // 100)
        if c_end is not None and max(ends) < c_end - tol:
            self.short(
                f"truncated: the media ends at {max(ends):.2f} s "
                f"but the file declares {c_end:.2f} s"
            )
        elif v_end is not None and video_end < v_end - tol:
            self.short(
                f"truncated: the video ends at {video_end:.2f} s "
                f"but the file declares {v_end:.2f} s"
            )
        elif declared and span.packets < declared - slack:
            self.short(
                f"truncated: {span.packets} of the {declared} declared video frames are present"
            )
        duration = (span.end - span.start) * tb_v
        if duration <= 0:
            raise self.refuse("the video has no duration")

        a_codec = a_channels = a_rate = None
        if audios:
            a_codec = _codec_name(audios[0])
            a_channels = int(audios[0].codec_context.channels)
            a_rate = int(audios[0].codec_context.sample_rate)
        metadata = dict(c.metadata)
        creation = metadata.get("creation_time") or vs.metadata.get("creation_time")
        return MediaInfo(
            container=_short_container(fmt, metadata),
            video_codec=_codec_name(vs),
            width=width,
            height=height,
            fps=round(fps or span.packets / duration, 6),
            duration_s=round(duration, 6),
            frame_count=span.packets,
            audio_codec=a_codec,
            audio_channels=a_channels,
            audio_sample_rate=a_rate,
            creation_time=creation or None,
            damage="; ".join(dict.fromkeys(self.faults)) or None,
            declared_frame_count=(declared or None) if self.faults else None,
            declared_duration_s=(round(v_end or c_end or 0, 6) or None) if self.faults else None,
        )

    def _check_dims(self, width: int, height: int) -> None:
        if width <= 0 or height <= 0:
            raise self.refuse(f"the video frame size is unknown ({width}x{height})")
        if min(width, height) < MIN_DIM:
            raise self.refuse(
                f"frame size {width}x{height} is too small (minimum {MIN_DIM} px a side)"
            )
        if max(width, height) > self.max_dim:
            raise self.refuse(
                f"frame size {width}x{height} exceeds the limit of {self.max_dim} px a side"
            )

    @staticmethod
    def _fps(vs: Any) -> float:
        for rate in (vs.average_rate, vs.guessed_rate, vs.base_rate):
            if rate and 0 < float(rate) <= 1000:
                return float(rate)
        return 0.0

    def _scan(self, c: Any, vs: Any, fps: float, c_end: float | None) -> None:
        """Read every packet; decode the head, a few keyframes and the last GOP."""
        nal_len = _nal_length_size(vs)
        vi = vs.index
        tbs = {s.index: float(s.time_base or 0) for s in c.streams}
        frame_ticks = round(1 / (fps * tbs[vi])) if fps and tbs[vi] else 0
        targets = []  # timestamps past which the next keyframe is decoded
        if c_end and tbs[vi]:
            targets = [round(f * c_end / tbs[vi]) for f in _SAMPLED_KEYFRAMES]
        head_fed = 0
        tail: list[Any] = []  # the last keyframe and what follows it, within limits
        tail_bytes = 0
        mark = len(self.logs)
        ts: int | None = None
        try:
            for pk in c.demux():
                size = pk.size
                if not size:
                    continue  # the empty packet PyAV yields at the end
                self.packets += 1
                self.bytes += size
                si = pk.stream_index
                span = self.spans.get(si)
                if span is None:
                    span = self.spans[si] = _Span()
                dts = pk.dts
                ts = pk.pts if pk.pts is not None else dts
                at = self._at(ts, si, tbs)
                # Checked before it is counted: with lenient, the readable part ends
                # before the first packet found faulty.
                if pk.is_corrupt:
                    self.damaged(at, "a packet is cut short or flagged corrupt")
                if dts is not None and span.last_dts is not None and dts < span.last_dts:
                    self.damaged(at, "timestamps go backwards")
                if len(self.logs) > mark:
                    self.damaged(at, self.detail(None, mark))
                if si == vi and nal_len and not _nal_units_tile(memoryview(pk), nal_len):
                    self.damaged(at, f"{_codec_name(vs)} NAL unit lengths do not add up")
                span.packets += 1
                if dts is not None:
                    span.last_dts = dts
                if ts is not None:
                    end = ts + (pk.duration or (frame_ticks if si == vi else 0))
                    if span.start is None or ts < span.start:
                        span.start = ts
                    if span.end is None or end > span.end:
                        span.end = end
                if si != vi:
                    continue
                if pk.is_keyframe:
                    tail, tail_bytes = [pk], size
                elif tail and len(tail) < TAIL_DECODE_LIMIT and tail_bytes < TAIL_DECODE_BYTES:
                    tail.append(pk)
                    tail_bytes += size
                if not self.head_done:
                    if pk.is_keyframe or head_fed:
                        head_fed += 1
                        if self._decode(vs, pk, at):
                            self.head_done = True
                            self._drain(vs, at)
                        elif head_fed >= _HEAD_PACKET_LIMIT:
                            raise self.refuse(
                                f"no video frame decodes from its first {head_fed} packets"
                            )
                elif pk.is_keyframe and targets and ts is not None and ts >= targets[0]:
                    while targets and ts >= targets[0]:
                        targets.pop(0)
                    self._decode(vs, pk, at)
                    self._drain(vs, at)
            if len(self.logs) > mark:
                self.damaged(None, self.detail(None, mark))
        except _StopScan:
            pass  # lenient: what came before the fault is the readable part
        except FFmpegError as exc:
            if not (self.lenient and self.head_done):
                raise self.refuse(f"corrupt or truncated data ({self.detail(exc, mark)})") from exc
            self.faults.append(f"corrupt or truncated data ({self.detail(exc, mark)})")
        if not self.head_done:
            if head_fed:
                self._drain(vs, None)
                self.head_done = bool(self.decoded)
            if not self.decoded:
                raise self.refuse("no video frame could be decoded")
        if tail:
            at = self._at(tail[0].pts, vi, tbs)
            for pk in tail:
                self._decode(vs, pk, at)
            self._drain(vs, at)

    @staticmethod
    def _at(ts: int | None, si: int, tbs: dict[int, float]) -> float | None:
        return ts * tbs[si] if ts is not None else None

    def _decode(self, vs: Any, pk: Any, at: float | None) -> bool:
        """Feed one packet; True when a frame came out."""
        marks = len(self.logs), len(self.worker_logs)
        try:
            frames = vs.decode(pk)
        except FFmpegError as exc:
            raise self._decode_refusal(exc, at, marks) from exc
        self._check_frames(frames, at)
        return bool(frames)

    def _drain(self, vs: Any, at: float | None) -> None:
        """Take the frames the decoder still holds, then reset it for a new start."""
        marks = len(self.logs), len(self.worker_logs)
        try:
            frames = vs.decode(None)
        except FFmpegError as exc:
            raise self._decode_refusal(exc, at, marks) from exc
        self._check_frames(frames, at)
        vs.codec_context.flush_buffers()

    def _decode_refusal(
        self, exc: FFmpegError, at: float | None, marks: tuple[int, int]
    ) -> InvalidInput:
        where = _near(at)
        return self.refuse(f"corrupt video data{where} ({self.detail(exc, *marks)})")

    def _check_frames(self, frames: list[Any], at: float | None) -> None:
        for frame in frames:
            self.decoded += 1
            if frame.is_corrupt:
                self.damaged(at, "the decoder flagged a frame corrupt")
            self._check_dims(frame.width, frame.height)


def _nal_length_size(vs: Any) -> int:
    """Bytes in each NAL length prefix, or 0 when the stream is not length-prefixed."""
    offset = _LENGTH_PREFIXED.get(vs.codec_context.name)
    extra = vs.codec_context.extradata
    if offset is None or not extra or len(extra) <= offset or extra[0] != 1:
        return 0  # Annex B start codes (MPEG-TS, raw streams) or no configuration record
    return int(extra[offset] & 3) + 1


def _nal_units_tile(data: memoryview, n: int) -> bool:
    """True when length-prefixed NAL units exactly fill ``data`` with sane headers."""
    i, size = 0, len(data)
    while i < size:
        if i + n > size:
            return False
        length = int.from_bytes(data[i : i + n], "big")
        i += n
        if length == 0 or i + length > size or data[i] & 0x80:  # forbidden_zero_bit
            return False
        i += length
    return True

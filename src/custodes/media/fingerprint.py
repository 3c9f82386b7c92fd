"""Temporal fingerprints of a video, for finding where a leaked clip came from.

A leaked copy of a bodycam video is rarely the same picture: it is re-encoded, scaled,
cropped, letterboxed, mirrored, put in a 9:16 frame over a blurred copy of itself,
covered by banners, brightened, converted to another frame rate, or filmed off a
monitor with a phone. What survives all of that is *how the picture changes over
time*. A body-worn camera shakes, sways and turns with the officer, and that global
motion is the same in every copy, whatever its geometry. So the fingerprint is a few
numbers a frame, all taken between consecutive frames:

``dm``
    the change of mean luma (exposure, lights, people crossing the view);
``vx``, ``vy``
    the global translation of the picture, in thumbnail pixels;
``vz``, ``vr``
    the global zoom and rotation (a 4-parameter similarity motion), dimensionless.

The motion is estimated with one Lucas-Kanade least-squares step on a blurred
thumbnail of about :data:`THUMB_AREA` pixels (Lucas and Kanade, "An iterative image
registration technique with an application to stereo vision", IJCAI 1981), for all
frames of a batch at once in numpy. Mirroring flips the sign of ``vx`` and ``vr``;
:mod:`custodes.media.locate` tries both signs. Normalised cross-correlation on a
common time grid makes the features indifferent to their scale (a crop enlarges the
motion, a contrast change the ``dm``) and to frame-rate changes.

Decoding dominates the cost: only the luma plane is read (no colour conversion), it is
shrunk at once with ``cv2.resize(INTER_AREA)``, and FFmpeg decodes with frame threads.
Every frame is decoded: the motion is measured between consecutive frames, so skipping
non-reference frames would change what is measured. ``bench/bench_locate.py`` measures
about 75 s of work per hour of 640x360 30 fps H.264 on two cores (under a twentieth of
real time), of which decoding is some two thirds. Stored, a fingerprint is 10 bytes a
frame (float16 features, compressed): about 1.1 MB an hour at 30 fps.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
from numpy.typing import NDArray

from custodes.core.errors import InvalidInput, NotFound

__all__ = [
    "FEATURES",
    "FORMAT_VERSION",
    "THUMB_AREA",
    "Fingerprint",
    "fingerprint_frames",
    "fingerprint_video",
    "luma_plane",
    "open_video",
]

FEATURES = ("dm", "vx", "vy", "vz", "vr")
"""Column names of :attr:`Fingerprint.feats`."""
FORMAT_VERSION = 1
"""Bumped whenever the features change: cached fingerprints of another version are stale."""
THUMB_AREA = 96 * 54
"""Pixels of the working thumbnail (its aspect follows the video's)."""

_BLUR_SIGMA = 1.0  # widens the range of motion one Lucas-Kanade step can measure
_BATCH = 128  # frames per vectorised motion estimate
_MARGIN = 2  # thumbnail border left out of the motion estimate
# Pixel formats whose first plane is 8-bit luma, read without any conversion.
_LUMA_FORMATS = frozenset(
    {
        "gray",
        "yuv420p",
        "yuvj420p",
        "yuv422p",
        "yuvj422p",
        "yuv444p",
        "yuvj444p",
        "yuv440p",
        "yuvj440p",
        "yuv411p",
        "yuv410p",
        "nv12",
        "nv21",
        "nv16",
        "yuva420p",
    }
)

Progress = Callable[[int], None]


@dataclass(frozen=True, eq=False)
class Fingerprint:
    """Per-frame temporal features of one video.

    ``times`` are the frames' presentation times in seconds on the video's own timeline
    (PyAV's ``frame.time``: the same clock :mod:`custodes.media.render` keys marks to);
    ``feats`` has one row a frame and the columns :data:`FEATURES`; the first row,
    which has no previous frame, is zero.
    """

    fps: float
    times: NDArray[np.float64]
    feats: NDArray[np.float32]
    width: int = 0
    height: int = 0
    version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.times.ndim != 1 or self.feats.shape != (len(self.times), len(FEATURES)):
            raise InvalidInput(
                f"fingerprint arrays disagree: {self.times.shape} times, "
                f"{self.feats.shape} features"
            )

    def __len__(self) -> int:
        return len(self.times)

    @property
    def duration_s(self) -> float:
        """From the first frame to the end of the last one."""
        if len(self.times) == 0:
            return 0.0
        return float(self.times[-1] - self.times[0]) + 1.0 / self.fps

    def column(self, name: str) -> NDArray[np.float64]:
        return np.asarray(self.feats[:, FEATURES.index(name)], np.float64)

    def to_bytes(self) -> bytes:
        """A compact serialisation (``np.savez_compressed``): float16 features."""
        buf = io.BytesIO()
        t0 = float(self.times[0]) if len(self.times) else 0.0
        np.savez_compressed(
            buf,
            version=np.int32(self.version),
            fps=np.float64(self.fps),
            size=np.array([self.width, self.height], np.int32),
            t0=np.float64(t0),
            # Frame steps in microseconds: exact, and uniform steps compress to nothing.
            dt_us=np.diff(np.round((self.times - t0) * 1e6)).astype(np.int32),
            feats=self.feats.astype(np.float16),
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Fingerprint:
        """Inverse of :meth:`to_bytes`; raises :class:`InvalidInput` on foreign data."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                version = int(z["version"])
                fps = float(z["fps"])
                w, h = (int(v) for v in z["size"])
                t0 = float(z["t0"])
                dt_us = np.asarray(z["dt_us"], np.int64)
                feats = np.asarray(z["feats"], np.float32)
        except (OSError, ValueError, KeyError, EOFError) as exc:
            raise InvalidInput(f"not a stored fingerprint: {exc}") from exc
        if version != FORMAT_VERSION:
            raise InvalidInput(
                f"fingerprint format {version} is not {FORMAT_VERSION}",
                advice="fingerprint the video again",
            )
        n = len(feats)
        times = t0 + np.concatenate([[0.0], np.cumsum(dt_us)])[:n] / 1e6
        return cls(fps=fps, times=times, feats=feats, width=w, height=h, version=version)


def thumb_size(width: int, height: int) -> tuple[int, int]:
    """(w, h) of the working thumbnail for a frame of that size: about THUMB_AREA pixels."""
    scale = math.sqrt(THUMB_AREA / max(1, width * height))
    return max(8, round(width * scale)), max(8, round(height * scale))


def luma_plane(frame: Any) -> NDArray[np.uint8]:
    """The 8-bit luma plane of a decoded PyAV video frame, without a copy when possible."""
    if frame.format.name in _LUMA_FORMATS:
        plane = frame.planes[0]
        buf = np.frombuffer(plane, np.uint8)
        rows = buf.reshape(-1, plane.line_size)[: frame.height]
        return rows[:, : frame.width]
    return np.asarray(frame.to_ndarray(format="gray"), np.uint8)


def open_video(path: Path) -> Any:
    """``av.open`` with our errors: NotFound for a missing file, InvalidInput otherwise."""
    path = Path(path)
    if not path.is_file():
        raise NotFound(f"{path.name}: no such file")
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as exc:
        raise InvalidInput(f"{path.name}: cannot open as video: {exc}") from exc
    if not container.streams.video:
        container.close()
        raise InvalidInput(f"{path.name}: no video stream")
    return container


def _stream_fps(stream: Any) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else 30.0


class _MotionBatcher:
    """Collects blurred thumbnails and turns them into feature rows a batch at a time."""

    def __init__(self, tw: int, th: int) -> None:
        self.tw, self.th = tw, th
        self.buf = np.empty((_BATCH + 1, th, tw), np.float32)
        self.count = 0  # thumbnails in buf after the carried-over one at index 0
        self.have_prev = False
        self.rows: list[NDArray[np.float32]] = []
        m = _MARGIN
        ys, xs = np.mgrid[m : th - m, m : tw - m].astype(np.float32)
        r = 0.5 * math.hypot(tw, th)
        self.x = (xs - (tw - 1) / 2) / r
        self.y = (ys - (th - 1) / 2) / r

    def add(self, thumb: NDArray[np.float32]) -> None:
        self.buf[1 + self.count] = thumb
        self.count += 1
        if self.count == _BATCH:
            self.flush()

    def flush(self) -> None:
        if self.count == 0:
            return
        stack = self.buf[: self.count + 1]
        feats = np.zeros((self.count, len(FEATURES)), np.float32)
        if self.have_prev:
            feats[:] = _pair_features(stack, self.x, self.y)
        else:
            # The very first frame has no predecessor: its row stays zero.
            if self.count > 1:
                feats[1:] = _pair_features(stack[1:], self.x, self.y)
        self.rows.append(feats)
        self.buf[0] = stack[self.count]
        self.have_prev = True
        self.count = 0

    def result(self) -> NDArray[np.float32]:
        self.flush()
        if not self.rows:
            return np.zeros((0, len(FEATURES)), np.float32)
        return np.concatenate(self.rows)


def _pair_features(
    stack: NDArray[np.float32], x: NDArray[np.float32], y: NDArray[np.float32]
) -> NDArray[np.float32]:
    """Features between ``stack[k]`` and ``stack[k+1]`` for every k (len(stack) - 1 rows).

    One Lucas-Kanade step for a similarity motion ``u = tx + a*x - b*y``,
    ``v = ty + b*x + a*y`` (x, y centred and scaled by the half diagonal), solved in
    least squares from the spatial gradients of the pair's average and the temporal
    difference with the global brightness change removed.
    """
    m = _MARGIN
    prev, cur = stack[:-1], stack[1:]
    dm = cur.mean(axis=(1, 2)) - prev.mean(axis=(1, 2))
    avg = 0.5 * (prev + cur)
    gx = 0.5 * (avg[:, m:-m, m + 1 : avg.shape[2] - m + 1] - avg[:, m:-m, m - 1 : -m - 1])
    gy = 0.5 * (avg[:, m + 1 : avg.shape[1] - m + 1, m:-m] - avg[:, m - 1 : -m - 1, m:-m])
    dt = (cur - prev)[:, m:-m, m:-m]
    dt = dt - dt.mean(axis=(1, 2), keepdims=True)
    # Basis images of the four motion parameters (tx, ty, a, b).
    basis = np.stack([gx, gy, x * gx + y * gy, x * gy - y * gx], axis=1)
    n = basis.shape[0]
    flat = basis.reshape(n, 4, -1)
    ata = np.einsum("nip,njp->nij", flat, flat)
    atb = -np.einsum("nip,np->ni", flat, dt.reshape(n, -1))
    ridge = 1e-6 * np.trace(ata, axis1=1, axis2=2)[:, None, None] + 1e-9
    params = np.linalg.solve(ata + ridge * np.eye(4, dtype=np.float32), atb[:, :, None])[..., 0]
    out = np.empty((n, len(FEATURES)), np.float32)
    out[:, 0] = dm
    out[:, 1:] = params
    return out


def fingerprint_frames(
    lumas: Any, fps: float, times: NDArray[np.float64] | None = None
) -> Fingerprint:
    """Fingerprint an iterable of luma frames (2-D uint8 arrays) already in memory.

    For tests and for callers that decode themselves; ``times`` defaults to ``i / fps``.
    """
    batcher: _MotionBatcher | None = None
    width = height = 0
    count = 0
    for y in lumas:
        if batcher is None:
            height, width = y.shape[:2]
            batcher = _MotionBatcher(*thumb_size(width, height))
        batcher.add(_thumb(np.asarray(y), batcher.tw, batcher.th))
        count += 1
    feats = batcher.result() if batcher is not None else np.zeros((0, len(FEATURES)), np.float32)
    t = np.arange(count) / fps if times is None else np.asarray(times, np.float64)[:count]
    return Fingerprint(fps=fps, times=t, feats=feats, width=width, height=height)


def _thumb(y: NDArray[np.uint8], tw: int, th: int) -> NDArray[np.float32]:
    small = cv2.resize(y, (tw, th), interpolation=cv2.INTER_AREA)
    return np.asarray(cv2.GaussianBlur(small.astype(np.float32), (0, 0), _BLUR_SIGMA))


def fingerprint_video(
    path: Path, *, max_seconds: float | None = None, progress: Progress | None = None
) -> Fingerprint:
    """Decode ``path`` (first video stream) and fingerprint it.

    ``max_seconds`` stops after that much video from the first frame. ``progress`` is
    called with the number of frames done since its last call (every batch).
    Raises :class:`NotFound` for a missing file and :class:`InvalidInput` when the file
    is not decodable video.
    """
    path = Path(path)
    container = open_video(path)
    times: list[float] = []
    batcher: _MotionBatcher | None = None
    try:
        stream = container.streams.video[0]
        stream.codec_context.thread_type = "AUTO"
        stream.codec_context.thread_count = 0
        fps = _stream_fps(stream)
        tb = float(stream.time_base) if stream.time_base else 1.0 / fps
        width, height = stream.codec_context.width, stream.codec_context.height
        reported = 0
        for frame in container.decode(stream):
            if frame.time is not None:
                t = float(frame.time)
            elif frame.pts is not None:
                t = frame.pts * tb
            else:
                t = (times[-1] + 1.0 / fps) if times else 0.0
            if times and t <= times[-1]:
                t = times[-1] + 1e-6  # a broken timestamp: keep the order
            if max_seconds is not None and times and t - times[0] >= max_seconds:
                break
            y = luma_plane(frame)
            if batcher is None:
                height, width = y.shape
                batcher = _MotionBatcher(*thumb_size(width, height))
            batcher.add(_thumb(y, batcher.tw, batcher.th))
            times.append(t)
            if progress is not None and len(times) - reported >= _BATCH:
                progress(len(times) - reported)
                reported = len(times)
        if progress is not None and len(times) > reported:
            progress(len(times) - reported)
    except av.error.FFmpegError as exc:
        raise InvalidInput(f"{path.name}: cannot decode: {exc}") from exc
    finally:
        container.close()
    if batcher is None:
        raise InvalidInput(f"{path.name}: no video frames")
    return Fingerprint(
        fps=fps,
        times=np.asarray(times, np.float64),
        feats=batcher.result(),
        width=width,
        height=height,
    )

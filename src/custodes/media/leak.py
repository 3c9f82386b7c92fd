"""A located leak, frame by frame, in the original's pixels: what the tracer accumulates.

:func:`iter_registered_frames` walks a leaked clip and its source evidence together.
For every leaked frame in a :class:`~custodes.media.locate.SourceMatch` it predicts
the source time (``t_src = offset_s + rate * t_leak``), picks the original frame among
its neighbours that the leak actually shows (:func:`~custodes.media.registration.refine_time`:
a frame-rate conversion or a small timing error shifts it by one), registers the leak
on it (:class:`~custodes.media.registration.RegistrationTracker`: from scratch once, then
refined frame by frame from the last geometry) and yields the residual and its weights on the
original's grid.

Both videos are decoded once, front to back: the source from one seek to the keyframe
before the match, with a small window of recent frames kept for the neighbour search.
The registration (which carries the tracker from frame to frame) and the residual of
the frame before run side by side, the residual on a worker thread: numpy and OpenCV
release the GIL, so on two cores a frame costs about the longer of the two. OpenBLAS
runs on one thread meanwhile (:func:`~custodes.media.threads.single_threaded_blas`):
its helper threads only slow these small products down, and the caller's matched
filter (``Accumulator.add``) with them.

:func:`simulate_leak` makes leaked copies the way they happen (news crops, 9:16 social
clips over a blurred background, banners, phones filming a monitor...), for tests,
benchmarks and the demo.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
from numpy.typing import NDArray

from custodes.core.errors import InvalidInput
from custodes.media.fingerprint import luma_plane, open_video
from custodes.media.locate import SourceMatch
from custodes.media.registration import (
    Registration,
    RegistrationTracker,
    refine_registration,
    refine_time,
    residual_details,
)
from custodes.media.threads import single_threaded_blas

__all__ = [
    "LEAK_TRANSFORMS",
    "RegisteredFrame",
    "iter_registered_frames",
    "simulate_leak",
]

Progress = Callable[[int], None]
_U8 = NDArray[np.uint8]
_TIME_PRIOR = 0.03  # relative error added per frame away from the predicted one


@dataclass(frozen=True)
class RegisteredFrame:
    """One leaked frame mapped onto the original.

    ``residual`` and ``weight`` are float32 arrays of the original's frame size;
    ``weight`` is all zero when the frame could not be registered (``registration`` is
    None then). ``t_src`` is the presentation time of the original frame used (on the
    source's own clock), ``t_pred`` the time the match predicted for it. ``error`` is
    the robust (MAD) scale of the residual in luma levels, inf when unregistered: a
    per-frame noise level a detector may weight frames by.
    """

    index: int
    t_leak: float
    t_pred: float
    t_src: float
    orig_y: _U8
    residual: NDArray[np.float32]
    weight: NDArray[np.float32]
    registration: Registration | None
    error: float


@dataclass
class _Photometry:
    """Per-leak photometric state kept between frames: the leak's blur, re-estimated
    every ``_BLUR_EVERY`` frames and after every fresh registration."""

    blur: float = 0.0
    frames_left: int = 0


_BLUR_EVERY = 15


class _SourceWindow:
    """Sequential decoding of the source with the last few frames at hand."""

    def __init__(self, path: Path, start_s: float, keep: int) -> None:
        self.container = open_video(path)
        self.stream = self.container.streams.video[0]
        self.stream.codec_context.thread_type = "AUTO"
        rate = self.stream.average_rate or self.stream.guessed_rate
        self.fps = float(rate) if rate else 30.0
        self.keep = keep
        self.frames: deque[tuple[float, _U8]] = deque()
        self.done = False
        if start_s > 1.0 and self.stream.time_base:
            self.container.seek(
                int(max(0.0, start_s - 1.0) / self.stream.time_base),
                stream=self.stream,
                backward=True,
            )
        self._decoder = self.container.decode(self.stream)
        self._last = -math.inf

    def close(self) -> None:
        self.container.close()

    def _pull(self) -> bool:
        if self.done:
            return False
        try:
            frame = next(self._decoder)
        except StopIteration:
            self.done = True
            return False
        t = float(frame.time) if frame.time is not None else self._last + 1.0 / self.fps
        self._last = t
        self.frames.append((t, np.array(luma_plane(frame), np.uint8)))
        while len(self.frames) > self.keep:
            self.frames.popleft()
        return True

    def around(self, t: float, radius: int) -> list[tuple[float, _U8]]:
        """The decoded frames nearest to ``t``: up to ``radius`` either side of it."""
        half = 0.5 / self.fps
        while (not self.frames or self.frames[-1][0] < t + (radius + 0.5) / self.fps + half) and (
            self._pull()
        ):
            pass
        if not self.frames:
            return []
        times = np.array([f[0] for f in self.frames])
        k = int(np.argmin(np.abs(times - t)))
        lo, hi = max(0, k - radius), min(len(self.frames), k + radius + 1)
        return [self.frames[i] for i in range(lo, hi)]


def iter_registered_frames(
    leak_path: Path,
    source_path: Path,
    match: SourceMatch,
    *,
    progress: Progress | None = None,
    time_search: int = 2,
) -> Iterator[RegisteredFrame]:
    """Yield every leaked frame of ``match`` registered on its original frame.

    ``time_search`` original frames either side of the predicted one are compared
    and the one the leak matches best is used. ``progress`` gets 1 per leaked frame.
    Raises :class:`~custodes.core.errors.NotFound` or
    :class:`~custodes.core.errors.InvalidInput` for missing or undecodable files.
    """
    with single_threaded_blas():  # small matrices: helper threads only cost (see there)
        yield from _registered_frames(leak_path, source_path, match, progress, time_search)


_AHEAD = 2
"""Frames whose residual the worker may compute while the next ones are registered."""


def _registered_frames(
    leak_path: Path,
    source_path: Path,
    match: SourceMatch,
    progress: Progress | None,
    time_search: int,
) -> Iterator[RegisteredFrame]:
    leak_path, source_path = Path(leak_path), Path(source_path)
    lo = match.leak_start_s - 1e-6
    hi = match.leak_end_s
    start_src = min(match.to_source(lo), match.to_source(hi) if math.isfinite(hi) else math.inf)
    source = _SourceWindow(source_path, start_src, keep=4 * time_search + 8)
    leak = open_video(leak_path)
    tracker = RegistrationTracker()
    photo = _Photometry()
    # Two stages: this thread decodes and registers frame after frame (the tracker's
    # state runs from one to the next), a worker computes the residuals, in order.
    pool = ThreadPoolExecutor(1, thread_name_prefix="custodes-residual")
    ahead: deque[Future[RegisteredFrame]] = deque()
    try:
        lstream = leak.streams.video[0]
        lstream.codec_context.thread_type = "AUTO"
        lrate = lstream.average_rate or lstream.guessed_rate
        lfps = float(lrate) if lrate else 30.0
        index = -1
        last_t = -math.inf
        for frame in leak.decode(lstream):
            index += 1
            t_leak = float(frame.time) if frame.time is not None else last_t + 1.0 / lfps
            last_t = t_leak
            if t_leak < lo:
                continue
            if t_leak >= hi:
                break
            leak_y = np.array(luma_plane(frame), np.uint8)
            t_pred = match.to_source(t_leak)
            near = source.around(t_pred, time_search)
            if not near:
                break
            located = _locate_one(index, t_leak, t_pred, leak_y, near, tracker)
            ahead.append(pool.submit(_residual_one, located, photo))
            while len(ahead) > _AHEAD:
                yield ahead.popleft().result()
                if progress is not None:
                    progress(1)
        while ahead:
            yield ahead.popleft().result()
            if progress is not None:
                progress(1)
    except av.error.FFmpegError as exc:
        raise InvalidInput(f"cannot decode {leak_path.name} or {source_path.name}: {exc}") from exc
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        leak.close()
        source.close()


@dataclass(frozen=True)
class _Located:
    """A leaked frame, the original frame it shows and the geometry between them."""

    index: int
    t_leak: float
    t_pred: float
    t_src: float
    leak_y: _U8
    orig: _U8
    registration: Registration | None
    fresh: bool


def _locate_one(
    index: int,
    t_leak: float,
    t_pred: float,
    leak_y: _U8,
    near: list[tuple[float, _U8]],
    tracker: RegistrationTracker,
) -> _Located:
    """Register one leaked frame on the best of the original frames ``near`` it."""
    times = np.array([t for t, _ in near])
    guess = int(np.argmin(np.abs(times - t_pred)))
    reg = tracker.current
    fresh = False
    if reg is None:
        reg = tracker.update(leak_y, near[guess][1])
        fresh = True
    best = guess
    if reg is not None:
        _, errors = refine_time(leak_y, [y for _, y in near], reg)
        # Ties go to the predicted frame: a still camera makes neighbours alike.
        penalised = [e * (1.0 + _TIME_PRIOR * abs(i - guess)) for i, e in enumerate(errors)]
        best = int(np.argmin(penalised))
        if fresh:
            if best != guess:
                # Registered against the wrong neighbour: refine against the right one.
                refined = refine_registration(leak_y, near[best][1], reg, coarse=False)
                if refined is not None:
                    tracker.current = refined
                    reg = refined
        else:
            reg = tracker.update(leak_y, near[best][1])
    t_src, orig = near[best]
    return _Located(index, t_leak, t_pred, t_src, leak_y, orig, reg, fresh)


def _residual_one(found: _Located, photo: _Photometry) -> RegisteredFrame:
    """The residual of a located frame (``photo`` carries the blur from frame to frame)."""
    reg, orig = found.registration, found.orig
    head = (found.index, found.t_leak, found.t_pred, found.t_src, orig)
    if reg is None:
        zeros = np.zeros(orig.shape, np.float32)
        return RegisteredFrame(*head, zeros, zeros.copy(), None, math.inf)
    blur = photo.blur if photo.frames_left > 0 and not found.fresh else None
    res = residual_details(found.leak_y, orig, reg, blur=blur)
    if blur is None:
        photo.blur, photo.frames_left = res.blur, _BLUR_EVERY
    photo.frames_left -= 1
    return RegisteredFrame(*head, res.residual, res.weight, reg, res.sigma)


# ------------------------------------------------------------------ simulation


LEAK_TRANSFORMS = (
    "reencode",
    "scale",
    "upscale",
    "crop",
    "letterbox",
    "pillarbox",
    "vertical",
    "vertical_crop",
    "banner",
    "tone",
    "mirror",
    "perspective",
    "camcord",
)
"""What :func:`simulate_leak` can do to the picture."""

_Frame = NDArray[Any]  # RGB uint8 (height, width, 3)
_Fn = Callable[[_Frame, float], _Frame]


def _even(v: float) -> int:
    return max(2, int(v) // 2 * 2)


def _transform(kind: str, w: int, h: int, rng: np.random.Generator) -> tuple[int, int, _Fn]:
    """Output size and the per-frame function (RGB frame, leak time) -> RGB frame."""

    def ident(im: _Frame, t: float) -> _Frame:
        return im

    if kind == "reencode":
        return w, h, ident
    if kind in ("scale", "upscale"):
        f = 0.6 if kind == "scale" else 1.5
        ow, oh = _even(w * f), _even(h * f)
        interp = cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC
        return ow, oh, lambda im, t: cv2.resize(im, (ow, oh), interpolation=interp)
    if kind == "crop":  # keep 60 % of the area somewhere, scaled back up
        f = math.sqrt(0.6)
        cw, ch = int(w * f), int(h * f)
        x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        return (
            w,
            h,
            lambda im, t: cv2.resize(
                im[y0 : y0 + ch, x0 : x0 + cw], (w, h), interpolation=cv2.INTER_LINEAR
            ),
        )
    if kind in ("letterbox", "pillarbox"):
        ow, oh = (w, _even(w * 3 / 4)) if kind == "letterbox" else (_even(h * 21 / 9), h)

        def box(im: _Frame, t: float) -> _Frame:
            out = np.zeros((oh, ow, 3), np.uint8)
            y, x = (oh - h) // 2, (ow - w) // 2
            out[y : y + h, x : x + w] = im
            return out

        return ow, oh, box
    if kind in ("vertical", "vertical_crop"):
        oh = _even(2 * h)
        ow = _even(oh * 9 / 16)

        def vertical(im: _Frame, t: float) -> _Frame:
            bw = int(h * 9 / 16)
            bx = (w - bw) // 2
            bg = cv2.resize(im[:, bx : bx + bw], (ow, oh), interpolation=cv2.INTER_LINEAR)
            bg = (cv2.GaussianBlur(bg, (0, 0), max(2.0, ow / 30)) * 0.6).astype(np.uint8)
            if kind == "vertical":
                fg = cv2.resize(im, (ow, int(ow * h / w)), interpolation=cv2.INTER_AREA)
            else:  # a 4:5 crop of the middle, as many social posts do
                cw = int(h * 4 / 5)
                cx = (w - cw) // 2
                fg = cv2.resize(
                    im[:, cx : cx + cw], (ow, int(ow * 5 / 4)), interpolation=cv2.INTER_AREA
                )
            y = (oh - fg.shape[0]) // 2
            bg[y : y + fg.shape[0]] = fg
            return bg

        return ow, oh, vertical
    if kind == "banner":  # a news banner over the bottom 25 %, a ticker and a logo

        def banner(im: _Frame, t: float) -> _Frame:
            im = im.copy()
            bh = int(h * 0.25)
            im[h - bh :] = (170, 20, 25)
            scale = h / 300
            cv2.putText(
                im,
                f"BREAKING NEWS  {int(t * 10) % 1000:03d}",
                (int(6 - 40 * t) % w, h - bh // 3),
                cv2.FONT_HERSHEY_SIMPLEX,
                scale,
                (255, 255, 255),
                max(1, round(2 * scale)),
            )
            cv2.rectangle(im, (w - w // 6, 6), (w - 6, 6 + h // 8), (240, 240, 240), -1)
            return im

        return w, h, banner
    if kind == "tone":
        lut = np.clip(255 * (np.arange(256) / 255.0) ** 0.7 * 1.1 + 8, 0, 255).astype(np.uint8)
        return w, h, lambda im, t: cv2.LUT(im, lut)
    if kind == "mirror":
        return w, h, lambda im, t: np.ascontiguousarray(im[:, ::-1])
    if kind == "perspective":
        src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
        dst = (src + rng.uniform(-0.06, 0.06, (4, 2)) * [w, h]).astype(np.float32)
        m = cv2.getPerspectiveTransform(src, dst)
        return w, h, lambda im, t: cv2.warpPerspective(im, m, (w, h))
    if kind == "camcord":
        return w, h, _camcorder(w, h, rng)
    raise InvalidInput(f"unknown leak transform {kind!r}; known: {', '.join(LEAK_TRANSFORMS)}")


def _camcorder(w: int, h: int, rng: np.random.Generator) -> _Fn:
    """A phone filming a monitor: a drifting, slightly tilted view of the screen in a
    dark room, defocus, gamma and gain, vignetting, moire, sensor noise."""
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    base = src + rng.uniform(-0.04, 0.04, (4, 2)) * [w, h]
    base = (base - [w / 2, h / 2]) * 0.88 + [w / 2, h / 2]
    ph = rng.uniform(0, 2 * math.pi, 3)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    vign = 1 - 0.3 * (((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2)
    moire = 1 + 0.03 * np.sin(xx * 0.9 + yy * 0.35)
    gain = (vign * moire)[:, :, None].astype(np.float32)
    noise_rng = np.random.default_rng(int(rng.integers(1 << 31)))

    def camcord(im: _Frame, t: float) -> _Frame:
        dx = 0.012 * w * math.sin(2 * math.pi * 0.3 * t + ph[0])
        dy = 0.012 * h * math.sin(2 * math.pi * 0.23 * t + ph[1])
        dst = (base + np.array([dx, dy])).astype(np.float32)
        m = cv2.getPerspectiveTransform(src, dst)
        warped = cv2.warpPerspective(im, m, (w, h), borderValue=(20, 20, 20))
        soft = np.asarray(cv2.GaussianBlur(warped.astype(np.float32), (0, 0), 0.9), np.float32)
        out = np.asarray((255 * (soft / 255) ** 0.85 * 0.9 + 10) * gain, np.float32)
        out += noise_rng.normal(0, 2.5, (h, w, 1)).astype(np.float32)
        return np.clip(out, 0, 255).astype(np.uint8)

    return camcord


def simulate_leak(
    source: Path,
    dest: Path,
    *,
    start_s: float,
    seconds: float,
    transform: str = "reencode",
    fps: float | None = None,
    rate: float = 1.0,
    seed: int = 0,
    crf: int = 26,
) -> Path:
    """Write a leaked copy of ``seconds`` of ``source`` from ``start_s`` to ``dest``.

    ``transform`` is one of :data:`LEAK_TRANSFORMS`. ``fps`` converts the frame rate
    the way FFmpeg's ``fps`` filter does (each output frame is the source frame nearest
    to its time; a camcorder instead blends the two source frames around it, its
    shutter not being in step with the monitor). ``rate`` plays the source that much
    faster. Leak frame ``i`` shows source time ``start_s + rate * i / fps``.
    """
    rng = np.random.default_rng(seed)
    with av.open(str(source)) as inp:
        vin: Any = inp.streams.video[0]
        vin.codec_context.thread_type = "AUTO"
        src_fps = float(vin.average_rate or 30)
        first = max(0.0, start_s - 1.0 / src_fps)
        last = start_s + rate * seconds + 2.0 / src_fps
        if first > 1.0 and vin.time_base:
            inp.seek(int((first - 1.0) / vin.time_base), stream=vin, backward=True)
        frames: list[tuple[float, _Frame]] = []
        for frame in inp.decode(vin):
            t = float(frame.time or 0.0)
            if t < first - 1e-6:
                continue
            if t > last:
                break
            frames.append((t, frame.to_ndarray(format="rgb24")))
    if not frames:
        raise InvalidInput(f"{source.name} has no frames from {start_s} s")
    times = np.array([t for t, _ in frames])
    h, w = frames[0][1].shape[:2]
    out_fps = fps or src_fps
    ow, oh, fn = _transform(transform, w, h, rng)
    n = max(1, round(seconds * out_fps))
    rate_q = Fraction(out_fps).limit_denominator(1001)
    with av.open(str(dest), "w") as out:
        vs: Any = out.add_stream(
            "libx264", rate=rate_q, options={"crf": str(crf), "preset": "veryfast"}
        )
        vs.width, vs.height, vs.pix_fmt = ow, oh, "yuv420p"
        vs.codec_context.thread_type = "AUTO"
        for i in range(n):
            tl = i / out_fps
            ts = start_s + rate * tl
            if transform == "camcord":
                k = int(np.searchsorted(times, ts, side="right")) - 1
                k = min(max(k, 0), len(frames) - 2)
                a = float(np.clip((ts - times[k]) * src_fps, 0.0, 1.0))
                im = cv2.addWeighted(frames[k][1], 1 - a, frames[k + 1][1], a, 0)
            else:
                im = frames[int(np.argmin(np.abs(times - ts)))][1]
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(fn(im, tl)), format="rgb24")
            vf.pts = i
            vf.time_base = 1 / rate_q
            out.mux(vs.encode(vf))
        out.mux(vs.encode(None))
    return dest

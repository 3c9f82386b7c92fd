"""Synthetic body-worn-camera footage for tests, demos and benchmarks.

Everything here is deterministic from a seed: the same arguments give the same frames
and the same audio samples (the encoded bytes also depend on the FFmpeg build).

The scene is a street seen from a walking officer's chest: sky, buildings with windows,
a road with lane markings, a car crossing, a person (with a face-like oval) walking, a
hand-held camera shake (a mean-reverting random walk plus a walking bob and a small
roll), sensor noise, and the burned-in overlay bodycams print, here
``AXON BODY 3 X81234567  2026-03-14T21:04:05Z`` with a ticking clock. The audio is an
engine hum, broadband noise and a few tonal chirps.

Speed: every texture is built once per clip; a frame costs one copy, a few filled
shapes, one ``cv2.warpAffine``, two saturating adds of a precomputed noise frame and
``cv2.putText``. A 10 s 640x360 clip with audio writes in about a second on two cores.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = [
    "DEFAULT_SERIAL",
    "DEFAULT_START",
    "SAMPLE_RATE",
    "bodycam_audio",
    "frames",
    "overlay_text",
    "write_bodycam_clip",
]

DEFAULT_START = datetime(2026, 3, 14, 21, 4, 5, tzinfo=UTC)
"""The clock the overlay shows when no ``start_time`` is given."""
DEFAULT_SERIAL = "X81234567"
SAMPLE_RATE = 48_000

_N_NOISE = 7  # noise frames in the bank, picked at random per frame
_Frame = NDArray[np.uint8]


def overlay_text(at: datetime, serial: str = DEFAULT_SERIAL) -> str:
    """The burned-in overlay line for the instant ``at`` (shown to whole seconds, UTC)."""
    at = at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
    return f"AXON BODY 3 {serial}  {at:%Y-%m-%dT%H:%M:%S}Z"


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: int) -> NDArray[np.float32]:
    """Zero-mean, unit-ish noise that varies over about ``cell`` pixels."""
    gh, gw = max(2, h // cell + 2), max(2, w // cell + 2)
    coarse = rng.standard_normal((gh, gw)).astype(np.float32)
    return np.asarray(cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC), np.float32)


@dataclass(frozen=True)
class _Scene:
    canvas: _Frame  # the static street (RGBA), larger than the frame by ``margin`` a side
    margin: int
    horizon: int  # canvas row of the horizon
    noise_pos: list[_Frame]
    noise_neg: list[_Frame]
    car_color: tuple[int, int, int]
    person_color: tuple[int, int, int]
    skin: tuple[int, int, int]


def _build_scene(rng: np.random.Generator, width: int, height: int, night: bool) -> _Scene:
    margin = int(0.06 * max(width, height)) + 4
    ch, cw = height + 2 * margin, width + 2 * margin
    horizon = margin + int(0.45 * height)
    rows = np.arange(ch, dtype=np.float32)[:, None, None]

    # Sky: a vertical gradient; road: dark asphalt; both in RGB floats 0..255.
    sky_top = np.array([40, 60, 110] if night else [120, 165, 225], np.float32)
    sky_low = np.array([70, 70, 90] if night else [200, 215, 235], np.float32)
    frac = np.clip(rows / max(horizon, 1), 0.0, 1.0)
    img = np.broadcast_to(sky_top + (sky_low - sky_top) * frac, (ch, cw, 3)).copy()
    img[horizon:] = np.array([70, 70, 74], np.float32)
    windows = np.zeros((ch, cw), bool)

    # Buildings along the horizon, with a grid of windows cut by slicing.
    x = 0
    while x < cw:
        bw = int(rng.integers(max(4, cw // 12), max(5, cw // 5)))
        bh = int(rng.integers(max(3, horizon // 3), max(4, int(horizon * 0.9))))
        top = max(0, horizon - bh)
        base = rng.integers(90, 200, size=3).astype(np.float32)
        img[top:horizon, x : x + bw] = base
        step = max(3, height // 30)
        win = np.zeros((horizon - top, min(bw, cw - x)), bool)
        win[step // 2 :: step, step // 3 :: step] = True
        win[step // 2 + 1 :: step, step // 3 :: step] = True
        win[step // 2 :: step, step // 3 + 1 :: step] = True
        win[step // 2 + 1 :: step, step // 3 + 1 :: step] = True
        img[top:horizon, x : x + bw][win] = np.array([60, 80, 100], np.float32)
        windows[top:horizon, x : x + bw] = win
        x += bw + int(rng.integers(0, max(1, cw // 40)))

    # Sidewalk band and lane markings in perspective.
    side = horizon + max(1, int(0.08 * height))
    img[horizon:side] = np.array([150, 145, 140], np.float32)
    cx = cw / 2
    for k in range(6):
        y0 = side + (ch - side) * (k / 6) ** 1.3
        y1 = side + (ch - side) * ((k + 0.5) / 6) ** 1.3
        w0 = 1 + 0.02 * width * (y0 - side) / max(1, ch - side)
        w1 = 1 + 0.02 * width * (y1 - side) / max(1, ch - side)
        pts = np.array([[cx - w0, y0], [cx + w0, y0], [cx + w1, y1], [cx - w1, y1]], np.int32)
        cv2.fillPoly(img, [pts], (230, 220, 120))

    # Texture: large blotches plus fine static grain, in scene coordinates.
    blotch = _smooth_noise(rng, ch, cw, max(8, width // 10))
    grain = rng.standard_normal((ch, cw)).astype(np.float32)
    grain = np.asarray(cv2.GaussianBlur(grain, (3, 3), 0.8), np.float32)
    img += (9.0 * blotch + 6.0 * grain)[:, :, None]

    if night:
        # Street lights: warm Gaussian glows, then everything dark and a little green.
        ys, xs = np.mgrid[0:ch, 0:cw].astype(np.float32)
        glow = np.zeros((ch, cw), np.float32)
        for _ in range(3):
            gx, gy = rng.uniform(0, cw), rng.uniform(0.2 * horizon, horizon)
            s = 0.08 * width
            glow += np.exp(-((xs - gx) ** 2 + (ys - gy) ** 2) / (2 * s * s))
        img *= 0.25
        img += glow[:, :, None] * np.array([130, 105, 55], np.float32)
        img[:, :, 1] *= 1.1
        lit = windows & (_smooth_noise(rng, ch, cw, max(4, width // 40)) > 0.3)
        img[lit] = np.array([240, 200, 120], np.float32)

    # Four channels: cv2.warpAffine is markedly faster on RGBA than on RGB.
    canvas = np.asarray(
        cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_RGB2RGBA), np.uint8
    )

    sigma = 6.0 if night else 2.0
    noise_pos: list[_Frame] = []
    noise_neg: list[_Frame] = []
    for _ in range(_N_NOISE):
        n = rng.normal(0.0, sigma, (height, width)).astype(np.float32)
        n3 = np.repeat(n[:, :, None], 3, axis=2)
        noise_pos.append(np.clip(n3, 0, 255).astype(np.uint8))
        noise_neg.append(np.clip(-n3, 0, 255).astype(np.uint8))

    dim = 0.35 if night else 1.0  # objects are lit like the street

    def color(lo: tuple[int, int, int], hi: tuple[int, int, int]) -> tuple[int, int, int]:
        r, g, b = (int(dim * rng.integers(a, z)) for a, z in zip(lo, hi, strict=True))
        return (r, g, b)

    return _Scene(
        canvas=canvas,
        margin=margin,
        horizon=horizon,
        noise_pos=noise_pos,
        noise_neg=noise_neg,
        car_color=color((30, 30, 30), (230, 230, 230)),
        person_color=color((30, 30, 30), (230, 230, 230)),
        skin=color((120, 90, 70), (235, 180, 150)),
    )


def _camera_path(
    rng: np.random.Generator, n: int, fps: float, width: int, height: int, margin: int
) -> NDArray[np.float64]:
    """Per-frame (dx, dy, roll_degrees): an Ornstein-Uhlenbeck walk plus a walking bob."""
    lim = 0.8 * margin
    steps = rng.standard_normal((n, 3))
    out = np.zeros((n, 3))
    theta = 2.0 / fps  # mean reversion per frame
    scale = np.array([0.004 * width, 0.004 * height, 0.08]) * math.sqrt(30.0 / fps)
    state = np.zeros(3)
    for i in range(n):  # 3 numbers a frame; cheap next to drawing
        state = state * (1.0 - theta) + steps[i] * scale
        out[i] = state
    t = np.arange(n) / fps
    out[:, 1] += 0.006 * height * np.sin(2 * math.pi * 1.8 * t)  # footsteps
    out[:, 0] += 0.003 * width * np.sin(2 * math.pi * 0.9 * t + 0.3)
    out[:, :2] = np.clip(out[:, :2], -lim, lim)
    out[:, 2] = np.clip(out[:, 2], -1.5, 1.5)
    return out


def _draw_objects(img: _Frame, scene: _Scene, t: float, width: int, height: int) -> None:
    """Draw the car and the person, at time ``t`` seconds, onto the scene canvas."""
    ch, cw = img.shape[:2]
    u = max(1.0, height / 100.0)  # a drawing unit

    # A car crossing the road left to right, wrapping around.
    car_w, car_h = int(24 * u), int(9 * u)
    span = cw + car_w
    x0 = int((0.12 * width * t + 0.3 * cw) % span) - car_w
    y1 = min(ch - 1, scene.horizon + int(0.30 * height))
    y0 = y1 - car_h
    cv2.rectangle(img, (x0, y0), (x0 + car_w, y1), scene.car_color, -1)
    cv2.rectangle(
        img,
        (x0 + int(5 * u), y0 - int(5 * u)),
        (x0 + car_w - int(6 * u), y0),
        scene.car_color,
        -1,
    )
    cv2.rectangle(
        img,
        (x0 + int(7 * u), y0 - int(4 * u)),
        (x0 + car_w - int(8 * u), y0),
        (40, 50, 60),
        -1,
    )
    r = max(1, int(2.5 * u))
    for wx in (x0 + int(5 * u), x0 + car_w - int(5 * u)):
        cv2.circle(img, (wx, y1), r, (20, 20, 20), -1)
    cv2.circle(img, (x0 + car_w, y0 + int(3 * u)), max(1, int(1.5 * u)), (255, 250, 210), -1)

    # A person walking the other way on the sidewalk, with a face-like oval.
    px = int(cw - ((0.05 * width * t + 0.4 * cw) % (cw + 20 * u)))
    bob = int(1.0 * u * abs(math.sin(2 * math.pi * 1.6 * t)))
    feet = scene.horizon + int(0.12 * height)
    body_h, body_w = int(14 * u), int(5 * u)
    cy = feet - body_h - bob
    cv2.ellipse(img, (px, cy), (body_w, body_h), 0, 0, 360, scene.person_color, -1)
    head = (px, cy - body_h - int(4 * u))
    axes = (max(1, int(3.5 * u)), max(1, int(4.5 * u)))
    cv2.ellipse(img, head, axes, 0, 0, 360, scene.skin, -1)
    e = max(1, int(0.6 * u))
    for ex in (-1, 1):
        cv2.circle(img, (head[0] + ex * int(1.4 * u), head[1] - int(1 * u)), e, (30, 25, 20), -1)
    cv2.ellipse(
        img, (head[0], head[1] + int(2 * u)), (int(1.5 * u), e), 0, 0, 180, (120, 40, 40), -1
    )


def frames(
    *,
    seconds: float = 10.0,
    width: int = 640,
    height: int = 360,
    fps: int = 30,
    seed: int = 0,
    night: bool = False,
    start_time: datetime | None = None,
    serial: str = DEFAULT_SERIAL,
) -> Iterator[_Frame]:
    """Yield ``round(seconds * fps)`` RGB frames (height, width, 3, uint8) of the scene.

    The frames are fresh arrays the caller may keep or modify.
    """
    if width < 2 or height < 2:
        raise ValueError(f"frame size {width}x{height} is too small")
    if fps <= 0 or seconds <= 0:
        raise ValueError("fps and seconds must be positive")
    rng = np.random.default_rng(seed)
    scene = _build_scene(rng, width, height, night)
    n = max(1, round(seconds * fps))
    path = _camera_path(rng, n, fps, width, height, scene.margin)
    picks = rng.integers(0, _N_NOISE, size=n)
    start = start_time or DEFAULT_START
    ch, cw = scene.canvas.shape[:2]
    centre = (cw / 2.0, ch / 2.0)
    font_scale = max(0.35, 0.45 * height / 360)
    thick = max(1, round(height / 360))
    org = (max(1, width // 64), max(8, int(0.05 * height)))
    work = np.empty_like(scene.canvas)
    label, label_second = "", -1
    for i in range(n):
        t = i / fps
        np.copyto(work, scene.canvas)
        _draw_objects(work, scene, t, width, height)
        dx, dy, roll = path[i]
        m = cv2.getRotationMatrix2D(centre, float(roll), 1.0)
        m[0, 2] += dx - scene.margin
        m[1, 2] += dy - scene.margin
        warped = cv2.warpAffine(
            work, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
        frame = np.asarray(cv2.cvtColor(warped, cv2.COLOR_RGBA2RGB), np.uint8)
        k = int(picks[i])
        cv2.add(frame, scene.noise_pos[k], dst=frame)
        cv2.subtract(frame, scene.noise_neg[k], dst=frame)
        second = int(t)
        if second != label_second:
            label, label_second = overlay_text(start + timedelta(seconds=second), serial), second
        # A dark outline (the same glyphs shifted: Hershey advances grow with thickness).
        for ox, oy in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            at = (org[0] + ox, org[1] + oy)
            cv2.putText(frame, label, at, cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), thick)
        cv2.putText(frame, label, org, cv2.FONT_HERSHEY_SIMPLEX, font_scale, (255, 255, 255), thick)
        yield frame


def bodycam_audio(
    seconds: float, *, sample_rate: int = SAMPLE_RATE, channels: int = 1, seed: int = 0
) -> NDArray[np.float32]:
    """Planar float32 audio, shape (channels, samples), peak about 0.5.

    An engine hum with harmonics and a slow wobble, broadband noise with a pinkish
    tilt, and a few rising tonal chirps (radio beeps) at random times.
    """
    if channels not in (1, 2):
        raise ValueError("channels must be 1 or 2")
    rng = np.random.default_rng([seed, 0xA0D10])
    n = max(1, round(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    f0 = 46.0 + 3.0 * np.sin(2 * math.pi * 0.13 * t + rng.uniform(0, 6))
    phase = 2 * math.pi * np.cumsum(f0) / sample_rate
    hum = sum(np.sin(k * phase) / k for k in range(1, 6)) * 0.12

    chirps = np.zeros(n)
    for _ in range(max(1, int(seconds / 2.5))):
        start = rng.uniform(0, max(0.0, seconds - 0.4))
        length = rng.uniform(0.12, 0.35)
        f_lo, f_hi = rng.uniform(600, 1200), rng.uniform(1500, 3000)
        i0, i1 = int(start * sample_rate), min(n, int((start + length) * sample_rate))
        if i1 <= i0:
            continue
        tt = np.arange(i1 - i0) / sample_rate
        f = f_lo + (f_hi - f_lo) * tt / length
        chirps[i0:i1] += (
            0.25 * np.hanning(i1 - i0) * np.sin(2 * math.pi * np.cumsum(f) / sample_rate)
        )

    out = np.empty((channels, n), np.float32)
    freqs = np.fft.rfftfreq(n, 1 / sample_rate)
    tilt = 1.0 / np.sqrt(np.maximum(freqs, 20.0) / 20.0)
    for c in range(channels):
        white = rng.standard_normal(n)
        pink = np.fft.irfft(np.fft.rfft(white) * tilt, n)
        pink *= 0.05 / max(1e-9, float(np.std(pink)))
        out[c] = hum + chirps * (1.0 if c == 0 else 0.8) + pink
    peak = float(np.max(np.abs(out)))
    if peak > 0:
        out *= 0.5 / peak
    return out


def write_bodycam_clip(
    path: Path,
    *,
    seconds: float = 10.0,
    width: int = 640,
    height: int = 360,
    fps: int = 30,
    seed: int = 0,
    audio: bool = True,
    night: bool = False,
    start_time: datetime | None = None,
    codec: str = "libx264",
    crf: int = 23,
    channels: int = 1,
    gop_seconds: float = 1.0,
    preset: str = "veryfast",
    serial: str = DEFAULT_SERIAL,
    faststart: bool = False,
) -> Path:
    """Write a synthetic bodycam clip and return ``path``.

    The container follows the suffix (``.mp4``, ``.mov``, ``.mkv``...): H.264 yuv420p
    video with a keyframe every ``gop_seconds`` (as bodycams do), and AAC audio at
    48 kHz with ``channels`` channels when ``audio`` is true. When ``start_time`` is
    given it becomes the container's ``creation_time`` and starts the overlay clock.
    ``faststart`` puts an MP4/MOV index (moov) before the media data, as streaming
    servers want. ``width`` and ``height`` must be even (yuv420p).
    """
    if width % 2 or height % 2:
        raise ValueError(f"width and height must be even for yuv420p, got {width}x{height}")
    path = Path(path)
    n = max(1, round(seconds * fps))
    container_options = {"movflags": "+faststart"} if faststart else None
    with av.open(str(path), "w", options=container_options) as out:
        if start_time is not None:
            at = start_time.astimezone(UTC) if start_time.tzinfo else start_time
            out.metadata["creation_time"] = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        options: dict[str, str] = {}
        if codec in ("libx264", "libx265"):
            options = {"crf": str(crf), "preset": preset}
        vs = out.add_stream(codec, rate=Fraction(fps), options=options)
        if not isinstance(vs, av.VideoStream):
            raise ValueError(f"{codec} is not a video codec")
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.codec_context.gop_size = max(1, round(gop_seconds * fps))
        vs.codec_context.thread_count = 2
        vs.codec_context.thread_type = "AUTO"

        samples: NDArray[np.float32] | None = None
        astream = None
        if audio:
            samples = bodycam_audio(n / fps, channels=channels, seed=seed)
            astream = out.add_stream("aac", rate=SAMPLE_RATE)
            astream.layout = "mono" if channels == 1 else "stereo"
        sent = 0  # audio samples handed to the encoder so far

        for i, rgb in enumerate(
            frames(
                seconds=seconds,
                width=width,
                height=height,
                fps=fps,
                seed=seed,
                night=night,
                start_time=start_time,
                serial=serial,
            )
        ):
            # OpenCV's I420 conversion is BT.601 limited range, as swscale's, and faster.
            yuv = np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420), np.uint8)
            vf = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
            vf.pts = i
            vf.time_base = Fraction(1, fps)
            out.mux(vs.encode(vf))
            if samples is not None and astream is not None:
                upto = min(samples.shape[1], (i + 1) * SAMPLE_RATE // fps)
                while sent + 1024 <= upto or (upto == samples.shape[1] and sent < upto):
                    chunk = np.ascontiguousarray(samples[:, sent : min(sent + 1024, upto)])
                    af = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=astream.layout)
                    af.sample_rate = SAMPLE_RATE
                    af.pts = sent
                    af.time_base = Fraction(1, SAMPLE_RATE)
                    out.mux(astream.encode(af))
                    sent += chunk.shape[1]
        out.mux(vs.encode(None))
        if astream is not None:
            out.mux(astream.encode(None))
    return path

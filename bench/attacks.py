"""Attack suite for the tracing bench: leaked copies made the way leaks happen.

Every attack reads a window of one or more input videos (an export, several exports for
collusion, the original evidence for a raw leak, or footage the vault never saw), maps
each leaked frame to the input frame it shows (``t_src = src_start + t_leak``: no class
here changes the playing speed; frame-rate changes drop or repeat frames as FFmpeg's
``fps`` filter does, a camcorder blends the two frames its shutter straddles), applies a
picture transform with OpenCV/numpy, and encodes the result with FFmpeg's encoders
through PyAV (libx264, libx265, libvpx-vp9). Unless the class is itself a codec, the
leak is carried by a final H.264 encode at a random CRF 23-28 (preset veryfast, x264's
default 250-frame keyframe interval), as a news or social site would.

These implementations are the bench's own (not ``custodes.media.leak.simulate_leak``):
an attack suite that reused the product's own simulation would only test the product
against its own model of a leak. Parameters are drawn per trial from the ranges of
issue 3 and recorded in the trial's ``params``.

Classes (``CLASSES``):

==============  ==========================================================================
h264            re-encode, libx264 CRF 23..38, preset veryfast or medium
hevc            re-encode, libx265 CRF 23..38, preset fast
vp9             re-encode, libvpx-vp9 CRF 30..50 (constant quality, b:v 0), cpu-used 5
scale_640x360   downscale to fit 640x360 (identity size for 640x360 sources: a re-encode)
scale_320x180   downscale to fit 320x180
crop            keep 60..95 % of the area (aspect jittered), at crop size or scaled back
letterbox       bars above and below (4:3, 5:4 or 1:1 frame)
pillarbox       bars left and right (21:9, 2:1 or 4:3-over-16:9 frame)
vertical        9:16 frame over a blurred, darkened copy; the whole picture or a 5:4 crop
banner          opaque or translucent news bands covering 10..25 % of the frame
logo_caption    a station logo in a corner and changing two-line captions
trim            5..60 s cut from anywhere (the only class that is not 10 s long)
fps             30 -> 25, 24 or 15 fps (FFmpeg ``fps`` filter semantics)
tone            brightness +-25, contrast 0.75..1.3, gamma 0.65..1.5, saturation 0..1.5
blur            Gaussian blur sigma 0.7..2.5
sharpen         unsharp mask, amount 0.5..1.5, sigma 0.8..2.5
noise           Gaussian noise sigma 2..10 levels, fresh every frame
mirror          left-right flip
camcord         a phone filming a monitor (30 s): perspective, drift and hand shake,
                screen in a dark surround, defocus, gamma and gain, vignette, moire,
                sensor noise, frame blending
collude2        the pixel mean of two recipients' exports
collude3        the pixel mean of three recipients' exports
raw             the original evidence, not an export (must name nobody)
unrelated       footage the vault never saw (must name nobody)
==============  ==========================================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

Frame = np.ndarray  # RGB uint8 (h, w, 3)
Fn = Callable[[Frame, float], Frame]

CLASSES = (
    "h264",
    "hevc",
    "vp9",
    "scale_640x360",
    "scale_320x180",
    "crop",
    "letterbox",
    "pillarbox",
    "vertical",
    "banner",
    "logo_caption",
    "trim",
    "fps",
    "tone",
    "blur",
    "sharpen",
    "noise",
    "mirror",
    "camcord",
    "collude2",
    "collude3",
    "raw",
    "unrelated",
)
NULL_CLASSES = ("raw", "unrelated")
"""Classes whose leak carries no export's mark: nobody may be named."""
COLLUSION = {"collude2": 2, "collude3": 3}


def min_seconds(cls: str, base: float) -> float:
    """Length of the leak: ``base`` (10 s), 3 x ``base`` for camcording, and for trims
    the shortest (``base / 2``; the bench draws up to 6 x ``base``, 5..60 s)."""
    if cls == "camcord":
        return 3.0 * base
    if cls == "trim":
        return 0.5 * base
    return base


@dataclass
class Encoder:
    codec: str = "libx264"
    options: dict[str, str] = field(default_factory=dict)
    suffix: str = ".mp4"

    def describe(self) -> dict[str, Any]:
        return {"codec": self.codec, **self.options}


def _carrier(rng: np.random.Generator) -> Encoder:
    crf = int(rng.integers(23, 29))
    return Encoder("libx264", {"crf": str(crf), "preset": "veryfast"})


def _even(v: float) -> int:
    return max(16, round(v) // 2 * 2)


def _fit(w: int, h: int, bw: int, bh: int) -> tuple[int, int]:
    s = min(bw / w, bh / h, 1.0)
    return _even(w * s), _even(h * s)


# --------------------------------------------------------------------------- reading


def read_window(path: Path, t0: float, t1: float) -> tuple[list[float], list[Frame], float]:
    """RGB frames of ``path`` with times in [t0 - 2 frames, t1 + 2 frames] and the fps."""
    with av.open(str(path)) as c:
        vs: Any = c.streams.video[0]
        vs.codec_context.thread_type = "AUTO"
        fps = float(vs.average_rate or vs.guessed_rate or 30)
        lo, hi = t0 - 2.0 / fps, t1 + 2.0 / fps
        if lo > 2.0 and vs.time_base:
            c.seek(int((lo - 1.5) / vs.time_base), stream=vs, backward=True)
        times: list[float] = []
        frames: list[Frame] = []
        last = -math.inf
        for fr in c.decode(vs):
            t = float(fr.time) if fr.time is not None else last + 1.0 / fps
            last = t
            if t < lo - 1e-6:
                continue
            if t > hi:
                break
            times.append(t)
            frames.append(fr.to_ndarray(format="rgb24"))
    if not frames:
        raise ValueError(f"{path.name}: no frames in [{t0:.2f}, {t1:.2f}]")
    return times, frames, fps


# -------------------------------------------------------------------------- transforms


def _blur_sigma(im: Frame, sigma: float) -> Frame:
    return cv2.GaussianBlur(im, (0, 0), sigma)


def _text(
    im: Frame,
    s: str,
    org: tuple[int, int],
    scale: float,
    color: tuple[int, int, int],
    thick: int,
    outline: bool = False,
) -> None:
    if outline:
        cv2.putText(im, s, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
    cv2.putText(im, s, org, cv2.FONT_HERSHEY_SIMPLEX, scale, color, thick, cv2.LINE_AA)


_WORDS = (
    "officer",
    "suspect",
    "vehicle",
    "downtown",
    "tonight",
    "footage",
    "police",
    "department",
    "released",
    "statement",
    "investigation",
    "mayor",
    "son",
    "stop",
    "traffic",
    "camera",
    "body",
    "worn",
    "exclusive",
    "obtained",
    "by",
    "channel",
)


def _caption(rng: np.random.Generator, n: int) -> str:
    return " ".join(str(rng.choice(_WORDS)) for _ in range(n)).upper()


def transform(
    cls: str, w: int, h: int, rng: np.random.Generator, params: dict[str, Any]
) -> tuple[int, int, Fn]:
    """Output size and per-frame function for a picture class; fills ``params``."""

    def ident(im: Frame, t: float) -> Frame:
        return im

    if cls in ("h264", "hevc", "vp9", "trim", "fps", "collude2", "collude3", "raw", "unrelated"):
        return w, h, ident
    if cls in ("scale_640x360", "scale_320x180"):
        bw, bh = (640, 360) if cls == "scale_640x360" else (320, 180)
        ow, oh = _fit(w, h, bw, bh)
        params.update(size=f"{ow}x{oh}")
        if (ow, oh) == (w, h):
            return w, h, ident
        return ow, oh, lambda im, t: cv2.resize(im, (ow, oh), interpolation=cv2.INTER_AREA)
    if cls == "crop":
        area = float(rng.uniform(0.6, 0.95))
        j = float(rng.uniform(0.8, 1.25))
        cw = min(w, int(w * math.sqrt(area * j)))
        ch = min(h, int(h * area / (cw / w)))
        x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        back = bool(rng.random() < 0.5)
        params.update(area=round(cw * ch / (w * h), 3), box=[x0, y0, cw, ch], rescaled=back)
        if back:
            return (
                w,
                h,
                lambda im, t: cv2.resize(
                    im[y0 : y0 + ch, x0 : x0 + cw], (w, h), interpolation=cv2.INTER_LINEAR
                ),
            )
        ow, oh = _even(cw), _even(ch)
        return ow, oh, lambda im, t: np.ascontiguousarray(im[y0 : y0 + oh, x0 : x0 + ow])
    if cls in ("letterbox", "pillarbox"):
        a = w / h
        if cls == "letterbox":
            target = float(rng.choice([4 / 3, 5 / 4, 1.0]))
            target = min(target, 0.8 * a)
            ow, oh = _even(w), _even(w / target)
        else:
            target = float(rng.choice([21 / 9, 2.0, a * 4 / 3]))
            target = max(target, 1.2 * a)
            ow, oh = _even(h * target), _even(h)
        scale = float(rng.choice([1.0, 640 / max(ow, oh)])) if max(ow, oh) > 640 else 1.0
        fw, fh = _even(ow * scale), _even(oh * scale)
        cw, chh = _fit(w, h, fw, fh) if scale < 1 else (_even(w), _even(h))
        bar = int(rng.choice([0, 16]))
        params.update(frame=f"{fw}x{fh}", picture=f"{cw}x{chh}", bar=bar)

        def boxed(im: Frame, t: float) -> Frame:
            out = np.full((fh, fw, 3), bar, np.uint8)
            pic = (
                im
                if (cw, chh) == (im.shape[1], im.shape[0])
                else cv2.resize(im, (cw, chh), interpolation=cv2.INTER_AREA)
            )
            y, x = (fh - chh) // 2, (fw - cw) // 2
            out[y : y + chh, x : x + cw] = pic[:chh, :cw]
            return out

        return fw, fh, boxed
    if cls == "vertical":
        oh = int(rng.choice([640, 720, 854]))
        ow = _even(oh * 9 / 16)
        crop = bool(rng.random() < 0.4)
        dim = float(rng.uniform(0.4, 0.8))
        sig = float(rng.uniform(8, 20))
        lift = float(rng.uniform(-0.12, 0.05))
        params.update(frame=f"{ow}x{oh}", crop_5x4=crop, bg_dim=round(dim, 2))
        if crop:
            cw = min(w, int(h * 5 / 4))
            cx = (w - cw) // 2
        else:
            cw, cx = w, 0
        fw = ow
        fh = _even(ow * h / cw)

        def vertical(im: Frame, t: float) -> Frame:
            bw = min(w, int(h * 9 / 16))
            bx = (w - bw) // 2
            bg = cv2.resize(im[:, bx : bx + bw], (ow, oh), interpolation=cv2.INTER_LINEAR)
            bg = (cv2.GaussianBlur(bg, (0, 0), sig) * dim).astype(np.uint8)
            fg = cv2.resize(im[:, cx : cx + cw], (fw, fh), interpolation=cv2.INTER_AREA)
            y = int((oh - fh) / 2 + lift * oh)
            bg[y : y + fh] = fg
            return bg

        return ow, oh, vertical
    if cls == "banner":
        cover = float(rng.uniform(0.10, 0.25))
        two = bool(rng.random() < 0.5)
        alpha = float(rng.choice([1.0, rng.uniform(0.6, 0.9)]))
        color = tuple(int(c) for c in rng.integers(0, 200, 3))
        speed = float(rng.uniform(30, 120))
        headline = _caption(rng, 5)
        params.update(cover=round(cover, 3), two_bands=two, alpha=round(alpha, 2))
        bands = [(h - int(h * cover * (0.7 if two else 1.0)), h)]
        if two:
            bands.append((0, int(h * cover * 0.3)))

        def banner(im: Frame, t: float) -> Frame:
            out = im.copy()
            for y0, y1 in bands:
                band = out[y0:y1].astype(np.float32)
                band = (1 - alpha) * band + alpha * np.array(color, np.float32)
                out[y0:y1] = band.astype(np.uint8)
                sc = max(0.35, (y1 - y0) / 70)
                x = int(w - (speed * t) % (w + 400))
                _text(
                    out,
                    "BREAKING  " + headline,
                    (x, y1 - (y1 - y0) // 3),
                    sc,
                    (255, 255, 255),
                    max(1, round(sc * 2)),
                )
            return out

        return w, h, banner
    if cls == "logo_caption":
        corner = int(rng.integers(4))
        lw = int(w * rng.uniform(0.12, 0.2))
        lh = int(lw * rng.uniform(0.35, 0.6))
        alpha = float(rng.uniform(0.6, 1.0))
        boxed = bool(rng.random() < 0.5)
        lines = [(_caption(rng, 4), _caption(rng, 3)) for _ in range(20)]
        params.update(
            logo=f"{lw}x{lh}", corner=corner, logo_alpha=round(alpha, 2), caption_box=boxed
        )
        lx = 8 if corner in (0, 2) else w - lw - 8
        ly = 8 if corner in (0, 1) else h - lh - 8 - (h // 5 if corner >= 2 else 0)
        logo = np.zeros((lh, lw, 3), np.uint8)
        logo[:] = tuple(int(c) for c in rng.integers(100, 255, 3))
        cv2.rectangle(logo, (2, 2), (lw - 3, lh - 3), (255, 255, 255), 2)
        _text(logo, "NEWS 7", (6, lh * 2 // 3), lh / 45, (255, 255, 255), 2)

        def logo_caption(im: Frame, t: float) -> Frame:
            out = im.copy()
            roi = out[ly : ly + lh, lx : lx + lw].astype(np.float32)
            out[ly : ly + lh, lx : lx + lw] = ((1 - alpha) * roi + alpha * logo).astype(np.uint8)
            a, b = lines[int(t / 2.0) % len(lines)]
            sc = max(0.35, h / 720)
            th = max(1, round(h / 360))
            y1 = h - h // 20
            y0 = y1 - int(h * 0.12)
            if boxed:
                reg = out[y0 - 4 : y1 + 4, w // 10 : w - w // 10].astype(np.float32)
                out[y0 - 4 : y1 + 4, w // 10 : w - w // 10] = (reg * 0.35).astype(np.uint8)
            _text(out, a, (w // 8, y0 + int(h * 0.045)), sc, (255, 255, 255), th, not boxed)
            _text(out, b, (w // 8, y1 - 2), sc, (255, 255, 255), th, not boxed)
            return out

        return w, h, logo_caption
    if cls == "tone":
        b = float(rng.uniform(-25, 25))
        c = float(rng.uniform(0.75, 1.3))
        g = float(rng.uniform(0.65, 1.5))
        s = float(rng.uniform(0.0, 1.5))
        params.update(
            brightness=round(b, 1), contrast=round(c, 3), gamma=round(g, 3), saturation=round(s, 3)
        )
        x = np.arange(256, dtype=np.float64) / 255.0
        lut = np.clip((255.0 * x**g - 128.0) * c + 128.0 + b, 0, 255).astype(np.float32)

        def tone(im: Frame, t: float) -> Frame:
            f = lut[im]
            gray = f @ np.array([0.299, 0.587, 0.114], np.float32)
            f = gray[..., None] + s * (f - gray[..., None])
            return np.clip(f + 0.5, 0, 255).astype(np.uint8)

        return w, h, tone
    if cls == "blur":
        sig = float(rng.uniform(0.7, 2.5))
        params.update(sigma=round(sig, 2))
        return w, h, lambda im, t: _blur_sigma(im, sig)
    if cls == "sharpen":
        amount = float(rng.uniform(0.5, 1.5))
        sig = float(rng.uniform(0.8, 2.5))
        params.update(amount=round(amount, 2), sigma=round(sig, 2))

        def sharpen(im: Frame, t: float) -> Frame:
            f = im.astype(np.float32)
            return np.clip(f + amount * (f - cv2.GaussianBlur(f, (0, 0), sig)), 0, 255).astype(
                np.uint8
            )

        return w, h, sharpen
    if cls == "noise":
        sig = float(rng.uniform(2.0, 10.0))
        nrng = np.random.default_rng(int(rng.integers(1 << 31)))
        params.update(sigma=round(sig, 2))

        def noise(im: Frame, t: float) -> Frame:
            n = nrng.normal(0.0, sig, im.shape).astype(np.float32)
            return np.clip(im.astype(np.float32) + n, 0, 255).astype(np.uint8)

        return w, h, noise
    if cls == "mirror":
        return w, h, lambda im, t: np.ascontiguousarray(im[:, ::-1])
    if cls == "camcord":
        return w, h, camcorder(w, h, rng, params)
    raise ValueError(f"unknown attack class {cls!r}")


def camcorder(w: int, h: int, rng: np.random.Generator, params: dict[str, Any]) -> Fn:
    """A phone filming a monitor in a dim room."""
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    fill = float(rng.uniform(0.72, 0.95))  # how much of the phone frame the screen fills
    tilt = float(rng.uniform(0.0, 0.07))
    base = src + rng.uniform(-tilt, tilt, (4, 2)) * [w, h]
    base = (base - [w / 2, h / 2]) * fill + [w / 2, h / 2]
    drift = float(rng.uniform(0.005, 0.02))
    shake = float(rng.uniform(0.5, 2.0))
    ph = rng.uniform(0, 2 * math.pi, 6)
    blur = float(rng.uniform(0.6, 1.8))
    gamma = float(rng.uniform(0.75, 1.25))
    gain = float(rng.uniform(0.75, 1.05))
    lift = float(rng.uniform(5, 25))
    noise = float(rng.uniform(1.5, 5.0))
    moire_amp = float(rng.uniform(0.015, 0.05))
    fx, fy = rng.uniform(0.4, 1.3), rng.uniform(-0.6, 0.6)
    tint = rng.uniform(0.9, 1.1, 3).astype(np.float32)
    params.update(
        fill=round(fill, 3),
        tilt=round(tilt, 3),
        blur=round(blur, 2),
        gamma=round(gamma, 3),
        gain=round(gain, 3),
        noise=round(noise, 2),
        moire=round(moire_amp, 3),
        shake_px=round(shake, 2),
    )
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    vign = 1 - 0.35 * (((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2)
    moire = 1 + moire_amp * np.sin(xx * fx + yy * fy) * np.sin(xx * 0.05 - yy * 0.9)
    mul = (vign * moire)[:, :, None] * tint[None, None, :] * gain
    nrng = np.random.default_rng(int(rng.integers(1 << 31)))

    def camcord(im: Frame, t: float) -> Frame:
        dx = drift * w * math.sin(2 * math.pi * 0.21 * t + ph[0]) + shake * math.sin(
            2 * math.pi * 3.1 * t + ph[2]
        )
        dy = drift * h * math.sin(2 * math.pi * 0.17 * t + ph[1]) + shake * math.sin(
            2 * math.pi * 2.3 * t + ph[3]
        )
        rot = 0.01 * math.sin(2 * math.pi * 0.13 * t + ph[4])
        c, s = math.cos(rot), math.sin(rot)
        q = base - [w / 2, h / 2]
        q = q @ np.array([[c, s], [-s, c]], np.float32) + [w / 2 + dx, h / 2 + dy]
        m = cv2.getPerspectiveTransform(src, q.astype(np.float32))
        warped = cv2.warpPerspective(
            im, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=(18, 16, 14)
        )
        f = cv2.GaussianBlur(warped.astype(np.float32), (0, 0), blur)
        f = (255.0 * (f / 255.0) ** gamma) * mul + lift
        f += nrng.normal(0, noise, (h, w, 1)).astype(np.float32)
        return np.clip(f, 0, 255).astype(np.uint8)

    return camcord


# ---------------------------------------------------------------------------- leaks


@dataclass
class Input:
    path: Path
    offset_s: float  # source time shown at this file's time 0


def make_leak(
    cls: str,
    inputs: list[Input],
    src_start: float,
    seconds: float,
    dest: Path,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """Write the leak to ``dest`` (suffix replaced by the encoder's); return its record.

    Leak frame ``i`` shows source time ``src_start + i / out_fps``.
    """
    params: dict[str, Any] = {}
    windows = [
        read_window(i.path, src_start - i.offset_s, src_start - i.offset_s + seconds)
        for i in inputs
    ]
    _times0, frames0, in_fps = windows[0]
    h, w = frames0[0].shape[:2]
    out_fps = in_fps
    if cls == "fps":
        target = int(rng.choice([25, 24, 15]))
        out_fps = in_fps * target / 30.0
        params.update(fps=f"{in_fps:g}->{out_fps:g}")
    ow, oh, fn = transform(cls, w, h, rng, params)
    if cls == "h264":
        enc = Encoder(
            "libx264",
            {
                "crf": str(int(rng.integers(23, 39))),
                "preset": str(rng.choice(["veryfast", "medium"])),
            },
        )
    elif cls == "hevc":
        enc = Encoder(
            "libx265",
            {
                "crf": str(int(rng.integers(23, 39))),
                "preset": "fast",
                "x265-params": "log-level=error",
            },
        )
    elif cls == "vp9":
        enc = Encoder(
            "libvpx-vp9",
            {
                "crf": str(int(rng.integers(30, 51))),
                "b": "0",
                "cpu-used": "5",
                "deadline": "good",
                "row-mt": "1",
            },
            ".webm",
        )
    else:
        enc = _carrier(rng)
    dest = dest.with_suffix(enc.suffix)
    n = max(1, math.floor(seconds * out_fps + 1e-6))
    rate_q = Fraction(out_fps).limit_denominator(1001)
    with av.open(str(dest), "w") as out:
        vs: Any = out.add_stream(enc.codec, rate=rate_q, options=dict(enc.options))
        vs.width, vs.height, vs.pix_fmt = ow, oh, "yuv420p"
        vs.codec_context.thread_type = "AUTO"
        for i in range(n):
            tl = i / out_fps
            ims = []
            for (times, frames, fps), inp in zip(windows, inputs, strict=True):
                tin = np.asarray(times)
                ts = src_start - inp.offset_s + tl
                if cls == "camcord":
                    k = int(np.searchsorted(tin, ts, side="right")) - 1
                    k = min(max(k, 0), len(frames) - 2)
                    a = float(np.clip((ts - tin[k]) * fps, 0.0, 1.0))
                    ims.append(cv2.addWeighted(frames[k], 1 - a, frames[k + 1], a, 0))
                else:
                    ims.append(frames[int(np.argmin(np.abs(tin - ts)))])
            if len(ims) == 1:
                im = ims[0]
            else:
                im = np.clip(
                    np.mean(np.stack(ims).astype(np.float32), axis=0) + 0.5, 0, 255
                ).astype(np.uint8)
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(fn(im, tl)), format="rgb24")
            vf.pts = i
            vf.time_base = 1 / rate_q
            for p in vs.encode(vf):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
    return {
        "path": str(dest),
        "params": params,
        "encoder": enc.describe(),
        "out_fps": out_fps,
        "frames": n,
        "size": f"{ow}x{oh}",
        "bytes": dest.stat().st_size,
    }

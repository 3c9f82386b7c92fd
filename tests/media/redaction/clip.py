"""The clip the redaction tests work on, and measures of how well boxes cover it.

The clip: the synthetic street of ``custodes.media.synth`` with a real face pasted on
it (the astronaut of scikit-image's wheel, ``skimage/data/astronaut.png``, read as a
file), moving left to right and left out for two frames (an occlusion), and a textured
"licence plate" moving across the road.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from custodes.media.faces import Box
from custodes.media.redaction import PlanBox
from custodes.media.synth import SAMPLE_RATE, bodycam_audio, frames

W, H, FPS, SECONDS = 320, 180, 30, 2.0
N = round(SECONDS * FPS)
OCCLUDED = (20, 21)
PLATE_SEED_FRAME = 15


@dataclass(frozen=True)
class Clip:
    path: Path
    faces: dict[int, Box]  # the face (not the whole pasted head) in each frame shown
    plates: dict[int, Box]
    sha256: str


def head_sprite(width: int) -> tuple[np.ndarray, np.ndarray, Box]:
    """The astronaut's head (RGB float), a soft oval alpha, and the face box inside it."""
    path = importlib.resources.files("skimage.data") / "astronaut.png"
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None
    head = bgr[20:210, 140:300, ::-1]  # rows, cols of the head in the 512x512 image
    s = width / head.shape[1]
    head = cv2.resize(head, (width, round(head.shape[0] * s)), interpolation=cv2.INTER_AREA)
    h, w = head.shape[:2]
    alpha = np.zeros((h, w), np.float32)
    cv2.ellipse(alpha, (w // 2, h // 2), (w // 2 - 1, h // 2 - 1), 0, 0, 360, 1.0, -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 1.5)[:, :, None]
    face = Box(38 * s, 42 * s, 126 * s, 156 * s)  # face within the crop
    return head.astype(np.float32), alpha, face


def plate_texture() -> np.ndarray:
    rng = np.random.default_rng(7)
    plate = np.full((22, 44, 3), 235, np.uint8)
    for x in range(3, 41, 5):
        plate[4:18, x : x + 2 + int(rng.integers(0, 2))] = 20
    cv2.rectangle(plate, (0, 0), (43, 21), (40, 40, 160), 1)
    return plate


def write_clip(path: Path) -> Clip:
    head, alpha, face = head_sprite(64)
    hh, hw = head.shape[:2]
    plate = plate_texture()
    faces: dict[int, Box] = {}
    plates: dict[int, Box] = {}
    samples = bodycam_audio(SECONDS, seed=5)
    with av.open(str(path), "w") as out:
        vs = out.add_stream(
            "libx264", rate=Fraction(FPS), options={"crf": "20", "preset": "ultrafast"}
        )
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
        aus = out.add_stream("aac", rate=SAMPLE_RATE)
        aus.layout = "mono"
        sent = 0
        for i, rgb in enumerate(frames(seconds=SECONDS, width=W, height=H, fps=FPS, seed=2)):
            x = 20 + (W - hw - 40) * i // (N - 1)
            y = int(H * 0.12 + 8 * math.sin(i / 6))
            if i not in OCCLUDED:
                roi = rgb[y : y + hh, x : x + hw].astype(np.float32)
                rgb[y : y + hh, x : x + hw] = (roi * (1 - alpha) + head * alpha).astype(np.uint8)
                faces[i] = Box(x + face.x0, y + face.y0, x + face.x1, y + face.y1)
            px, py = 190 + 60 * i // (N - 1), 128 + 12 * i // (N - 1)
            rgb[py : py + 22, px : px + 44] = plate
            plates[i] = Box(px, py, px + 44, py + 22)
            yuv = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)
            vf = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
            vf.pts, vf.time_base = i, Fraction(1, FPS)
            out.mux(vs.encode(vf))
            upto = min(samples.shape[1], (i + 1) * SAMPLE_RATE // FPS)
            while sent < upto:
                chunk = np.ascontiguousarray(samples[:, sent : min(sent + 1024, upto)])
                af = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
                af.sample_rate, af.pts, af.time_base = SAMPLE_RATE, sent, Fraction(1, SAMPLE_RATE)
                out.mux(aus.encode(af))
                sent += chunk.shape[1]
        out.mux(vs.encode(None))
        out.mux(aus.encode(None))
    return Clip(path, faces, plates, hashlib.sha256(path.read_bytes()).hexdigest())


def decode_rgb(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def decode_audio(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        chunks = [f.to_ndarray().reshape(-1) for f in c.decode(audio=0)]
    return np.concatenate(chunks).astype(np.float64)


def coverage(inner: Box, boxes: list[PlanBox]) -> float:
    """Share of ``inner``'s area inside the union of ``boxes`` (on a pixel grid)."""
    x0, y0 = math.floor(inner.x0), math.floor(inner.y0)
    x1, y1 = math.ceil(inner.x1), math.ceil(inner.y1)
    mask = np.zeros((y1 - y0, x1 - x0), bool)
    for b in boxes:
        mask[
            max(0, math.floor(b.y0) - y0) : max(0, math.ceil(b.y1) - y0),
            max(0, math.floor(b.x0) - x0) : max(0, math.ceil(b.x1) - x0),
        ] = True
    return float(mask.mean())


def overlap(a: Box, b: Box) -> float:
    ix = min(a.x1, b.x1) - max(a.x0, b.x0)
    iy = min(a.y1, b.y1) - max(a.y0, b.y0)
    if ix <= 0 or iy <= 0:
        return 0.0
    return ix * iy / min(a.area, b.area)

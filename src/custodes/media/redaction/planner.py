"""Planning: decode the original once, find faces and follow regions (:func:`plan_redaction`).

Faces are found by a detector (:class:`Detector`, e.g.
:class:`custodes.media.faces.FaceDetector`) on every ``detect_every``-th frame (by
default as many as give at least ``FLOW_HZ`` looks a second, ``DETECT_HZ`` with
``carry="linear"``), at a scene cut and where a carried box's motion jumps, at the
detector's own input size; between looks the boxes are carried with the picture
(:mod:`.carry`) and then joined into tracks (:mod:`.tracks`); drawn regions are followed
on frames at most ``work_side`` pixels on their longer side (:mod:`.regions`). Nothing
is written: the result is a :class:`~custodes.media.redaction.plan.RedactionPlan`."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import av
import cv2
import numpy as np
from numpy.typing import NDArray

from custodes.core.errors import InvalidInput
from custodes.media.faces import Box
from custodes.media.redaction.carry import Carrier, is_cut, small_gray, step, thumb
from custodes.media.redaction.plan import (
    MAX_LABEL,
    PlanBox,
    RedactionPlan,
    RegionSeed,
    TrackingParams,
)
from custodes.media.redaction.regions import MILTracker, Region, TemplateTracker, region_box
from custodes.media.redaction.tracks import (
    Carried,
    associate,
    carried_boxes,
    detect_every_for,
    track_boxes,
)

__all__ = ["Detector", "plan_redaction"]

Progress = Callable[[int], None]
CARRY_S = 2.0  # longest a box is carried from a look, seconds
LANDED_IOU = 0.4  # a box carried to a look that overlaps a detection this much found it
_U8 = NDArray[np.uint8]


class Detector(Protocol):
    """What :func:`plan_redaction` needs from a face detector."""

    name: str
    threshold: float

    @property
    def version(self) -> str: ...

    def lineage(self) -> dict[str, Any]: ...

    def input_size(self, width: int, height: int) -> tuple[int, int]: ...

    def detect(self, image: _U8, *, bgr: bool = False) -> list[Box]: ...


def plan_redaction(
    path: Path,
    *,
    faces: bool = True,
    regions: Sequence[RegionSeed] = (),
    detector: Detector | None = None,
    params: TrackingParams = TrackingParams(),
    work_side: int = 640,
    flow_side: int = 640,
    source_sha256: str | None = None,
    progress: Progress | None = None,
) -> RedactionPlan:
    """Decode ``path`` once and return the boxes to redact in each frame.

    ``detector`` is required when ``faces`` is true; it sees each frame it looks at in
    its own input size (``Detector.input_size``). Drawn regions are followed forward
    from the frame shown at ``t_s`` on frames at most ``work_side`` pixels on their
    longer side. With ``params.carry == "flow"`` (the default) face boxes are carried
    between looks with the motion of their pixels (:mod:`.carry`) on a grayscale copy of
    each frame at most ``flow_side`` pixels on its longer side, of which only the frames
    since the previous look are kept.
    """
    if faces and detector is None:
        raise InvalidInput("face redaction needs a face detector")
    if params.detect_every < 0:
        raise InvalidInput("detect_every must be 0 (from the frame rate) or more")
    if params.carry not in ("flow", "linear"):
        raise InvalidInput(f"unknown way to carry boxes between looks {params.carry!r}")
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
        return _plan(
            path, faces, seeds, detector, params, work_side, flow_side, source_sha256, progress
        )
    except av.error.FFmpegError as exc:
        raise InvalidInput(f"cannot decode {path.name}: {exc}") from exc


def _plan(
    path: Path,
    faces: bool,
    seeds: list[RegionSeed],
    detector: Detector | None,
    params: TrackingParams,
    work_side: int,
    flow_side: int,
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
            params = replace(params, detect_every=detect_every_for(fps, params.carry))
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
        flow = faces and detector is not None and params.carry == "flow"
        fscale = min(1.0, flow_side / max(width, height))
        fw, fh = max(8, round(width * fscale)), max(8, round(height * fscale))
        fx, fy = fw / width, fh / height
        # how far a box is carried from its look: until a later look finds it again, it
        # is lost, or CARRY_S (a detector that does not see a face at one look has not
        # shown that it left)
        reach = max(params.hold, params.detect_every + 1, round(CARRY_S * fps))
        recent: deque[Any] = deque(maxlen=reach + 1)  # the small gray frames since the last look
        ahead: list[Carrier] = []
        carriers: dict[int, tuple[Carrier, Carrier]] = {}  # id(detection) -> forward, backward
        prev_thumb: Any = None
        last_look, last_cut = -(10**9), 0
        pending = [Region(k + 1, s, -1) for k, s in enumerate(sorted(seeds, key=lambda s: s.t_s))]
        live: list[Region] = []
        index = 0
        t0: float | None = None
        for frame in inp.decode(vin):
            t = float(frame.time) if frame.time is not None else index / fps
            if t0 is None:
                t0 = t
            gray_f: _U8 | None = None
            cut = jumped = False
            if flow:
                gray_f = small_gray(frame, (fw, fh))
                th = thumb(gray_f)
                cut, prev_thumb = is_cut(prev_thumb, th), th
                if cut:  # what was carried is gone from the picture
                    last_cut = index
                    for c in ahead:
                        c.reach = abs(c.frame - c.start)
                elif recent:
                    step(recent[-1], gray_f, ahead)
                    jumped = any(c.jumped for c in ahead if c.frame == index)
                ahead = [c for c in ahead if not c.done]
                recent.append(gray_f)
            since = index - last_look
            look = (
                faces
                and detector is not None
                and (
                    since >= params.detect_every
                    or cut
                    or (jumped and since >= max(1, params.detect_every // 2))
                )
            )
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
                last_look = index
                if gray_f is not None:
                    back = min(reach, index - last_cut)
                    behind: list[Carrier] = []
                    arrived = carriers_here(ahead, index)
                    for b in detections[index]:
                        fb = np.array([b.x0 * fx, b.y0 * fy, b.x1 * fx, b.y1 * fy])
                        fwd = Carrier.at(gray_f, index, fb, 1, reach)
                        ahead.append(fwd)
                        # where a box carried from the last look landed on this face, the
                        # frames since are covered by it: no need to carry this one back
                        best = max(arrived, key=lambda c: _iou(fb, c.box), default=None)
                        if best is not None and _landed(fb, best.box):
                            carriers[id(b)] = (fwd, best)
                            best.reach = abs(best.frame - best.start)  # this one goes on
                            arrived.remove(best)
                            continue
                        bwd = Carrier.at(gray_f, index, fb, -1, back)
                        carriers[id(b)] = (fwd, bwd)
                        behind.append(bwd)
                    later = gray_f
                    for earlier in list(recent)[-2::-1]:  # back over the frames before this one
                        if all(c.done for c in behind):
                            break
                        step(later, earlier, behind)
                        later = earlier
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
                        TemplateTracker(gray, wbox)
                        if params.region_tracker == "template"
                        else MILTracker(gray, wbox)
                    )
                    live.append(reg)
                    region_boxes.setdefault(index, []).append(
                        region_box(reg, s.x, s.y, s.w, s.h, "seed", width, height, params)
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
                        region_box(reg, x * sx, y * sy, w * sx, h * sy, how, width, height, params)
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
        moved = {k: (_source(f, fx, fy), _source(b, fx, fy)) for k, (f, b) in carriers.items()}
        for tr in associate(detections, params):
            filled = (
                carried_boxes(tr, moved, width, height, params, least)
                if params.carry == "flow"
                else track_boxes(tr, index, width, height, params, least)
            )
            for f, pb in filled.items():
                boxes.setdefault(f, []).append(pb)
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


def _source(c: Carrier, fx: float, fy: float) -> Carried:
    """Where ``c`` carried its box, in source pixels (it works on the small frames)."""
    scale = np.array([fx, fy, fx, fy])
    return {f: (box / scale, w / min(fx, fy)) for f, (box, w) in c.out.items()}


def carriers_here(carriers: list[Carrier], frame: int) -> list[Carrier]:
    """The carriers that reached ``frame`` with their points (not lost on the way)."""
    return [c for c in carriers if c.frame == frame and len(c.pts) and not c.jumped]


def _landed(det: Any, carried: Any) -> bool:
    """Whether a box carried to a look is the face detected there: they overlap by
    ``LANDED_IOU``, or their centres are within a third of the face's size."""
    if _iou(det, carried) >= LANDED_IOU:
        return True
    size = max(det[2] - det[0], det[3] - det[1], 1.0)
    dx = (det[0] + det[2] - carried[0] - carried[2]) / 2
    dy = (det[1] + det[3] - carried[1] - carried[3]) / 2
    return bool(math.hypot(dx, dy) < size / 3)


def _iou(a: Any, b: Any) -> float:
    ix = min(a[2], b[2]) - max(a[0], b[0])
    iy = min(a[3], b[3]) - max(a[1], b[1])
    if ix <= 0 or iy <= 0:
        return 0.0
    inter = ix * iy
    return float(inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter))

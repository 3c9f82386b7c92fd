"""Face tracks: detections joined over time, then filled into a box per frame.

Detections are joined into tracks by greedy association on IoU against a
constant-velocity prediction, falling back on centre distance (:func:`associate`). Since
the whole video is known before anything is rendered the tracks are filled in both
directions (:func:`track_boxes`): frames between two detections of a track (a face the
detector missed for a frame or two, or frames it did not look at) get the box
interpolated linearly; each track is held ``hold`` frames before its first and after its
last detection; boxes are smoothed in time (moving-average centre, running-maximum
size, never smaller than the unsmoothed box) and grown by a margin. That is
``carry="linear"``; with ``carry="flow"`` (the default) :func:`carried_boxes` fills a
track from its detections carried with the picture (:mod:`.carry`) instead of straight
lines and holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from custodes.media.faces import Box
from custodes.media.redaction.plan import PlanBox, TrackingParams

__all__ = ["detect_every_for"]


DETECT_HZ = 10  # least looks a second of the face detector, boxes interpolated between
FLOW_HZ = 6  # ... and with boxes carried with the picture between looks
GROWTH = 0.03  # box growth per frame away from the nearest detection, share of its size
MAX_GROWTH = 0.3


@dataclass
class Track:
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


def detect_every_for(fps: float, carry: str = "linear") -> int:
    """The default detector stride: every k-th frame, at least ``DETECT_HZ`` looks a second
    (``FLOW_HZ`` when boxes are carried with the picture between looks)."""
    if not math.isfinite(fps) or fps <= 0:
        return 1
    return max(1, int(fps // (FLOW_HZ if carry == "flow" else DETECT_HZ)))


def associate(detections: dict[int, list[Box]], params: TrackingParams) -> list[Track]:
    """Join per-frame detections into tracks, greedily, best match first."""
    max_gap = max(params.max_gap, 2 * params.detect_every + 1)
    active: list[Track] = []
    done: list[Track] = []
    next_id = 1
    for frame in sorted(detections):
        still: list[Track] = []
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
                track = Track(next_id)
                track.add(frame, d)
                active.append(track)
                next_id += 1
    return sorted(done + active, key=lambda t: t.id)


def track_boxes(
    tr: Track,
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
    return _finish(tr, span, raw, grow, np.zeros(len(span)), width, height, params, min_margin)


def _finish(
    tr: Track,
    span: np.ndarray,
    raw: np.ndarray,
    grow: np.ndarray,
    wide: np.ndarray,
    width: int,
    height: int,
    params: TrackingParams,
    min_margin: float,
) -> dict[int, PlanBox]:
    """Smooth ``raw`` (boxes over ``span``), widen by the margin and ``grow`` (shares of
    the size) and by ``wide`` pixels, and label each frame's box (detected, interpolated
    between detections, held)."""
    det_frames = sorted(tr.dets)
    first, last = det_frames[0], det_frames[-1]
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
    mw = np.maximum((box[:, 2] - box[:, 0]) * (params.margin + grow) + wide, min_margin)
    mh = np.maximum((box[:, 3] - box[:, 1]) * (params.margin + grow) + wide, min_margin)
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


Carried = dict[int, tuple[np.ndarray, float]]  # frame -> box (x0, y0, x1, y1) and widening


def carried_boxes(
    tr: Track,
    carried: dict[int, tuple[Carried, Carried]],
    width: int,
    height: int,
    params: TrackingParams,
    min_margin: float = 0.0,
) -> dict[int, PlanBox]:
    """Fill a track into per-frame boxes from its detections carried with the picture.

    ``carried`` maps ``id(box)`` of each detection to where it was carried forward and
    backward (:mod:`.carry`, in source pixels). Between two detections a frame gets the
    union of the earlier one carried forward and the later one carried backward (each
    widened by its own uncertainty; one far less sure than the other, having lost its
    points, is left out), or the one of them that reached it, or, where
    neither did, the straight line between them; before the first detection the box
    carried backward, after the last the box carried forward. Then smoothed and given
    the margin as :func:`track_boxes` does.
    """
    det_frames = sorted(tr.dets)
    first, last = det_frames[0], det_frames[-1]
    back = {f: v for f, v in carried[id(tr.dets[first])][1].items() if f < first}
    ahead = carried[id(tr.dets[last])][0]
    lo = min([first, *back])
    hi = max([last, *ahead])
    span = np.arange(lo, hi + 1)
    raw = np.zeros((len(span), 4))
    wide = np.zeros(len(span))
    grow = np.zeros(len(span))
    det_idx = np.array(det_frames)
    for j, f in enumerate(span.tolist()):
        if f in tr.dets:
            raw[j] = tr.dets[f].as_tuple()[:4]
            continue
        if f < first or f > last:
            b, w = (back if f < first else ahead)[f]
            raw[j], wide[j] = b, w
            continue
        k = int(np.searchsorted(det_idx, f))
        a, z = det_frames[k - 1], det_frames[k]
        got = [c[f] for c in (carried[id(tr.dets[a])][0], carried[id(tr.dets[z])][1]) if f in c]
        if not got:  # neither reached: the straight line, grown as track_boxes grows it
            ba, bz = np.array(tr.dets[a].as_tuple()[:4]), np.array(tr.dets[z].as_tuple()[:4])
            u = (f - a) / (z - a)
            raw[j] = ba + u * (bz - ba)
            grow[j] = min(MAX_GROWTH, GROWTH * min(f - a, z - f))
            continue
        if len(got) == 2:  # one that lost its way (far less sure than the other) is left out
            size = float(max(got[0][0][2] - got[0][0][0], got[0][0][3] - got[0][0][1], 1.0))
            (_, wa), (_, wz) = got
            if wa > 2 * wz + 0.05 * size:
                got = got[1:]
            elif wz > 2 * wa + 0.05 * size:
                got = got[:1]
        boxes = np.array([g[0] - (g[1], g[1], -g[1], -g[1]) for g in got])
        raw[j] = np.concatenate([boxes[:, :2].min(axis=0), boxes[:, 2:].max(axis=0)])
    return _finish(tr, span, raw, grow, wide, width, height, params, min_margin)

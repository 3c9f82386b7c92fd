"""The redaction plan: the boxes to hide in each frame, and its JSON sidecar.

:class:`RedactionPlan` lists the boxes of every frame (:class:`PlanBox`), the regions a
person drew (:class:`RegionSeed`) and the settings that made them (:class:`TrackingParams`),
and serialises to JSON: the sidecar a reviewer loads and corrects.
:meth:`RedactionPlan.from_json` validates it field by field and refuses anything
corrupt or hostile with a one-line :class:`~custodes.core.errors.InvalidInput`.
"""

from __future__ import annotations

import json
import math
import os
import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from custodes.core import jsontext
from custodes.core.errors import CustodesError, InvalidInput

__all__ = ["PLAN_FORMAT", "PlanBox", "RedactionPlan", "RegionSeed", "TrackingParams"]


PLAN_FORMAT = "custodes-redaction-plan"
PLAN_VERSION = 1
MAX_PLAN_BYTES = 256 * 1024 * 1024
MAX_BOXES_PER_FRAME = 256
MAX_LABEL = 100


KINDS = ("face", "region")
CARRIES = ("flow", "linear")
HOWS = ("detected", "interpolated", "held", "seed", "tracked", "manual")


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
    carry: str = "flow"  # between looks: "flow" (with the picture) or "linear" (straight line)


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

    def applied(self) -> dict[str, Any]:
        """What this plan hides, for the record: faces (whether they were searched for)
        and each drawn region's label, with their boxes, frames and spans (seconds from
        the start of the recording, frame ``i`` showing from ``i / fps``)."""
        faces: dict[int, int] = {}
        regions: dict[str, dict[int, int]] = {}
        for i in self.frames_with_boxes():
            for b in self.boxes[i]:
                counts = faces if b.kind == "face" else regions.setdefault(b.label, {})
                counts[i] = counts.get(i, 0) + 1
        for seed in self.regions:  # a region drawn and then deleted still names its label
            regions.setdefault(seed.label, {})
        return {
            "faces": {"searched": self.faces, **_extent(faces, self.fps)},
            "regions": [
                {"label": label, **_extent(regions[label], self.fps)} for label in sorted(regions)
            ],
        }

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


def _extent(counts: dict[int, int], fps: float) -> dict[str, Any]:
    """Boxes, frames and the spans of consecutive frames (seconds) of ``counts``."""
    spans: list[list[float]] = []
    last = -2
    for i in sorted(counts):
        if i == last + 1:
            spans[-1][1] = round((i + 1) / fps, 3)
        else:
            spans.append([round(i / fps, 3), round((i + 1) / fps, 3)])
        last = i
    return {"boxes": sum(counts.values()), "frames": len(counts), "spans": spans}


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
            # plans written before boxes were carried with the picture interpolated them
            carry=_choice(raw.get("carry", "linear"), "params.carry", CARRIES),
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

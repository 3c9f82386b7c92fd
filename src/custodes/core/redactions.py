"""What a redaction applied, and what a person may accept it as covering (issue 22).

A redaction records what it *applied* (``applied``: faces, whether they were searched for,
and each drawn region's label, with their boxes, frames and spans in seconds; the audio
muted or bleeped), on its signed ``redact`` event. A person who reviewed the copy accepts
it as covering some of the policy pack's redaction kinds; a release needs, for each file,
an accepted redaction covering every kind its decision requires.

What a redaction can cover:

* every face kind (``faces``, ``bystander-faces``, ``minors``, ``victims``) by faces
  searched for by the detector (or face boxes a reviewer placed in the sidecar); each
  face kind also by a region drawn and labelled as it (``minor``, ``victim``,
  ``bystander``, ``face``);
* ``plates`` only by regions labelled as a plate (``--region T:X,Y,W,H:plate``): no plate
  detector ships, a person draws each plate and the tracker follows it;
* ``interior`` by regions labelled ``interior``;
* ``audio`` by audio muted or bleeped, over ranges that cover the decision's;
* ``cut`` by nothing: the release itself leaves the decision's cut ranges out.

A kind the redaction attempted but that hid nothing (faces searched for, none boxed; a
plate region whose boxes were all deleted) may be accepted only with a stated reason
(there are no faces to hide), which is recorded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from custodes.core.disclosure.vocabulary import REDACTION_KINDS
from custodes.core.errors import CustodyConflict, InvalidInput, ReasonRequired
from custodes.core.jsontext import JSONObject, JSONValue

FACE_KINDS = frozenset({"faces", "bystander-faces", "minors", "victims"})
#: Kinds a release makes itself, from the decision: nothing to accept.
RELEASE_KINDS = frozenset({"cut"})
ACCEPTABLE_KINDS = REDACTION_KINDS - RELEASE_KINDS

#: The labels of drawn regions, and the kind each one covers.
LABEL_KINDS: Mapping[str, str] = {
    **{w: "plates" for w in ("plate", "plates", "licence-plate", "license-plate")},
    **{w: "faces" for w in ("face", "faces")},
    **{w: "bystander-faces" for w in ("bystander", "bystander-face", "bystander-faces")},
    **{w: "minors" for w in ("minor", "minors", "child", "juvenile")},
    **{w: "victims" for w in ("victim", "victims")},
    **{w: "interior" for w in ("interior", "home-interior")},
}

Span = tuple[float, float]


def parse_kinds(texts: Iterable[str]) -> tuple[str, ...]:
    """Kinds named by a person (comma-separated or repeated), checked and sorted."""
    kinds = {k.strip() for t in texts for k in t.split(",") if k.strip()}
    if not kinds:
        raise InvalidInput("name the kinds the redaction covers in {covers}", field="covers")
    for k in sorted(kinds):
        if k in RELEASE_KINDS:
            raise InvalidInput(
                f"'{k}' is made by the release itself from the decision; nothing to accept",
                field="covers",
            )
        if k not in ACCEPTABLE_KINDS:
            names = ", ".join(sorted(ACCEPTABLE_KINDS))
            raise InvalidInput(f"unknown redaction kind '{k}' (kinds: {names})", field="covers")
    return tuple(sorted(kinds))


def _label_kind(label: str) -> str | None:
    return LABEL_KINDS.get(label.strip().lower().replace(" ", "-").replace("_", "-"))


def _dict(value: object) -> JSONObject:
    return value if isinstance(value, dict) else {}


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def spans_of(value: object) -> list[Span]:
    """Spans ``[[a, b], ...]`` from a JSON value, malformed items left out."""
    out: list[Span] = []
    for item in value if isinstance(value, list) else []:
        if (
            isinstance(item, list)
            and len(item) == 2
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in item)
        ):
            out.append((float(item[0]), float(item[1])))
    return out


def coverage(applied: JSONObject) -> dict[str, int]:
    """The kinds ``applied`` attempted, each with the boxes that hid it (audio: the
    number of ranges muted). A kind it never attempted is absent."""
    out: dict[str, int] = {}
    faces = _dict(applied.get("faces"))
    face_boxes = _int(faces.get("boxes"))
    if faces.get("searched") is True or face_boxes:
        for kind in FACE_KINDS:
            out[kind] = face_boxes
    regions = applied.get("regions")
    for item in regions if isinstance(regions, list) else []:
        region = _dict(item)
        named = _label_kind(str(region.get("label", "")))
        if named is not None:
            out[named] = out.get(named, 0) + _int(region.get("boxes"))
    audio = _dict(applied.get("audio"))
    if audio:
        out["audio"] = len(spans_of(audio.get("ranges")))
    return out


def check_claim(
    derivative_id: str, kinds: Sequence[str], applied: JSONObject, reason: str | None
) -> dict[str, int]:
    """Refuse a claim that ``applied`` covers ``kinds`` which it cannot have covered;
    a kind it attempted but hid nothing of needs a ``reason``. The boxes per kind."""
    covered = coverage(applied)
    for kind in kinds:
        if kind not in covered:
            raise CustodyConflict(
                f"redaction {derivative_id} cannot cover {kind}: {_never(kind)}", field="covers"
            )
    empty = [k for k in kinds if covered[k] == 0]
    if empty and not reason:
        raise ReasonRequired(
            f"redaction {derivative_id} hides nothing of {', '.join(empty)} (0 boxes); "
            "accepting it as covering them needs a {reason} (e.g. none appear in the recording)",
            field="reason",
        )
    return {k: covered[k] for k in kinds}


def _never(kind: str) -> str:
    if kind == "audio":
        return "it mutes no audio (redact with --mute)"
    if kind in FACE_KINDS:
        return "it neither searched for faces nor drew a region labelled as one"
    label = "plate" if kind == "plates" else kind
    return f"it has no drawn region labelled '{label}' (draw one: T:X,Y,W,H:{label})"


def merged(spans: Iterable[Span]) -> list[Span]:
    out: list[Span] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1] + 1e-6:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def uncovered(
    required: Sequence[Span], covering: Sequence[Span], tolerance: float = 0.05
) -> list[Span]:
    """The parts of ``required`` that ``covering`` leaves out (a ``tolerance`` of
    seconds forgiven at each edge)."""
    gaps: list[Span] = []
    cover = merged(covering)
    for a, b in merged(required):
        t = a
        for c, d in cover:
            if d <= t or c >= b:
                continue
            if c > t + tolerance:
                gaps.append((t, c))
            t = max(t, d)
        if t < b - tolerance:
            gaps.append((t, b))
    return gaps


def subtract(spans: Sequence[Span], cuts: Sequence[Span]) -> list[Span]:
    """``spans`` without the ``cuts``."""
    out: list[Span] = []
    for a, b in spans:
        pieces = [(a, b)]
        for c, d in merged(cuts):
            pieces = [
                piece
                for x, y in pieces
                for piece in ((x, min(y, c)), (max(x, d), y))
                if piece[1] > piece[0]
            ]
        out.extend(pieces)
    return out


def clip(spans: Sequence[Span], start: float, end: float) -> list[Span]:
    """``spans`` within ``start``-``end``."""
    return [(max(a, start), min(b, end)) for a, b in spans if b > start and a < end]


def clipped(spans: Sequence[Span], start: float, end: float) -> list[JSONValue]:
    """``spans`` within ``start``-``end``, as JSON."""
    return [[a, b] for a, b in clip(spans, start, end)]


def within(applied: JSONObject, start: float, end: float, fps: float) -> JSONObject:
    """What ``applied`` hides in the portion ``start``-``end`` (seconds) of the
    recording: faces and regions with the frames and spans there, audio ranges there."""

    def extent(item: JSONObject) -> JSONObject:
        spans = clipped(spans_of(item.get("spans")), start, end)
        frames = sum(max(0, round((b - a) * fps)) for a, b in spans_of(spans))
        return {"frames": frames, "spans": spans}

    faces = _dict(applied.get("faces"))
    regions = applied.get("regions")
    out: JSONObject = {
        "faces": {"searched": faces.get("searched") is True, **extent(faces)},
        "regions": [
            {"label": str(_dict(r).get("label", "")), **extent(_dict(r))}
            for r in (regions if isinstance(regions, list) else [])
        ],
    }
    audio = _dict(applied.get("audio"))
    if audio:
        out["audio"] = {
            "mode": audio.get("mode"),
            "ranges": clipped(spans_of(audio.get("ranges")), start, end),
        }
    return out


def _seconds(spans: object) -> str:
    return ", ".join(f"{a:g}-{b:g} s" for a, b in spans_of(spans))


def describe(portion: JSONObject, style: str = "blurred") -> list[str]:
    """What ``portion`` (from :func:`within`) hides, in words; nothing said of what it
    does not hide."""
    out: list[str] = []
    faces = _dict(portion.get("faces"))
    if _int(faces.get("frames")):
        out.append(f"faces {style} in {faces['frames']} frames ({_seconds(faces.get('spans'))})")
    regions = portion.get("regions")
    for item in regions if isinstance(regions, list) else []:
        r = _dict(item)
        if _int(r.get("frames")):
            out.append(
                f"region '{r.get('label')}' {style} in {r['frames']} frames "
                f"({_seconds(r.get('spans'))})"
            )
    audio = _dict(portion.get("audio"))
    if spans_of(audio.get("ranges")):
        how = "bleeped" if audio.get("mode") == "bleep" else "muted"
        out.append(f"audio {how} over {_seconds(audio.get('ranges'))}")
    return out

"""Reviewing a stored redaction (the redaction review page, issue 18 item 5).

A redaction (``services.redaction``) stores its copy in the vault and puts on record
what it hides and the SHA-256 of its boxes file (the sidecar), which it writes beside
the copy for the person who made it. The review shows the copy's contact sheet: frames of
the stored copy with the sidecar's boxes outlined, the sidecar being the one a redaction
job wrote beside its copy, or loaded into the vault by the reviewer
(:func:`keep_sidecar`), either checked against the hash on record; without it the sheet
shows the frames alone. Then the reviewer accepts it
(``acceptance.accept_redaction``) or objects.

An objection (:func:`reject_redaction`, ``redaction-reject`` on the signed log) is the
correction the service layer records today: a note and the ranges (seconds) to look at
again. It does not change the copy, nor withdraw an acceptance (a release still uses an
accepted redaction); the correction of the boxes themselves is a new redaction made from
the corrected sidecar (``custodes redact --sidecar``), reviewed in its turn.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from custodes.core.authz import Permission
from custodes.core.custody import Action, decode_entry
from custodes.core.errors import CustodesError, InvalidInput, NotFound
from custodes.core.records import Derivative
from custodes.media.redaction import RedactionPlan, contact_sheet
from custodes.media.redaction.plan import MAX_PLAN_BYTES
from custodes.services.acceptance import AcceptedRedaction, show_redaction
from custodes.services.common import sha256_file, verified_original
from custodes.services.context import Context
from custodes.services.exports import check_text
from custodes.services.state import vouch_derivative
from custodes.services.usecase import UseCase, acting

SHEET_FRAMES = 12
SIDECAR_MAX = MAX_PLAN_BYTES
MAX_RANGES = 32


@dataclass(frozen=True)
class Rejection:
    """A reviewer's objection to a redaction, as the signed log states it."""

    by: str
    at: str
    note: str
    ranges: list[list[float]]
    """Seconds of the recording to look at again (none: the whole copy)."""
    audit_seq: int


@dataclass(frozen=True)
class Review:
    """What the review page shows of a redaction."""

    redaction: AcceptedRedaction
    case: str
    frames_redacted: int
    duration_s: float
    sidecar_kept: bool
    """The boxes file is loaded into the vault: the contact sheet outlines its boxes."""
    rejections: list[Rejection]


def _sidecar_path(ctx: Context, sha256: str) -> Path | None:
    return None if ctx.cache_dir is None else ctx.cache_dir / "sidecars" / f"{sha256}.json"


def _kept_sidecar(ctx: Context, found: Derivative) -> Path | None:
    """The redaction's boxes file, if the vault has it: loaded by a reviewer, or written
    by the redaction job beside its copy (``EXPORT_DIR/RD-....boxes.json``, used only if
    its SHA-256 is the one on record)."""
    loaded = _sidecar_path(ctx, found.sidecar_sha256)
    if loaded is not None and loaded.is_file():
        return loaded
    made = None if ctx.export_dir is None else ctx.export_dir / f"{found.id}.boxes.json"
    if (
        made is not None
        and made.is_file()
        and made.stat().st_size <= SIDECAR_MAX
        and sha256_file(made)[0] == found.sidecar_sha256
    ):
        return made
    return None


def _found(uc: UseCase, derivative_id: str, attempted: Permission) -> Derivative:
    """The redaction, its row vouched for by its signed event (refused on record)."""
    found = uc.uow.derivatives.find(derivative_id)
    if found is None or found.kind != "redaction":
        uc.refuse(NotFound(f"no such redaction: {derivative_id}"), attempted=attempted.value)
    try:
        vouch_derivative(uc.uow, found)
    except CustodesError as exc:
        uc.refuse(exc, attempted=attempted.value, evidence=found.evidence_id)
    return found


def show_review(ctx: Context, actor_name: str | None, derivative_id: str) -> Review:
    """A redaction with its acceptances and objections (``case:audit:read``, as
    ``acceptance.show_redaction``)."""
    signed = show_redaction(ctx, actor_name, derivative_id)
    with ctx.uow(readonly=True) as uow:
        found = uow.derivatives.find(derivative_id)
        ev = uow.evidence.find(signed.evidence_id)
        entries = uow.audit.fact_entries(
            {str(Action.REDACTION_REJECT)}, evidence_id=signed.evidence_id
        )
    if found is None or ev is None:
        raise NotFound(f"no such redaction: {derivative_id}")
    kept = _kept_sidecar(ctx, found)
    return Review(
        redaction=signed,
        case=ev.case_number,
        frames_redacted=found.frames_redacted,
        duration_s=ev.media.duration_s,
        sidecar_kept=kept is not None,
        rejections=_rejections(entries, derivative_id, signed.sha256),
    )


def _rejections(entries: list[bytes], derivative_id: str, sha256: str) -> list[Rejection]:
    out: list[Rejection] = []
    for entry in entries:
        try:
            doc = decode_entry(entry)
            details = dict(doc["details"])
            if doc["object"]["id"] != derivative_id or details.get("sha256") != sha256:
                continue
            ranges = details.get("ranges")
            out.append(
                Rejection(
                    by=str(doc["actor"]),
                    at=str(doc["at"]),
                    note=str(doc.get("reason") or ""),
                    ranges=[[float(a), float(b)] for a, b in ranges]
                    if isinstance(ranges, list)
                    else [],
                    audit_seq=int(doc["seq"]),
                )
            )
        except (CustodesError, KeyError, TypeError, ValueError):
            continue  # a malformed entry is verify's to report
    return out


def may_review(ctx: Context, actor_name: str | None, derivative_id: str) -> None:
    """Refuse, on record, one who may not review (accept) this redaction: asked before a
    boxes file is received, so that a refused upload is not read first."""
    attempted = Permission.REDACTION_ACCEPT
    with acting(ctx, actor_name, readonly=True) as uc:
        found = _found(uc, derivative_id, attempted)
        uc.evidence(found.evidence_id, attempted)


def keep_sidecar(ctx: Context, actor_name: str | None, derivative_id: str, path: Path) -> None:
    """Load the boxes file a redaction wrote beside its copy into the vault, so that its
    contact sheet outlines the boxes: it must be the very file on record (its SHA-256)
    and read as a redaction plan. By one who may accept redactions of the evidence;
    refused on record otherwise. ``path`` is the caller's, and removed either way."""
    attempted = Permission.REDACTION_ACCEPT
    try:
        with acting(ctx, actor_name) as uc:
            found = _found(uc, derivative_id, attempted)
            ev, case = uc.evidence(found.evidence_id, attempted)
            dest = _sidecar_path(ctx, found.sidecar_sha256)
            try:
                if dest is None:
                    raise InvalidInput("this vault keeps no boxes files (it has no cache folder)")
                size = path.stat().st_size
                if size == 0:
                    raise InvalidInput("the boxes file is empty", field="sidecar")
                if size > SIDECAR_MAX or sha256_file(path)[0] != found.sidecar_sha256:
                    raise InvalidInput(
                        f"this is not the boxes file redaction {found.id} wrote (its SHA-256 "
                        "differs from the one on record)",
                        field="sidecar",
                    )
                RedactionPlan.load(path)
            except InvalidInput as exc:
                uc.refuse(exc, attempted=attempted.value, case=case.number, evidence=ev.id)
        dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        shutil.copyfile(path, dest.with_suffix(".part"))
        dest.with_suffix(".part").replace(dest)
    finally:
        path.unlink(missing_ok=True)


def contact_sheet_png(ctx: Context, actor_name: str | None, derivative_id: str) -> bytes:
    """The stored copy's contact sheet (PNG): frames spread over those with boxes, the
    boxes of its sidecar outlined when it was loaded (:func:`keep_sidecar`), else frames
    spread over the whole copy. Looking at it is a ``view`` of the redacted copy, on
    record, by one who may accept redactions of the evidence."""
    attempted = Permission.REDACTION_ACCEPT
    with acting(ctx, actor_name) as uc:
        found = _found(uc, derivative_id, attempted)
        ev, case = uc.evidence(found.evidence_id, attempted)
        kept = _kept_sidecar(ctx, found)
        boxes = kept is not None
        uc.record(
            Action.VIEW,
            case=case,
            evidence=ev,
            object_type="derivative",
            object_id=found.id,
            details={"what": "contact-sheet", "sha256": found.sha256, "boxes": boxes},
        )
        uc.commit()
    media = ev.media
    fps = media.fps or 30.0
    plan = (
        RedactionPlan.load(kept)
        if boxes and kept is not None
        else RedactionPlan(media.width, media.height, fps, max(1, round(media.duration_s * fps)))
    )
    with (
        verified_original(ctx, ev.id, found.sha256, "redaction") as copy,
        tempfile.TemporaryDirectory(prefix="custodes-sheet-") as tmp,
    ):
        sheet = Path(tmp) / "sheet.png"
        contact_sheet(sheet, copy, plan, SHEET_FRAMES)
        return sheet.read_bytes()


def parse_ranges(text: str) -> list[tuple[float, float]]:
    """``"12-15, 40.5-42"`` (seconds) as ranges; empty: none."""
    out: list[tuple[float, float]] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        a, sep, b = part.partition("-")
        try:
            start, end = float(a), float(b)
        except ValueError:
            raise InvalidInput(
                f"'{part[:40]}' is not a range of seconds such as 12-15", field="ranges"
            ) from None
        if not sep or not (0 <= start < end):
            raise InvalidInput(
                f"'{part[:40]}' is not a range of seconds such as 12-15", field="ranges"
            )
        out.append((start, end))
    if len(out) > MAX_RANGES:
        raise InvalidInput(f"at most {MAX_RANGES} ranges", field="ranges")
    return out


def reject_redaction(
    ctx: Context,
    actor_name: str | None,
    derivative_id: str,
    note: str,
    ranges: list[tuple[float, float]],
) -> Rejection:
    """Put on record that the actor reviewed a redaction and objects to it: ``note``
    (required) says what is wrong, ``ranges`` (seconds) where to look again. By one who
    may accept redactions of the evidence; refused on record otherwise."""
    attempted = Permission.REDACTION_ACCEPT
    with acting(ctx, actor_name) as uc:
        found = _found(uc, derivative_id, attempted)
        ev, case = uc.evidence(found.evidence_id, attempted)
        try:
            text = check_text(note, "note", 2000)
            for a, b in ranges:
                if b > ev.media.duration_s + 1e-3:
                    raise InvalidInput(
                        f"the range {a:g}-{b:g} s ends after the recording "
                        f"({ev.media.duration_s:g} s)",
                        field="ranges",
                    )
        except CustodesError as exc:
            uc.refuse(exc, attempted=attempted.value, case=case.number, evidence=ev.id)
        seq = uc.record(
            Action.REDACTION_REJECT,
            case=case,
            evidence=ev,
            object_type="derivative",
            object_id=found.id,
            reason=text,
            details={"sha256": found.sha256, "ranges": [[a, b] for a, b in ranges]},
        )
        entry = uc.uow.audit.entry_at(seq)
        at = str(decode_entry(entry)["at"]) if entry is not None else ""
        uc.commit()
    return Rejection(
        by=uc.actor.username,
        at=at,
        note=text,
        ranges=[[a, b] for a, b in ranges],
        audit_seq=seq,
    )

"""Redacted derivatives of evidence.

A redaction never touches the original: it renders a new file (faces blurred and
tracked, drawn regions tracked, audio muted or bleeped over ranges) that keeps the
original's timeline, stores it as a blob, and records its lineage: the detector and its
version, thresholds, and the boxes per frame as a sidecar a reviewer can load, correct
and pass back with ``--sidecar``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from custodes.core.authz import AlertKind, EvidenceFacts, Permission
from custodes.core.custody import Action
from custodes.core.errors import CustodesError, CustodyConflict, InvalidInput
from custodes.core.ports import Progress
from custodes.media.faces import face_model_name
from custodes.media.redaction import (
    RedactionPlan,
    RegionSeed,
    apply_redaction,
    contact_sheet,
    plan_redaction,
)
from custodes.services import audit
from custodes.services.common import (
    case_facts,
    case_row,
    check,
    check_writable_folder,
    event,
    evidence_row,
    load_actor,
    new_id,
    now_iso,
    refuse,
    verified_original,
)
from custodes.services.context import Context
from custodes.services.evidence import alert_if_flagged
from custodes.services.exports import _check_text
from custodes.services.requests import _parse_ranges, check_ranges_within, durations
from custodes.storage import tables as t

FACE_KINDS = frozenset({"faces", "bystander-faces", "minors", "victims"})


def parse_region(text: str) -> RegionSeed:
    """``T:X,Y,W,H[:label]``: a box drawn on the frame at T seconds (source pixels)."""
    try:
        parts = text.split(":")
        t_s = float(parts[0])
        x, y, w, h = (float(v) for v in parts[1].split(","))
        label = parts[2] if len(parts) > 2 else "region"
    except (IndexError, ValueError):
        raise InvalidInput(
            f"a region is T:X,Y,W,H[:label], e.g. 12.5:300,200,120,40:plate: '{text}'"
        ) from None
    if not all(math.isfinite(v) for v in (t_s, x, y, w, h)):
        raise InvalidInput(f"region {text}: time and box must be finite numbers")
    if w <= 0 or h <= 0 or t_s < 0:
        raise InvalidInput(f"region {text}: width, height must be > 0 and time >= 0")
    if not label.isprintable():
        raise InvalidInput(f"region {text}: the label must be printable text")
    return RegionSeed(t_s, x, y, w, h, label[:64])


def check_region(seed: RegionSeed, text: str, evidence_id: str, media: dict[str, Any]) -> None:
    """Refuse a region that is not on the recording: outside the frame or after its end."""
    width, height = int(media["width"]), int(media["height"])
    duration = float(media["duration_s"])
    # Half a pixel of slack past the edge, as the planner allows.
    if seed.x < 0 or seed.y < 0 or seed.x + seed.w > width + 0.5 or seed.y + seed.h > height + 0.5:
        raise InvalidInput(
            f"region {text} lies outside the {width}x{height} frame of {evidence_id}"
        )
    if seed.t_s >= duration:
        raise InvalidInput(
            f"region {text} is drawn at {seed.t_s:g} s, after the end of {evidence_id} "
            f"({duration:.2f} s)"
        )


def _detector(vault: Context, face_model: str) -> Any:
    from custodes.media.faces import face_detector

    # The 8-bit model is derived from the shipped one once and kept with the vault.
    return face_detector(face_model, cache_dir=vault.model_dir)


def redact_evidence(
    vault: Context,
    actor_name: str | None,
    evidence_id: str,
    *,
    faces: bool = False,
    regions: Sequence[str] = (),
    mute: Sequence[str] = (),
    bleep: bool = False,
    style: str = "blur",
    sidecar: Path | None = None,
    out: Path | None = None,
    progress: Progress | None = None,
    face_model: str = "centerface",
    reason: str | None = None,
) -> dict[str, Any]:
    """Render and record a redacted derivative of one recording.

    Redacting shows the footage as exporting does: on a flagged case (sensitive,
    juvenile, victim-privacy) it needs a stated ``reason`` and alerts internal affairs.
    """
    held = contextlib.ExitStack()  # the original, materialised until it is redacted
    with vault.uow() as uow:
        actor = load_actor(vault, uow, actor_name)
        attempt: dict[str, Any] = {
            "attempted": Permission.EVIDENCE_REDACT.value,
            "evidence_id": evidence_id,
        }
        try:
            row = evidence_row(uow, evidence_id)
            if reason is not None:
                reason = _check_text(reason, "reason", 2000)
        except CustodesError as exc:
            refuse(vault, uow, actor.username, exc, **attempt)
        attempt["case_number"] = row.case_number
        decision = check(
            vault,
            uow,
            actor,
            Permission.EVIDENCE_REDACT,
            case=case_facts(uow, case_row(uow, row.case_number)),
            evidence=EvidenceFacts(row.id, row.officer),
            reason=reason,
        )
        try:
            if style not in ("blur", "box"):
                raise InvalidInput(f"unknown style '{style}' (blur or box)")
            face_model = face_model_name(face_model)
            media = json.loads(row.media)
            seeds = [parse_region(r) for r in regions]
            for seed, text in zip(seeds, regions, strict=True):
                check_region(seed, text, row.id, media)
            parsed_mute = _parse_ranges(mute)
            check_ranges_within(parsed_mute, durations(uow, [row.id]), "mute")
            mute_ranges = [tuple(r) for r in parsed_mute]
            plan: RedactionPlan | None = None
            if sidecar is not None:
                try:
                    plan = RedactionPlan.from_json(sidecar.read_bytes())
                except OSError as exc:
                    raise InvalidInput(f"cannot read {sidecar}: {exc.strerror}") from exc
                if plan.source_sha256 is None:
                    raise InvalidInput(
                        f"{sidecar.name} names no source recording (sha256); "
                        "sidecars are made by a redaction of one recording"
                    )
                if plan.source_sha256 != row.sha256:
                    raise InvalidInput(f"{sidecar.name} was made for another recording")
                size = (int(media["width"]), int(media["height"]))
                if (plan.width, plan.height) != size:
                    raise InvalidInput(
                        f"{sidecar.name} is for {plan.width}x{plan.height} frames; "
                        f"{row.id} is {size[0]}x{size[1]}"
                    )
            if plan is None and not (faces or seeds or mute_ranges):
                raise InvalidInput(
                    "nothing to redact: give {faces}, {regions}, {mute} or {sidecar}",
                    fields=("faces", "regions", "mute", "sidecar"),
                )
            given = out or Path(f"{evidence_id}-redacted.mp4")
            if given.is_symlink():
                raise CustodyConflict(f"{given} is a symbolic link; redaction never follows one")
            dest = given.resolve()
            if dest.suffix.lower() != ".mp4":
                raise InvalidInput(f"{dest.name}: redacted copies are MP4 files (use a .mp4 name)")
            if dest.exists():
                raise CustodyConflict(f"{dest} exists; redaction never overwrites a file")
            check_writable_folder(dest.parent)
            source = held.enter_context(verified_original(vault, row.id, row.sha256))
        except CustodesError as exc:
            held.close()
            refuse(vault, uow, actor.username, exc, reason=reason, **attempt)
        uow.conn.rollback()
    try:
        with held:
            result = _render_redaction(
                vault,
                row,
                source,
                dest,
                plan=plan,
                faces=faces,
                seeds=seeds,
                mute=mute_ranges,
                bleep=bleep,
                style=style,
                progress=progress,
                face_model=face_model,
            )
    except CustodesError as exc:
        # What only the render finds (a region the tracker cannot place, a sidecar in
        # the way) is refused on record like what is found before it.
        with vault.uow() as uow:
            refuse(vault, uow, actor.username, exc, reason=reason, **attempt)
    derivative_id = new_id("RD")
    with vault.uow() as uow:
        seq = audit.record(
            uow,
            event(
                vault,
                actor.username,
                Action.REDACT,
                object_type="derivative",
                object_id=derivative_id,
                case_number=row.case_number,
                evidence_id=row.id,
                reason=reason,
                details={
                    "sha256": result["sha256"],
                    "frames_redacted": result["frames_redacted"],
                    "sidecar_sha256": result["sidecar_sha256"],
                    "operations": [op["op"] for op in result["lineage"]["operations"]],
                },
            ),
        )
        uow.conn.execute(
            insert(t.derivatives).values(
                id=derivative_id,
                evidence_id=row.id,
                kind="redaction",
                created_at=now_iso(vault),
                actor=actor.username,
                sha256=result["sha256"],
                sidecar_sha256=result["sidecar_sha256"],
                frames_redacted=result["frames_redacted"],
                lineage=json.dumps(result["lineage"], sort_keys=True),
                audit_seq=seq,
            )
        )
        alerted = alert_if_flagged(
            vault, uow, decision, seq, AlertKind.SENSITIVE_REDACT, actor.username, row, reason
        )
        audit.commit(uow, vault)
    return {
        "derivative_id": derivative_id,
        "alerted": alerted,
        "path": str(dest),
        "frames_redacted": result["frames_redacted"],
        "sha256": result["sha256"],
        "sidecar": result["sidecar"],
        "contact_sheet": result["contact_sheet"],
    }


def _render_redaction(
    vault: Context,
    row: Any,
    source: Path,
    dest: Path,
    *,
    plan: RedactionPlan | None,
    faces: bool,
    seeds: Sequence[RegionSeed],
    mute: Sequence[tuple[float, ...]],
    bleep: bool,
    style: str,
    progress: Progress | None,
    store: bool = True,
    face_model: str = "centerface",
) -> dict[str, Any]:
    """Plan (unless a reviewed sidecar is given), render, keep the sidecar and a sheet.

    With ``store`` the redacted file is also kept in the blob store (a derivative on
    record); a release passes False, its copies being recorded as exports instead.
    """
    detector = _detector(vault, face_model) if faces and plan is None else None
    if plan is None:
        plan = plan_redaction(
            source,
            faces=faces,
            regions=seeds,
            detector=detector,
            source_sha256=row.sha256,
            progress=progress,
        )
    sidecar_path = dest.with_suffix(".boxes.json")
    sheet_path = dest.with_suffix(".contact.png")
    for p in (sidecar_path, sheet_path):
        if p.exists():
            raise CustodyConflict(f"{p} exists; redaction never overwrites a file")
    result = apply_redaction(
        source,
        dest,
        plan,
        style=style,  # type: ignore[arg-type]
        mute=[(float(a), float(b)) for a, b in mute],
        bleep=bleep,
        progress=progress,
    )
    try:
        plan.save(sidecar_path)
        contact_sheet(sheet_path, dest, plan)
        with open(dest, "rb") as fh:
            staged = vault.blobs.stage(fh)
        if store:
            digest = vault.blobs.commit(staged).sha256
        else:
            digest = staged.sha256
            vault.blobs.discard(staged)
    except BaseException:
        for p in (dest, sidecar_path, sheet_path):
            p.unlink(missing_ok=True)
        raise
    sidecar_sha = hashlib.sha256(sidecar_path.read_bytes()).hexdigest()
    lineage = {
        "source": {"evidence_id": row.id, "sha256": row.sha256},
        "operations": [
            {
                "op": "redact",
                "faces": plan.faces,
                "detector": plan.detector,
                "regions": len(plan.regions),
                "style": style,
                "boxes": plan.box_count(),
                "sidecar_sha256": sidecar_sha,
            },
            *(
                [
                    {
                        "op": "audio",
                        "mode": "bleep" if bleep else "mute",
                        "ranges": [list(r) for r in mute],
                    }
                ]
                if mute
                else []
            ),
        ],
        "frames_redacted": result.frames_redacted,
    }
    return {
        "sha256": digest,
        "frames_redacted": result.frames_redacted,
        "sidecar": str(sidecar_path),
        "sidecar_sha256": sidecar_sha,
        "contact_sheet": str(sheet_path),
        "lineage": lineage,
    }

"""Evidence: ingest, list, open (view)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from custodes.core.authz import (
    Actor,
    AlertKind,
    CaseFacts,
    Decision,
    EvidenceFacts,
    Permission,
    Role,
    alert_audiences,
    check_recording_officer,
    decide,
    decide_alert,
    parse_role,
)
from custodes.core.custody import Action
from custodes.core.errors import CustodesError, CustodyConflict, InvalidInput, NotFound
from custodes.core.media import MediaInfo
from custodes.core.ports import Progress, StagedBlob
from custodes.media.probe import probe
from custodes.services import audit
from custodes.services.common import (
    case_facts,
    case_row,
    check,
    event,
    evidence_row,
    load_actor,
    new_id,
    now_iso,
    refuse,
    select_evidence,
    user_id,
)
from custodes.services.context import Context
from custodes.storage import tables as t
from custodes.storage.uow import UnitOfWork


def parse_iso8601(text: str, field: str) -> str:
    """An ISO 8601 time with a zone, as UTC; a bad one is refused naming ``field``."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"{{{field}}} is not an ISO 8601 date and time: '{text}'", field=field
        ) from None
    if value.tzinfo is None:
        raise InvalidInput(
            f"{{{field}}} needs a time zone (e.g. 2026-03-14T21:04:05Z): '{text}'", field=field
        )
    return value.astimezone(UTC).isoformat()


EARLIEST_RECORDING = datetime(1990, 1, 1, tzinfo=UTC)  # before any body-worn camera
CLOCK_SKEW = timedelta(days=1)  # a camera's clock may run ahead of the vault's by this


def _check_recorded_at(recorded: str, now: datetime) -> None:
    """A stated recording time must lie between 1990 and (about) now."""
    at = datetime.fromisoformat(recorded)
    if at > now + CLOCK_SKEW:
        raise InvalidInput(f"{{recorded_at}} {recorded} is in the future", field="recorded_at")
    if at < EARLIEST_RECORDING:
        raise InvalidInput(
            f"{{recorded_at}} {recorded} is before 1990: not a camera recording",
            field="recorded_at",
        )


def evidence_dict(row: Any) -> dict[str, Any]:
    media = json.loads(row.media)
    return {
        "evidence_id": row.id,
        "sha256": row.sha256,
        "size": row.size,
        "case": row.case_number,
        "officer": row.officer,
        "device": row.device,
        "recorded_at": row.recorded_at,
        "ingested_at": row.ingested_at,
        "original_name": row.original_name,
        "duration_s": media.get("duration_s"),
        "width": media.get("width"),
        "height": media.get("height"),
        "fps": media.get("fps"),
        "media": media,
    }


def ingest(
    vault: Context,
    actor_name: str | None,
    path: Path,
    case_number: str,
    *,
    officer: str | None = None,
    device: str | None = None,
    recorded_at: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Stream a file into the vault, probe it, and record it as evidence of a case.

    Order of work, so that a kill at any moment leaves whole evidence or none: stage the
    bytes in a private temporary file while hashing; probe the staged copy; move the blob
    into the store (atomic rename); then insert the evidence row and its audit event in
    one transaction. A blob without a row is an orphan that the next ingest of the same
    bytes reuses; it is never evidence.
    """
    vault.blobs.sweep_temp()
    with vault.uow() as uow:
        actor = load_actor(vault, uow, actor_name)
        refusal: dict[str, Any] = {
            "action": Action.INGEST_REFUSED,
            "attempted": Permission.EVIDENCE_INGEST.value,
            "case_number": case_number,
        }
        try:
            row = case_row(uow, case_number)
        except NotFound as exc:
            refuse(vault, uow, actor.username, exc, **refusal)
        facts = case_facts(uow, row)
        if officer is None and actor.role is Role.OFFICER:
            officer = actor.username
        check(
            vault,
            uow,
            actor,
            Permission.EVIDENCE_INGEST,
            case=facts,
            refusal_action=Action.INGEST_REFUSED,
        )
        try:
            if officer is not None:
                officer_id = _recording_officer(uow, actor, officer)
            recorded = parse_iso8601(recorded_at, "recorded_at") if recorded_at else None
            if recorded is not None:
                _check_recorded_at(recorded, vault.clock.now())
            _check_source(path)
        except CustodesError as exc:
            refuse(vault, uow, actor.username, exc, **refusal)
        uow.conn.rollback()  # release the database while the bytes stream in

    staged = _stage(vault, actor.username, path, refusal, progress)
    known: dict[str, Any] = {}
    try:
        info = probe(staged.path, name=path.name)
        with vault.uow() as uow:
            dup = evidence_with_hash(uow, staged.sha256)
            if dup is not None:
                # The auditors' record names the existing evidence; the actor is told
                # only what they may list.
                known = {"existing_evidence": dup.id, "existing_case": dup.case_number}
                dup_facts = case_facts(uow, case_row(uow, dup.case_number))
                if decide(
                    actor,
                    Permission.EVIDENCE_LIST,
                    dup_facts,
                    EvidenceFacts(dup.id, dup.officer),
                ).allowed:
                    raise CustodyConflict(
                        f"these bytes were already ingested as {dup.id} (case {dup.case_number})"
                    )
                raise CustodyConflict(
                    "these bytes are already in the vault (in a case you cannot access)"
                )
    except CustodesError as exc:
        vault.blobs.discard(staged)
        with vault.uow() as uow:
            refuse(vault, uow, actor.username, exc, reason=None, details=known, **refusal)

    blob = vault.blobs.commit(staged)
    evidence_id = new_id("EV")
    recorded = recorded or (
        parse_iso8601(info.creation_time, "creation time") if info.creation_time else None
    )
    with vault.uow() as uow:
        uow.conn.execute(
            insert(t.evidence).values(
                id=evidence_id,
                case_id=row.id,
                sha256=blob.sha256,
                size=blob.size,
                officer_id=officer_id if officer is not None else None,
                device=device,
                recorded_at=recorded,
                ingested_at=now_iso(vault),
                ingested_by=user_id(uow, actor.username),
                original_name=path.name,
                media=json.dumps(info.to_dict(), sort_keys=True),
            )
        )
        audit.record(
            uow,
            event(
                vault,
                actor.username,
                Action.INGEST,
                object_type="evidence",
                object_id=evidence_id,
                case_number=case_number,
                evidence_id=evidence_id,
                details={
                    "sha256": blob.sha256,
                    "size": blob.size,
                    "officer": officer,
                    "device": device,
                    "recorded_at": recorded,
                    "original_name": path.name,
                    "media": info.to_dict(),
                },
            ),
        )
        audit.commit(uow, vault)
    return {
        "evidence_id": evidence_id,
        "sha256": blob.sha256,
        "duration_s": info.duration_s,
        "size": blob.size,
        "case": case_number,
        "media": info.to_dict(),
    }


def evidence_with_hash(uow: UnitOfWork, sha256: str) -> Any:
    """The evidence row holding these bytes (with case number and officer), if any."""
    return uow.conn.execute(
        select_evidence(t.evidence.c.id).where(t.evidence.c.sha256 == sha256)
    ).first()


def _recording_officer(uow: UnitOfWork, actor: Actor, username: str) -> int:
    """The user id of the officer named as having recorded the footage."""
    row = uow.conn.execute(
        select(t.users.c.id, t.users.c.role).where(t.users.c.username == username)
    ).first()
    if row is None:
        raise NotFound(f"no user '{username}'")
    check_recording_officer(actor, username, parse_role(row.role))
    return int(row.id)


def _check_source(path: Path) -> None:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InvalidInput(f"no such file: {path}") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from exc
    if not path.is_file():
        raise InvalidInput(f"not a regular file: {path}")
    if st.st_size == 0:
        raise InvalidInput(f"{path.name}: the file is empty (0 bytes)")
    if not os.access(path, os.R_OK):
        raise InvalidInput(f"cannot read {path}: permission denied")


def _stage(
    vault: Context,
    actor: str,
    path: Path,
    refusal: dict[str, Any],
    progress: Progress | None,
) -> StagedBlob:
    error: CustodesError
    try:
        with open(path, "rb") as fh:
            return vault.blobs.stage(fh, progress=progress)
    except OSError as exc:
        error = InvalidInput(f"cannot read {path}: {exc.strerror}")
    except CustodesError as exc:
        error = exc
    with vault.uow() as uow2:
        refuse(vault, uow2, actor, error, **refusal)


def list_evidence(
    vault: Context, actor_name: str | None, case_number: str | None = None
) -> list[dict[str, Any]]:
    """Evidence the actor may see (others are left out); a named case must be reachable."""
    officer = t.users.alias("officer")
    with vault.uow() as uow:
        actor = load_actor(vault, uow, actor_name)
        query = (
            select(
                t.evidence,
                t.cases.c.number.label("case_number"),
                officer.c.username.label("officer"),
            )
            .join(t.cases, t.cases.c.id == t.evidence.c.case_id)
            .outerjoin(officer, officer.c.id == t.evidence.c.officer_id)
            .order_by(t.evidence.c.ingested_at, t.evidence.c.id)
        )
        if case_number is not None:
            try:
                crow = case_row(uow, case_number)
            except NotFound as exc:
                refuse(vault, uow, actor.username, exc, attempted="case:evidence:list")
            check(vault, uow, actor, Permission.EVIDENCE_LIST, case=case_facts(uow, crow))
            query = query.where(t.cases.c.number == case_number)
        facts_cache: dict[str, CaseFacts] = {}
        out = []
        for row in uow.conn.execute(query).all():
            facts = facts_cache.get(row.case_number)
            if facts is None:
                facts = case_facts(uow, case_row(uow, row.case_number))
                facts_cache[row.case_number] = facts
            ev = EvidenceFacts(row.id, row.officer)
            if decide(actor, Permission.EVIDENCE_LIST, facts, ev).allowed:
                out.append(evidence_dict(row))
    return out


def open_evidence(
    vault: Context,
    actor_name: str | None,
    evidence_id: str,
    *,
    reason: str | None = None,
) -> dict[str, Any]:
    """Open evidence for viewing: authorised, recorded, and flagged cases alert IA."""
    with vault.uow() as uow:
        actor = load_actor(vault, uow, actor_name)
        try:
            row = evidence_row(uow, evidence_id)
        except NotFound as exc:
            refuse(
                vault,
                uow,
                actor.username,
                exc,
                attempted="case:evidence:view",
                evidence_id=evidence_id,
            )
        facts = case_facts(uow, case_row(uow, row.case_number))
        decision = check(
            vault,
            uow,
            actor,
            Permission.EVIDENCE_VIEW,
            case=facts,
            evidence=EvidenceFacts(row.id, row.officer),
            reason=reason,
        )
        seq = audit.record(
            uow,
            event(
                vault,
                actor.username,
                Action.VIEW,
                object_type="evidence",
                object_id=row.id,
                case_number=row.case_number,
                evidence_id=row.id,
                reason=reason,
                details={"sha256": row.sha256, "alert": decision.alert},
            ),
        )
        alerted = alert_if_flagged(
            vault, uow, decision, seq, AlertKind.SENSITIVE_ACCESS, actor.username, row, reason
        )
        audit.commit(uow, vault)
    out = evidence_dict(row)
    out["alerted"] = alerted
    out["path"] = vault.blobs.location(row.sha256)
    return out


def raise_alert(
    vault: Context,
    uow: UnitOfWork,
    seq: int,
    kind: AlertKind,
    actor: str,
    case_number: str | None,
    evidence_id: str | None,
    reason: str | None,
) -> list[str]:
    """Store an alert tied to an audit event, one for each audience authorization
    addresses an alert of ``kind`` to; returns those audiences."""
    audiences = [a.value for a in alert_audiences(kind)]
    for audience in audiences:
        uow.conn.execute(
            insert(t.alerts).values(
                at=now_iso(vault),
                audience=audience,
                kind=kind.value,
                actor=actor,
                case_number=case_number,
                evidence_id=evidence_id,
                reason=reason,
                audit_seq=seq,
            )
        )
    return audiences


def alert_if_flagged(
    vault: Context,
    uow: UnitOfWork,
    decision: Decision,
    seq: int,
    kind: AlertKind,
    actor: str,
    row: Any,
    reason: str | None,
) -> list[str]:
    """Alert when authorization says so (evidence of a flagged case was viewed, exported
    or redacted, with the stated reason), tied to the action's audit event ``seq``.
    Returns the audiences alerted."""
    if not decision.alert:
        return []
    return raise_alert(vault, uow, seq, kind, actor, row.case_number, row.id, reason)


def list_alerts(vault: Context, actor_name: str | None) -> list[dict[str, Any]]:
    """The alerts the actor may read, as authorization decides per audience and case
    (internal affairs and admins: all; records and command staff: those addressed to
    them, on cases they view)."""
    with vault.uow() as uow:
        actor = load_actor(vault, uow, actor_name)
        check(vault, uow, actor, Permission.ALERTS_READ)
        facts: dict[str, CaseFacts | None] = {}

        def case_of(number: str | None) -> CaseFacts | None:
            if number is None:
                return None
            if number not in facts:
                row = uow.conn.execute(select(t.cases).where(t.cases.c.number == number)).first()
                facts[number] = None if row is None else case_facts(uow, row)
            return facts[number]

        rows = [
            r
            for r in uow.conn.execute(select(t.alerts).order_by(t.alerts.c.id)).all()
            if decide_alert(actor, r.audience, case_of(r.case_number)).allowed
        ]
    return [
        {
            "id": r.id,
            "at": r.at,
            "audience": r.audience,
            "kind": r.kind,
            "actor": r.actor,
            "case": r.case_number,
            "evidence_id": r.evidence_id,
            "reason": r.reason,
            "audit_seq": r.audit_seq,
        }
        for r in rows
    ]


__all__ = ["MediaInfo", "ingest", "list_alerts", "list_evidence", "open_evidence"]

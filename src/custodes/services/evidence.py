"""Evidence: ingest, list, open (view); the alerts that actions on it raise."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NoReturn, Protocol

from custodes.core.authz import (
    AlertKind,
    CaseFlag,
    Decision,
    Permission,
    Role,
    alert_audiences,
    check_recording_officer,
    decide,
    decide_alert,
)
from custodes.core.custody import Action
from custodes.core.errors import CustodesError, CustodyConflict, IntegrityFailure, InvalidInput
from custodes.core.jsontext import JSONObject, JSONValue
from custodes.core.media import MediaInfo
from custodes.core.ports import StagedBlob
from custodes.core.records import Case, Evidence, User
from custodes.media.probe import probe
from custodes.services.common import new_id, now_iso
from custodes.services.context import Context
from custodes.services.state import vouch_evidence_list, vouched_alerts
from custodes.services.usecase import UseCase, acting
from custodes.storage.uow import UnitOfWork


@dataclass(frozen=True)
class Ingested:
    """Evidence just put on record."""

    evidence_id: str
    sha256: str
    duration_s: float
    size: int
    case: str
    media: MediaInfo
    damage: str | None
    """A damaged recording is kept as it is: what the probe found (``duration_s`` is then
    the readable part)."""


@dataclass(frozen=True)
class EvidenceItem:
    """One evidence in a listing."""

    evidence_id: str
    sha256: str
    size: int
    case: str
    officer: str | None
    device: str | None
    recorded_at: str | None
    ingested_at: str
    original_name: str
    duration_s: float
    width: int
    height: int
    fps: float
    damage: str | None
    """What the probe found wrong with the recording (kept as it is), else None;
    ``duration_s`` is then the readable part."""

    @classmethod
    def of(cls, ev: Evidence) -> EvidenceItem:
        return cls(
            evidence_id=ev.id,
            sha256=ev.sha256,
            size=ev.size,
            case=ev.case_number,
            officer=ev.officer,
            device=ev.device,
            recorded_at=ev.recorded_at,
            ingested_at=ev.ingested_at,
            original_name=ev.original_name,
            duration_s=ev.media.duration_s,
            width=ev.media.width,
            height=ev.media.height,
            fps=ev.media.fps,
            damage=ev.media.damage,
        )


@dataclass(frozen=True)
class OpenedEvidence(EvidenceItem):
    """Evidence opened for viewing: where it is kept, and who was alerted."""

    media: MediaInfo
    alerted: list[str]
    """The audiences told of the viewing (a flagged case's evidence)."""
    path: str | None
    """Where the original is kept (a path, an ``s3://`` URL), for those authorization lets
    locate blobs (admins); None for everyone else."""


@dataclass(frozen=True)
class AlertItem:
    """An alert the actor may read."""

    id: int
    at: str
    audience: str
    kind: str
    actor: str
    case: str | None
    evidence_id: str | None
    reason: str | None
    audit_seq: int
    vouched: bool = True
    """False for a row that no signed event vouches for (inserted or edited in the
    database behind the vault's back): shown, marked, never taken at its word."""


def parse_iso8601(text: str, field: str) -> datetime:
    """An ISO 8601 time with a zone (``Z`` for UTC); a bad one is refused naming ``field``.

    For front doors that take times as text, and for times read from containers."""
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
    return value


EARLIEST_RECORDING = datetime(1990, 1, 1, tzinfo=UTC)  # before any body-worn camera
CLOCK_SKEW = timedelta(days=1)  # a camera's clock may run ahead of the vault's by this


def _recorded_at(at: datetime, now: datetime) -> str:
    """A stated recording time, as stored (UTC, ISO 8601): it must have a time zone and
    lie between 1990 and (about) now."""
    if at.tzinfo is None:
        raise InvalidInput(
            f"{{recorded_at}} needs a time zone: '{at.isoformat()}'", field="recorded_at"
        )
    recorded = at.astimezone(UTC).isoformat()
    if at > now + CLOCK_SKEW:
        raise InvalidInput(f"{{recorded_at}} {recorded} is in the future", field="recorded_at")
    if at < EARLIEST_RECORDING:
        raise InvalidInput(
            f"{{recorded_at}} {recorded} is before 1990: not a camera recording",
            field="recorded_at",
        )
    return recorded


@dataclass(frozen=True)
class _Admitted:
    """What the first step of an ingest checked: the case, who recorded it, when."""

    case: Case
    officer: User | None
    recorded_at: str | None


def ingest(
    ctx: Context,
    actor_name: str | None,
    path: Path,
    case_number: str,
    *,
    officer: str | None = None,
    device: str | None = None,
    recorded_at: datetime | None = None,
) -> Ingested:
    """Stream a file into the vault, probe it, and record it as evidence of a case.

    Order of work, so that a kill at any moment leaves whole evidence or none: stage the
    bytes in a private temporary file while hashing; probe the staged copy; move the blob
    into the store (atomic rename); then insert the evidence row and its audit event in
    one transaction. A blob without a row is an orphan that the next ingest of the same
    bytes reuses; it is never evidence. Each refusal is on record (``ingest-refused``).
    A refusal, a failure or an interruption (KeyboardInterrupt) removes the staged copy
    at once; only a process killed outright leaves it, for the next ingest's sweep.
    """
    ctx.blobs.sweep_temp()
    admitted = _admit(ctx, actor_name, path, case_number, officer, recorded_at)
    staged = _stage(ctx, actor_name, path, case_number)
    try:
        info = _probe_new(ctx, actor_name, path, staged, case_number)
        blob = ctx.blobs.commit(staged, retain=True)  # an original: locked where S3 retains
    except BaseException:
        # Refused, failed or interrupted (Ctrl-C, SIGTERM): the staged copy goes now,
        # not at some later command's sweep. Gone already (committed) is fine.
        with contextlib.suppress(CustodesError):
            ctx.blobs.discard(staged)
        raise
    if CaseFlag.LEGAL_HOLD in admitted.case.flags:
        ctx.blobs.hold(blob.sha256, True)
    recorded = admitted.recorded_at or (
        parse_iso8601(info.creation_time, "creation time").astimezone(UTC).isoformat()
        if info.creation_time
        else None
    )
    with acting(ctx, actor_name) as uc:
        ev = uc.uow.evidence.add(
            new_id("EV"),
            case=admitted.case,
            sha256=blob.sha256,
            size=blob.size,
            officer=admitted.officer,
            device=device,
            recorded_at=recorded,
            ingested_at=now_iso(ctx),
            ingested_by=uc.uow.users.get(uc.actor.username),
            original_name=path.name,
            media=info,
        )
        uc.record(
            Action.INGEST,
            case=admitted.case,
            evidence=ev,
            details={
                "sha256": blob.sha256,
                "size": blob.size,
                "officer": ev.officer,
                "device": device,
                "recorded_at": recorded,
                "original_name": path.name,
                "media": info.to_dict(),
            },
        )
        uc.commit()
    return Ingested(ev.id, blob.sha256, info.duration_s, blob.size, case_number, info, info.damage)


def _refuse_ingest(
    uc: UseCase,
    error: CustodesError,
    case_number: str,
    details: Mapping[str, JSONValue] | None = None,
) -> NoReturn:
    uc.refuse(
        error,
        action=Action.INGEST_REFUSED,
        attempted=Permission.EVIDENCE_INGEST.value,
        case=case_number,
        details=details,
    )


def _admit(
    ctx: Context,
    actor_name: str | None,
    path: Path,
    case_number: str,
    officer: str | None,
    recorded_at: datetime | None,
) -> _Admitted:
    """Check who ingests what into which case before any byte is read."""
    refused = Action.INGEST_REFUSED
    with acting(ctx, actor_name) as uc:
        case = uc.found_case(case_number, attempted=Permission.EVIDENCE_INGEST, action=refused)
        if officer is None and uc.actor.role is Role.OFFICER:
            officer = uc.actor.username
        uc.allow(Permission.EVIDENCE_INGEST, case=case, refusal_action=refused)
        try:
            recorder = _recording_officer(uc, officer) if officer is not None else None
            recorded = (
                _recorded_at(recorded_at, ctx.clock.now()) if recorded_at is not None else None
            )
            _check_source(path)
        except CustodesError as exc:
            _refuse_ingest(uc, exc, case_number)
    # The unit of work is closed: the database is free while the bytes stream in.
    return _Admitted(case, recorder, recorded)


def _recording_officer(uc: UseCase, username: str) -> User:
    """The officer named as having recorded the footage, whom the actor may name."""
    user = uc.uow.users.get(username)
    check_recording_officer(uc.actor, username, user.role)
    return user


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


def _stage(ctx: Context, actor_name: str | None, path: Path, case_number: str) -> StagedBlob:
    """The file's bytes, hashed into a private temporary file (progress in bytes)."""
    error: CustodesError
    try:
        with open(path, "rb") as fh:
            task = ctx.progress.start(
                f"ingest {path.name}", os.fstat(fh.fileno()).st_size, unit="byte"
            )
            return ctx.blobs.stage(fh, progress=task.advance)
    except OSError as exc:
        error = InvalidInput(f"cannot read {path}: {exc.strerror}")
    except CustodesError as exc:
        error = exc
    with acting(ctx, actor_name) as uc:
        _refuse_ingest(uc, error, case_number)


def _probe_new(
    ctx: Context, actor_name: str | None, path: Path, staged: StagedBlob, case_number: str
) -> MediaInfo:
    """Probe the staged bytes, which must not be evidence already; else discard them."""
    known: dict[str, JSONValue] = {}
    try:
        # A damaged recording is evidence as it is: kept, and described as damaged.
        info = probe(staged.path, name=path.name, damaged=True)
        with acting(ctx, actor_name) as uc:
            dup = uc.uow.evidence.with_hash(staged.sha256)
            if dup is not None:
                # The auditors' record names the existing evidence; the actor is told
                # only what they may list.
                known = {"existing_evidence": dup.id, "existing_case": dup.case_number}
                dup_case = uc.uow.cases.by_id(dup.case_id)
                if decide(uc.actor, Permission.EVIDENCE_LIST, dup_case.facts, dup.facts).allowed:
                    raise CustodyConflict(
                        f"these bytes were already ingested as {dup.id} (case {dup.case_number})"
                    )
                raise CustodyConflict(
                    "these bytes are already in the vault (in a case you cannot access)"
                )
    except CustodesError as exc:
        ctx.blobs.discard(staged)
        with acting(ctx, actor_name) as uc:
            _refuse_ingest(uc, exc, case_number, known)
    return info


def list_evidence(
    ctx: Context, actor_name: str | None, case_number: str | None = None
) -> list[EvidenceItem]:
    """Evidence the actor may see (others are left out); a named case must be reachable.
    The rows are held against the signed log first (an edited, moved, deleted or
    inserted one is refused, on record)."""
    with acting(ctx, actor_name) as uc:
        case = uc.case(case_number, Permission.EVIDENCE_LIST) if case_number is not None else None
        cases = {c.id: c for c in uc.uow.cases.list()}
        rows = uc.uow.evidence.list(case)
        try:
            vouch_evidence_list(uc.uow, rows, case_number)
        except IntegrityFailure as exc:
            uc.refuse(exc, attempted=Permission.EVIDENCE_LIST.value, case=case_number)
        return [
            EvidenceItem.of(ev)
            for ev in rows
            if decide(uc.actor, Permission.EVIDENCE_LIST, cases[ev.case_id].facts, ev.facts).allowed
        ]


def open_evidence(
    ctx: Context,
    actor_name: str | None,
    evidence_id: str,
    *,
    reason: str | None = None,
) -> OpenedEvidence:
    """Open evidence for viewing: authorised, recorded, and flagged cases alert IA."""
    with acting(ctx, actor_name) as uc:
        ev, case = uc.found_evidence(evidence_id, attempted=Permission.EVIDENCE_VIEW)
        decision = uc.allow(Permission.EVIDENCE_VIEW, case=case, evidence=ev, reason=reason)
        seq = uc.record(
            Action.VIEW,
            case=case,
            evidence=ev,
            reason=reason,
            details={
                "sha256": ev.sha256,
                "alert": decision.alert,
                **alert_note(AlertKind.SENSITIVE_ACCESS, reason, alert=decision.alert),
            },
        )
        alerted = alert_if_flagged(
            ctx, uc.uow, decision, seq, AlertKind.SENSITIVE_ACCESS, uc.actor.username, ev, reason
        )
        locates = decide(uc.actor, Permission.BLOB_LOCATE).allowed
        uc.commit()
    return OpenedEvidence(
        **asdict(EvidenceItem.of(ev)),
        media=ev.media,
        alerted=alerted,
        path=ctx.blobs.location(ev.sha256) if locates else None,
    )


def alert_note(kind: AlertKind, reason: str | None, *, alert: bool = True) -> JSONObject:
    """What an event says of the alerts it raises (``alerted``: null, or their kind,
    audiences and reason), so that the alert rows are bound to the signed log (issue 22):
    ``verify`` names an alert deleted, edited or inserted, and the alerts listing shows
    only those an event vouches for. Merge it into the event's details, then
    :func:`raise_alert` (or :func:`alert_if_flagged`) with the same kind and reason."""
    if not alert:
        return {"alerted": None}
    audiences: list[JSONValue] = [a.value for a in alert_audiences(kind)]
    return {"alerted": {"kind": kind.value, "audiences": audiences, "reason": reason}}


def raise_alert(
    ctx: Context,
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
        uow.alerts.add(
            at=now_iso(ctx),
            audience=audience,
            kind=kind.value,
            actor=actor,
            case_number=case_number,
            evidence_id=evidence_id,
            reason=reason,
            audit_seq=seq,
        )
    return audiences


class EvidenceOnRecord(Protocol):
    """What an alert names of the evidence it is about (an ``Evidence`` record)."""

    @property
    def id(self) -> str: ...

    @property
    def case_number(self) -> str: ...


def alert_if_flagged(
    ctx: Context,
    uow: UnitOfWork,
    decision: Decision,
    seq: int,
    kind: AlertKind,
    actor: str,
    evidence: EvidenceOnRecord,
    reason: str | None,
) -> list[str]:
    """Alert when authorization says so (evidence of a flagged case was viewed, exported
    or redacted, with the stated reason), tied to the action's audit event ``seq``.
    Returns the audiences alerted."""
    if not decision.alert:
        return []
    return raise_alert(ctx, uow, seq, kind, actor, evidence.case_number, evidence.id, reason)


def list_alerts(ctx: Context, actor_name: str | None) -> list[AlertItem]:
    """The alerts the actor may read, as authorization decides per audience and case
    (internal affairs and admins: all; records and command staff: those addressed to
    them, on cases they view). Each is checked against the event it is about (one
    replay of the alerting events per call): one that the log does not vouch for is
    listed with ``vouched`` false."""
    with acting(ctx, actor_name) as uc:
        uc.allow(Permission.ALERTS_READ)
        cases = {c.number: c.facts for c in uc.uow.cases.list()}
        stored = uc.uow.alerts.list()
        vouched = {a.id for a in vouched_alerts(uc.uow, stored)}
        return [
            AlertItem(
                id=a.id,
                at=a.at,
                audience=a.audience,
                kind=a.kind,
                actor=a.actor,
                case=a.case_number,
                evidence_id=a.evidence_id,
                reason=a.reason,
                audit_seq=a.audit_seq,
                vouched=a.id in vouched,
            )
            for a in stored
            if decide_alert(
                uc.actor, a.audience, cases.get(a.case_number) if a.case_number else None
            ).allowed
        ]


__all__ = [
    "AlertItem",
    "EvidenceItem",
    "Ingested",
    "MediaInfo",
    "OpenedEvidence",
    "alert_if_flagged",
    "ingest",
    "list_alerts",
    "list_evidence",
    "open_evidence",
    "parse_iso8601",
    "raise_alert",
]

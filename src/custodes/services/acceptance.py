"""A person's acceptance of a redacted copy, and the accepted redactions a release uses.

Redacting makes a copy; nobody has looked at it yet. A person with the role to (records
custodians, supervisors) reviews it (the copy, its contact sheet, its sidecar) and
accepts it as covering some redaction kinds (:func:`accept_redaction`): a signed
``redaction-accept`` event naming who, when, the derivative, its hash and the kinds. A
release reads the acceptances from the signed log (:func:`accepted_redactions`), so what
it states as applied and reviewed is vouched for by the log itself; what the copy
applied comes from its signed ``redact`` event, never from a bare row.

What a person may claim is decided by :mod:`custodes.core.redactions`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from custodes.core import redactions
from custodes.core.authz import Permission
from custodes.core.custody import Action, decode_entry
from custodes.core.errors import CustodesError, CustodyConflict, IntegrityFailure, NotFound
from custodes.core.jsontext import JSONObject
from custodes.core.records import Derivative
from custodes.services.context import Context
from custodes.services.exports import check_text
from custodes.services.usecase import acting
from custodes.storage.uow import UnitOfWork

_ACTIONS = frozenset({str(Action.REDACT), str(Action.REDACTION_ACCEPT)})


@dataclass(frozen=True)
class AcceptRedaction:
    """Accept the stored redaction ``derivative_id`` as covering ``covers`` (redaction
    kinds of the policy pack); ``reason`` is required where it hides nothing of a kind."""

    derivative_id: str
    covers: Sequence[str]
    reason: str | None = None


@dataclass(frozen=True)
class Accepted:
    derivative_id: str
    evidence_id: str
    sha256: str
    covers: list[str]
    boxes: dict[str, int]
    """The boxes that hide each kind (audio: the ranges muted)."""
    accepted_by: str
    accepted_at: str
    audit_seq: int


@dataclass(frozen=True)
class Acceptance:
    by: str
    at: str
    covers: list[str]
    reason: str | None
    audit_seq: int


@dataclass
class AcceptedRedaction:
    """A stored redaction as the signed log states it: what it applied, and every
    acceptance of it, oldest first."""

    derivative_id: str
    evidence_id: str
    sha256: str
    made_by: str
    made_at: str
    applied: JSONObject
    acceptances: list[Acceptance] = field(default_factory=list)

    @property
    def covers(self) -> frozenset[str]:
        return frozenset(k for a in self.acceptances for k in a.covers)


def accept_redaction(ctx: Context, actor_name: str | None, cmd: AcceptRedaction) -> Accepted:
    """Put on record that the actor reviewed a redacted copy and accepts it as covering
    ``cmd.covers``; refused on record when the copy cannot have covered them."""
    permission = Permission.REDACTION_ACCEPT
    covers = redactions.parse_kinds(cmd.covers)  # bad input: one line, not a refusal
    with acting(ctx, actor_name) as uc:
        try:
            reason = None if cmd.reason is None else check_text(cmd.reason, "reason", 2000)
        except CustodesError as exc:
            uc.refuse(exc, attempted=permission.value)
        found = uc.uow.derivatives.find(cmd.derivative_id)
        if found is None or found.kind != "redaction":
            uc.refuse(
                NotFound(f"no such redaction: {cmd.derivative_id}"), attempted=permission.value
            )
        ev, case = uc.evidence(found.evidence_id, permission)
        try:
            signed = signed_redaction(uc.uow, found)
            if not signed.applied:
                raise CustodyConflict(
                    f"redaction {found.id} was made before custodes recorded what a "
                    "redaction applies; redact again and accept the new copy"
                )
            boxes = redactions.check_claim(found.id, covers, signed.applied, reason)
        except CustodesError as exc:
            uc.refuse(
                exc,
                attempted=permission.value,
                case=case.number,
                evidence=ev.id,
                reason=reason,
                details={"derivative": found.id, "covers": list(covers)},
            )
        seq = uc.record(
            Action.REDACTION_ACCEPT,
            case=case,
            evidence=ev,
            object_type="derivative",
            object_id=found.id,
            reason=reason,
            details={"sha256": signed.sha256, "covers": list(covers), "boxes": boxes},
        )
        entry = uc.uow.audit.entry_at(seq)
        at = str(decode_entry(entry)["at"]) if entry is not None else ""
        uc.commit()
    return Accepted(
        derivative_id=found.id,
        evidence_id=ev.id,
        sha256=signed.sha256,
        covers=list(covers),
        boxes=boxes,
        accepted_by=uc.actor.username,
        accepted_at=at,
        audit_seq=seq,
    )


def _redactions_of(uow: UnitOfWork, evidence_id: str) -> dict[str, AcceptedRedaction]:
    """The redactions of ``evidence_id`` and their acceptances, as the signed log states
    them; an acceptance of other bytes than the copy's is not one of it."""
    found: dict[str, AcceptedRedaction] = {}
    for entry in uow.audit.fact_entries(_ACTIONS, evidence_id=evidence_id):
        try:
            doc = decode_entry(entry)
            rid, details = str(doc["object"]["id"]), dict(doc["details"])
            seq, actor, at = int(doc["seq"]), str(doc["actor"]), str(doc["at"])
        except (CustodesError, KeyError, TypeError, ValueError):
            continue  # a malformed entry is verify's to report; it vouches for nothing
        if doc["action"] == Action.REDACT:
            applied = details.get("applied")
            found[rid] = AcceptedRedaction(
                rid,
                evidence_id,
                str(details.get("sha256")),
                actor,
                at,
                applied if isinstance(applied, dict) else {},
            )
        elif rid in found and details.get("sha256") == found[rid].sha256:
            covers = details.get("covers")
            reason = doc.get("reason")
            found[rid].acceptances.append(
                Acceptance(
                    by=actor,
                    at=at,
                    covers=[str(k) for k in covers] if isinstance(covers, list) else [],
                    reason=reason if isinstance(reason, str) else None,
                    audit_seq=seq,
                )
            )
    return found


def signed_redaction(uow: UnitOfWork, derivative: Derivative) -> AcceptedRedaction:
    """The redaction ``derivative`` as its signed events state it; a row that no signed
    redact event made, or that differs from it, is refused (IntegrityFailure)."""
    signed = _redactions_of(uow, derivative.evidence_id).get(derivative.id)
    if signed is None or signed.sha256 != derivative.sha256:
        why = "no signed redact event made it" if signed is None else "its hash differs from it"
        raise IntegrityFailure(
            f"redaction {derivative.id}: {why}; refusing to act on state the log does not "
            "vouch for",
            advice="verify the vault and restore the database from a backup",
        )
    return signed


def accepted_redactions(uow: UnitOfWork, evidence_id: str) -> list[AcceptedRedaction]:
    """The redactions of ``evidence_id`` a person accepted, newest first."""
    found = [r for r in _redactions_of(uow, evidence_id).values() if r.acceptances]
    return sorted(found, key=lambda r: r.acceptances[-1].audit_seq, reverse=True)


def list_redactions(
    ctx: Context, actor_name: str | None, evidence_id: str
) -> list[AcceptedRedaction]:
    """The redactions made of ``evidence_id``, each with every acceptance of it, as the
    signed log states them, oldest first. They are part of the case's record, read as
    its exports are (``case:audit:read`` on the evidence's case)."""
    with acting(ctx, actor_name, readonly=True) as uc:
        ev, _ = uc.evidence(evidence_id, Permission.CASE_AUDIT_READ)
        return sorted(_redactions_of(uc.uow, ev.id).values(), key=lambda r: r.made_at)


def show_redaction(ctx: Context, actor_name: str | None, derivative_id: str) -> AcceptedRedaction:
    """One redaction and its acceptances, as the signed log states them (a row the log
    does not vouch for is refused: IntegrityFailure)."""
    attempted = Permission.CASE_AUDIT_READ
    with acting(ctx, actor_name, readonly=True) as uc:
        found = uc.uow.derivatives.find(derivative_id)
        if found is None or found.kind != "redaction":
            uc.refuse(NotFound(f"no such redaction: {derivative_id}"), attempted=attempted.value)
        uc.evidence(found.evidence_id, attempted)
        return signed_redaction(uc.uow, found)

"""Reading the audit log: the events an actor may read.

Whoever reads the audit log reads every event, except those of a case flagged
``ia-investigation`` (and of its evidence), which only internal affairs, admins and the
people assigned to the case read (``case:audit:read`` in :mod:`custodes.core.authz`).
Naming such a case or its evidence is refused, on record; a listing leaves them out.
``custodes verify`` still checks the whole log.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from custodes.core.authz import Actor, CaseFacts, EvidenceFacts, Permission, decide
from custodes.core.errors import NotFound
from custodes.services.audit import list_events
from custodes.services.common import (
    all_case_facts,
    case_facts,
    check,
    evidence_row,
    load_actor,
    refuse,
)
from custodes.services.context import Context
from custodes.storage import tables as t
from custodes.storage.uow import UnitOfWork


def hidden_cases(actor: Actor, facts: dict[str, CaseFacts]) -> set[str]:
    """The cases whose audit record (events, exports) ``actor`` may not read."""
    return {
        number
        for number, case in facts.items()
        if not decide(actor, Permission.CASE_AUDIT_READ, case).allowed
    }


def check_record_filter(
    vault: Context,
    uow: UnitOfWork,
    actor: Actor,
    facts: dict[str, CaseFacts],
    *,
    evidence_id: str | None = None,
    case_number: str | None = None,
) -> None:
    """An explicit filter must name evidence or a case that exists (exit 4 otherwise)
    and whose record the actor reads (exit 5 otherwise); both refusals are on record."""
    attempted = Permission.CASE_AUDIT_READ.value
    if evidence_id is not None:
        try:
            row = evidence_row(uow, evidence_id)
        except NotFound as exc:
            refuse(vault, uow, actor.username, exc, attempted=attempted, evidence_id=evidence_id)
        check(
            vault,
            uow,
            actor,
            Permission.CASE_AUDIT_READ,
            case=facts[row.case_number],
            evidence=EvidenceFacts(row.id, row.officer),
        )
    if case_number is not None:
        if case_number not in facts:
            refuse(
                vault,
                uow,
                actor.username,
                NotFound(f"no case '{case_number}'"),
                attempted=attempted,
                case_number=case_number,
            )
        check(vault, uow, actor, Permission.CASE_AUDIT_READ, case=facts[case_number])


def list_audit(
    vault: Context,
    actor_name: str | None,
    *,
    evidence_id: str | None = None,
    case_number: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Audit events the actor may read, in seq order (the last ``limit`` of them)."""
    with vault.uow(readonly=True) as uow:
        actor = load_actor(vault, uow, actor_name)
        check(vault, uow, actor, Permission.AUDIT_READ)
        facts = all_case_facts(uow)
        check_record_filter(
            vault, uow, actor, facts, evidence_id=evidence_id, case_number=case_number
        )
        return list_events(
            uow.conn,
            evidence_id=evidence_id,
            case_number=case_number,
            limit=limit,
            hidden_cases=hidden_cases(actor, facts),
        )


def case_of_event(uow: UnitOfWork, body: dict[str, Any]) -> CaseFacts | None:
    """The facts of the case an event belongs to: its own, else that of the evidence it
    names; None for an event of no case (or of one that does not exist)."""
    number = body.get("case")
    if number is None and body.get("evidence") is not None:
        query = (
            select(t.cases.c.number)
            .join(t.evidence, t.evidence.c.case_id == t.cases.c.id)
            .where(t.evidence.c.id == body["evidence"])
        )
        number = uow.conn.execute(query).scalar()
    if number is None:
        return None
    row = uow.conn.execute(select(t.cases).where(t.cases.c.number == number)).first()
    return None if row is None else case_facts(uow, row)

"""Reading the audit log: the events an actor may read.

Whoever reads the audit log reads every event, except those of a case flagged
``ia-investigation`` (and of its evidence), which only internal affairs, admins and the
people assigned to the case read (``case:audit:read`` in :mod:`custodes.core.authz`).
Naming such a case or its evidence is refused, on record; a listing leaves them out.
``custodes verify`` still checks the whole log.
"""

from __future__ import annotations

from collections.abc import Mapping

from custodes.core.authz import Actor, CaseFacts, Permission, decide
from custodes.core.errors import IntegrityFailure
from custodes.core.records import Case
from custodes.services.audit import EventView, read_events
from custodes.services.context import Context
from custodes.services.state import vouch_case_list
from custodes.services.usecase import UseCase, acting
from custodes.storage.uow import UnitOfWork

__all__ = [
    "EventView",
    "case_of_event",
    "hidden_cases",
    "list_audit",
    "record_filter",
]


def hidden_cases(actor: Actor, facts: Mapping[str, CaseFacts]) -> set[str]:
    """The cases whose audit record (events, exports) ``actor`` may not read."""
    return {
        number
        for number, case in facts.items()
        if not decide(actor, Permission.CASE_AUDIT_READ, case).allowed
    }


def record_filter(
    uc: UseCase, *, evidence_id: str | None = None, case_number: str | None = None
) -> None:
    """An explicit filter must name evidence or a case that exists (NotFound otherwise)
    and whose record the actor reads (PermissionDenied otherwise); both refusals are on
    record."""
    permission = Permission.CASE_AUDIT_READ
    if evidence_id is not None:
        uc.evidence(evidence_id, permission)
    if case_number is not None:
        uc.case(case_number, permission)


def list_audit(
    vault: Context,
    actor_name: str | None,
    *,
    evidence_id: str | None = None,
    case_number: str | None = None,
    limit: int | None = None,
) -> list[EventView]:
    """Audit events the actor may read, in seq order (the last ``limit`` of them).

    The listing filters on columns stored beside each entry; what it prints is decoded
    from the signed entries. The cases it hides are read from vouched case rows, and an
    event whose signed case or evidence is not what the filter selected (a column
    edited on the database file) is refused, on record, instead of being shown."""
    with acting(vault, actor_name, readonly=True) as uc:
        uc.allow(Permission.AUDIT_READ)
        record_filter(uc, evidence_id=evidence_id, case_number=case_number)
        rows = uc.uow.cases.list()
        try:
            vouch_case_list(uc.uow, rows)
        except IntegrityFailure as exc:
            uc.refuse(exc, attempted=Permission.AUDIT_READ.value)
        hidden = hidden_cases(uc.actor, {case.number: case.facts for case in rows})
        events = read_events(
            uc.uow,
            evidence_id=evidence_id,
            case_number=case_number,
            limit=limit,
            hidden_cases=hidden,
        )
        astray = [
            e.seq
            for e in events
            if (evidence_id is not None and e.evidence != evidence_id)
            or (case_number is not None and e.case != case_number)
            or (e.case is not None and e.case in hidden)
        ]
        if astray:
            uc.refuse(
                IntegrityFailure(
                    f"audit: event {astray[0]} is not of what was asked for, by its signed "
                    "entry (a column beside it was edited); refusing to list it",
                    advice="verify the vault and restore the database from a backup",
                ),
                attempted=Permission.AUDIT_READ.value,
            )
        return events


def case_of_event(uow: UnitOfWork, event: EventView) -> Case | None:
    """The case an event belongs to: its own, else that of the evidence it names; None
    for an event of no case (or of one that does not exist)."""
    number = event.case
    if number is None and event.evidence is not None:
        found = uow.evidence.find(event.evidence)
        number = None if found is None else found.case_number
    if number is None:
        return None
    return uow.cases.find(number)

"""The skeleton every use case shares, written once.

A use case loads its actor, finds the object it acts on or puts the refusal on record,
asks authorization (a no is on record too), does its work, records its event in the
same transaction, and commits with a signed checkpoint::

    with acting(ctx, actor_name) as uc:
        case = uc.case(number, Permission.CASE_ASSIGN)
        user = uc.uow.users.get(username)
        uc.uow.cases.add_member(case, user)
        uc.record(Action.CASE_ASSIGN, case=case, details={"user": username})
        uc.commit()

so that each use case states only what is particular to it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NoReturn

from custodes.core.authz import Actor, Decision, Permission
from custodes.core.custody import Action
from custodes.core.errors import CustodesError, IntegrityFailure, NotFound
from custodes.core.jsontext import JSONObject
from custodes.core.records import Case, Evidence, Request
from custodes.services import audit
from custodes.services.common import check, event, load_actor, refuse
from custodes.services.context import Context
from custodes.services.state import vouch_case, vouch_evidence, vouch_request, vouch_user
from custodes.storage.uow import UnitOfWork


@dataclass
class UseCase:
    """One use case under way: its context, unit of work and (identified) actor."""

    ctx: Context
    uow: UnitOfWork
    actor: Actor

    def refuse(
        self,
        error: CustodesError,
        *,
        attempted: str,
        case: str | None = None,
        evidence: str | None = None,
        reason: str | None = None,
        action: Action = Action.ACCESS_REFUSED,
        details: Mapping[str, object] | None = None,
    ) -> NoReturn:
        """Roll back what was under way, put the refusal on record, raise ``error``."""
        refuse(
            self.ctx,
            self.uow,
            self.actor.username,
            error,
            action=action,
            attempted=attempted,
            case_number=case,
            evidence_id=evidence,
            reason=reason,
            details=details,
        )

    def allow(
        self,
        permission: Permission,
        *,
        case: Case | None = None,
        evidence: Evidence | None = None,
        reason: str | None = None,
        refusal_action: Action = Action.ACCESS_REFUSED,
    ) -> Decision:
        """Ask authorization; a no is put on record and raised."""
        return check(
            self.ctx,
            self.uow,
            self.actor,
            permission,
            case=case.facts if case is not None else None,
            evidence=evidence.facts if evidence is not None else None,
            reason=reason,
            refusal_action=refusal_action,
        )

    def _find_case(
        self, number: str, attempted: str, action: Action = Action.ACCESS_REFUSED
    ) -> Case:
        """The case ``number`` as its signed events vouch for it; an unknown case, or one
        whose row differs from its events, is refused on record."""
        found = self.uow.cases.find(number)
        try:
            if found is None:
                raise NotFound(f"no case '{number}'")
            vouch_case(self.uow, found)
        except (NotFound, IntegrityFailure) as exc:
            self.refuse(exc, attempted=attempted, case=number, action=action)
        return found

    def _find_evidence(self, evidence_id: str, attempted: str) -> tuple[Evidence, Case]:
        """The evidence and its case as their signed events vouch for them; unknown or
        unvouched evidence is refused on record."""
        found = self.uow.evidence.find(evidence_id)
        try:
            if found is None:
                raise NotFound(f"no evidence '{evidence_id}'")
            vouch_evidence(self.uow, found)
        except (NotFound, IntegrityFailure) as exc:
            self.refuse(exc, attempted=attempted, evidence=evidence_id)
        return found, self._find_case(found.case_number, attempted)

    def case(
        self, number: str, permission: Permission | None = None, *, reason: str | None = None
    ) -> Case:
        """The case ``number``, which the actor may act on with ``permission`` (when given).

        An unknown case is refused on record, as a denied one is."""
        found = self._find_case(number, permission.value if permission else "case:case:find")
        if permission is not None:
            self.allow(permission, case=found, reason=reason)
        return found

    def evidence(
        self, evidence_id: str, permission: Permission | None = None, *, reason: str | None = None
    ) -> tuple[Evidence, Case]:
        """The evidence ``evidence_id`` and its case, which the actor may act on with
        ``permission`` (when given). Unknown evidence is refused on record."""
        attempted = permission.value if permission else "case:evidence:find"
        found, case = self._find_evidence(evidence_id, attempted)
        if permission is not None:
            self.allow(permission, case=case, evidence=found, reason=reason)
        return found, case

    def evidence_decided(
        self, evidence_id: str, permission: Permission, *, reason: str | None = None
    ) -> tuple[Evidence, Case, Decision]:
        """As :meth:`evidence`, with authorization's decision (whether to alert, say)."""
        found, case = self._find_evidence(evidence_id, permission.value)
        return found, case, self.allow(permission, case=case, evidence=found, reason=reason)

    def request(
        self, request_id: str, *, attempted: Permission, action: Action = Action.ACCESS_REFUSED
    ) -> tuple[Request, Case]:
        """The release request ``request_id`` and its case, as their signed events vouch
        for them; an unknown or unvouched one is refused on record as an attempt at
        ``attempted`` (an event ``action``)."""
        found = self.uow.requests.find(request_id)
        try:
            if found is None:
                raise NotFound(f"no request '{request_id}'")
            vouch_request(self.uow, found)
        except (NotFound, IntegrityFailure) as exc:
            case = None if found is None else found.case_number
            self.refuse(exc, attempted=attempted.value, case=case, action=action)
        return found, self._find_case(found.case_number, attempted.value, action)

    def events(self, *, evidence_id: str | None = None) -> list[JSONObject]:
        """The audit log's events as it shows them, of one evidence item when given."""
        return audit.list_events(self.uow, evidence_id=evidence_id)

    def found_case(
        self, number: str, *, attempted: Permission, action: Action = Action.ACCESS_REFUSED
    ) -> Case:
        """The case ``number``, before any permission is asked; an unknown one is refused
        on record as an attempt at ``attempted`` (an event ``action``)."""
        return self._find_case(number, attempted.value, action)

    def found_evidence(self, evidence_id: str, *, attempted: Permission) -> tuple[Evidence, Case]:
        """The evidence ``evidence_id`` and its case, before any permission is asked (a
        use case that checks its inputs first); unknown evidence is refused on record as
        an attempt at ``attempted``."""
        return self._find_evidence(evidence_id, attempted.value)

    def record(
        self,
        action: Action | str,
        *,
        case: Case | str | None = None,
        evidence: Evidence | str | None = None,
        object_type: str | None = None,
        object_id: str | None = None,
        reason: str | None = None,
        details: Mapping[str, object] | None = None,
        has_object: bool = True,
    ) -> int:
        """Record the event of this use case; its sequence number in the log. Its object
        is the evidence, else the case it names, unless given (or ``has_object`` is
        False)."""
        case_number = case.number if isinstance(case, Case) else case
        evidence_id = evidence.id if isinstance(evidence, Evidence) else evidence
        if object_type is None and has_object:
            object_type = "evidence" if evidence_id else ("case" if case_number else None)
            object_id = evidence_id or case_number
        return audit.record(
            self.uow,
            event(
                self.ctx,
                self.actor.username,
                action,
                object_type=object_type,
                object_id=object_id,
                case_number=case_number,
                evidence_id=evidence_id,
                reason=reason,
                details=details,
            ),
        )

    def record_naming(
        self,
        action: Action | str,
        *,
        case: str | None = None,
        evidence: str | None = None,
        details: Mapping[str, object] | None = None,
    ) -> int:
        """Record an event that names a case and evidence without acting on either (it
        has no object): a proof issued of one of their events is about the log, yet a
        listing of the case must show it."""
        return self.record(action, case=case, evidence=evidence, details=details, has_object=False)

    def commit(self) -> None:
        """Sign a checkpoint, commit, publish the checkpoint."""
        audit.commit(self.uow, self.ctx)

    def commit_unsigned(self) -> None:
        """Commit without signing a checkpoint: what is recorded stays on record, but the
        vault signs nothing over a log that just failed verification."""
        self.uow.commit()


@contextmanager
def acting(ctx: Context, actor_name: str | None, *, readonly: bool = False) -> Iterator[UseCase]:
    """Open a unit of work and identify the actor (an unknown one is refused on record)."""
    with ctx.uow(readonly=readonly) as uow:
        actor = load_actor(ctx, uow, actor_name)
        user = uow.users.get(actor.username)
        try:
            vouch_user(uow, user)
        except IntegrityFailure as exc:
            refuse(ctx, uow, actor.username, exc, attempted="identify")
        yield UseCase(ctx, uow, actor)

"""Holds, reviewed again: when a case's facts change, and when their review date comes.

Nothing is decided here: a hold stays the recorded decision until a records user accepts
or overrides the new proposal (deciding is a person's act). A hold the pack no longer
proposes is put on record (HOLD_REVIEW) and, after a change of facts, alerted to records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import cast

from custodes.core.authz import AlertKind, Permission
from custodes.core.authz import decide as authz_decide
from custodes.core.custody import Action
from custodes.core.disclosure.engine import Decision, decide
from custodes.core.errors import CustodesError
from custodes.core.jsontext import JSONObject, jsonable
from custodes.core.records import Case, RecordedDecision, Request
from custodes.services.context import Context
from custodes.services.evidence import alert_note, raise_alert
from custodes.services.requests.facts import load_policy, request_facts, today
from custodes.services.usecase import UseCase, acting
from custodes.storage.uow import UnitOfWork


@dataclass(frozen=True)
class HoldReview:
    """A held request looked at again."""

    request_id: str
    case: str
    held_since: str
    review_at: str | None
    proposed: str
    """What the pack proposes now."""
    rules: list[str]
    changed: bool
    """The pack no longer proposes a hold."""
    trigger: JSONObject
    """What prompted the review: a change of the case or a recording, or its review date."""


def held_requests(
    uow: UnitOfWork, case: Case | None = None
) -> list[tuple[Request, RecordedDecision]]:
    """Requests whose latest recorded decision is a hold, with that decision."""
    held = []
    for request in uow.requests.list(case):
        last = uow.decisions.latest(request.id)
        if last is not None and last.outcome == "hold":
            held.append((request, last))
    return held


def _record_hold_review(
    uc: UseCase,
    request: Request,
    last: RecordedDecision,
    proposal: Decision,
    trigger: JSONObject,
    *,
    alert: bool,
) -> HoldReview:
    """Put one re-evaluated hold on record (HOLD_REVIEW); with ``alert``, tell records."""
    changed = proposal.outcome != last.outcome
    item = HoldReview(
        request_id=request.id,
        case=request.case_number,
        held_since=last.decided_at,
        review_at=last.review_at,
        proposed=proposal.outcome,
        rules=[r.id for r in proposal.rules],
        changed=changed,
        trigger=trigger,
    )
    why = (
        f"request {request.id}: the hold no longer stands (the policy pack now proposes "
        f"'{proposal.outcome}'); a records user must decide it again"
    )
    seq = uc.record(
        Action.HOLD_REVIEW,
        object_type="request",
        object_id=request.id,
        case=request.case_number,
        details={
            **cast(JSONObject, jsonable(item)),
            **alert_note(AlertKind.HOLD_REVIEW, why, alert=alert and changed),
        },
    )
    if alert and changed:
        raise_alert(
            uc.ctx,
            uc.uow,
            seq,
            AlertKind.HOLD_REVIEW,
            uc.actor.username,
            request.case_number,
            None,
            why,
        )
    return item


def review_holds_after_change(
    uc: UseCase, case: Case, trigger: JSONObject
) -> tuple[list[HoldReview], list[str]]:
    """Re-run the pack on the held requests of ``case``, whose facts just changed.

    Called inside the use case that made the change (after it), so the facts read are
    the new ones; what is recorded is recorded for its actor. Each hold the pack no
    longer proposes is put on record (HOLD_REVIEW) and records is alerted; a hold that
    still stands leaves no trace. The change itself never fails because of the pack: if
    it cannot be loaded or is not in force, nothing is recorded for the holds and a
    warning is returned instead. Returns ``(reviewed, warnings)``.
    """
    held = held_requests(uc.uow, case)
    if not held:
        return [], []
    try:
        pack = load_policy(uc.ctx, uc.uow)
        proposals = [
            (request, last, decide(pack, request_facts(uc.ctx, uc.uow, request)))
            for request, last in held
        ]
    except CustodesError as exc:
        return [], [
            f"{len(held)} held request(s) of case {case.number} were not re-evaluated: {exc}; "
            "review the due requests once the policy pack is current"
        ]
    reviewed = [
        _record_hold_review(uc, request, last, proposal, trigger, alert=True)
        for request, last, proposal in proposals
        if proposal.outcome != last.outcome
    ]
    return reviewed, []


def review_due(vault: Context, actor_name: str | None) -> list[HoldReview]:
    """Re-evaluate every held request whose review date has come or whose facts changed
    (of the cases whose requests the actor may decide)."""
    now = today(vault)
    reviewed: list[HoldReview] = []
    with acting(vault, actor_name) as uc:
        pack = load_policy(vault, uc.uow)
        for request, last in held_requests(uc.uow):
            case = uc.uow.cases.by_id(request.case_id)
            if not authz_decide(uc.actor, Permission.REQUEST_DECIDE, case.facts).allowed:
                continue
            proposal = decide(pack, request_facts(vault, uc.uow, request))
            changed = proposal.outcome != last.outcome
            due_for_review = (
                last.review_at is not None and date.fromisoformat(last.review_at) <= now
            )
            if not (changed or due_for_review):
                continue
            trigger: JSONObject = {"review_due": now.isoformat()}
            reviewed.append(_record_hold_review(uc, request, last, proposal, trigger, alert=False))
        uc.commit()
    return reviewed

"""Recording release requests, and reading them back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from custodes.core.authz import Permission
from custodes.core.authz import decide as authz_decide
from custodes.core.custody import Action
from custodes.core.disclosure.engine import decide
from custodes.core.errors import CustodesError, IntegrityFailure, InvalidInput
from custodes.core.records import Case, RecordedDecision, Request, TimeSpan
from custodes.services.common import new_id, now_iso
from custodes.services.context import Context
from custodes.services.requests.facts import (
    KINDS,
    RECEIVED_AT_MAX_AGE,
    case_evidence,
    check_ranges,
    check_ranges_within,
    durations,
    load_policy,
    request_facts,
    today,
)
from custodes.services.requests.rereview import needs_review, rereviews
from custodes.services.state import vouch_decision, vouch_decisions_of, vouch_request_list
from custodes.services.usecase import UseCase, acting
from custodes.storage.uow import UnitOfWork


@dataclass(frozen=True)
class AddRequest:
    """A release request as it arrived."""

    case_number: str
    requester: str
    kind: str
    evidence: Sequence[str] = ()
    """The recordings asked for; none: all of the case's."""
    received_at: date | None = None
    """When it arrived; default today."""
    misconduct_complaint: bool = False
    ranges: Sequence[TimeSpan] = ()
    """Only these portions (seconds), within the recordings."""
    allegation_on: date | None = None
    incident_on: date | None = None
    critical_incident: bool = False


@dataclass(frozen=True)
class RequestAdded:
    request_id: str
    due: date
    case: str
    requester: str
    kind: str
    received_at: date


@dataclass(frozen=True)
class DecisionSummary:
    """The decision that stands on a request."""

    decision_id: str
    outcome: str
    decider: str
    decided_at: str
    override: bool
    review_at: str | None
    pack: str
    """The name of the policy pack it was decided under, and its SHA-256."""
    pack_sha256: str


@dataclass(frozen=True)
class RequestSummary:
    request_id: str
    case: str
    requester: str
    kind: str
    received_at: date
    due: date
    evidence: list[str]
    ranges: list[TimeSpan]
    misconduct_complaint: bool
    status: str
    """``open``, or ``decided:OUTCOME``."""
    decision: DecisionSummary | None
    needs_review: bool
    """The policy pack in force changed and a records user must decide it again
    (services.requests.rereview)."""


@dataclass(frozen=True)
class DecisionEntry:
    """One decision of a request's history."""

    decision_id: str
    outcome: str
    proposed: str
    decider: str
    decided_at: str
    override_reason: str | None
    pack_sha256: str


@dataclass(frozen=True)
class RequestDetail(RequestSummary):
    decisions: list[DecisionEntry]


def add_request(vault: Context, actor_name: str | None, cmd: AddRequest) -> RequestAdded:
    """Record a release request; its deadline comes from the policy pack."""
    with acting(vault, actor_name) as uc:
        case = uc.case(cmd.case_number, Permission.REQUEST_ADD)
        draft = _checked_request(uc, case, cmd)
        try:
            pack = load_policy(vault, uc.uow)
            proposal = decide(pack, request_facts(vault, uc.uow, draft))
        except CustodesError as exc:
            uc.refuse(exc, attempted=Permission.REQUEST_ADD.value, case=case.number)
        request = uc.uow.requests.add(
            draft.id,
            case,
            requester=draft.requester,
            kind=draft.kind,
            received_at=draft.received_at,
            evidence=draft.evidence,
            ranges=draft.ranges,
            misconduct_complaint=draft.misconduct_complaint,
            allegation_on=draft.allegation_on,
            incident_on=draft.incident_on,
            critical_incident=draft.critical_incident,
            due=proposal.due,
            actor=draft.actor,
            created_at=draft.created_at,
        )
        uc.record(
            Action.REQUEST_ADD,
            object_type="request",
            object_id=request.id,
            case=case,
            details={
                "requester": request.requester,
                "kind": request.kind,
                "received_at": request.received_at.isoformat(),
                "evidence": list(request.evidence),
                "ranges": [[a, b] for a, b in request.ranges],
                "misconduct_complaint": request.misconduct_complaint,
                "due": request.due.isoformat(),
                "allegation_on": _iso(request.allegation_on),
                "incident_on": _iso(request.incident_on),
                "critical_incident": request.critical_incident,
                "pack": pack.name,
                "pack_sha256": pack.sha256,
            },
        )
        uc.commit()
    return RequestAdded(
        request_id=request.id,
        due=request.due,
        case=case.number,
        requester=request.requester,
        kind=request.kind,
        received_at=request.received_at,
    )


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def _checked_request(uc: UseCase, case: Case, cmd: AddRequest) -> Request:
    """The request ``cmd`` asks to record, checked (not yet stored; due when decided).

    A refusal is put on record, on the record of the evidence concerned when it is about
    one recording named."""
    evidence_id: str | None = None
    try:
        requester = " ".join(cmd.requester.split())
        if not requester or len(requester) > 200 or not requester.isprintable():
            raise InvalidInput(
                "{requester} must be printable text of 1-200 characters", field="requester"
            )
        if cmd.kind not in KINDS:
            raise InvalidInput(
                f"unknown requester kind '{cmd.kind}' (kinds: {', '.join(KINDS)})", field="kind"
            )
        for evidence_id in cmd.evidence:
            _check_of_case(uc, case, evidence_id)
        evidence_id = None
        received = _checked_received_at(uc.ctx, cmd.received_at)
        ranges = check_ranges(cmd.ranges, "ranges")
        asked = sorted(set(cmd.evidence)) or case_evidence(uc.uow, case)
        check_ranges_within(ranges, durations(uc.uow, asked), "ranges")
    except CustodesError as exc:
        uc.refuse(
            exc, attempted=Permission.REQUEST_ADD.value, case=case.number, evidence=evidence_id
        )
    return Request(
        id=new_id("RQ"),
        case_id=case.id,
        case_number=case.number,
        requester=requester,
        kind=cmd.kind,
        received_at=received,
        evidence=tuple(sorted(set(cmd.evidence))),
        ranges=tuple(ranges),
        misconduct_complaint=cmd.misconduct_complaint,
        allegation_on=cmd.allegation_on,
        incident_on=cmd.incident_on,
        critical_incident=cmd.critical_incident,
        due=received,  # until the pack says
        actor=uc.actor.username,
        created_at=now_iso(uc.ctx),
    )


def _check_of_case(uc: UseCase, case: Case, evidence_id: str) -> None:
    """Refuse evidence of another case (named only to someone who may see that case)."""
    ev = uc.uow.evidence.get(evidence_id)
    if ev.case_number != case.number:
        other = uc.uow.cases.by_id(ev.case_id)
        where = (
            f"case {other.number}"
            if authz_decide(uc.actor, Permission.CASE_VIEW, other.facts).allowed
            else "another case"
        )
        raise InvalidInput(
            f"evidence {evidence_id} belongs to {where}, not {case.number}", field="evidence_ids"
        )


def _checked_received_at(vault: Context, received_at: date | None) -> date:
    now = today(vault)
    received = received_at or now
    if received > now:
        raise InvalidInput(f"{{received_at}} {received} is in the future", field="received_at")
    earliest = now - RECEIVED_AT_MAX_AGE
    if received < earliest:
        raise InvalidInput(
            f"{{received_at}} {received} is more than ten years ago "
            f"(the earliest accepted is {earliest})",
            field="received_at",
        )
    return received


def request_summary(
    uow: UnitOfWork,
    request: Request,
    latest_rereviews: Mapping[str, tuple[int, bool]] | None = None,
) -> RequestSummary:
    """A request with the decision that stands on it (``latest_rereviews``: those of
    :func:`rereview.rereviews`, read once for a list)."""
    last = uow.decisions.latest(request.id)
    if latest_rereviews is None:
        latest_rereviews = rereviews(uow)
    return RequestSummary(
        request_id=request.id,
        case=request.case_number,
        requester=request.requester,
        kind=request.kind,
        received_at=request.received_at,
        due=request.due,
        evidence=list(request.evidence),
        ranges=list(request.ranges),
        misconduct_complaint=request.misconduct_complaint,
        status="open" if last is None else f"decided:{last.outcome}",
        decision=None if last is None else _decision_summary(last),
        needs_review=needs_review(request.id, last, latest_rereviews),
    )


def _decision_summary(last: RecordedDecision) -> DecisionSummary:
    return DecisionSummary(
        decision_id=last.id,
        outcome=last.outcome,
        decider=last.decider,
        decided_at=last.decided_at,
        override=last.override_reason is not None,
        review_at=last.review_at,
        pack=last.pack_name,
        pack_sha256=last.pack_sha256,
    )


def list_requests(
    vault: Context,
    actor_name: str | None,
    *,
    open_only: bool = False,
    due_before: date | None = None,
) -> list[RequestSummary]:
    """The requests the actor may see (others are left out, not refused), soonest due
    first; ``open_only``: undecided, held, or needing review after the policy pack
    changed; ``due_before``: due before that day."""
    out: list[RequestSummary] = []
    with acting(vault, actor_name, readonly=True) as uc:
        latest = rereviews(uc.uow)
        cases: dict[int, Case] = {}
        rows = uc.uow.requests.list()
        try:
            standing = {r.id: uc.uow.decisions.latest(r.id) for r in rows}
            vouch_request_list(uc.uow, rows, standing)
        except IntegrityFailure as exc:
            uc.refuse(exc, attempted=Permission.REQUEST_VIEW.value)
        for request in rows:
            case = cases.get(request.case_id) or uc.uow.cases.by_id(request.case_id)
            cases[request.case_id] = case
            if not authz_decide(uc.actor, Permission.REQUEST_VIEW, case.facts).allowed:
                continue
            item = request_summary(uc.uow, request, latest)
            if (
                open_only
                and item.decision is not None
                and item.decision.outcome != "hold"
                and not item.needs_review
            ):
                continue
            if due_before is not None and item.due >= due_before:
                continue
            out.append(item)
    return out


def show_request(vault: Context, actor_name: str | None, request_id: str) -> RequestDetail:
    """A request and every decision recorded on it, as the signed log vouches for them
    (a row that differs is refused, on record)."""
    with acting(vault, actor_name, readonly=True) as uc:
        request, case = uc.request(request_id, attempted=Permission.REQUEST_VIEW)
        uc.allow(Permission.REQUEST_VIEW, case=case)
        history = uc.uow.decisions.of_request(request_id)
        try:
            vouch_decisions_of(uc.uow, request_id, history)
            standing = uc.uow.decisions.latest(request_id)  # by decided_at, not vouched
            if standing is not None:
                vouch_decision(uc.uow, standing, latest=True)
        except IntegrityFailure as exc:
            uc.refuse(exc, attempted=Permission.REQUEST_VIEW.value, case=case.number)
        summary = request_summary(uc.uow, request)
        decisions = [
            DecisionEntry(
                decision_id=d.id,
                outcome=d.outcome,
                proposed=d.proposed_outcome,
                decider=d.decider,
                decided_at=d.decided_at,
                override_reason=d.override_reason,
                pack_sha256=d.pack_sha256,
            )
            for d in history
        ]
    return RequestDetail(**vars(summary), decisions=decisions)

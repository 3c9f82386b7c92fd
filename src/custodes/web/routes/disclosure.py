"""Release requests, their decisions, evidence flags, redaction acceptance and the
policy pack (``/api/v1/requests``, ``/evidence/{id}/flags``, ``/redactions``,
``/policy``): as ``custodes request add|list|show|decide|review-due``,
``evidence flag``, ``redaction accept`` and ``policy show|history|set``; and the
redactions of a recording as the signed log states them.

Making a redaction, a letter or a release package is long work and runs as a job
(``routes/jobs.py``), not here.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import Field

from custodes.services import acceptance
from custodes.services import policy as policy_svc
from custodes.services import requests as req_svc
from custodes.services.packs import PackInForce
from custodes.web.deps import Caller
from custodes.web.routes.render import Body, Limit, Offset, PathId, json, page

router = APIRouter()

Reason = Annotated[
    str | None, Field(max_length=2000, description="Why (recorded on the audit log).")
]
Names = Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=32)]


class NewRequest(Body):
    case: str = Field(max_length=64, description="Case number.")
    requester: str = Field(max_length=500, description="Who asks (a newsroom, a person).")
    kind: str = Field(max_length=32, description="press, public, subject, prosecutor, ...")
    evidence: Names = Field(default=[], description="Evidence asked for (default: all).")
    received_at: date | None = Field(default=None, description="Default today.")
    misconduct_complaint: bool = False
    ranges: list[tuple[float, float]] = Field(
        default=[], max_length=100, description="Only these portions: [start, end] seconds."
    )
    allegation_on: date | None = None
    incident_on: date | None = None
    critical_incident: bool = False


class Decision(Body):
    accept: bool = Field(default=False, description="Record the proposed outcome.")
    override: str | None = Field(
        default=None, max_length=32, description="Record this outcome instead (with reason)."
    )
    reason: Reason = None
    findings: Names = Field(default=[], description="Findings a person made.")


class FlagChange(Body):
    flags: Names = Field(default=[], description="minor, victim, medical, home-interior, ...")
    unflag: Names = Field(default=[], description="Flags to clear.")
    reason: Reason = None


class Acceptance(Body):
    covers: Names = Field(
        description="The redaction kinds the copy covers: faces, bystander-faces, minors, "
        "victims, plates, interior, audio."
    )
    reason: Reason = None


class PolicyChoice(Body):
    pack: str = Field(
        max_length=64,
        pattern=r"^[a-z0-9][a-z0-9_-]*$",
        description="A built-in pack's name (pack files are read by the CLI only: the web "
        "reads no file the request names).",
    )
    reason: str = Field(max_length=2000)


# -- release requests ----------------------------------------------------------------


@router.post("/requests", status_code=201, response_model=req_svc.RequestAdded, tags=["requests"])
def add_request(body: NewRequest, caller: Caller) -> JSONResponse:
    """Record a release request; its deadline comes from the policy pack
    (``custodes request add``)."""
    cmd = req_svc.AddRequest(
        case_number=body.case,
        requester=body.requester,
        kind=body.kind,
        evidence=body.evidence,
        received_at=body.received_at,
        misconduct_complaint=body.misconduct_complaint,
        ranges=body.ranges,
        allegation_on=body.allegation_on,
        incident_on=body.incident_on,
        critical_incident=body.critical_incident,
    )
    return json(req_svc.add_request(caller.ctx, caller.username, cmd), 201)


@router.get("/requests", response_model=list[req_svc.RequestSummary], tags=["requests"])
def list_requests(
    caller: Caller,
    open: Annotated[bool, Query(description="Only undecided, held, or needing review.")] = False,
    due_before: Annotated[date | None, Query(description="Only due before this day.")] = None,
    offset: Offset = 0,
    limit: Limit = 100,
) -> JSONResponse:
    """Release requests you may see, soonest due first (``custodes request list``)."""
    rows = req_svc.list_requests(caller.ctx, caller.username, open_only=open, due_before=due_before)
    return page(rows, offset, limit)


@router.post("/requests/review-due", response_model=list[req_svc.HoldReview], tags=["requests"])
def review_due(caller: Caller) -> JSONResponse:
    """Re-evaluate held requests whose review date came or whose facts changed
    (``custodes request review-due``)."""
    return json(req_svc.review_due(caller.ctx, caller.username))


@router.get("/requests/{request_id}", response_model=req_svc.RequestDetail, tags=["requests"])
def show_request(request_id: PathId, caller: Caller) -> JSONResponse:
    """A request and its decisions (``custodes request show``)."""
    return json(req_svc.show_request(caller.ctx, caller.username, request_id))


@router.get("/requests/{request_id}/proposal", response_model=req_svc.Proposal, tags=["requests"])
def propose(
    request_id: PathId,
    caller: Caller,
    finding: Annotated[list[str] | None, Query(max_length=32)] = None,
) -> JSONResponse:
    """What the policy pack proposes now: the outcome and the rules that fired, each
    with its citation and what it read (``custodes request decide`` without
    ``--accept``). Nothing is recorded."""
    out = req_svc.decide_request(caller.ctx, caller.username, request_id, findings=finding or [])
    return json(out)


@router.post(
    "/requests/{request_id}/decisions",
    status_code=201,
    response_model=req_svc.Decided,
    tags=["requests"],
)
def decide(request_id: PathId, body: Decision, caller: Caller) -> JSONResponse:
    """Record a decision: ``accept`` the proposal, or ``override`` it with a ``reason``
    (``custodes request decide --accept | --override OUTCOME --reason``). With neither,
    the answer is the proposal (200) and nothing is recorded."""
    out = req_svc.decide_request(
        caller.ctx,
        caller.username,
        request_id,
        accept=body.accept,
        override=body.override,
        reason=body.reason,
        findings=body.findings,
    )
    return json(out, 201 if isinstance(out, req_svc.Decided) else 200)


# -- what a recording shows, and redactions ------------------------------------------


@router.get(
    "/evidence/{evidence_id}/flags", response_model=req_svc.EvidenceFlags, tags=["evidence"]
)
def evidence_flags(evidence_id: PathId, caller: Caller) -> JSONResponse:
    """What a recording is recorded to show (read by the policy pack)."""
    return json(req_svc.set_evidence_flags(caller.ctx, caller.username, evidence_id))


@router.patch(
    "/evidence/{evidence_id}/flags", response_model=req_svc.EvidenceFlags, tags=["evidence"]
)
def set_evidence_flags(evidence_id: PathId, body: FlagChange, caller: Caller) -> JSONResponse:
    """Set or clear what a recording shows, with a reason (``custodes evidence flag``)."""
    out = req_svc.set_evidence_flags(
        caller.ctx,
        caller.username,
        evidence_id,
        flag=body.flags,
        unflag=body.unflag,
        reason=body.reason,
    )
    return json(out)


@router.get(
    "/evidence/{evidence_id}/redactions",
    response_model=list[acceptance.AcceptedRedaction],
    tags=["redactions"],
)
def list_redactions(evidence_id: PathId, caller: Caller) -> JSONResponse:
    """The redactions made of a recording, each with its acceptances (who, when, what it
    covers, why), as the signed log states them; part of the case's record."""
    return json(acceptance.list_redactions(caller.ctx, caller.username, evidence_id))


@router.get(
    "/redactions/{derivative_id}", response_model=acceptance.AcceptedRedaction, tags=["redactions"]
)
def show_redaction(derivative_id: PathId, caller: Caller) -> JSONResponse:
    """One redaction: what it applied, its hash, and every acceptance of it."""
    return json(acceptance.show_redaction(caller.ctx, caller.username, derivative_id))


@router.post(
    "/redactions/{derivative_id}/acceptances",
    status_code=201,
    response_model=acceptance.Accepted,
    tags=["redactions"],
)
def accept_redaction(derivative_id: PathId, body: Acceptance, caller: Caller) -> JSONResponse:
    """State, on record, that you reviewed a redacted copy and what it covers
    (``custodes redaction accept --covers ... [--reason]``)."""
    cmd = acceptance.AcceptRedaction(derivative_id, covers=tuple(body.covers), reason=body.reason)
    return json(acceptance.accept_redaction(caller.ctx, caller.username, cmd), 201)


# -- the policy pack -------------------------------------------------------------------


@router.get("/policy", response_model=PackInForce, tags=["policy"])
def show_policy(caller: Caller) -> JSONResponse:
    """The policy pack in force (``custodes policy show``)."""
    return json(policy_svc.show_policy(caller.ctx, caller.username))


@router.get("/policy/history", response_model=list[PackInForce], tags=["policy"])
def policy_history(caller: Caller) -> JSONResponse:
    """Every pack the vault has had in force, oldest first (``custodes policy history``)."""
    return json(policy_svc.policy_history(caller.ctx, caller.username))


@router.put("/policy", response_model=policy_svc.PolicySet, tags=["policy"])
def set_policy(body: PolicyChoice, caller: Caller) -> JSONResponse:
    """Put a built-in pack in force, with a reason (admins; ``custodes policy set``);
    open requests are re-reviewed under it."""
    return json(policy_svc.set_policy(caller.ctx, caller.username, body.pack, body.reason))

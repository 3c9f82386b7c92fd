"""Changing cases (``/api/v1/cases``): as ``custodes case add``, ``case set`` and
``case assign [--restore-reach]``. Listing and showing a case (with its members) are in
``routes/api.py``.

A case number may hold a ``/`` (``2024/0173``): send it as it is, or percent-encoded.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import Field

from custodes.core.authz import CaseFlag, CaseStatus
from custodes.services import cases as case_svc
from custodes.web.deps import Caller
from custodes.web.routes.render import Body, json

router = APIRouter(tags=["cases"])

Reason = Annotated[str | None, Field(max_length=2000, description="Why (on the audit log).")]


class NewCase(Body):
    number: str = Field(max_length=64, description="1-64 of letters, digits, '.', '_', '/', '-'.")
    title: str = Field(default="", max_length=500)
    status: CaseStatus = CaseStatus.OPEN


class CaseChange(Body):
    status: CaseStatus | None = None
    flags: list[CaseFlag] = Field(default=[], max_length=10, description="Flags to set.")
    unflag: list[CaseFlag] = Field(default=[], max_length=10, description="Flags to clear.")
    reason: str | None = Field(
        default=None, max_length=2000, description="Why (required for a flag change)."
    )


class Member(Body):
    username: str = Field(max_length=64)
    reason: Reason = None
    restore_reach: bool = Field(
        default=False,
        description="Internal affairs only: give an officer reach again to a case under "
        "investigation (assigning them if they are not); needs a reason.",
    )


@router.post("/cases", status_code=201, response_model=case_svc.CaseView)
def add_case(body: NewCase, caller: Caller) -> JSONResponse:
    """Open a case, as ``custodes case add``."""
    out = case_svc.add_case(caller.ctx, caller.username, body.number, body.title, body.status.value)
    return json(out, 201)


@router.patch("/cases/{number:path}", response_model=case_svc.CaseChanged)
def set_case(number: str, body: CaseChange, caller: Caller) -> JSONResponse:
    """Change a case's status or flags, as ``custodes case set``; ``holds_reviewed`` lists
    held release requests that no longer stand (records decide them again)."""
    out = case_svc.set_case(
        caller.ctx,
        caller.username,
        number,
        status=body.status.value if body.status is not None else None,
        flag=[f.value for f in body.flags],
        unflag=[f.value for f in body.unflag],
        reason=body.reason,
    )
    return json(out)


@router.post("/cases/{number:path}/members", response_model=case_svc.CaseMembers)
def assign(number: str, body: Member, caller: Caller) -> JSONResponse:
    """Assign a user to a case (``custodes case assign``), or, for internal affairs with
    ``restore_reach``, give an officer reach again (``--restore-reach``)."""
    if body.restore_reach:
        out = case_svc.restore_reach(
            caller.ctx, caller.username, number, body.username, body.reason
        )
    else:
        out = case_svc.assign(caller.ctx, caller.username, number, body.username, body.reason)
    return json(out)

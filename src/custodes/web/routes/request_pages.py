"""The requests queue and the decision screen (issue 18, item 5).

``/requests`` lists the release requests the signed-in person may see, soonest due first;
``/requests/{id}`` shows one with the decision the policy pack proposes on its facts as
they are now (the rules that fired, each with its citation and what it read, the reasons
with the law they rest on) and the decisions recorded before. A records custodian accepts
the proposal or overrides it with a written reason: a form post to
``/requests/{id}/decide`` calling ``requests.decide_request``, the same use case as
``custodes request decide`` and the API, which decides who may and puts it on record.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from custodes.core.authz import Permission
from custodes.services import requests as request_svc
from custodes.web.deps import Caller
from custodes.web.pages import render, see_other
from custodes.web.routes.pages import Form, _nav

router = APIRouter(include_in_schema=False)


@router.get("/requests")
def requests_page(request: Request, caller: Caller) -> HTMLResponse:
    nav = _nav(caller)
    return render(
        request,
        "requests.html",
        caller=nav,
        requests=request_svc.list_requests(caller.ctx, caller.username),
        today=caller.ctx.clock.now().date(),
    )


@router.get("/requests/{request_id}")
def request_page(request_id: str, request: Request, caller: Caller) -> HTMLResponse:
    """The decision screen: reading it proposes, and records nothing but the look."""
    nav = _nav(caller)
    detail = request_svc.show_request(caller.ctx, caller.username, request_id[:64])
    proposal = request_svc.decide_request(caller.ctx, caller.username, detail.request_id)
    return render(
        request,
        "request.html",
        caller=nav,
        r=detail,
        proposal=proposal,
        outcomes=request_svc.OUTCOMES,
        may_decide=nav.may(Permission.REQUEST_DECIDE),
        today=caller.ctx.clock.now().date(),
    )


@router.post("/requests/{request_id}/decide")
def decide(request_id: str, caller: Caller, form: Form) -> Response:
    """Accept the proposal, or override it with an outcome and a written reason."""
    override = form.get("override") or None
    request_svc.decide_request(
        caller.ctx,
        caller.username,
        request_id[:64],
        accept=override is None,
        override=override,
        reason=(form.get("reason") or "")[:2000] or None,
    )
    return see_other(f"/requests/{request_id[:64]}")

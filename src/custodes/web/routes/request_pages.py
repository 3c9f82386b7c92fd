"""The requests queue and the decision screen (issue 18, item 5).

``/requests`` lists the release requests the signed-in person may see, soonest due first;
``/requests/{id}`` shows one with the decision the policy pack proposes on its facts as
they are now (the rules that fired, each with its citation and what it read, the reasons
with the law they rest on) and the decisions recorded before. A records custodian accepts
the proposal or overrides it with a written reason: a form post to
``/requests/{id}/decide`` calling ``requests.decide_request``, the same use case as
``custodes request decide`` and the API, which decides who may and puts it on record.

A decided request has its letter to the requester: ``/requests/{id}/letter`` shows it
and ``/requests/{id}/letter.pdf`` downloads it, both made by ``requests.write_letter``
(the use case behind ``custodes request letter``) for those who may see the request.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup
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


def _letter(caller: Caller, request_id: str) -> tuple[request_svc.Letter, str, bytes]:
    """The request's letter as ``write_letter`` makes it: its HTML text and PDF bytes."""
    with tempfile.TemporaryDirectory(prefix="custodes-letter-") as tmp:
        letter = request_svc.write_letter(
            caller.ctx, caller.username, request_id[:64], Path(tmp) / "letter"
        )
        return letter, Path(letter.html).read_text(), Path(letter.pdf).read_bytes()


def _letter_body(html: str) -> Markup:
    """The letter's body, for a page of this site: its own style left out (the CSP) and
    its headings one level down (the page has its own title)."""
    found = re.search(r"<body>(.*)</body>", html, re.DOTALL)
    body = found.group(1) if found else ""
    body = re.sub(r"<(/?)h2>", r"<\1h3>", body)
    body = re.sub(r"<(/?)h1>", r"<\1h2>", body)
    # The letter is rendered by reports/letter.py with autoescape: its values are escaped.
    return Markup(body)


@router.get("/requests/{request_id}/letter")
def letter_page(request_id: str, request: Request, caller: Caller) -> HTMLResponse:
    """The letter to the requester, as it reads, with its PDF to download."""
    nav = _nav(caller)
    letter, html, _ = _letter(caller, request_id)
    return render(request, "letter.html", caller=nav, letter=letter, body=_letter_body(html))


@router.get("/requests/{request_id}/letter.pdf")
def letter_pdf(request_id: str, caller: Caller) -> Response:
    letter, _, pdf = _letter(caller, request_id)
    name = f"letter-{letter.request_id}-{letter.decision_id}.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )

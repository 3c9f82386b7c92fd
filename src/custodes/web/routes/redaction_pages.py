"""The redaction review page (issue 18, item 5).

``/redactions/{id}`` shows a stored redaction as the signed log states it (what it hides,
who accepted it, objections), its contact sheet (``/redactions/{id}/sheet.png``: frames of
the stored copy with the boxes of its sidecar outlined, once the sidecar is loaded with
the form beside it), and the reviewer's two answers: accept it as covering kinds
(``acceptance.accept_redaction``, as ``POST /api/v1/redactions/{id}/acceptances``) or
object with a note and the ranges to look at again (``redaction_review.reject_redaction``;
the correction itself is a new redaction from the corrected sidecar). The use cases
decide who may, every refusal on record.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from custodes.core import redactions
from custodes.core.authz import Permission
from custodes.core.errors import InvalidInput
from custodes.services import acceptance
from custodes.services import redaction_review as review_svc
from custodes.web.bodies import save_multipart
from custodes.web.deps import Caller
from custodes.web.pages import render, see_other
from custodes.web.routes.pages import Form, _nav

router = APIRouter(include_in_schema=False)

PREFIX = "/redaction-sidecars/"
"""The sidecar form's target: a file larger than a form, read here to its own limit
(a path of its own, so that the other forms keep the server's body limit)."""


@router.get("/redactions/{derivative_id}")
def review_page(derivative_id: str, request: Request, caller: Caller) -> HTMLResponse:
    nav = _nav(caller)
    shown = review_svc.show_review(caller.ctx, caller.username, derivative_id[:64])
    return render(
        request,
        "redaction.html",
        caller=nav,
        rv=shown,
        rd=shown.redaction,
        kinds=sorted(redactions.ACCEPTABLE_KINDS),
        may_review=nav.may(Permission.REDACTION_ACCEPT),
    )


@router.get("/redactions/{derivative_id}/sheet.png")
def sheet(derivative_id: str, caller: Caller) -> Response:
    png = review_svc.contact_sheet_png(caller.ctx, caller.username, derivative_id[:64])
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})


@router.post(PREFIX + "{derivative_id}")
async def sidecar(derivative_id: str, request: Request, caller: Caller) -> Response:
    """The boxes file (``.boxes.json``) the redaction wrote beside its copy."""
    ctx, rid = caller.ctx, derivative_id[:64]
    await run_in_threadpool(review_svc.may_review, ctx, caller.username, rid)
    if ctx.cache_dir is None:
        raise InvalidInput("this vault keeps no boxes files (it has no cache folder)")
    form = await save_multipart(
        request, ctx.cache_dir / "sidecars" / "incoming", "sidecar", review_svc.SIDECAR_MAX
    )
    if form.file is None:
        raise InvalidInput("choose the redaction's boxes file (.boxes.json)", field="sidecar")
    await run_in_threadpool(review_svc.keep_sidecar, ctx, caller.username, rid, form.file)
    return see_other(f"/redactions/{rid}#sheet")


@router.post("/redactions/{derivative_id}/accept")
def accept(derivative_id: str, caller: Caller, form: Form) -> Response:
    """Accept the copy as covering the kinds ticked (``cover-KIND``)."""
    covers = [k for k in redactions.ACCEPTABLE_KINDS if form.get(f"cover-{k}")]
    reason = (form.get("reason") or "").strip()[:2000] or None
    cmd = acceptance.AcceptRedaction(derivative_id[:64], covers=covers, reason=reason)
    acceptance.accept_redaction(caller.ctx, caller.username, cmd)
    return see_other(f"/redactions/{derivative_id[:64]}#acceptances")


@router.post("/redactions/{derivative_id}/reject")
def reject(derivative_id: str, caller: Caller, form: Form) -> Response:
    """Object: a note (required) and the ranges to look at again."""
    ranges = review_svc.parse_ranges(form.get("ranges") or "")
    review_svc.reject_redaction(
        caller.ctx, caller.username, derivative_id[:64], form.get("note") or "", ranges
    )
    return see_other(f"/redactions/{derivative_id[:64]}#rejections")

"""The exports page: every marked copy on record, exports (files made for a recipient)
and viewings (streams made for a viewer in the browser), each leading back to the person
it was made for. The same use cases as ``custodes evidence exports`` and
``GET /api/v1/exports`` / ``GET /api/v1/viewings`` (``vault:audit:read``; a case whose
record the reader may not see is left out)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from custodes.services import exports as export_svc
from custodes.services import viewings as viewing_svc
from custodes.web.deps import Caller
from custodes.web.pages import render
from custodes.web.routes.pages import _nav

router = APIRouter(include_in_schema=False)


@router.get("/exports")
def exports_page(request: Request, caller: Caller) -> HTMLResponse:
    nav = _nav(caller)
    exports = export_svc.list_exports(caller.ctx, caller.username)
    viewings = viewing_svc.list_viewings(caller.ctx, caller.username)
    return render(
        request,
        "exports.html",
        caller=nav,
        exports=sorted(exports, key=lambda x: x.created_at, reverse=True),
        viewings=sorted(viewings, key=lambda v: v.created_at, reverse=True),
    )

"""The upload page: a video sent into a case from the browser, in resumable pieces.

``GET /cases/{number}/upload`` shows the form; the browser does the rest with
tus-js-client (``static/upload.js``, the library served from ``static/vendor/``) against
the tus API of ``web/routes/uploads.py``: a dropped connection or a pause resumes from
the bytes the server kept, and the last piece makes the evidence through the ingest use
case (its refusals, on record, come back as one line). The page itself decides nothing:
opening it asks to see the case (refused on record like the case page), and beginning an
upload asks the ingest permission on that case.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from custodes.core.authz import Permission
from custodes.services import cases as case_svc
from custodes.web.deps import Caller
from custodes.web.pages import render
from custodes.web.routes.pages import _nav

router = APIRouter(include_in_schema=False)

CHUNK_SIZE = 16 * 1024 * 1024
"""Bytes per PATCH: each piece is written, flushed and acknowledged before the next, so a
dropped connection costs at most the piece in flight (the server keeps what arrived)."""


@router.get("/cases/{number}/upload")
def upload_page(number: str, request: Request, caller: Caller) -> HTMLResponse:
    nav = _nav(caller)
    case = case_svc.show_case(caller.ctx, caller.username, number)
    return render(
        request,
        "upload.html",
        caller=nav,
        case=case,
        may_ingest=nav.may(Permission.EVIDENCE_INGEST),
        takes_uploads=caller.ctx.upload_dir is not None,
        max_size=caller.ctx.upload_max_size,
        chunk_size=CHUNK_SIZE,
    )

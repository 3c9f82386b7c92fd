"""What the server-rendered pages share: the templates, the static files, form bodies and
the page an error becomes.

Pages are Jinja2 templates (``web/templates``) with one stylesheet and a few ES modules
(``web/static``): no inline script or style, so the strict Content-Security-Policy of
``web/security.py`` holds for pages as for the API. A form posts
``application/x-www-form-urlencoded`` and passes the same CSRF check as the API (a browser
sends ``Origin`` and ``Sec-Fetch-Site`` with it). An error on a page is a page: a request
without a session is sent to the sign-in page, any other refusal is shown with the same
``code`` and message the API gives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import segno
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from custodes.core.errors import InvalidInput

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals["quote"] = quote

MAX_FORM = 64 * 1024
MAX_FIELDS = 64
FORM_TYPE = "application/x-www-form-urlencoded"


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page from its template; ``caller`` (the signed-in person, if any) feeds the
    navigation."""
    context.setdefault("caller", None)
    response = templates.TemplateResponse(request, name, context, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def qr_svg(text: str) -> str:
    """An inline SVG QR code (no style attribute, no script: the CSP allows it)."""
    return str(segno.make(text, error="m").svg_inline(scale=4, title="QR code", svgclass="qr"))


async def form_fields(request: Request) -> dict[str, str]:
    """A urlencoded form body as a dict (the first value of each field). A dependency:
    FastAPI runs it on the event loop and the sync route in its thread pool."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != FORM_TYPE:
        raise InvalidInput(f"a form is sent as {FORM_TYPE}")
    body = await request.body()
    if len(body) > MAX_FORM:
        raise InvalidInput(f"a form is at most {MAX_FORM // 1024} KiB")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput("the form could not be read") from exc
    fields: dict[str, str] = {}
    for key, value in pairs:
        fields.setdefault(key, value)
    return fields


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this site only (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/dashboard"


def error_page(request: Request, code: str, status: int, message: str) -> Response:
    """The page an error becomes: the sign-in page for a request without a session,
    else the error with its code and message."""
    if code == "unauthenticated":
        if request.method != "GET":
            return see_other("/sign-in")
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return see_other(f"/sign-in?next={quote(target, safe='')}")
    return render(request, "error.html", status, code=code, message=message, http_status=status)


def install(app: FastAPI) -> None:
    """Serve the static files and make errors outside ``/api/`` pages."""
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.state.error_page = error_page

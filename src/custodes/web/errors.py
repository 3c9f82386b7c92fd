"""The one place where the web turns errors into a JSON body and an HTTP status.

Every refusal reads ``{"error": {"code": ..., "message": ..., "field": ...}}``: ``code``
is a stable name of the error's class (the CLI's exit codes, by name), the status comes
from the class (``core.errors``), and ``field`` names the JSON field an error is about.
FastAPI's own errors (an unknown route, a method not allowed, a body that does not
validate) take the same shape. Routes do not catch domain errors themselves. Outside
``/api/`` (the pages) the same code and message become a page (``web/pages.py``).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from custodes.core import errors as e

#: The stable ``code`` of each error class; a subclass not listed takes its parent's.
CODES: dict[type[e.CustodesError], str] = {
    e.CustodesError: "error",
    e.InvalidInput: "invalid-input",
    e.NotFound: "not-found",
    e.PermissionDenied: "access-denied",
    e.ReasonRequired: "reason-required",
    e.Unauthenticated: "unauthenticated",
    e.AccountLocked: "account-locked",
    e.CustodyConflict: "conflict",
    e.IntegrityFailure: "integrity",
    e.ProofError: "proof",
    e.BackendUnavailable: "backend-unavailable",
}

_HTTP_CODES = {
    400: "invalid-input",
    401: "unauthenticated",
    403: "access-denied",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    413: "too-large",
    415: "unsupported-media-type",
    422: "invalid-input",
}


def code_of(error: e.CustodesError) -> str:
    for cls in type(error).__mro__:
        if cls in CODES:
            return CODES[cls]
    return "error"


def error_body(code: str, message: str, field: str | None = None) -> dict[str, object]:
    return {"error": {"code": code, "message": message, "field": field}}


def error_response(code: str, status: int, message: str, field: str | None = None) -> JSONResponse:
    response = JSONResponse(error_body(code, message, field), status_code=status)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="custodes"'
    return response


def _page(request: Request) -> Callable[[Request, str, int, str], Response] | None:
    """The page renderer, for a request outside ``/api/`` (web/pages.py installs it)."""
    if request.url.path.startswith("/api/"):
        return None
    renderer = getattr(request.app.state, "error_page", None)
    return renderer if callable(renderer) else None


def _custodes_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, e.CustodesError)
    if page := _page(request):
        return page(request, code_of(exc), exc.http_status, exc.render())
    return error_response(code_of(exc), exc.http_status, exc.render(), exc.field)


def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = exc.errors()
    first = problems[0] if problems else {}
    loc = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
    field = loc[-1] if loc else None
    message = str(first.get("msg", "invalid request"))
    where = f"{field}: " if field else ""
    if page := _page(request):
        return page(request, "invalid-input", 422, f"{where}{message}")
    return error_response("invalid-input", 422, f"{where}{message}", field)


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error")
    response: Response
    if page := _page(request):
        response = page(request, code, exc.status_code, str(exc.detail))
    else:
        response = error_response(code, exc.status_code, str(exc.detail))
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


def install(app: FastAPI) -> None:
    app.add_exception_handler(e.CustodesError, _custodes_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)

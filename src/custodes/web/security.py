"""What every response carries and what every unsafe request must show.

- Security headers on every response: a Content-Security-Policy without inline script and
  with ``frame-ancestors 'none'`` (media from this origin and the player's blob: Media
  Source), ``nosniff``, no referrer, HSTS when served over TLS,
  and ``Cache-Control: no-store`` on the API (nothing of the vault is cached).
- CSRF: an unsafe request (POST, PUT, PATCH, DELETE) that carries the session cookie is
  refused unless its ``Origin`` is this server's own origin or the browser says
  ``Sec-Fetch-Site: same-origin``. One without the cookie (a script with a bearer token)
  carries no ambient credential a third-party page could borrow; it is refused only when
  a browser names another origin (``Origin`` or ``Sec-Fetch-Site``), which stops login
  CSRF. The session cookie is also ``SameSite=Strict``: a second, independent line.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from custodes.web.errors import error_response

SESSION_COOKIE = "custodes_session"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# ``media-src blob:``: the evidence page's player (hls.js) feeds the <video> a Media Source,
# whose URL is a blob:. hls.js runs without a worker, so no ``worker-src`` is opened.
CSP = (
    "default-src 'self'; script-src 'self'; media-src 'self' blob:; frame-ancestors 'none'; "
    "object-src 'none'; base-uri 'none'"
)


def own_origin(request: Request) -> str:
    """This server's origin as people reach it: ``CUSTODES_PUBLIC_ORIGIN`` behind a proxy,
    else the scheme, host and port the request reached."""
    public = getattr(request.app.state, "public_origin", None)
    if isinstance(public, str) and public:
        return public
    return f"{request.url.scheme}://{request.url.netloc}"


def add_security_headers(request: Request, response: Response) -> Response:
    headers = response.headers
    headers["Content-Security-Policy"] = CSP
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["X-Frame-Options"] = "DENY"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if request.url.scheme == "https" or own_origin(request).startswith("https://"):
        headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
    if request.url.path.startswith("/api/"):
        headers["Cache-Control"] = "no-store"
    return response


def csrf_refusal(request: Request) -> str | None:
    """Why this request is refused as cross-site, or None.

    An unsafe request with the session cookie must show that it comes from this origin. A
    request without the cookie (a script with a token, a first sign-in) is refused only
    when the browser names another origin: that closes login CSRF (a third-party page
    signing a victim in to the attacker's account) without asking scripts for an Origin."""
    if request.method not in UNSAFE:
        return None
    origin = request.headers.get("origin")
    if origin == own_origin(request) or request.headers.get("sec-fetch-site") == "same-origin":
        return None
    if SESSION_COOKIE not in request.cookies:
        if origin is None and request.headers.get("sec-fetch-site") in (None, "none"):
            return None
        return f"cross-site request refused (Origin {(origin or 'not sent')[:100]})"
    if origin is None:
        return "an unsafe request with a session cookie must show its Origin"
    return f"cross-site request refused (Origin {origin[:100]})"


async def middleware(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    why = csrf_refusal(request)
    big = too_large(request)
    if why is not None:
        response: Response = error_response("csrf", 403, why)
    elif big is not None:
        response = error_response("too-large", 413, big)
    else:
        response = await call_next(request)
    return add_security_headers(request, response)


#: The largest request body the API reads (its JSON bodies are small): :func:`too_large`
#: refuses a declared ``Content-Length`` over it, and :class:`BodyLimit` a body sent in
#: chunks as the bytes arrive; both 413, ``too-large``, in the API's JSON shape (FastAPI's
#: own ``max_body_size`` answers a declared length in plain text). A route that takes
#: more (a resumable upload) puts its path prefix in ``app.state.large_body_prefixes``.
MAX_BODY = 1 << 20


def _exempt(app: object, path: str) -> bool:
    prefixes = getattr(getattr(app, "state", None), "large_body_prefixes", ())
    return any(path.startswith(p) for p in prefixes)


def too_large(request: Request) -> str | None:
    """Why this request's declared body is refused before it is read, or None."""
    declared = request.headers.get("content-length")
    if declared is None or _exempt(request.app, request.url.path):
        return None
    if not declared.isdigit() or int(declared) > MAX_BODY:
        return f"the request body is larger than {MAX_BODY} bytes (or its length is not a number)"
    return None


class BodyTooLarge(HTTPException):
    """A body sent in chunks went over the limit; the error handler answers 413."""

    def __init__(self) -> None:
        super().__init__(413, f"the request body is larger than {MAX_BODY} bytes")


class BodyLimit:
    """Counts the bytes of a request body as they arrive and stops at :data:`MAX_BODY`
    (a body without ``Content-Length``, which :func:`too_large` cannot see)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _exempt(scope.get("app"), str(scope.get("path", ""))):
            await self.app(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > MAX_BODY:
                    raise BodyTooLarge
            return message

        await self.app(scope, counted, send)

"""Single sign-on pages (``services/sso.py``): the sign-in page's "Sign in with ..." button
posts to ``/sign-in/sso``, which sends the browser to the department's OpenID provider
with a pre-session cookie; the provider sends it back to ``/sign-in/sso/callback``.

Browser redirects, not API routes: left out of the OpenAPI document like the other
pages. The pre-session cookie is ``SameSite=Lax`` and scoped to ``/sign-in/sso`` (it must
come back on the provider's top-level redirect, which a Strict cookie would not); the
session cookie is the password sign-in's (``Strict``). A page reached through another
site's redirect is not same-site, so the callback answers with a page, never a redirect:
the second factor's form, the enrolment, or a page that moves on to the target itself
(``<meta http-equiv="refresh">``, no script), whose request then carries the session.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from custodes.core.errors import (
    AccountLocked,
    BackendUnavailable,
    IntegrityFailure,
    NotFound,
    Unauthenticated,
)
from custodes.services import sso as sso_svc
from custodes.web.deps import VaultDep, address_of
from custodes.web.pages import form_fields, qr_svg, render, safe_next
from custodes.web.security import SESSION_COOKIE, own_origin

router = APIRouter(include_in_schema=False)

Form = Annotated[dict[str, str], Depends(form_fields)]
PRE_SESSION_COOKIE = "custodes_sso"
PRE_SESSION_PATH = "/sign-in/sso"
#: The callback's query parameters read (anything else the provider adds is ignored).
PARAMS = ("code", "state", "error", "error_description")


def _provider(request: Request) -> sso_svc.Provider:
    provider = getattr(request.app.state, "sso", None)
    if not isinstance(provider, sso_svc.Provider):
        raise NotFound("single sign-on is not configured on this vault")
    return provider


def _redirect_uri(request: Request) -> str:
    return own_origin(request) + sso_svc.CALLBACK


def _forget_pre_session(response: Response) -> None:
    response.delete_cookie(
        PRE_SESSION_COOKIE, path=PRE_SESSION_PATH, secure=True, httponly=True, samesite="lax"
    )


@router.post("/sign-in/sso")
def begin(request: Request, vault: VaultDep, form: Form) -> Response:
    """Send the browser to the provider, with a fresh pre-session (state, nonce, PKCE)."""
    provider = _provider(request)
    target = safe_next(form.get("next"))
    try:
        begun = sso_svc.begin(vault, provider, _redirect_uri(request), target)
    except BackendUnavailable as exc:
        return render(request, "sign_in.html", exc.http_status, error=exc.render(), next=target)
    response = RedirectResponse(begun.url, status_code=303)
    response.set_cookie(
        PRE_SESSION_COOKIE,
        begun.cookie,
        max_age=int(sso_svc.PRE_SESSION_LIFE.total_seconds()),
        path=PRE_SESSION_PATH,
        httponly=True,
        secure=True,
        samesite="lax",
    )
    return response


@router.get("/sign-in/sso/callback")
def callback(request: Request, vault: VaultDep) -> Response:
    """The provider's answer: a session (signed in, or on to custodes' second factor), or
    the sign-in page with the refusal, which is on record."""
    provider = _provider(request)
    query = request.query_params
    params = {k: query[k][:2048] for k in PARAMS if k in query}
    try:
        finished = sso_svc.finish(
            vault,
            provider,
            request.cookies.get(PRE_SESSION_COOKIE, ""),
            params,
            _redirect_uri(request),
            address_of(request),
            request.headers.get("user-agent", ""),
        )
    except (Unauthenticated, AccountLocked, IntegrityFailure, BackendUnavailable) as exc:
        refused = render(request, "sign_in.html", exc.http_status, error=exc.render(), next="")
        _forget_pre_session(refused)
        return refused
    step, target = finished.started.step, finished.target
    if step.status == "enrol-required":
        assert step.secret is not None and step.provisioning_uri is not None
        response = render(
            request,
            "enrol.html",
            secret=step.secret,
            uri=step.provisioning_uri,
            qr=qr_svg(step.provisioning_uri),
            next=target,
            error=None,
        )
    elif step.status == "second-factor-required":
        response = render(
            request,
            "second_factor.html",
            next=target,
            totp=step.totp or not step.passkeys,
            passkeys=step.passkeys or 0,
        )
    else:
        response = render(request, "sso_signed_in.html", next=target, username=step.username)
    response.set_cookie(
        SESSION_COOKIE,
        finished.started.cookie,
        httponly=True,
        secure=True,
        samesite="strict",
        path="/",
    )
    _forget_pre_session(response)
    return response

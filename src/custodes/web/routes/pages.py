"""The pages: sign-in and its second factor, the dashboard, a case, an evidence item, the
audit page, and sessions, tokens and users.

Each page calls the same use cases as the API routes (the web layer's ``Caller``; the use
case decides and records). What a page leaves out for a role (the alerts, say) is only
not asked for: the permissions ``auth.whoami`` lists say which sections to ask. Forms post
``application/x-www-form-urlencoded`` through the same CSRF check as the API. The sign-in
forms show a refusal in the form; elsewhere a refusal is the error page (web/pages.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from custodes import bootstrap
from custodes.core.authz import Permission
from custodes.core.errors import (
    AccountLocked,
    CustodesError,
    IntegrityFailure,
    ReasonRequired,
    Unauthenticated,
)
from custodes.core.jsontext import jsonable
from custodes.services import audit as audit_svc
from custodes.services import auth as auth_svc
from custodes.services import cases as case_svc
from custodes.services import events as event_svc
from custodes.services import evidence as evidence_svc
from custodes.services import exports as export_svc
from custodes.services import passkeys as passkey_svc
from custodes.services import requests as request_svc
from custodes.services import users as user_svc
from custodes.services import viewings as viewing_svc
from custodes.web.deps import Caller, VaultDep, address_of
from custodes.web.pages import form_fields, qr_svg, render, safe_next, see_other
from custodes.web.security import SESSION_COOKIE

router = APIRouter(include_in_schema=False)

Form = Annotated[dict[str, str], Depends(form_fields)]
AUDIT_ROWS = 50


def _set_cookie(response: Response, value: str) -> None:
    response.set_cookie(
        SESSION_COOKIE, value, httponly=True, secure=True, samesite="strict", path="/"
    )


@dataclass(frozen=True)
class Nav:
    """The signed-in person, as the navigation shows them."""

    username: str
    role: str
    permissions: frozenset[str]

    def may(self, permission: Permission) -> bool:
        return permission.value in self.permissions


def _nav(caller: Any) -> Nav:
    me = auth_svc.whoami(caller.ctx, caller.principal)
    return Nav(me.username, str(me.role), frozenset(me.permissions))


# ---- signing in ----------------------------------------------------------------------


@router.get("/")
def home(request: Request) -> Response:
    return see_other("/dashboard" if SESSION_COOKIE in request.cookies else "/sign-in")


@router.get("/sign-in")
def sign_in_page(request: Request, next: str | None = None) -> HTMLResponse:
    return render(request, "sign_in.html", next=safe_next(next))


def _refused(request: Request, exc: CustodesError, target: str) -> HTMLResponse:
    """A sign-in step refused: the sign-in form again, with the reason."""
    return render(
        request, "sign_in.html", exc.http_status, error=exc.render(), next=safe_next(target)
    )


@router.post("/sign-in")
def sign_in(request: Request, vault: VaultDep, form: Form) -> Response:
    target = safe_next(form.get("next"))
    try:
        started = auth_svc.sign_in(
            vault,
            form.get("username", "")[:64],
            form.get("password", "")[:1024],
            address_of(request),
            request.headers.get("user-agent", ""),
        )
    except (Unauthenticated, AccountLocked, IntegrityFailure) as exc:
        return _refused(request, exc, target)
    step = started.step
    response: Response
    if step.status == "enrol-required":
        assert step.secret is not None and step.provisioning_uri is not None
        response = _enrol_page(request, step.secret, step.provisioning_uri, target)
    else:
        response = see_other(f"/sign-in/second-factor?next={quote(target, safe='/')}")
    _set_cookie(response, started.cookie)
    return response


def _enrol_page(
    request: Request, secret: str, uri: str, target: str, error: str | None = None
) -> HTMLResponse:
    return render(
        request,
        "enrol.html",
        400 if error else 200,
        secret=secret,
        uri=uri,
        qr=qr_svg(uri),
        next=target,
        error=error,
    )


@router.post("/sign-in/enrol")
def enrol(request: Request, vault: VaultDep, form: Form) -> Response:
    target = safe_next(form.get("next"))
    try:
        started = auth_svc.enrol(
            vault,
            request.cookies.get(SESSION_COOKIE, ""),
            form.get("code", "").strip()[:16],
            address_of(request),
        )
    except Unauthenticated as exc:
        # A wrong code while the enrolment stands: the same secret, shown again (the
        # page echoes what it was given; the server checks against the one it keeps).
        secret, uri = form.get("secret", "")[:64], form.get("uri", "")[:512]
        if "wrong" in exc.render() and secret and uri.startswith("otpauth://"):
            return _enrol_page(request, secret, uri, target, exc.render())
        return _refused(request, exc, target)
    except (AccountLocked, IntegrityFailure) as exc:
        return _refused(request, exc, target)
    response = render(
        request, "recovery_codes.html", codes=started.step.recovery_codes or [], next=target
    )
    _set_cookie(response, started.cookie)
    return response


def _second_factor_page(
    request: Request, vault: Any, target: str, status: int = 200, error: str | None = None
) -> Response:
    """The second-factor form, offering what the account has: a passkey, TOTP, or both
    (and a recovery code)."""
    try:
        totp, passkeys = passkey_svc.factors(vault, request.cookies.get(SESSION_COOKIE, ""))
    except Unauthenticated:
        return see_other("/sign-in")
    return render(
        request,
        "second_factor.html",
        status,
        next=target,
        error=error,
        totp=totp or not passkeys,
        passkeys=passkeys,
    )


@router.get("/sign-in/second-factor")
def second_factor_page(request: Request, vault: VaultDep, next: str | None = None) -> Response:
    if SESSION_COOKIE not in request.cookies:
        return see_other("/sign-in")
    return _second_factor_page(request, vault, safe_next(next))


@router.post("/sign-in/second-factor")
def second_factor(request: Request, vault: VaultDep, form: Form) -> Response:
    target = safe_next(form.get("next"))
    code = form.get("code", "").strip()[:16]
    recovery = form.get("recovery_code", "").strip()[:32]
    try:
        started = auth_svc.second_factor(
            vault,
            request.cookies.get(SESSION_COOKIE, ""),
            address_of(request),
            code=code if code or not recovery else None,
            recovery_code=recovery if recovery and not code else None,
        )
    except Unauthenticated as exc:
        if "wrong" in exc.render():
            return _second_factor_page(request, vault, target, exc.http_status, exc.render())
        return _refused(request, exc, target)
    except (AccountLocked, IntegrityFailure) as exc:
        return _refused(request, exc, target)
    response = see_other(target)
    _set_cookie(response, started.cookie)
    return response


@router.post("/sign-out")
def sign_out(request: Request, vault: VaultDep) -> Response:
    auth_svc.sign_out(vault, request.cookies.get(SESSION_COOKIE, ""), address_of(request))
    response = see_other("/sign-in")
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
    return response


# ---- the vault -------------------------------------------------------------------------


@router.get("/dashboard")
def dashboard(request: Request, caller: Caller) -> HTMLResponse:
    nav = _nav(caller)
    cases = case_svc.list_cases(caller.ctx, caller.username)
    requests = (
        request_svc.list_requests(caller.ctx, caller.username, open_only=True)
        if nav.may(Permission.REQUEST_VIEW)
        else None
    )
    alerts = (
        evidence_svc.list_alerts(caller.ctx, caller.username)
        if nav.may(Permission.ALERTS_READ)
        else None
    )
    return render(
        request,
        "dashboard.html",
        caller=nav,
        cases=cases,
        requests=requests,
        alerts=alerts[-20:][::-1] if alerts is not None else None,
        today=caller.ctx.clock.now().date(),
    )


@router.get("/cases/{number}")
def case_page(number: str, request: Request, caller: Caller) -> HTMLResponse:
    nav = _nav(caller)
    case = case_svc.show_case(caller.ctx, caller.username, number)
    evidence = (
        evidence_svc.list_evidence(caller.ctx, caller.username, case.case)
        if nav.may(Permission.EVIDENCE_LIST)
        else None
    )
    requests = (
        [r for r in request_svc.list_requests(caller.ctx, caller.username) if r.case == case.case]
        if nav.may(Permission.REQUEST_VIEW)
        else None
    )
    events = (
        event_svc.list_audit(caller.ctx, caller.username, case_number=case.case, limit=AUDIT_ROWS)
        if nav.may(Permission.AUDIT_READ)
        else None
    )
    return render(
        request,
        "case.html",
        caller=nav,
        case=case,
        evidence=evidence,
        requests=requests,
        events=events[::-1] if events is not None else None,
        today=caller.ctx.clock.now().date(),
    )


def _evidence_page(
    request: Request, caller: Any, evidence_id: str, reason: str | None
) -> HTMLResponse:
    nav = _nav(caller)
    try:
        opened = evidence_svc.open_evidence(caller.ctx, caller.username, evidence_id, reason=reason)
    except ReasonRequired as exc:
        return render(
            request,
            "reason.html",
            exc.http_status,
            caller=nav,
            evidence_id=evidence_id,
            message=exc.render(),
        )
    item = jsonable(opened)
    item.pop("path", None)
    events = exports = viewings = None
    if nav.may(Permission.AUDIT_READ):
        events = event_svc.list_audit(
            caller.ctx, caller.username, evidence_id=evidence_id, limit=AUDIT_ROWS
        )[::-1]
        exports = export_svc.list_exports(caller.ctx, caller.username, evidence_id)
        viewings = viewing_svc.list_viewings(caller.ctx, caller.username, evidence_id)
    return render(
        request,
        "evidence.html",
        caller=nav,
        ev=opened,
        media=item.get("media") or {},
        events=events,
        exports=exports,
        viewings=viewings,
        reason=reason,
    )


@router.get("/evidence/{evidence_id}")
def evidence_page(evidence_id: str, request: Request, caller: Caller) -> HTMLResponse:
    """Opening evidence is a view on record; a flagged case first asks for the reason."""
    return _evidence_page(request, caller, evidence_id, None)


@router.post("/evidence/{evidence_id}")
def evidence_with_reason(
    evidence_id: str, request: Request, caller: Caller, form: Form
) -> HTMLResponse:
    """The same page, opened with the stated reason (a form, so the reason is not in a
    URL or a server log)."""
    return _evidence_page(request, caller, evidence_id, form.get("reason", "")[:2000] or None)


@router.get("/audit")
def audit_page(request: Request, caller: Caller) -> HTMLResponse:
    nav = _nav(caller)
    events = (
        event_svc.list_audit(caller.ctx, caller.username, limit=AUDIT_ROWS)[::-1]
        if nav.may(Permission.AUDIT_READ)
        else None
    )
    checkpoint = audit_svc.published_checkpoint(caller.ctx.checkpoints).decode()
    return render(
        request,
        "audit.html",
        caller=nav,
        events=events,
        checkpoint=checkpoint,
        vkey=bootstrap.published_vkey(caller.ctx.settings) or "",
        may_prove=nav.may(Permission.AUDIT_PROVE),
    )


# ---- access ----------------------------------------------------------------------------


@router.get("/users")
def users_page(request: Request, caller: Caller) -> HTMLResponse:
    nav = _nav(caller)
    return render(
        request, "users.html", caller=nav, users=user_svc.list_users(caller.ctx, caller.username)
    )


@router.get("/sessions")
def sessions_page(request: Request, caller: Caller) -> HTMLResponse:
    nav = _nav(caller)
    return render(
        request,
        "sessions.html",
        caller=nav,
        sessions=auth_svc.list_sessions(caller.ctx, caller.username),
        mine=caller.principal.session,
    )


@router.post("/sessions/{session}/end")
def end_session(session: str, request: Request, caller: Caller) -> Response:
    auth_svc.end_session(caller.ctx, caller.username, session[:64], address_of(request))
    return see_other("/sessions" if session != caller.principal.session else "/sign-in")


def _tokens(request: Request, caller: Any, created: Any = None, status: int = 200) -> HTMLResponse:
    nav = _nav(caller)
    return render(
        request,
        "tokens.html",
        status,
        caller=nav,
        tokens=auth_svc.list_tokens(caller.ctx, caller.username),
        created=created,
    )


@router.get("/tokens")
def tokens_page(request: Request, caller: Caller) -> HTMLResponse:
    return _tokens(request, caller)


@router.post("/tokens")
def create_token(request: Request, caller: Caller, form: Form) -> HTMLResponse:
    """A token for a script, shown on this one page and never again."""
    expires = auth_svc.parse_duration(form.get("expires", "30d")[:8])
    username = form.get("username", "").strip()[:64] or caller.username
    created = auth_svc.create_token(caller.ctx, caller.username, username, expires)
    return _tokens(request, caller, created, 201)


@router.post("/tokens/{token_id}/revoke")
def revoke_token(token_id: str, caller: Caller) -> Response:
    auth_svc.revoke_token(caller.ctx, caller.username, token_id[:64])
    return see_other("/tokens")


# ---- passkeys ---------------------------------------------------------------------------


@router.get("/passkeys")
def passkeys_page(request: Request, caller: Caller) -> HTMLResponse:
    """Your passkeys: add one (static/passkeys.js), rename or remove them."""
    nav = _nav(caller)
    return render(
        request,
        "passkeys.html",
        caller=nav,
        passkeys=passkey_svc.list_passkeys(caller.ctx, caller.username),
    )


@router.post("/passkeys/{passkey_id}/rename")
def rename_passkey(passkey_id: str, request: Request, caller: Caller, form: Form) -> Response:
    name = form.get("name", "")[:64]
    passkey_svc.rename(caller.ctx, caller.username, passkey_id[:32], name, address_of(request))
    return see_other("/passkeys")


@router.post("/passkeys/{passkey_id}/remove")
def remove_passkey(passkey_id: str, request: Request, caller: Caller) -> Response:
    passkey_svc.remove(caller.ctx, caller.username, passkey_id[:32], address_of(request))
    return see_other("/passkeys")

"""Signing in and out, sessions and API tokens (``/api/v1/auth``, ``/sessions``, ``/tokens``).

Sign-in is two steps on one server-side session: the password opens it, the second
factor (or, the first time, the TOTP enrolment) completes it. Until then the cookie opens
nothing but the next step.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from custodes.core.jsontext import jsonable
from custodes.services import auth as auth_svc
from custodes.web.deps import Caller, VaultDep, address_of
from custodes.web.security import SESSION_COOKIE

router = APIRouter()


class SignIn(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)


class Enrol(BaseModel):
    code: str = Field(max_length=16, description="A code from the authenticator app.")


class SecondFactor(BaseModel):
    code: str | None = Field(default=None, max_length=16)
    recovery_code: str | None = Field(default=None, max_length=32)


class NewToken(BaseModel):
    username: str = Field(max_length=64)
    expires: str = Field(default="30d", max_length=8, description="90m, 12h, 30d (at most 366d).")


def _json(value: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(jsonable(value), status_code=status)


def _cookie(request: Request) -> str:
    return request.cookies.get(SESSION_COOKIE, "")


def _set_cookie(response: JSONResponse, value: str) -> None:
    response.set_cookie(
        SESSION_COOKIE, value, httponly=True, secure=True, samesite="strict", path="/"
    )


def _signed_in(started: auth_svc.Started) -> JSONResponse:
    response = _json(started.step)
    _set_cookie(response, started.cookie)
    return response


@router.post("/auth/sign-in", tags=["auth"])
def sign_in(body: SignIn, request: Request, vault: VaultDep) -> JSONResponse:
    """Check the password; the session then needs its second factor (or enrolment)."""
    started = auth_svc.sign_in(
        vault,
        body.username,
        body.password,
        address_of(request),
        request.headers.get("user-agent", ""),
    )
    response = _json(started.step)
    _set_cookie(response, started.cookie)
    return response


@router.post("/auth/enrol", tags=["auth"])
def enrol(body: Enrol, request: Request, vault: VaultDep) -> JSONResponse:
    """Confirm TOTP enrolment with a code; returns ten recovery codes, shown once. The
    session cookie is renewed."""
    return _signed_in(auth_svc.enrol(vault, _cookie(request), body.code, address_of(request)))


@router.post("/auth/second-factor", tags=["auth"])
def second_factor(body: SecondFactor, request: Request, vault: VaultDep) -> JSONResponse:
    """Pass the second factor with a TOTP code or a recovery code (used up). The session
    cookie is renewed."""
    return _signed_in(
        auth_svc.second_factor(
            vault,
            _cookie(request),
            address_of(request),
            code=body.code,
            recovery_code=body.recovery_code,
        )
    )


@router.post("/auth/sign-out", tags=["auth"])
def sign_out(request: Request, vault: VaultDep) -> JSONResponse:
    response = _json(auth_svc.sign_out(vault, _cookie(request), address_of(request)))
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
    return response


@router.get("/me", tags=["auth"])
def me(caller: Caller) -> JSONResponse:
    """Who you are signed in as, your role and its permissions, and your client."""
    return _json(auth_svc.whoami(caller.ctx, caller.principal))


@router.get("/sessions", tags=["auth"])
def sessions(caller: Caller) -> JSONResponse:
    """Open sessions: all of them for an admin, your own otherwise."""
    return _json(auth_svc.list_sessions(caller.ctx, caller.username))


@router.delete("/sessions/{session}", tags=["auth"])
def end_session(session: str, caller: Caller, request: Request) -> JSONResponse:
    """End a session (an admin: anyone's)."""
    return _json(auth_svc.end_session(caller.ctx, caller.username, session, address_of(request)))


@router.get("/tokens", tags=["auth"])
def tokens(
    caller: Caller, username: Annotated[str | None, Query(max_length=64)] = None
) -> JSONResponse:
    """API tokens (never their values): yours, or anyone's for an admin."""
    return _json(auth_svc.list_tokens(caller.ctx, caller.username, username))


@router.post("/tokens", tags=["auth"], status_code=201)
def create_token(body: NewToken, caller: Caller) -> JSONResponse:
    """A token for scripts, shown once in ``token``; only its SHA-256 is kept."""
    expires = auth_svc.parse_duration(body.expires)
    return _json(auth_svc.create_token(caller.ctx, caller.username, body.username, expires), 201)


@router.delete("/tokens/{token_id}", tags=["auth"])
def revoke_token(token_id: str, caller: Caller) -> JSONResponse:
    return _json(auth_svc.revoke_token(caller.ctx, caller.username, token_id))

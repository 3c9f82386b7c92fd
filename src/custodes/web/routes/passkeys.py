"""Passkeys (WebAuthn) over the API: the sign-in steps (``/api/v1/auth/passkeys/...``,
on the session that passed its password) and a signed-in user's own passkeys
(``/api/v1/passkeys``). The browser side is ``static/passkeys.js``
(@simplewebauthn/browser); what is checked is services/passkeys.py's.

The origin a browser's answer must have signed, and the RP ID (its host), are this
server's own origin as the CSRF check takes it (``CUSTODES_PUBLIC_ORIGIN`` behind a
proxy)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from custodes.services import passkeys as passkey_svc
from custodes.web.deps import Caller, VaultDep, address_of
from custodes.web.routes.auth import _cookie, _json, _signed_in
from custodes.web.security import own_origin

router = APIRouter()


class PasskeyCredential(BaseModel):
    credential: dict[str, Any] = Field(
        description="What the browser's navigator.credentials call gave, as JSON "
        "(@simplewebauthn/browser's startRegistration or startAuthentication)."
    )
    name: str | None = Field(
        default=None, max_length=64, description="A name for a new passkey (its device)."
    )


class PasskeyName(BaseModel):
    name: str = Field(min_length=1, max_length=64)


# ---- the sign-in steps -----------------------------------------------------------------


@router.post("/auth/passkeys/enrol-options", tags=["auth"])
def enrol_options(request: Request, vault: VaultDep) -> JSONResponse:
    """At the first sign-in, instead of TOTP: options for navigator.credentials.create()
    (a challenge for this session, used once, for 5 minutes)."""
    return _json(
        passkey_svc.enrol_options(vault, _cookie(request), own_origin(request), address_of(request))
    )


@router.post("/auth/passkeys/enrol", tags=["auth"])
def enrol(body: PasskeyCredential, request: Request, vault: VaultDep) -> JSONResponse:
    """Register the first passkey; returns ten recovery codes, shown once. The session
    cookie is renewed."""
    return _signed_in(
        passkey_svc.enrol(
            vault,
            _cookie(request),
            body.credential,
            own_origin(request),
            address_of(request),
            body.name,
        )
    )


@router.post("/auth/passkeys/sign-in-options", tags=["auth"])
def sign_in_options(request: Request, vault: VaultDep) -> JSONResponse:
    """Options for navigator.credentials.get() with the account's passkeys."""
    return _json(
        passkey_svc.sign_in_options(
            vault, _cookie(request), own_origin(request), address_of(request)
        )
    )


@router.post("/auth/passkeys/sign-in", tags=["auth"])
def sign_in(body: PasskeyCredential, request: Request, vault: VaultDep) -> JSONResponse:
    """Pass the second factor with a passkey. A refusal counts toward the lockout. The
    session cookie is renewed."""
    return _signed_in(
        passkey_svc.sign_in(
            vault, _cookie(request), body.credential, own_origin(request), address_of(request)
        )
    )


# ---- your passkeys ---------------------------------------------------------------------


@router.get("/passkeys", tags=["auth"])
def passkeys(caller: Caller) -> JSONResponse:
    """Your passkeys (names, times, transports; never their keys)."""
    return _json(passkey_svc.list_passkeys(caller.ctx, caller.username))


@router.post("/passkeys/options", tags=["auth"])
def add_options(caller: Caller, request: Request) -> JSONResponse:
    """Options for navigator.credentials.create(): another passkey for yourself (from a
    signed-in browser session)."""
    return _json(
        passkey_svc.add_options(
            caller.ctx, caller.username, caller.principal.session, own_origin(request)
        )
    )


@router.post("/passkeys", tags=["auth"], status_code=201)
def add(body: PasskeyCredential, caller: Caller, request: Request) -> JSONResponse:
    """Register the passkey made from ``/passkeys/options``."""
    added = passkey_svc.add(
        caller.ctx,
        caller.username,
        caller.principal.session,
        body.credential,
        own_origin(request),
        address_of(request),
        body.name,
    )
    return _json(added, 201)


@router.patch("/passkeys/{passkey_id}", tags=["auth"])
def rename(passkey_id: str, body: PasskeyName, caller: Caller, request: Request) -> JSONResponse:
    return _json(
        passkey_svc.rename(caller.ctx, caller.username, passkey_id, body.name, address_of(request))
    )


@router.delete("/passkeys/{passkey_id}", tags=["auth"])
def remove(passkey_id: str, caller: Caller, request: Request) -> JSONResponse:
    """Remove one of your passkeys (not your last second factor)."""
    return _json(passkey_svc.remove(caller.ctx, caller.username, passkey_id, address_of(request)))

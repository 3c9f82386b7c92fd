"""Single sign-on with the department's OpenID Connect provider (issue 18), optional.

The authorization code flow with PKCE (RFC 7636, S256), through ``authlib``'s OAuth 2
client: the provider's discovery document is read once (its ``issuer`` must be the one
configured), the browser is sent to its authorization endpoint, and the code it brings
back is exchanged at the token endpoint with the client's secret and the PKCE verifier.
The ID token is then checked here, none of it taken on trust: its signature against the
provider's JWKS (asymmetric algorithms only; an unknown key id fetches the set once
more, for a provider that rotated its key), ``iss``, ``aud`` (and ``azp``), ``exp``,
``iat``, the ``nonce`` and ``at_hash``, against the vault's clock with a minute's leeway.

State, nonce and verifier are bound to a *pre-session*: a cookie sealed with AES-GCM under
a key derived from the vault's secret, lasting :data:`PRE_SESSION_LIFE`, with a short id
that the audit events of its callback name. Nothing new is stored in the database.

Who signs in is custodes' business, not the provider's: the person is found by the
configured claim (``preferred_username`` by default) in custodes' own users table, never
created; an unknown or disabled user is refused on record; the role is the user's role in
custodes, whatever the token says. The session made is the password sign-in's server
session (the same cookie, idle lock, 12-hour re-authentication, lockout honoured). The
provider's multi-factor authentication stands for custodes' second factor only where the
vault is told to trust it *and* the ID token's ``amr`` asserts it (:func:`mfa_asserted`);
otherwise the session waits for custodes' own second factor (or its enrolment), as after
a password. Every refusal of a callback is an ``sso-sign-in-failed`` event with its step
and reason, the client's address and the pre-session.
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NoReturn
from urllib.parse import quote, urlsplit

import httpx
import pyotp
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from authlib.oidc.discovery import OpenIDProviderMetadata
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from custodes.core.custody import Action
from custodes.core.errors import (
    AccountLocked,
    BackendUnavailable,
    IntegrityFailure,
    InvalidInput,
    Unauthenticated,
)
from custodes.core.ledger import stored_digest
from custodes.core.records import User
from custodes.services import audit
from custodes.services.auth import (
    TOTP_STEP,
    SignInStep,
    Started,
    _factor,
    _locked_until,
    _seal,
    _sha256,
    _web_client,
)
from custodes.services.common import event, now_iso
from custodes.services.context import Context
from custodes.services.state import vouch_passkeys, vouch_second_factor, vouch_user
from custodes.storage.uow import UnitOfWork

#: How long the browser has, from the button to the provider's answer.
PRE_SESSION_LIFE = timedelta(minutes=10)
#: Leeway on the ID token's ``exp`` and ``iat`` (clocks a little apart).
LEEWAY = 60
#: The factor a session that the provider's multi-factor assertion signed in names.
SSO_FACTOR = "sso-mfa"
CALLBACK = "/sign-in/sso/callback"
#: Signature algorithms an ID token may use: asymmetric only (never ``none``, never an
#: HMAC keyed with something a public key set could stand for).
ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
#: RFC 8176 methods that prove possession or inherence: one of them beside another
#: method is multi-factor (``mfa`` says it outright). SMS and voice are not counted.
STRONG_METHODS = frozenset(
    {"otp", "hwk", "swk", "sc", "pop", "fpt", "face", "iris", "retina", "vbm"}
)
_TIMEOUT = httpx.Timeout(10.0)


@dataclass(frozen=True)
class SsoSettings:
    """The provider custodes trusts, as the settings name it."""

    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    username_claim: str = "preferred_username"
    trust_mfa: bool = False
    name: str | None = None
    scope: str = "openid profile email"

    @property
    def display_name(self) -> str:
        return self.name or urlsplit(self.issuer).hostname or self.issuer


def settings_for(
    issuer: str | None,
    client_id: str | None,
    client_secret: str | None,
    username_claim: str,
    trust_mfa: bool,
    name: str | None,
) -> SsoSettings | None:
    """The provider, or None where no issuer is set (no single sign-on). InvalidInput for
    an issuer that is not an https URL (http on loopback only) or a missing client."""
    if not issuer or not issuer.strip():
        return None
    issuer = issuer.strip().rstrip("/")
    parts = urlsplit(issuer)
    loopback = parts.hostname in ("127.0.0.1", "::1", "localhost")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise InvalidInput(
            f"the OpenID provider '{issuer[:100]}' is not an https URL (http only on loopback)",
            field="oidc_issuer",
        )
    if parts.query or parts.fragment or not parts.hostname:
        raise InvalidInput(f"the OpenID provider '{issuer[:100]}' is not an issuer URL")
    if not client_id or not client_secret:
        raise InvalidInput(
            "single sign-on needs CUSTODES_OIDC_CLIENT_ID and CUSTODES_OIDC_CLIENT_SECRET_FILE",
            field="oidc_client_id",
        )
    if not username_claim.strip():
        raise InvalidInput("CUSTODES_OIDC_USERNAME_CLAIM is empty", field="oidc_username_claim")
    return SsoSettings(
        issuer, client_id, client_secret, username_claim.strip(), trust_mfa, name or None
    )


def mfa_asserted(amr: object) -> bool:
    """Whether an ID token's ``amr`` (RFC 8176) says the person passed more than one
    factor: ``mfa``, or two methods or more of which one proves possession or inherence."""
    if not isinstance(amr, list) or not all(isinstance(m, str) for m in amr):
        return False
    methods = set(amr)
    return "mfa" in methods or (len(methods) >= 2 and bool(methods & STRONG_METHODS))


class ProviderError(Exception):
    """The provider answered something custodes does not accept; the text says what."""


class Provider:
    """The OpenID provider over HTTP: discovery and keys (kept once read), the
    authorization URL, the code exchange, and the ID token's verification."""

    def __init__(self, settings: SsoSettings, *, verify: Any = True) -> None:
        self.settings = settings
        self._verify = verify  # an ssl.SSLContext for a private CA; True: the system's
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None

    def _get(self, url: str) -> dict[str, Any]:
        try:
            with httpx.Client(timeout=_TIMEOUT, verify=self._verify) as http:
                response = http.get(url, headers={"Accept": "application/json"})
                response.raise_for_status()
                body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise BackendUnavailable(
                f"the sign-in provider did not answer at {url[:120]} ({type(exc).__name__})",
                advice="sign in with your password, or try again later",
            ) from exc
        if not isinstance(body, dict):
            raise BackendUnavailable(f"the sign-in provider's {url[:120]} is not a JSON object")
        return body

    def metadata(self) -> dict[str, Any]:
        """The discovery document, read once; BackendUnavailable where it cannot be read
        or is not the configured issuer's."""
        with self._lock:
            if self._metadata is not None:
                return self._metadata
        issuer = self.settings.issuer
        found = self._get(f"{issuer}/.well-known/openid-configuration")
        try:
            OpenIDProviderMetadata(found).validate()
        except ValueError as exc:
            raise BackendUnavailable(f"the sign-in provider's discovery document: {exc}") from exc
        if found.get("issuer") != issuer:
            raise BackendUnavailable(
                f"the sign-in provider names itself '{str(found.get('issuer'))[:100]}', "
                f"not '{issuer}'"
            )
        if not found.get("jwks_uri"):
            raise BackendUnavailable("the sign-in provider publishes no jwks_uri")
        with self._lock:
            self._metadata = found
        return found

    def keys(self, *, again: bool = False) -> KeySet:
        with self._lock:
            if self._keys is not None and not again:
                return self._keys
        body = self._get(str(self.metadata()["jwks_uri"]))
        try:
            keys = KeySet.import_key_set(body)  # type: ignore[arg-type]
        except (JoseError, ValueError, KeyError, TypeError) as exc:
            raise BackendUnavailable(f"the sign-in provider's key set: {exc}") from exc
        with self._lock:
            self._keys = keys
        return keys

    def authorization_url(self, redirect_uri: str, state: str, nonce: str, verifier: str) -> str:
        """The authorization request (RFC 6749 4.1.1, OpenID Connect 3.1.2.1) with the
        verifier's S256 challenge (RFC 7636)."""
        endpoint = str(self.metadata()["authorization_endpoint"])
        return str(
            prepare_grant_uri(
                endpoint,
                client_id=self.settings.client_id,
                response_type="code",
                redirect_uri=redirect_uri,
                scope=self.settings.scope,
                state=state,
                nonce=nonce,
                code_challenge=create_s256_code_challenge(verifier),
                code_challenge_method="S256",
            )
        )

    def exchange(self, redirect_uri: str, code: str, verifier: str) -> dict[str, Any]:
        """The token endpoint's answer for ``code`` (the client authenticated with
        ``client_secret_basic``, RFC 6749 2.3.1); ProviderError where it refuses."""
        endpoint = str(self.metadata()["token_endpoint"])
        body = prepare_token_request(
            "authorization_code", code=code, redirect_uri=redirect_uri, code_verifier=verifier
        )
        client = (
            quote(self.settings.client_id, safe=""),
            quote(self.settings.client_secret, safe=""),
        )
        try:
            with httpx.Client(timeout=_TIMEOUT, verify=self._verify) as http:
                response = http.post(
                    endpoint,
                    content=body,
                    auth=client,
                    headers={
                        "Content-Type": "application/x-www-form-urlencoded",
                        "Accept": "application/json",
                    },
                )
        except httpx.HTTPError as exc:
            raise BackendUnavailable(
                f"the sign-in provider's token endpoint did not answer ({type(exc).__name__})"
            ) from exc
        try:
            token = response.json()
        except ValueError:
            token = None
        if not isinstance(token, dict):
            raise ProviderError(f"the token endpoint answered {response.status_code}, not JSON")
        if response.status_code != 200 or "error" in token:
            said = str(token.get("error", response.status_code))[:60]
            text = str(token.get("error_description", ""))[:200]
            raise ProviderError(
                f"the token endpoint refused the code: {said}" + (f" ({text})" if text else "")
            )
        return token

    def verify(self, id_token: str, nonce: str, access_token: str | None, now: datetime) -> Any:
        """The ID token's claims, checked; ProviderError naming what is wrong."""
        offered = self.metadata().get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = sorted(ALGORITHMS & {str(a) for a in offered})
        if not algorithms:
            raise ProviderError("the provider signs ID tokens with no algorithm accepted here")
        try:
            try:
                token = jwt.decode(id_token, self.keys(), algorithms=algorithms)
            except InvalidKeyIdError:  # a key rotated in since the set was read
                token = jwt.decode(id_token, self.keys(again=True), algorithms=algorithms)
        except JoseError as exc:
            raise ProviderError(
                f"the ID token does not verify with the provider's keys ({exc})"[:200]
            ) from exc
        except (ValueError, TypeError) as exc:
            raise ProviderError(f"the ID token is malformed: {exc}"[:200]) from exc
        client_id = self.settings.client_id
        params: dict[str, Any] = {"nonce": nonce, "client_id": client_id}
        if access_token is not None:
            params["access_token"] = access_token
        claims = CodeIDToken(
            token.claims,
            token.header,
            {
                "iss": {"essential": True, "value": self.settings.issuer},
                "aud": {"essential": True, "value": client_id},
                "exp": {"essential": True},
                "nonce": {"essential": True},
            },
            params,
        )
        try:
            claims.validate(now=int(now.timestamp()), leeway=LEEWAY)
        except JoseError as exc:
            raise ProviderError(f"the ID token's claims: {exc}"[:200]) from exc
        return claims


# ---- the pre-session -------------------------------------------------------------------


def _key(ctx: Context) -> bytes:
    return hmac.new(ctx.watermark_secret, b"custodes sso pre-session v1\x01", "sha256").digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class PreSession:
    """What a sign-in begun at the provider carries to its callback, in a sealed cookie."""

    id: str
    state: str
    nonce: str
    verifier: str
    target: str
    at: str

    def seal(self, ctx: Context) -> str:
        nonce = secrets.token_bytes(12)
        plain = json.dumps(self.__dict__, separators=(",", ":")).encode()
        return _b64(nonce + AESGCM(_key(ctx)).encrypt(nonce, plain, b"sso pre-session"))

    @classmethod
    def unseal(cls, ctx: Context, cookie: str) -> PreSession | None:
        """The pre-session, or None for a cookie this vault did not seal."""
        try:
            raw = _unb64(cookie)
            plain = AESGCM(_key(ctx)).decrypt(raw[:12], raw[12:], b"sso pre-session")
            fields = json.loads(plain)
            return cls(**{k: str(fields[k]) for k in cls.__dataclass_fields__})
        except (InvalidTag, ValueError, KeyError, TypeError):
            return None


@dataclass(frozen=True)
class Begun:
    """Where to send the browser, and the pre-session cookie to give it."""

    url: str
    cookie: str
    pre_session: str


def begin(ctx: Context, provider: Provider, redirect_uri: str, target: str) -> Begun:
    """Start a sign-in at the provider: a fresh state, nonce and PKCE verifier, sealed in
    the pre-session; the authorization URL carries the state, the nonce and the
    verifier's S256 challenge."""
    pre = PreSession(
        id=secrets.token_hex(4),
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        verifier=secrets.token_urlsafe(48),
        target=target,
        at=now_iso(ctx),
    )
    url = provider.authorization_url(redirect_uri, pre.state, pre.nonce, pre.verifier)
    return Begun(url, pre.seal(ctx), pre.id)


# ---- the callback ----------------------------------------------------------------------


@dataclass(frozen=True)
class Finished:
    """A callback accepted: the session (signed in, or waiting for the second factor or
    its enrolment) and where the person was going."""

    started: Started
    target: str


def _refuse(
    ctx: Context,
    uow: UnitOfWork,
    *,
    step: str,
    why: str,
    address: str,
    pre: PreSession | None,
    actor: str = "-",
    extra: Mapping[str, object] | None = None,
    error: Exception | None = None,
) -> NoReturn:
    """Put a refused callback on record (``sso-sign-in-failed``), commit, raise."""
    details: dict[str, object] = {
        "address": address,
        "step": step,
        "why": why[:300],
        "pre_session": pre.id if pre else None,
        **(extra or {}),
    }
    known = actor != "-"
    audit.record(
        uow,
        event(
            ctx.acting_for(_web_client(address)),
            actor[:64] or "-",
            Action.SSO_SIGN_IN_FAILED,
            object_type="user" if known else None,
            object_id=actor[:64] if known else None,
            details=details,
        ),
    )
    audit.commit(uow, ctx)
    if error is not None:
        raise error
    raise Unauthenticated(f"single sign-on refused: {why}"[:300])


def finish(
    ctx: Context,
    provider: Provider,
    cookie: str,
    params: Mapping[str, str],
    redirect_uri: str,
    address: str,
    user_agent: str,
) -> Finished:
    """The provider's answer (``code`` and ``state``, or ``error``) checked against the
    pre-session, the code exchanged, the ID token verified and its person found in
    custodes' users; a session opened as a password sign-in opens one. Every refusal is
    an ``sso-sign-in-failed`` event (Unauthenticated, or BackendUnavailable where the
    provider cannot be reached)."""
    pre = PreSession.unseal(ctx, cookie) if cookie else None
    now = ctx.clock.now()
    why = None
    if pre is None:
        why = "no pre-session (the sign-in was not begun here, or its cookie is gone)"
    elif now - datetime.fromisoformat(pre.at) > PRE_SESSION_LIFE:
        why = "the pre-session expired (the provider answered after 10 minutes)"
    elif not hmac.compare_digest(params.get("state", "").encode(), pre.state.encode()):
        why = "the state does not match the pre-session's"
    if why is not None:
        with ctx.uow() as uow:
            _refuse(ctx, uow, step="state", why=why, address=address, pre=pre)
    assert pre is not None
    if "error" in params or not params.get("code"):
        said = params.get("error", "no code")[:60]
        text = params.get("error_description", "")[:200]
        with ctx.uow() as uow:
            _refuse(
                ctx,
                uow,
                step="provider",
                why=f"the provider answered {said}" + (f" ({text})" if text else ""),
                address=address,
                pre=pre,
            )
    try:
        token = provider.exchange(redirect_uri, params["code"], pre.verifier)
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise ProviderError("the token endpoint gave no ID token")
        access = token.get("access_token")
        access = access if isinstance(access, str) else None
        claims = provider.verify(id_token, pre.nonce, access, now)
    except (ProviderError, BackendUnavailable) as exc:
        with ctx.uow() as uow:
            _refuse(
                ctx,
                uow,
                step="token",
                why=str(exc),
                address=address,
                pre=pre,
                error=exc if isinstance(exc, BackendUnavailable) else None,
            )
    return _open(ctx, provider.settings, claims, pre, address, user_agent)


def _open(
    ctx: Context,
    settings: SsoSettings,
    claims: Mapping[str, Any],
    pre: PreSession,
    address: str,
    user_agent: str,
) -> Finished:
    claim = settings.username_claim
    name = claims.get(claim)
    amr = claims.get("amr")
    facts: dict[str, object] = {
        "issuer": settings.issuer,
        "subject": str(claims.get("sub", ""))[:255],
        "amr": amr if isinstance(amr, list) else None,
    }
    with ctx.uow() as uow:
        if not isinstance(name, str) or not name.strip():
            _refuse(
                ctx,
                uow,
                step="user",
                why=f"the ID token has no '{claim}' claim",
                address=address,
                pre=pre,
                extra=facts,
            )
        name = name.strip()
        user = uow.users.find(name)
        if user is None or not user.active:
            _refuse(
                ctx,
                uow,
                step="user",
                why="unknown user" if user is None else "inactive user",
                address=address,
                pre=pre,
                actor=name,
                extra={**facts, "known_user": user is not None, "claim": claim},
            )
        if _locked_until(uow, user, ctx.clock.now()) is not None:
            _refuse(
                ctx,
                uow,
                step="user",
                why="account locked",
                address=address,
                pre=pre,
                actor=user.username,
                extra=facts,
                error=AccountLocked(
                    "the account is locked after failed sign-ins; try again later",
                    advice="a single sign-on does not lift custodes' lock",
                ),
            )
        try:
            vouch_user(uow, user)
            vouch_second_factor(uow, _factor(uow, user))
            vouch_passkeys(uow, user.username, uow.passkeys.of_user(user.id))
        except IntegrityFailure as exc:
            _refuse(
                ctx,
                uow,
                step="user",
                why=str(exc),
                address=address,
                pre=pre,
                actor=user.username,
                extra={**facts, "code": "IntegrityFailure"},
                error=exc,
            )
        trusted = settings.trust_mfa and mfa_asserted(amr)
        started = _session(ctx, uow, user, trusted, facts, pre, address, user_agent)
        audit.commit(uow, ctx)
    return Finished(started, pre.target)


def _session(
    ctx: Context,
    uow: UnitOfWork,
    user: User,
    trusted: bool,
    facts: dict[str, object],
    pre: PreSession,
    address: str,
    user_agent: str,
) -> Started:
    """Open the server session and put the sign-in on record."""
    cookie = secrets.token_urlsafe(32)
    short = secrets.token_hex(4)
    at = now_iso(ctx)
    id_hash = _sha256(cookie)
    uow.auth.add_session(id_hash, short, user.id, at, address, user_agent[:512])
    details: dict[str, object] = {
        "address": address,
        "user_agent": user_agent[:512],
        "session": short,
        "pre_session": pre.id,
        **facts,
        "mfa": "trusted"
        if trusted
        else "asked by custodes"
        + ("" if mfa_asserted(facts["amr"]) else " (not asserted by the provider)"),
    }
    step: SignInStep
    if trusted:
        uow.auth.clear_failures(user.id)
        uow.auth.session_passed_second_factor(id_hash, id_hash, at, SSO_FACTOR)
        details |= {
            "status": "signed-in",
            "session_digest": stored_digest(id_hash),
            "second_factor": SSO_FACTOR,
        }
        step = SignInStep("signed-in", user.username, short)
    else:
        totp = uow.auth.totp(user.id)
        has_totp = totp is not None and totp.confirmed_at is not None
        passkeys = len(uow.passkeys.of_user(user.id))
        if has_totp or passkeys:
            step = SignInStep(
                "second-factor-required",
                user.username,
                short,
                totp=has_totp,
                passkeys=passkeys,
            )
        else:
            secret = pyotp.random_base32()
            uow.auth.put_totp(user.id, _seal(ctx, user.id, secret), at)
            uri = pyotp.TOTP(secret, interval=TOTP_STEP).provisioning_uri(
                name=user.username, issuer_name=f"custodes {ctx.agency}"
            )
            step = SignInStep(
                "enrol-required", user.username, short, provisioning_uri=uri, secret=secret
            )
        details["status"] = step.status
    audit.record(
        uow,
        event(
            ctx.acting_for(_web_client(address, short)),
            user.username,
            Action.SSO_SIGN_IN,
            object_type="user",
            object_id=user.username,
            details=details,
        ),
    )
    return Started(cookie, step)


__all__ = [
    "CALLBACK",
    "PRE_SESSION_LIFE",
    "SSO_FACTOR",
    "Begun",
    "Finished",
    "PreSession",
    "Provider",
    "SsoSettings",
    "begin",
    "finish",
    "mfa_asserted",
    "settings_for",
]

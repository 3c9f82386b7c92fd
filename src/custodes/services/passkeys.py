"""Passkeys (WebAuthn) as a second factor beside TOTP and the recovery codes (issue 18).

A passkey is a key pair an authenticator (a phone, a laptop's platform authenticator, a
security key) keeps for this vault; the vault stores the credential's id and its public
key (COSE) and checks each sign-in's signature with them (``webauthn``, py_webauthn).

- Ceremonies: the server hands a session a random challenge (32 bytes) for one
  registration or one sign-in; it lives :data:`CHALLENGE_LIFE` (5 minutes), a session
  holds one at a time, and it is deleted when an answer comes, whatever the answer (a
  replayed answer finds none).
- What is checked: the origin the browser signed (``public_origin`` or the request's own
  origin, as the CSRF check takes it) and the RP ID (that origin's host), the challenge,
  the user's presence *and verification* (a PIN or biometric on the authenticator), the
  signature, and the signature counter, which must go up unless the authenticator keeps
  none (0 and 0): a counter that does not is a cloned authenticator, refused.
- A failed sign-in with a passkey counts toward the lockout like a wrong password or TOTP
  code (``sign-in-failed``, step ``passkey``).
- Bound to the signed log (``core.ledger``): ``passkey-enrol`` carries the SHA-256 of the
  credential id and of the stored public key, the user and the name; ``passkey-use`` the
  new counter; ``passkey-rename`` and ``passkey-remove`` what they change. ``verify``
  names a row that differs; a sign-in with one is refused on record.
- First sign-in offers a passkey or TOTP; a passkey enrolled then comes with the ten
  recovery codes, as TOTP does (``mfa-enrol``, factor ``passkey``). A user may add more
  passkeys, rename and remove them; the last one goes only if TOTP remains.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, NoReturn
from urllib.parse import urlsplit

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from custodes.core.custody import Action
from custodes.core.errors import (
    CustodyConflict,
    IntegrityFailure,
    InvalidInput,
    NotFound,
    Unauthenticated,
)
from custodes.core.ledger import codes_digest, stored_digest
from custodes.core.records import PasskeyChallenge, StoredPasskey, User, WebSession
from custodes.services import audit
from custodes.services.auth import (
    MAX_FAILURES,
    RECOVERY_CODES,
    SignInStep,
    Started,
    _code_hash,
    _factor,
    _fail,
    _new_recovery_code,
    _pending,
    _record,
    _refuse_unvouched,
    _sha256,
    _signed_in,
    _web_client,
)
from custodes.services.common import new_id, now_iso
from custodes.services.context import Context
from custodes.services.state import vouch_passkey, vouch_second_factor
from custodes.services.usecase import UseCase, acting
from custodes.storage.uow import UnitOfWork

CHALLENGE_LIFE = timedelta(minutes=5)
#: How long the browser waits for the authenticator (a hint to it, in milliseconds).
CEREMONY_TIMEOUT_MS = 120_000
MAX_PASSKEYS = 20
#: WebAuthn's limit on a credential id; a COSE key of RSA-4096 is about 550 bytes.
MAX_CREDENTIAL_ID, MAX_PUBLIC_KEY = 1023, 2048
REGISTER, AUTHENTICATE = "register", "authenticate"
_TRANSPORTS = {t.value for t in AuthenticatorTransport}


@dataclass(frozen=True)
class PasskeyView:
    passkey_id: str
    username: str
    name: str
    created_at: str
    last_used_at: str | None
    transports: list[str]


@dataclass(frozen=True)
class PasskeyAdded:
    passkey_id: str
    username: str
    name: str


@dataclass(frozen=True)
class PasskeyRemoved:
    passkey_id: str
    username: str
    removed_at: str


# ---- the relying party ---------------------------------------------------------------


def relying_party(origin: str) -> str:
    """The RP ID of the vault reached at ``origin``: its host (InvalidInput when the
    origin names none, or is an IP address, which WebAuthn does not accept)."""
    host = urlsplit(origin).hostname or ""
    if not host or _is_address(host):
        raise InvalidInput(
            f"passkeys need the vault to be reached by a host name, not {origin!r}",
            advice="set CUSTODES_PUBLIC_ORIGIN to the https:// name people use",
        )
    return host


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _user_handle(ctx: Context, user: User) -> bytes:
    """The WebAuthn user handle: stable for a user, naming nobody (a keyed hash of the
    user's row id under the vault's secret)."""
    key = hmac.new(ctx.watermark_secret, b"custodes auth passkey-user v1\x01", "sha256").digest()
    return hmac.new(key, str(user.id).encode(), "sha256").digest()


def _options(options: Any) -> dict[str, Any]:
    """Options as the browser's ``navigator.credentials`` call wants them, in JSON."""
    parsed: dict[str, Any] = json.loads(options_to_json(options))
    return parsed


def _new_challenge(ctx: Context, uow: UnitOfWork, session: str, purpose: str) -> bytes:
    challenge = secrets.token_bytes(32)
    uow.passkeys.put_challenge(
        PasskeyChallenge(session, purpose, bytes_to_base64url(challenge), now_iso(ctx))
    )
    return challenge


def _taken_challenge(ctx: Context, uow: UnitOfWork, session: str, purpose: str) -> bytes | None:
    """The session's challenge for ``purpose``, used up; None when there is none, or it
    is older than :data:`CHALLENGE_LIFE`."""
    found = uow.passkeys.take_challenge(session, purpose)
    if found is None:
        return None
    if ctx.clock.now() - datetime.fromisoformat(found.created_at) > CHALLENGE_LIFE:
        return None
    return base64url_to_bytes(found.challenge)


def _descriptor(p: StoredPasskey) -> PublicKeyCredentialDescriptor:
    transports = [AuthenticatorTransport(t) for t in p.transports if t in _TRANSPORTS]
    return PublicKeyCredentialDescriptor(id=p.credential_id, transports=transports or None)


def _registration_options(
    ctx: Context, uow: UnitOfWork, user: User, session: str, origin: str
) -> dict[str, Any]:
    rp_id = relying_party(origin)
    challenge = _new_challenge(ctx, uow, session, REGISTER)
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name=f"custodes {ctx.agency}"[:64],
        user_name=user.username,
        user_id=_user_handle(ctx, user),
        challenge=challenge,
        timeout=CEREMONY_TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[_descriptor(p) for p in uow.passkeys.of_user(user.id)],
    )
    return _options(options)


def _name(name: str | None, count: int) -> str:
    text = " ".join((name or "").split())[:64]
    return text or f"Passkey {count + 1}"


@dataclass(frozen=True)
class _Verified:
    credential_id: bytes
    public_key: bytes
    sign_count: int
    transports: tuple[str, ...]


def _verify_registration(
    credential: dict[str, Any], challenge: bytes, origin: str
) -> _Verified | str:
    """The verified credential, or why it is refused."""
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=relying_party(origin),
            expected_origin=origin,
            require_user_verification=True,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        return f"the passkey's registration was refused: {str(exc)[:200]}"
    too_long = len(verified.credential_id) > MAX_CREDENTIAL_ID
    if too_long or len(verified.credential_public_key) > MAX_PUBLIC_KEY:
        return "the passkey's registration was refused: its id or key is too long"
    response = credential.get("response")
    given = response.get("transports") if isinstance(response, dict) else None
    transports = tuple(
        str(t) for t in (given if isinstance(given, list) else []) if str(t) in _TRANSPORTS
    )
    return _Verified(
        verified.credential_id, verified.credential_public_key, verified.sign_count, transports
    )


def _store(
    ctx: Context, uow: UnitOfWork, user: User, found: _Verified, name: str | None
) -> tuple[str, str, dict[str, object]]:
    """Store a verified credential; its id, name and what its ``passkey-enrol`` event
    says of it (the caller records the event)."""
    if uow.passkeys.by_credential_id(found.credential_id) is not None:
        raise CustodyConflict("this passkey is registered already")
    mine = uow.passkeys.of_user(user.id)
    if len(mine) >= MAX_PASSKEYS:
        raise CustodyConflict(f"at most {MAX_PASSKEYS} passkeys a user: remove one first")
    passkey_id = new_id("PK")
    label = _name(name, len(mine))
    uow.passkeys.add(
        passkey_id,
        user.id,
        found.credential_id,
        found.public_key,
        found.sign_count,
        found.transports,
        label,
        now_iso(ctx),
    )
    return (
        passkey_id,
        label,
        {
            "passkey": passkey_id,
            "name": label,
            "credential_digest": stored_digest(found.credential_id),
            "public_key_digest": stored_digest(found.public_key),
            "sign_count": found.sign_count,
            "transports": list(found.transports),
        },
    )


def _credential(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput("{credential} is the object the browser's WebAuthn call gave")
    return value


# ---- first sign-in: enrol with a passkey ---------------------------------------------


def _enrolling(ctx: Context, uow: UnitOfWork, cookie: str, address: str) -> tuple[WebSession, User]:
    """The session waiting for its first second factor (no TOTP confirmed, no passkey)."""
    session, user = _pending(ctx, uow, cookie, address)
    totp = uow.auth.totp(user.id)
    if (totp is not None and totp.confirmed_at is not None) or uow.passkeys.of_user(user.id):
        raise CustodyConflict("a second factor is enrolled already: pass it to sign in")
    return session, user


def enrol_options(ctx: Context, cookie: str, origin: str, address: str) -> dict[str, Any]:
    """Options for ``navigator.credentials.create()``: a passkey as the first second
    factor, instead of TOTP, on the session that passed its password."""
    with ctx.uow() as uow:
        session, user = _enrolling(ctx, uow, cookie, address)
        options = _registration_options(ctx, uow, user, session.short_id, origin)
        uow.commit()
    return options


def enrol(
    ctx: Context,
    cookie: str,
    credential: object,
    origin: str,
    address: str,
    name: str | None = None,
) -> Started:
    """Register the passkey the browser made from :func:`enrol_options`: the session is
    signed in (a new cookie value) and ten recovery codes are made (shown once). A
    refused registration counts toward the lockout."""
    given = _credential(credential)
    with ctx.uow() as uow:
        session, user = _enrolling(ctx, uow, cookie, address)
        client = ctx.acting_for(_web_client(address, session.short_id))
        try:
            vouch_second_factor(uow, _factor(uow, user))
        except IntegrityFailure as exc:
            _refuse_unvouched(client, uow, user.username, address, "passkey-enrol", exc)
        challenge = _taken_challenge(ctx, uow, session.short_id, REGISTER)
        found = (
            "no passkey challenge for this session (it was used, or is over 5 minutes old)"
            if challenge is None
            else _verify_registration(given, challenge, origin)
        )
        if isinstance(found, str):
            _fail_step(ctx, uow, session, user, address, "passkey-enrol", found)
        uow.auth.drop_unconfirmed_totp(user.id)
        passkey_id, _, details = _store(ctx, uow, user, found, name)
        at = now_iso(ctx)
        codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
        hashes = [_code_hash(ctx, c) for c in codes]
        uow.auth.replace_recovery_codes(user.id, hashes, at)
        _record(
            client,
            uow,
            user.username,
            Action.MFA_ENROL,
            user=user.username,
            details={
                "address": address,
                "factor": "passkey",
                "passkey": passkey_id,
                "recovery_codes": RECOVERY_CODES,
                "secret_digest": None,
                "codes_digest": codes_digest(hashes),
            },
        )
        _record(
            client,
            uow,
            user.username,
            Action.PASSKEY_ENROL,
            user=user.username,
            details={"address": address, **details},
        )
        renewed = _signed_in(ctx, uow, session, user, address, "passkey")
        audit.commit(uow, ctx)
    return Started(
        renewed, SignInStep("signed-in", user.username, session.short_id, recovery_codes=codes)
    )


def _fail_step(
    ctx: Context,
    uow: UnitOfWork,
    session: WebSession,
    user: User,
    address: str,
    step: str,
    why: str,
) -> NoReturn:
    """A refused passkey answer at sign-in: counted toward the lockout like a wrong code
    (the fifth ends the session), on record with the reason."""
    failures = uow.auth.failures(user.id)
    if (failures.count if failures else 0) + 1 >= MAX_FAILURES:
        uow.auth.end_session(session.id_hash, now_iso(ctx), "account-locked")
    client = ctx.acting_for(_web_client(address, session.short_id))
    _fail(client, uow, user.username, user, address, step, why, "the passkey was refused")


# ---- signing in with a passkey -------------------------------------------------------


def sign_in_options(ctx: Context, cookie: str, origin: str, address: str) -> dict[str, Any]:
    """Options for ``navigator.credentials.get()``: the second factor with one of the
    user's passkeys, on the session that passed its password."""
    with ctx.uow() as uow:
        session, user = _pending(ctx, uow, cookie, address)
        mine = uow.passkeys.of_user(user.id)
        if not mine:
            raise CustodyConflict("no passkey is registered for this account")
        challenge = _new_challenge(ctx, uow, session.short_id, AUTHENTICATE)
        options = generate_authentication_options(
            rp_id=relying_party(origin),
            challenge=challenge,
            timeout=CEREMONY_TIMEOUT_MS,
            allow_credentials=[_descriptor(p) for p in mine],
            user_verification=UserVerificationRequirement.REQUIRED,
        )
        uow.commit()
    return _options(options)


def _raw_id(credential: dict[str, Any]) -> bytes | None:
    raw = credential.get("rawId", credential.get("id"))
    if not isinstance(raw, str) or len(raw) > 2048:
        return None
    try:
        return base64url_to_bytes(raw)
    except ValueError:
        return None


def sign_in(ctx: Context, cookie: str, credential: object, origin: str, address: str) -> Started:
    """Pass the second factor with a passkey's answer to :func:`sign_in_options`: the
    session is signed in under a new cookie value, and the passkey's new signature
    counter is on record (``passkey-use``)."""
    given = _credential(credential)
    with ctx.uow() as uow:
        session, user = _pending(ctx, uow, cookie, address)
        client = ctx.acting_for(_web_client(address, session.short_id))
        challenge = _taken_challenge(ctx, uow, session.short_id, AUTHENTICATE)
        if challenge is None:
            why = "no passkey challenge for this session (it was used, or is over 5 minutes old)"
            _fail_step(ctx, uow, session, user, address, "passkey", why)
        raw = _raw_id(given)
        passkey = uow.passkeys.by_credential_id(raw) if raw else None
        if passkey is None or passkey.user_id != user.id:
            _fail_step(ctx, uow, session, user, address, "passkey", "not a passkey of this user")
        try:
            vouch_passkey(uow, passkey)
            vouch_second_factor(uow, _factor(uow, user))
        except IntegrityFailure as exc:
            _refuse_unvouched(client, uow, user.username, address, "passkey", exc)
        try:
            verified = verify_authentication_response(
                credential=given,
                expected_challenge=challenge,
                expected_rp_id=relying_party(origin),
                expected_origin=origin,
                credential_public_key=passkey.public_key,
                credential_current_sign_count=passkey.sign_count,
                require_user_verification=True,
            )
        except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
            why = f"passkey {passkey.id} refused: {str(exc)[:200]}"
            _fail_step(ctx, uow, session, user, address, "passkey", why)
        at = now_iso(ctx)
        if not uow.passkeys.used(passkey.id, passkey.sign_count, verified.new_sign_count, at):
            why = f"passkey {passkey.id} was used by another sign-in at the same time"
            _fail_step(ctx, uow, session, user, address, "passkey", why)
        _record(
            client,
            uow,
            user.username,
            Action.PASSKEY_USE,
            user=user.username,
            details={
                "address": address,
                "session": session.short_id,
                "passkey": passkey.id,
                "sign_count": verified.new_sign_count,
            },
        )
        renewed = _signed_in(ctx, uow, session, user, address, "passkey")
        audit.commit(uow, ctx)
    return Started(renewed, SignInStep("signed-in", user.username, session.short_id))


def factors(ctx: Context, cookie: str) -> tuple[bool, int]:
    """What the session that passed its password may use as its second factor: whether
    TOTP is enrolled, and how many passkeys (for the page that asks; the step itself
    checks again)."""
    with ctx.uow(readonly=True) as uow:
        session = uow.auth.session(_sha256(cookie)) if cookie else None
        if session is None or session.ended_at is not None:
            raise Unauthenticated("sign in with your password first")
        totp = uow.auth.totp(session.user_id)
        count = len(uow.passkeys.of_user(session.user_id))
    return totp is not None and totp.confirmed_at is not None, count


# ---- a signed-in user's passkeys -----------------------------------------------------


def _session_of(session: str | None) -> str:
    if not session:
        raise InvalidInput("a passkey is added from a signed-in browser session, not a token")
    return session


def add_options(
    ctx: Context, actor_name: str | None, session: str | None, origin: str
) -> dict[str, Any]:
    """Options for ``navigator.credentials.create()``: another passkey for yourself."""
    with acting(ctx, actor_name) as uc:
        short = _session_of(session)
        user = uc.uow.users.get(uc.actor.username)
        options = _registration_options(ctx, uc.uow, user, short, origin)
        uc.uow.commit()
    return options


def add(
    ctx: Context,
    actor_name: str | None,
    session: str | None,
    credential: object,
    origin: str,
    address: str,
    name: str | None = None,
) -> PasskeyAdded:
    """Register the passkey the browser made from :func:`add_options` (a refusal is on
    record as ``passkey-refused``)."""
    given = _credential(credential)
    with acting(ctx, actor_name) as uc:
        short = _session_of(session)
        user = uc.uow.users.get(uc.actor.username)
        challenge = _taken_challenge(ctx, uc.uow, short, REGISTER)
        found = (
            "no passkey challenge for this session (it was used, or is over 5 minutes old)"
            if challenge is None
            else _verify_registration(given, challenge, origin)
        )
        if isinstance(found, str):
            uc.record(
                Action.PASSKEY_REFUSED,
                object_type="user",
                object_id=user.username,
                details={"address": address, "session": short, "why": found},
            )
            uc.commit()
            raise InvalidInput(found, field="credential")
        passkey_id, label, details = _store(ctx, uc.uow, user, found, name)
        uc.record(
            Action.PASSKEY_ENROL,
            object_type="user",
            object_id=user.username,
            details={"address": address, "session": short, **details},
        )
        uc.commit()
    return PasskeyAdded(passkey_id, user.username, label)


def _view(p: StoredPasskey) -> PasskeyView:
    return PasskeyView(p.id, p.username, p.name, p.created_at, p.last_used_at, list(p.transports))


def list_passkeys(ctx: Context, actor_name: str | None) -> list[PasskeyView]:
    """Your own passkeys (never their keys)."""
    with acting(ctx, actor_name, readonly=True) as uc:
        user = uc.uow.users.get(uc.actor.username)
        return [_view(p) for p in uc.uow.passkeys.of_user(user.id)]


def _own(uc: UseCase, passkey_id: str, attempted: str) -> StoredPasskey:
    passkey = uc.uow.passkeys.get(passkey_id)
    if passkey is None or passkey.username != uc.actor.username:
        uc.refuse(NotFound(f"you have no passkey '{passkey_id}'"), attempted=attempted)
    return passkey


def rename(
    ctx: Context, actor_name: str | None, passkey_id: str, name: str, address: str
) -> PasskeyView:
    label = " ".join(name.split())[:64]
    if not label:
        raise InvalidInput("a passkey's {name} is not empty", field="name")
    with acting(ctx, actor_name) as uc:
        passkey = _own(uc, passkey_id, "passkey-rename")
        uc.uow.passkeys.rename(passkey.id, label)
        uc.record(
            Action.PASSKEY_RENAME,
            object_type="user",
            object_id=passkey.username,
            details={"passkey": passkey.id, "name": label, "was": passkey.name, "address": address},
        )
        uc.commit()
    return _view(replace(passkey, name=label))


def remove(ctx: Context, actor_name: str | None, passkey_id: str, address: str) -> PasskeyRemoved:
    """Remove one of your passkeys; not the last second factor (keep TOTP, or another
    passkey)."""
    with acting(ctx, actor_name) as uc:
        passkey = _own(uc, passkey_id, "passkey-remove")
        totp = uc.uow.auth.totp(passkey.user_id)
        others = [p for p in uc.uow.passkeys.of_user(passkey.user_id) if p.id != passkey.id]
        if not others and (totp is None or totp.confirmed_at is None):
            raise CustodyConflict(
                f"passkey {passkey.id} is your only second factor: add another passkey "
                "before removing it"
            )
        uc.uow.passkeys.remove(passkey.id)
        uc.record(
            Action.PASSKEY_REMOVE,
            object_type="user",
            object_id=passkey.username,
            details={"passkey": passkey.id, "name": passkey.name, "address": address},
        )
        uc.commit()
    return PasskeyRemoved(passkey.id, passkey.username, now_iso(ctx))


__all__ = [
    "CHALLENGE_LIFE",
    "PasskeyAdded",
    "PasskeyRemoved",
    "PasskeyView",
    "add",
    "add_options",
    "enrol",
    "enrol_options",
    "factors",
    "list_passkeys",
    "relying_party",
    "remove",
    "rename",
    "sign_in",
    "sign_in_options",
]

"""Proven identity for the web (issue 18): passwords, a second factor, server sessions,
lockout and API tokens, each step on the audit log with the client's address.

What the FBI CJIS Security Policy (6.0) asks of a system holding criminal-justice
information, and where it is done here:

- multi-factor authentication for every user: a password (argon2id, as ``user add
  --password-stdin`` stores it) and a TOTP code (RFC 6238, 30-second steps, one step of
  drift either way, each step used once), enrolled on first sign-in; ten single-use
  recovery codes, kept as keyed hashes; or passkeys (WebAuthn, services/passkeys.py)
  instead of TOTP or beside it (``second_factor`` names the factor a session passed);
- session lock: a session idle for :data:`SESSION_IDLE` (30 minutes) ends, and so does
  one older than :data:`SESSION_MAX` (12 hours): the person signs in again;
- account lockout: :data:`MAX_FAILURES` (5) consecutive failures (password or second
  factor) lock the account for :data:`LOCKOUT` (10 minutes); the count lives in the
  database, so several server processes agree;
- audit: every sign-in, failure, lockout, enrolment, recovery-code use, sign-out, session
  end and token creation, use and revocation is an event with the client's address. A
  token's use is recorded on its first use and then at most once per
  :data:`TOKEN_USE_LOG_EVERY` (an hour), so that a script polling every second does not
  flood the log; ``last_used_at`` on the token keeps the latest use.

Secrets are never stored as given: session ids and tokens (32 random bytes) by their
SHA-256, recovery codes by HMAC-SHA-256 under a key derived from the vault's secret,
TOTP secrets encrypted with AES-GCM under another key derived from it. The vault's
secret lives in its key folder (``<home>/keys``), not in the database, so a copy of the
database alone yields neither TOTP secrets nor recovery codes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from custodes.core.authz import ROLE_PERMISSIONS, Permission, Role, decide
from custodes.core.custody import Action
from custodes.core.errors import (
    AccountLocked,
    CustodyConflict,
    IntegrityFailure,
    InvalidInput,
    NotFound,
    Unauthenticated,
)
from custodes.core.ledger import (
    SecondFactorState,
    codes_digest,
    second_factor_state,
    stored_digest,
)
from custodes.core.records import ApiToken, Failures, User, WebSession
from custodes.services import audit
from custodes.services.common import event, new_id, now_iso
from custodes.services.context import Context
from custodes.services.state import (
    vouch_passkeys,
    vouch_password,
    vouch_second_factor,
    vouch_session,
    vouch_token,
    vouch_user,
)
from custodes.services.usecase import acting
from custodes.services.users import hash_password
from custodes.storage.uow import UnitOfWork

SESSION_IDLE = timedelta(minutes=30)
SESSION_MAX = timedelta(hours=12)
#: A session that passed the password must pass the second factor within this.
SECOND_FACTOR_WINDOW = timedelta(minutes=10)
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=10)
#: ``last_seen_at`` is written at most this often (idle time is measured to within it).
TOUCH_EVERY = timedelta(seconds=60)
TOKEN_USE_LOG_EVERY = timedelta(hours=1)
TOKEN_MAX_LIFE = timedelta(days=366)
RECOVERY_CODES = 10
TOTP_STEP = 30

_hasher = PasswordHasher()
# Verified against when the user is unknown, so that the answer takes as long.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class Principal:
    """Who is behind a web request, proved: the person and the client the log names."""

    username: str
    role: Role
    client: str
    session: str | None = None
    """The session's short id (never the cookie's value)."""
    token: str | None = None
    """The API token's id, for a script."""


@dataclass(frozen=True)
class SignInStep:
    """Where a sign-in stands. ``status``: ``enrol-required`` (scan ``provisioning_uri``,
    confirm a code), ``second-factor-required`` or ``signed-in``."""

    status: str
    username: str
    session: str
    provisioning_uri: str | None = None
    secret: str | None = None
    recovery_codes: list[str] | None = None
    """Shown once, at enrolment."""
    totp: bool | None = None
    """At ``second-factor-required``: whether a TOTP authenticator is enrolled."""
    passkeys: int | None = None
    """At ``second-factor-required``: how many passkeys the user has (services/passkeys.py);
    at ``enrol-required`` a passkey may be enrolled instead of TOTP."""


@dataclass(frozen=True)
class Started:
    """A new session: its cookie value (shown to nobody else, stored hashed) and step."""

    cookie: str
    step: SignInStep


@dataclass(frozen=True)
class SessionView:
    session: str
    username: str
    created_at: str
    last_seen_at: str
    address: str
    user_agent: str
    second_factor: str | None


@dataclass(frozen=True)
class SessionEnded:
    session: str
    username: str
    ended: bool


@dataclass(frozen=True)
class CreatedToken:
    token_id: str
    username: str
    expires_at: str
    token: str
    """Shown once; only its SHA-256 is kept."""


@dataclass(frozen=True)
class TokenView:
    token_id: str
    username: str
    created_at: str
    created_by: str
    expires_at: str
    revoked_at: str | None
    last_used_at: str | None
    state: str
    """``active``, ``expired`` or ``revoked``."""


@dataclass(frozen=True)
class TokenRevoked:
    token_id: str
    username: str
    revoked_at: str


@dataclass(frozen=True)
class Me:
    username: str
    role: Role
    permissions: list[str]
    session: str | None
    token: str | None
    client: str


# ---- secrets -----------------------------------------------------------------------


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _derived_key(ctx: Context, purpose: str) -> bytes:
    """A 32-byte key for ``purpose``, derived from the vault's secret (HMAC-SHA-256 as a
    PRF, the expand step of RFC 5869 with one block)."""
    return hmac.new(
        ctx.watermark_secret, f"custodes auth {purpose}\x01".encode(), "sha256"
    ).digest()


def _seal(ctx: Context, user_id: int, secret: str) -> bytes:
    nonce = secrets.token_bytes(12)
    aad = f"totp user {user_id}".encode()
    return nonce + AESGCM(_derived_key(ctx, "totp-secret v1")).encrypt(nonce, secret.encode(), aad)


def _unseal(ctx: Context, user_id: int, sealed: bytes) -> str:
    aad = f"totp user {user_id}".encode()
    try:
        plain = AESGCM(_derived_key(ctx, "totp-secret v1")).decrypt(sealed[:12], sealed[12:], aad)
    except InvalidTag as exc:
        raise IntegrityFailure(
            f"the stored TOTP secret of user {user_id} does not decrypt with the vault's key",
            advice="an admin resets the user's second factor",
        ) from exc
    return plain.decode()


def _code_hash(ctx: Context, code: str) -> str:
    normal = re.sub(r"[^a-z0-9]", "", code.lower())
    return hmac.new(_derived_key(ctx, "recovery-code v1"), normal.encode(), "sha256").hexdigest()


def _new_recovery_code() -> str:
    raw = secrets.token_hex(5)  # 40 bits each; the keyed hash leaves nothing to guess offline
    return f"{raw[:5]}-{raw[5:]}"


def _totp_step(ctx: Context, secret: str, code: str, now: datetime) -> int | None:
    """The time step whose code ``code`` is (this one, or one either side), or None."""
    code = code.strip().replace(" ", "")
    if not re.fullmatch(r"\d{6}", code):
        return None
    totp = pyotp.TOTP(secret, interval=TOTP_STEP)
    here = int(now.timestamp()) // TOTP_STEP
    for step in (here - 1, here, here + 1):
        if hmac.compare_digest(totp.at(step * TOTP_STEP), code):
            return step
    return None


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


# ---- events and failures ------------------------------------------------------------


def _web_client(address: str, session: str | None = None) -> str:
    return f"web:session/{session} from {address}" if session else f"web from {address}"


def _record(
    ctx: Context,
    uow: UnitOfWork,
    actor: str,
    action: Action,
    *,
    user: str | None = None,
    details: dict[str, object] | None = None,
) -> int:
    return audit.record(
        uow,
        event(
            ctx,
            actor,
            action,
            object_type="user" if user else None,
            object_id=user,
            details=details,
        ),
    )


def _refuse_unvouched(
    ctx: Context, uow: UnitOfWork, username: str, address: str, step: str, exc: IntegrityFailure
) -> NoReturn:
    """Put a sign-in refused for state the signed log does not vouch for on record (code
    ``IntegrityFailure``; it does not count toward the lockout), commit, re-raise."""
    _record(
        ctx,
        uow,
        username,
        Action.SIGN_IN_FAILED,
        user=username,
        details={"address": address, "step": step, "why": str(exc), "code": "IntegrityFailure"},
    )
    audit.commit(uow, ctx)
    raise exc


def _factor(uow: UnitOfWork, user: User) -> SecondFactorState:
    """The user's stored second factor, as the log binds it."""
    return second_factor_state(
        user.username, uow.auth.totp(user.id), uow.auth.recovery_codes(user.id)
    )


def _locked_until(uow: UnitOfWork, user: User, now: datetime) -> datetime | None:
    failures = uow.auth.failures(user.id)
    if failures is None or failures.locked_until is None:
        return None
    until = _at(failures.locked_until)
    if until > now:
        return until
    uow.auth.clear_failures(user.id)  # the lock ran out: a fresh count
    return None


def _refuse_locked(
    ctx: Context, uow: UnitOfWork, user: User, until: datetime, address: str, step: str
) -> NoReturn:
    """Put a refused attempt on a locked account on record, then raise AccountLocked."""
    now = ctx.clock.now()
    _record(
        ctx,
        uow,
        user.username,
        Action.SIGN_IN_FAILED,
        user=user.username,
        details={"address": address, "step": step, "why": "account locked"},
    )
    audit.commit(uow, ctx)
    minutes = max(1, int((until - now).total_seconds() + 59) // 60)
    raise AccountLocked(
        f"the account is locked after {MAX_FAILURES} failed sign-ins; try again in "
        f"{minutes} minute{'s' if minutes != 1 else ''}",
        advice="an attempt while locked does not extend the lock",
    )


def _fail(
    ctx: Context,
    uow: UnitOfWork,
    name: str,
    user: User | None,
    address: str,
    step: str,
    why: str,
    message: str,
) -> NoReturn:
    """Count a failure against the account (a fifth locks it), put it on record with the
    address, commit, raise Unauthenticated (or AccountLocked)."""
    now = ctx.clock.now()
    at = now_iso(ctx)
    details: dict[str, object] = {"address": address, "step": step, "why": why}
    locked = None
    if user is not None:
        before = uow.auth.failures(user.id)
        count = 1 if before is None else before.count + 1
        first = at if before is None else before.first_at
        if count >= MAX_FAILURES:
            locked = now + LOCKOUT
        uow.auth.put_failures(
            Failures(user.id, count, first, None if locked is None else locked.isoformat())
        )
        details["failures"] = count
    _record(
        ctx,
        uow,
        name[:64] or "-",
        Action.SIGN_IN_FAILED,
        user=user.username if user else None,
        details={**details, "known_user": user is not None},
    )
    if user is not None and locked is not None:
        _record(
            ctx,
            uow,
            user.username,
            Action.ACCOUNT_LOCKED,
            user=user.username,
            details={
                "address": address,
                "failures": MAX_FAILURES,
                "until": locked.isoformat(timespec="seconds"),
            },
        )
    audit.commit(uow, ctx)
    if locked is not None:
        raise AccountLocked(
            f"{message}; the account is locked for {int(LOCKOUT.total_seconds()) // 60} "
            f"minutes after {MAX_FAILURES} failed sign-ins"
        )
    raise Unauthenticated(message)


# ---- sign-in -------------------------------------------------------------------------


def sign_in(ctx: Context, username: str, password: str, address: str, user_agent: str) -> Started:
    """Check a password and open a session that still needs its second factor (or its
    enrolment, the first time)."""
    name = username.strip()
    with ctx.uow() as uow:
        user = uow.users.find(name) if name else None
        now = ctx.clock.now()
        if user is not None:
            until = _locked_until(uow, user, now)
            if until is not None:
                _refuse_locked(ctx, uow, user, until, address, "password")
        stored = uow.auth.password_hash(user.id) if user is not None else None
        try:
            _hasher.verify(stored or _DUMMY_HASH, password)
            good = stored is not None
        except (VerificationError, InvalidHashError):
            good = False
        if user is None or not user.active or not good:
            why = (
                "unknown user"
                if user is None
                else "inactive user"
                if not user.active
                else "no password set"
                if stored is None
                else "wrong password"
            )
            _fail(ctx, uow, name, user, address, "password", why, "wrong username or password")
        try:
            vouch_user(uow, user)
            vouch_password(uow, user.username, stored)
            vouch_second_factor(uow, _factor(uow, user))
            vouch_passkeys(uow, user.username, uow.passkeys.of_user(user.id))
        except IntegrityFailure as exc:
            _refuse_unvouched(ctx, uow, user.username, address, "password", exc)
        cookie = secrets.token_urlsafe(32)
        short = secrets.token_hex(4)
        at = now_iso(ctx)
        uow.auth.add_session(_sha256(cookie), short, user.id, at, address, user_agent[:512])
        totp = uow.auth.totp(user.id)
        passkeys = len(uow.passkeys.of_user(user.id))
        if (totp is not None and totp.confirmed_at is not None) or passkeys:
            uow.commit()
            return Started(
                cookie,
                SignInStep(
                    "second-factor-required",
                    user.username,
                    short,
                    totp=totp is not None and totp.confirmed_at is not None,
                    passkeys=passkeys,
                ),
            )
        secret = pyotp.random_base32()
        uow.auth.put_totp(user.id, _seal(ctx, user.id, secret), at)
        uow.commit()
    uri = pyotp.TOTP(secret, interval=TOTP_STEP).provisioning_uri(
        name=user.username, issuer_name=f"custodes {ctx.agency}"
    )
    return Started(
        cookie,
        SignInStep("enrol-required", user.username, short, provisioning_uri=uri, secret=secret),
    )


def _pending(ctx: Context, uow: UnitOfWork, cookie: str, address: str) -> tuple[WebSession, User]:
    """The session that passed its password and waits for its second factor."""
    session = uow.auth.session(_sha256(cookie)) if cookie else None
    if session is None or session.ended_at is not None:
        raise Unauthenticated("sign in with your password first")
    if session.second_factor_at is not None:
        raise CustodyConflict("this session has passed its second factor already")
    now = ctx.clock.now()
    if now - _at(session.created_at) > SECOND_FACTOR_WINDOW:
        uow.auth.end_session(session.id_hash, now_iso(ctx), "second-factor-timeout")
        uow.commit()
        raise Unauthenticated("the second factor came too late; sign in again")
    user = uow.users.get(session.username)
    until = _locked_until(uow, user, now)
    if until is not None:
        uow.auth.end_session(session.id_hash, now_iso(ctx), "account-locked")
        _refuse_locked(ctx, uow, user, until, address, "second-factor")
    return session, user


def _failed_second_factor(
    ctx: Context, uow: UnitOfWork, session: WebSession, user: User, address: str, step: str
) -> NoReturn:
    failures = uow.auth.failures(user.id)
    if (failures.count if failures else 0) + 1 >= MAX_FAILURES:
        uow.auth.end_session(session.id_hash, now_iso(ctx), "account-locked")
    _fail(ctx, uow, user.username, user, address, step, f"wrong {step} code", f"wrong {step} code")


def _signed_in(
    ctx: Context, uow: UnitOfWork, session: WebSession, user: User, address: str, factor: str
) -> str:
    """Put the sign-in on record; the session's new cookie value."""
    uow.auth.clear_failures(user.id)
    cookie = secrets.token_urlsafe(32)
    new_hash = _sha256(cookie)
    uow.auth.session_passed_second_factor(session.id_hash, new_hash, now_iso(ctx), factor)
    _record(
        ctx.acting_for(_web_client(address, session.short_id)),
        uow,
        user.username,
        Action.SIGN_IN,
        user=user.username,
        details={
            "address": address,
            "user_agent": session.user_agent,
            "session": session.short_id,
            "session_digest": stored_digest(new_hash),
            "second_factor": factor,
        },
    )
    return cookie


def enrol(ctx: Context, cookie: str, code: str, address: str) -> Started:
    """Confirm the TOTP secret shown at sign-in with a code from it; the session is signed
    in (under a new cookie value) and ten recovery codes are made (shown once)."""
    with ctx.uow() as uow:
        session, user = _pending(ctx, uow, cookie, address)
        totp = uow.auth.totp(user.id)
        if totp is None or totp.confirmed_at is not None:
            raise CustodyConflict("no enrolment under way: enter a code from your authenticator")
        try:
            vouch_second_factor(uow, _factor(uow, user))
        except IntegrityFailure as exc:
            client = ctx.acting_for(_web_client(address, session.short_id))
            _refuse_unvouched(client, uow, user.username, address, "enrol", exc)
        step = _totp_step(ctx, _unseal(ctx, user.id, totp.secret), code, ctx.clock.now())
        if step is None:
            _failed_second_factor(ctx, uow, session, user, address, "totp")
        at = now_iso(ctx)
        uow.auth.confirm_totp(user.id, at, step)
        codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
        hashes = [_code_hash(ctx, c) for c in codes]
        uow.auth.replace_recovery_codes(user.id, hashes, at)
        _record(
            ctx.acting_for(_web_client(address, session.short_id)),
            uow,
            user.username,
            Action.MFA_ENROL,
            user=user.username,
            details={
                "address": address,
                "factor": "totp",
                "recovery_codes": RECOVERY_CODES,
                "secret_digest": stored_digest(totp.secret),
                "codes_digest": codes_digest(hashes),
            },
        )
        renewed = _signed_in(ctx, uow, session, user, address, "totp")
        audit.commit(uow, ctx)
    return Started(
        renewed, SignInStep("signed-in", user.username, session.short_id, recovery_codes=codes)
    )


def second_factor(
    ctx: Context,
    cookie: str,
    address: str,
    *,
    code: str | None = None,
    recovery_code: str | None = None,
) -> Started:
    """Pass the second factor: a TOTP code, or one of the recovery codes (used up). The
    session is signed in under a new cookie value."""
    if (code is None) == (recovery_code is None):
        raise InvalidInput(
            "give either {code} or {recovery_code}", fields=("code", "recovery_code")
        )
    with ctx.uow() as uow:
        session, user = _pending(ctx, uow, cookie, address)
        totp = uow.auth.totp(user.id)
        has_totp = totp is not None and totp.confirmed_at is not None
        if not has_totp and not uow.passkeys.of_user(user.id):
            raise CustodyConflict("no second factor enrolled yet: sign in again to enrol")
        try:
            vouch_second_factor(uow, _factor(uow, user))
        except IntegrityFailure as exc:
            client = ctx.acting_for(_web_client(address, session.short_id))
            _refuse_unvouched(client, uow, user.username, address, "second-factor", exc)
        if code is not None and (totp is None or not has_totp):
            raise CustodyConflict("no authenticator app is enrolled: use your passkey")
        if code is not None:
            assert totp is not None
            step = _totp_step(ctx, _unseal(ctx, user.id, totp.secret), code, ctx.clock.now())
            if step is None or not uow.auth.use_totp_step(user.id, step):
                _failed_second_factor(ctx, uow, session, user, address, "totp")
            factor = "totp"
        else:
            assert recovery_code is not None
            used = _code_hash(ctx, recovery_code)
            if not uow.auth.use_recovery_code(user.id, used, now_iso(ctx)):
                _failed_second_factor(ctx, uow, session, user, address, "recovery-code")
            factor = "recovery-code"
            _record(
                ctx.acting_for(_web_client(address, session.short_id)),
                uow,
                user.username,
                Action.RECOVERY_CODE_USED,
                user=user.username,
                details={
                    "address": address,
                    "left": uow.auth.recovery_codes_left(user.id),
                    "code_digest": stored_digest(used),
                },
            )
        renewed = _signed_in(ctx, uow, session, user, address, factor)
        audit.commit(uow, ctx)
    return Started(renewed, SignInStep("signed-in", user.username, session.short_id))


# ---- sessions ------------------------------------------------------------------------


def _end(
    ctx: Context, uow: UnitOfWork, session: WebSession, why: str, actor: str, address: str
) -> bool:
    ended = uow.auth.end_session(session.id_hash, now_iso(ctx), why)
    if ended:
        _record(
            ctx,
            uow,
            actor,
            Action.SIGN_OUT if why == "sign-out" else Action.SESSION_END,
            user=session.username,
            details={
                "session": session.short_id,
                "why": why,
                "address": address,
                "session_address": session.address,
            },
        )
    return ended


def resume(ctx: Context, cookie: str, address: str) -> Principal:
    """The person behind a session cookie. A session idle for 30 minutes or older than 12
    hours is ended (on record) and refused: the person signs in again.

    Read in a read-only transaction (most requests write nothing here); only an ending or
    a due ``last_seen_at`` takes the writer's lock."""
    id_hash = _sha256(cookie) if cookie else ""
    with ctx.uow(readonly=True) as uow:
        session = uow.auth.session(id_hash) if cookie else None
        if session is None or session.ended_at is not None:
            raise Unauthenticated("not signed in (or the session has ended)")
        user = uow.users.get(session.username)
        unvouched = None
        if session.second_factor_at is not None:
            try:
                vouch_session(uow, session)
            except IntegrityFailure as exc:
                unvouched = exc
    client = _web_client(address, session.short_id)
    if unvouched is not None:
        with ctx.uow() as uow:
            _refuse_unvouched(
                ctx.acting_for(client), uow, session.username, address, "session", unvouched
            )
    now = ctx.clock.now()
    why = None
    if now - _at(session.last_seen_at) > SESSION_IDLE:
        why = "idle"
    elif now - _at(session.created_at) > SESSION_MAX:
        why = "reauthenticate"
    elif not user.active:
        why = "user-inactive"
    if why is not None:
        with ctx.uow() as uow:
            # Ended once, on record once, however many requests found it stale together.
            if _end(ctx.acting_for(client), uow, session, why, session.username, address):
                audit.commit(uow, ctx)
        raise Unauthenticated(
            {
                "idle": "the session locked after 30 minutes idle; sign in again",
                "reauthenticate": "the session is 12 hours old; sign in again",
            }.get(why, "not signed in (or the session has ended)")
        )
    if session.second_factor_at is None:
        raise Unauthenticated("the second factor is still to be passed")
    if now - _at(session.last_seen_at) >= TOUCH_EVERY:
        with ctx.uow() as uow:
            uow.auth.touch_session(id_hash, now_iso(ctx))
            uow.commit()
    return Principal(user.username, user.role, client, session=session.short_id)


def sign_out(ctx: Context, cookie: str, address: str) -> SessionEnded:
    with ctx.uow() as uow:
        session = uow.auth.session(_sha256(cookie)) if cookie else None
        if session is None or session.ended_at is not None:
            raise Unauthenticated("not signed in (or the session has ended)")
        client = _web_client(address, session.short_id)
        _end(ctx.acting_for(client), uow, session, "sign-out", session.username, address)
        audit.commit(uow, ctx)
    return SessionEnded(session.short_id, session.username, True)


def _session_view(s: WebSession) -> SessionView:
    return SessionView(
        s.short_id,
        s.username,
        s.created_at,
        s.last_seen_at,
        s.address,
        s.user_agent,
        s.second_factor,
    )


def _live(session: WebSession, now: datetime) -> bool:
    """Whether a session not ended yet would still be accepted (a stale one is ended, on
    record, when it is next used)."""
    if session.second_factor_at is None:
        return now - _at(session.created_at) <= SECOND_FACTOR_WINDOW
    return (
        now - _at(session.last_seen_at) <= SESSION_IDLE
        and now - _at(session.created_at) <= SESSION_MAX
    )


def list_sessions(ctx: Context, actor_name: str | None) -> list[SessionView]:
    """Live sessions: an admin sees everyone's, anyone else their own."""
    now = ctx.clock.now()
    with acting(ctx, actor_name, readonly=True) as uc:
        sessions = [s for s in uc.uow.auth.open_sessions() if _live(s, now)]
        if not decide(uc.actor, Permission.ACCESS_MANAGE).allowed:
            return [_session_view(s) for s in sessions if s.username == uc.actor.username]
        uc.allow(Permission.ACCESS_MANAGE)
        return [_session_view(s) for s in sessions]


def end_session(ctx: Context, actor_name: str | None, short_id: str, address: str) -> SessionEnded:
    """End a session (an admin: anyone's; anyone else: their own), on record."""
    with acting(ctx, actor_name) as uc:
        session = uc.uow.auth.session_by_short_id(short_id)
        if session is None or session.username != uc.actor.username:
            uc.allow(Permission.ACCESS_MANAGE)
        if session is None:
            uc.refuse(NotFound(f"no session '{short_id}'"), attempted="end-session")
        ended = _end(
            ctx, uc.uow, session, "ended-by-" + uc.actor.username[:20], uc.actor.username, address
        )
        uc.commit()
    return SessionEnded(short_id, session.username, ended)


# ---- API tokens ----------------------------------------------------------------------

_DURATION = re.compile(r"^(\d{1,4})([mhd])$")


def parse_duration(text: str, field: str = "expires") -> timedelta:
    """``90m``, ``12h``, ``30d``: how long a token lives (at most a year)."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise InvalidInput(
            f"'{text}' is not a duration ({{{field}}}: a number and m, h or d, as 30d)",
            field=field,
        )
    n, unit = int(match[1]), match[2]
    span = {"m": timedelta(minutes=n), "h": timedelta(hours=n), "d": timedelta(days=n)}[unit]
    if span <= timedelta(0) or span > TOKEN_MAX_LIFE:
        raise InvalidInput(f"a token lives from 1 minute to 366 days ({{{field}}})", field=field)
    return span


def _token_state(token: ApiToken, now: datetime) -> str:
    if token.revoked_at is not None:
        return "revoked"
    return "expired" if _at(token.expires_at) <= now else "active"


def _token_view(token: ApiToken, now: datetime) -> TokenView:
    return TokenView(
        token.id,
        token.username,
        token.created_at,
        token.created_by,
        token.expires_at,
        token.revoked_at,
        token.last_used_at,
        _token_state(token, now),
    )


def create_token(
    ctx: Context, actor_name: str | None, username: str, expires: timedelta
) -> CreatedToken:
    """A token for scripts acting as ``username`` (yourself, or anyone for an admin),
    with that user's role; shown once."""
    with acting(ctx, actor_name) as uc:
        if username != uc.actor.username:
            uc.allow(Permission.ACCESS_MANAGE)
        owner = uc.uow.users.find(username)
        if owner is None or not owner.active:
            uc.refuse(NotFound(f"no active user '{username}'"), attempted="token-create")
        token = "cst_" + secrets.token_urlsafe(32)
        token_id = new_id("TK")
        expires_at = (ctx.clock.now() + expires).isoformat(timespec="seconds")
        token_hash = _sha256(token)
        uc.uow.auth.add_token(
            token_id, owner.id, token_hash, now_iso(ctx), uc.actor.username, expires_at
        )
        uc.record(
            Action.TOKEN_CREATE,
            object_type="user",
            object_id=username,
            details={
                "token": token_id,
                "expires_at": expires_at,
                "token_digest": stored_digest(token_hash),
            },
        )
        uc.commit()
    return CreatedToken(token_id, username, expires_at, token)


def list_tokens(
    ctx: Context, actor_name: str | None, username: str | None = None
) -> list[TokenView]:
    """Tokens (never their values): your own, or anyone's for an admin (everyone's when
    ``username`` is None)."""
    with acting(ctx, actor_name, readonly=True) as uc:
        if username is None and not decide(uc.actor, Permission.ACCESS_MANAGE).allowed:
            username = uc.actor.username
        if username != uc.actor.username:
            uc.allow(Permission.ACCESS_MANAGE)
        user_id = None
        if username is not None:
            owner = uc.uow.users.find(username)
            if owner is None:
                raise NotFound(f"no user '{username}'", field="username")
            user_id = owner.id
        now = ctx.clock.now()
        return [_token_view(t, now) for t in uc.uow.auth.tokens(user_id)]


def revoke_token(ctx: Context, actor_name: str | None, token_id: str) -> TokenRevoked:
    with acting(ctx, actor_name) as uc:
        token = uc.uow.auth.token(token_id)
        if token is None or token.username != uc.actor.username:
            uc.allow(Permission.ACCESS_MANAGE)
        if token is None:
            uc.refuse(NotFound(f"no token '{token_id}'"), attempted="token-revoke")
        at = now_iso(ctx)
        if not uc.uow.auth.revoke_token(token_id, at):
            raise CustodyConflict(f"token {token_id} is revoked already")
        uc.record(
            Action.TOKEN_REVOKE,
            object_type="user",
            object_id=token.username,
            details={"token": token_id},
        )
        uc.commit()
    return TokenRevoked(token_id, token.username, at)


def authenticate_token(ctx: Context, token: str, address: str) -> Principal:
    """The person behind ``Authorization: Bearer TOKEN``. An unknown, expired or revoked
    token is refused on record; a good one's use is recorded on first use and then at
    most once an hour (``last_used_at`` at most once a minute). Read in a read-only
    transaction; only a refusal or a due write takes the writer's lock."""
    token_hash = _sha256(token) if token else ""
    with ctx.uow(readonly=True) as uow:
        found = uow.auth.token_by_hash(token_hash) if token else None
        user = uow.users.find(found.username) if found is not None else None
        unvouched = None
        if found is not None:
            try:
                vouch_token(uow, found)
            except IntegrityFailure as exc:
                unvouched = exc
    now = ctx.clock.now()
    client = f"web:token/{found.id if found else '?'} from {address}"
    if found is not None and unvouched is not None:
        with ctx.uow() as uow:
            _refuse_unvouched(
                ctx.acting_for(client), uow, found.username, address, "token", unvouched
            )
    state = "unknown" if found is None else _token_state(found, now)
    if found is not None and state == "active" and (user is None or not user.active):
        state = "user-inactive"
    if found is None or user is None or state != "active":
        with ctx.uow() as uow:
            _record(
                ctx.acting_for(client),
                uow,
                found.username if found else "-",
                Action.SIGN_IN_FAILED,
                user=found.username if found else None,
                details={
                    "address": address,
                    "step": "token",
                    "why": f"{state} token",
                    "token": found.id if found else None,
                },
            )
            audit.commit(uow, ctx)
        raise Unauthenticated(f"the API token is {state if found else 'not valid'}")
    if _use_due(found, now):
        with ctx.uow() as uow:
            current = uow.auth.token(found.id)  # again, under the writer's lock
            if current is not None and _use_due(current, now):
                logged = _log_due(current, now)
                uow.auth.token_used(found.id, now_iso(ctx), logged=logged)
                if logged:
                    _record(
                        ctx.acting_for(client),
                        uow,
                        user.username,
                        Action.TOKEN_USE,
                        user=user.username,
                        details={"address": address, "token": found.id},
                    )
                    audit.commit(uow, ctx)
                else:
                    uow.commit()
    return Principal(user.username, user.role, client, token=found.id)


def _log_due(token: ApiToken, now: datetime) -> bool:
    return token.use_logged_at is None or now - _at(token.use_logged_at) >= TOKEN_USE_LOG_EVERY


def _use_due(token: ApiToken, now: datetime) -> bool:
    fresh = token.last_used_at is None or now - _at(token.last_used_at) >= TOUCH_EVERY
    return fresh or _log_due(token, now)


# ---- who am I, passwords -------------------------------------------------------------


def whoami(ctx: Context, principal: Principal) -> Me:
    with acting(ctx, principal.username, readonly=True) as uc:
        perms = sorted(p.value for p in ROLE_PERMISSIONS.get(uc.actor.role, frozenset()))
        return Me(
            uc.actor.username,
            uc.actor.role,
            perms,
            principal.session,
            principal.token,
            principal.client,
        )


def set_password(ctx: Context, actor_name: str | None, username: str, password: str) -> None:
    """Set a user's web password (admins: anyone's, on record; others: their own)."""
    password_hash = hash_password(password)
    with acting(ctx, actor_name) as uc:
        if username != uc.actor.username:
            uc.allow(Permission.ACCESS_MANAGE)
        user = uc.uow.users.find(username)
        if user is None:
            uc.refuse(NotFound(f"no user '{username}'"), attempted="set-password")
        uc.uow.auth.set_password_hash(user.id, password_hash)
        uc.record(
            Action.PASSWORD_SET,
            object_type="user",
            object_id=username,
            details={"password_digest": stored_digest(password_hash)},
        )
        uc.commit()


__all__ = [
    "LOCKOUT",
    "MAX_FAILURES",
    "SESSION_IDLE",
    "SESSION_MAX",
    "CreatedToken",
    "Me",
    "Principal",
    "SessionEnded",
    "SessionView",
    "SignInStep",
    "Started",
    "TokenRevoked",
    "TokenView",
    "authenticate_token",
    "create_token",
    "end_session",
    "enrol",
    "list_sessions",
    "list_tokens",
    "parse_duration",
    "resume",
    "revoke_token",
    "second_factor",
    "set_password",
    "sign_in",
    "sign_out",
    "whoami",
]

"""Web authentication: second factors, server sessions, failed sign-ins, API tokens."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StoredTotp:
    """A user's TOTP secret, encrypted; ``confirmed_at`` is None until enrolment ends."""

    user_id: int
    secret: bytes
    created_at: str
    confirmed_at: str | None
    last_step: int | None


@dataclass(frozen=True)
class Failures:
    """Failed sign-ins of one account since the last success."""

    user_id: int
    count: int
    first_at: str
    locked_until: str | None


@dataclass(frozen=True)
class WebSession:
    id_hash: str
    short_id: str
    user_id: int
    username: str
    created_at: str
    last_seen_at: str
    address: str
    user_agent: str
    second_factor_at: str | None
    second_factor: str | None
    ended_at: str | None
    ended_why: str | None


@dataclass(frozen=True)
class ApiToken:
    id: str
    user_id: int
    username: str
    created_at: str
    created_by: str
    expires_at: str
    revoked_at: str | None
    last_used_at: str | None
    use_logged_at: str | None
    token_hash: str | None = None
    """The SHA-256 of the token, as stored (what its ``token-create`` event binds)."""


@dataclass(frozen=True)
class StoredPasskey:
    """A WebAuthn credential (a passkey) of a user: its id as the authenticator gave it,
    its COSE public key, the authenticator's last signature counter, and its hints."""

    id: str
    """The vault's name for it (``PK-...``), what the log and the pages show."""
    user_id: int
    username: str
    credential_id: bytes
    public_key: bytes
    sign_count: int
    transports: tuple[str, ...]
    name: str
    created_at: str
    last_used_at: str | None


@dataclass(frozen=True)
class PasskeyChallenge:
    """A WebAuthn challenge handed to one session, used at most once."""

    session: str
    """The session's short id."""
    purpose: str
    """``register`` or ``authenticate``."""
    challenge: str
    """base64url, as the options carried it."""
    created_at: str

"""Web authentication: passwords as stored, second factors, sessions, failed sign-ins and
API tokens (issue 18). Secrets arrive here already hashed or encrypted by the service."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.engine import Connection

from custodes.core.records import ApiToken, Failures, StoredTotp, WebSession
from custodes.storage import tables as t


class AuthRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # Passwords (set by ``user add --password-stdin``).

    def password_hash(self, user_id: int) -> str | None:
        row = self._conn.execute(
            select(t.users.c.password_hash).where(t.users.c.id == user_id)
        ).first()
        return None if row is None else row.password_hash

    def set_password_hash(self, user_id: int, password_hash: str) -> None:
        self._conn.execute(
            update(t.users).where(t.users.c.id == user_id).values(password_hash=password_hash)
        )

    # TOTP and recovery codes.

    def totp(self, user_id: int) -> StoredTotp | None:
        row = self._conn.execute(
            select(t.totp_secrets).where(t.totp_secrets.c.user_id == user_id)
        ).first()
        if row is None:
            return None
        return StoredTotp(
            user_id=int(row.user_id),
            secret=bytes(row.secret),
            created_at=row.created_at,
            confirmed_at=row.confirmed_at,
            last_step=None if row.last_step is None else int(row.last_step),
        )

    def put_totp(self, user_id: int, secret: bytes, created_at: str) -> None:
        """A new, unconfirmed secret, replacing an unconfirmed one."""
        self._conn.execute(
            delete(t.totp_secrets).where(
                and_(t.totp_secrets.c.user_id == user_id, t.totp_secrets.c.confirmed_at.is_(None))
            )
        )
        self._conn.execute(
            insert(t.totp_secrets).values(user_id=user_id, secret=secret, created_at=created_at)
        )

    def drop_unconfirmed_totp(self, user_id: int) -> None:
        """Forget a secret shown at sign-in and never confirmed (the user enrolled another
        factor instead)."""
        self._conn.execute(
            delete(t.totp_secrets).where(
                and_(t.totp_secrets.c.user_id == user_id, t.totp_secrets.c.confirmed_at.is_(None))
            )
        )

    def confirm_totp(self, user_id: int, at: str, step: int) -> None:
        self._conn.execute(
            update(t.totp_secrets)
            .where(t.totp_secrets.c.user_id == user_id)
            .values(confirmed_at=at, last_step=step)
        )

    def use_totp_step(self, user_id: int, step: int) -> bool:
        """Record ``step`` as used; False when it (or a later one) was used already."""
        result = self._conn.execute(
            update(t.totp_secrets)
            .where(
                and_(
                    t.totp_secrets.c.user_id == user_id,
                    (t.totp_secrets.c.last_step.is_(None)) | (t.totp_secrets.c.last_step < step),
                )
            )
            .values(last_step=step)
        )
        return bool(result.rowcount)

    def replace_recovery_codes(self, user_id: int, hashes: list[str], at: str) -> None:
        self._conn.execute(delete(t.recovery_codes).where(t.recovery_codes.c.user_id == user_id))
        if hashes:
            self._conn.execute(
                insert(t.recovery_codes),
                [{"user_id": user_id, "code_hash": h, "created_at": at} for h in hashes],
            )

    def use_recovery_code(self, user_id: int, code_hash: str, at: str) -> bool:
        """Mark an unused code used; False when there is no such unused code."""
        result = self._conn.execute(
            update(t.recovery_codes)
            .where(
                and_(
                    t.recovery_codes.c.user_id == user_id,
                    t.recovery_codes.c.code_hash == code_hash,
                    t.recovery_codes.c.used_at.is_(None),
                )
            )
            .values(used_at=at)
        )
        return bool(result.rowcount)

    def recovery_codes(self, user_id: int) -> list[tuple[str, bool]]:
        """Each stored recovery-code hash of the user, and whether it was used."""
        rows = self._conn.execute(
            select(t.recovery_codes.c.code_hash, t.recovery_codes.c.used_at).where(
                t.recovery_codes.c.user_id == user_id
            )
        ).all()
        return [(r.code_hash, r.used_at is not None) for r in rows]

    def recovery_codes_left(self, user_id: int) -> int:
        rows = self._conn.execute(
            select(t.recovery_codes.c.id).where(
                and_(t.recovery_codes.c.user_id == user_id, t.recovery_codes.c.used_at.is_(None))
            )
        ).all()
        return len(rows)

    # Failed sign-ins (counted here so that several server processes agree).

    def failures(self, user_id: int) -> Failures | None:
        row = self._conn.execute(
            select(t.sign_in_failures).where(t.sign_in_failures.c.user_id == user_id)
        ).first()
        if row is None:
            return None
        return Failures(int(row.user_id), int(row.failures), row.first_at, row.locked_until)

    def put_failures(self, failures: Failures) -> None:
        self.clear_failures(failures.user_id)
        self._conn.execute(
            insert(t.sign_in_failures).values(
                user_id=failures.user_id,
                failures=failures.count,
                first_at=failures.first_at,
                locked_until=failures.locked_until,
            )
        )

    def clear_failures(self, user_id: int) -> None:
        self._conn.execute(
            delete(t.sign_in_failures).where(t.sign_in_failures.c.user_id == user_id)
        )

    # Server-side sessions.

    def _session(self, row: Any) -> WebSession:
        return WebSession(
            id_hash=row.id_hash,
            short_id=row.short_id,
            user_id=int(row.user_id),
            username=row.username,
            created_at=row.created_at,
            last_seen_at=row.last_seen_at,
            address=row.address,
            user_agent=row.user_agent,
            second_factor_at=row.second_factor_at,
            second_factor=row.second_factor,
            ended_at=row.ended_at,
            ended_why=row.ended_why,
        )

    def _sessions(self) -> Any:
        return select(t.web_sessions, t.users.c.username).join(
            t.users, t.users.c.id == t.web_sessions.c.user_id
        )

    def add_session(
        self, id_hash: str, short_id: str, user_id: int, at: str, address: str, user_agent: str
    ) -> None:
        self._conn.execute(
            insert(t.web_sessions).values(
                id_hash=id_hash,
                short_id=short_id,
                user_id=user_id,
                created_at=at,
                last_seen_at=at,
                address=address,
                user_agent=user_agent,
            )
        )

    def session(self, id_hash: str) -> WebSession | None:
        row = self._conn.execute(
            self._sessions().where(t.web_sessions.c.id_hash == id_hash)
        ).first()
        return None if row is None else self._session(row)

    def session_by_short_id(self, short_id: str) -> WebSession | None:
        row = self._conn.execute(
            self._sessions().where(t.web_sessions.c.short_id == short_id)
        ).first()
        return None if row is None else self._session(row)

    def open_sessions(self, *, signed_in: bool = False, ended: bool = False) -> list[WebSession]:
        """Sessions not ended (with ``ended``, ended ones too); with ``signed_in``, only
        those that passed their second factor."""
        query = self._sessions().order_by(t.web_sessions.c.created_at)
        if not ended:
            query = query.where(t.web_sessions.c.ended_at.is_(None))
        if signed_in:
            query = query.where(t.web_sessions.c.second_factor_at.is_not(None))
        return [self._session(r) for r in self._conn.execute(query).all()]

    def session_passed_second_factor(
        self, id_hash: str, new_id_hash: str, at: str, factor: str
    ) -> None:
        """The session passed its second factor; it takes a new id (the cookie's value
        changes as the privilege does, so an id known before sign-in is worth nothing)."""
        self._conn.execute(
            update(t.web_sessions)
            .where(t.web_sessions.c.id_hash == id_hash)
            .values(id_hash=new_id_hash, second_factor_at=at, second_factor=factor, last_seen_at=at)
        )

    def touch_session(self, id_hash: str, at: str) -> None:
        self._conn.execute(
            update(t.web_sessions)
            .where(t.web_sessions.c.id_hash == id_hash)
            .values(last_seen_at=at)
        )

    def end_session(self, id_hash: str, at: str, why: str) -> bool:
        result = self._conn.execute(
            update(t.web_sessions)
            .where(and_(t.web_sessions.c.id_hash == id_hash, t.web_sessions.c.ended_at.is_(None)))
            .values(ended_at=at, ended_why=why)
        )
        return bool(result.rowcount)

    # API tokens.

    def _token(self, row: Any) -> ApiToken:
        return ApiToken(
            id=row.id,
            user_id=int(row.user_id),
            username=row.username,
            created_at=row.created_at,
            created_by=row.created_by,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
            last_used_at=row.last_used_at,
            use_logged_at=row.use_logged_at,
            token_hash=row.token_hash,
        )

    def _tokens(self) -> Any:
        return select(t.api_tokens, t.users.c.username).join(
            t.users, t.users.c.id == t.api_tokens.c.user_id
        )

    def add_token(
        self,
        token_id: str,
        user_id: int,
        token_hash: str,
        at: str,
        created_by: str,
        expires_at: str,
    ) -> None:
        self._conn.execute(
            insert(t.api_tokens).values(
                id=token_id,
                user_id=user_id,
                token_hash=token_hash,
                created_at=at,
                created_by=created_by,
                expires_at=expires_at,
            )
        )

    def token_by_hash(self, token_hash: str) -> ApiToken | None:
        row = self._conn.execute(
            self._tokens().where(t.api_tokens.c.token_hash == token_hash)
        ).first()
        return None if row is None else self._token(row)

    def token(self, token_id: str) -> ApiToken | None:
        row = self._conn.execute(self._tokens().where(t.api_tokens.c.id == token_id)).first()
        return None if row is None else self._token(row)

    def tokens(self, user_id: int | None = None) -> list[ApiToken]:
        query = self._tokens().order_by(t.api_tokens.c.created_at, t.api_tokens.c.id)
        if user_id is not None:
            query = query.where(t.api_tokens.c.user_id == user_id)
        return [self._token(r) for r in self._conn.execute(query).all()]

    def token_used(self, token_id: str, at: str, *, logged: bool) -> None:
        values: dict[str, str] = {"last_used_at": at}
        if logged:
            values["use_logged_at"] = at
        self._conn.execute(update(t.api_tokens).where(t.api_tokens.c.id == token_id).values(values))

    def revoke_token(self, token_id: str, at: str) -> bool:
        result = self._conn.execute(
            update(t.api_tokens)
            .where(and_(t.api_tokens.c.id == token_id, t.api_tokens.c.revoked_at.is_(None)))
            .values(revoked_at=at)
        )
        return bool(result.rowcount)
